"""The console's state: a pure reducer ``(ConsoleState, Event) -> ConsoleState``. No textual.

Everything the console shows is a function of a :class:`~lbtui.state.model.ConsoleState`, and
a state is only ever made from the previous one and runtime events, so the views can be tested
on scripted event lists and a remote console (fed from JSON) shows exactly what a local one
shows.

The state is immutable. :func:`reduce_all` applies a batch of events and copies each table it
touches once per batch (copy on write), so a burst of 10k events costs a few copies, not 10k;
a layer 2 address a batch stops and starts again (a node kill: thousands) is changed in a
mutable draft and becomes one new entry at the end. ``state.changes`` says which rows of the
big tables (services, layer 2 addresses) the last batch touched, so views update those rows in
place instead of rebuilding 10k rows. How each event changes a batch is in
:mod:`lbtui.state.batch`, one module per subject.

Facts only real networks produce (BGP sessions, BFD, gratuitous packets, interfaces and their
carrier) come from their own events; the simulated demo network has none, and the views show
"-" for them there. A membership incarnation is read by attribute where an event carries one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from actors.events import AllocationsUpdated, ClusterUpdated, ConfigApplied, Event
from actors.util.gc_pause import gc_paused
from lbtui.state.batch.builder import Builder
from lbtui.state.model import Changes, ConsoleState, Snapshot
from lbtui.state.pulses import shifted


def reduce(state: ConsoleState, event: Event) -> ConsoleState:
    """The state after one event."""
    return reduce_all(state, (event,))


def reduce_all(state: ConsoleState, events: Iterable[Event]) -> ConsoleState:
    """The state after a batch of events, in order.

    No cyclic garbage collection meanwhile: a batch allocates tens of thousands of small
    acyclic objects (rows, entries), which would start several collections, each walking every
    object the console holds (hundreds of milliseconds with 10k services). Paused, the batch
    costs one young collection after.
    """
    with gc_paused():
        builder = Builder(state)
        builder.apply_all(events)
        return builder.finish()


def load_snapshot(state: ConsoleState, snap: Snapshot) -> ConsoleState:
    """The state of a runtime seen through a snapshot (see :class:`~lbtui.state.model.Snapshot`)."""
    with gc_paused():
        return _load_snapshot(state, snap)


def _load_snapshot(state: ConsoleState, snap: Snapshot) -> ConsoleState:
    builder = Builder(reduce_all(state, snap.history))
    builder.logging = False
    builder.role = snap.role or builder.role
    builder.now = max(builder.now, snap.now)
    if snap.config is not None:
        builder.apply(ConfigApplied(snap.now, snap.config, "snapshot"))
    if snap.config_errors:
        builder.config_errors = snap.config_errors
    if snap.cluster is not None:
        builder.apply(ClusterUpdated(snap.now, snap.cluster, "snapshot"))
    if snap.allocations is not None:
        builder.apply(AllocationsUpdated(snap.now, snap.allocations, snap.usage or {}))
    for view in snap.memberships:
        builder.apply(view)
    builder.replace_announcements(snap.announcements)
    builder.ready = True
    builder.full = True
    return builder.finish()


def advance(state: ConsoleState, now: float) -> ConsoleState:
    """Move the pulse window to ``now`` (the console calls this every second)."""
    second = int(now)
    if second <= state.pulse_second:
        return state
    return replace(
        state,
        pulses=shifted(state.pulses, state.pulse_second, second),
        pulse_second=second,
        now=max(state.now, now),
        changes=Changes(),
    )
