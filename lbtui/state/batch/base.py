"""The batch builder's base: a mutable working copy of a ConsoleState for one batch of events.

:class:`Batch` holds the copy on write (a table is copied the first time a batch writes it),
the mutable drafts of layer 2 entries (:class:`L2Draft`), the bookkeeping every event gets
(time, log line, pulse) in :meth:`Batch.apply_all`, the runtime's own events (configuration,
readiness, actors) and :meth:`Batch.finish`, which makes the new state. What the other events
change is added by one subclass per subject, next to this module (services, membership, layer 2,
BGP); :mod:`lbtui.state.batch.builder` puts them together. Pure: no textual, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

from actors.events import (
    ActorFailed,
    ActorStarted,
    AnnouncementStarted,
    AnnouncementStopped,
    ConfigApplied,
    ConfigRejected,
    Event,
    RuntimeReady,
    RuntimeStopped,
)
from lbtui.state.eventlog import MAX_LOG, UNLOGGED, EventLog
from lbtui.state.model import MAX_FAILOVERS, Changes, ConsoleState, Failover, L2Entry
from lbtui.state.pulses import pulse_category, pulse_count, with_counts

# How a batch reduces one kind of event: an unbound method of the builder, called per event.
Handler = Callable[[Any, Any], None]


@dataclass(slots=True)
class L2Draft:
    """An L2Entry being changed by a batch: mutable, made into an entry once, at the end.

    A node kill stops and restarts thousands of addresses in one batch; each becomes one new
    entry, not one per event.
    """

    ip: str
    node: str | None = None
    since: float = 0.0
    reason: str = ""
    interfaces: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    announcers: frozenset[str] = frozenset()
    takeovers: int = 0
    gratuitous: int = 0
    failover_seconds: float | None = None
    failover_at: float | None = None
    failover_measured: bool = False
    conflict: str = ""

    @staticmethod
    def of(e: L2Entry) -> L2Draft:
        return L2Draft(
            e.ip,
            e.node,
            e.since,
            e.reason,
            e.interfaces,
            e.services,
            e.announcers,
            e.takeovers,
            e.gratuitous,
            e.failover_seconds,
            e.failover_at,
            e.failover_measured,
            e.conflict,
        )

    def entry(self) -> L2Entry:
        return L2Entry(
            self.ip,
            self.node,
            self.since,
            self.reason,
            self.interfaces,
            self.services,
            self.announcers,
            self.takeovers,
            self.gratuitous,
            self.failover_seconds,
            self.failover_at,
            self.failover_measured,
            self.conflict,
        )


class Batch:
    """A mutable working copy of a state; tables are copied the first time they are written."""

    # Event type -> how it changes the batch; set by the builder from each subject's handlers.
    HANDLERS: ClassVar[Mapping[type[Event], Handler]] = MappingProxyType({})

    def __init__(self, state: ConsoleState) -> None:
        self.base = state
        self.role = state.role
        self.ready = state.ready
        self.now = state.now
        self.config = state.config
        self.config_source = state.config_source
        self.config_errors = state.config_errors
        self.cluster = state.cluster
        self.allocations = state.allocations
        self.usage = state.usage
        self.alive = state.alive
        self.seq = state.seq
        self.failovers = state.failovers
        self.pulses = state.pulses
        self.pulse_second = state.pulse_second
        self.logging = True
        self.snapshotting = False  # announcements from a snapshot are not new takeovers
        self.full = False
        # The state's tables (members, l2, routes, sessions, services, ...) by field name, each
        # copied from the state the first time this batch writes it.
        self._tables: dict[str, dict[Any, Any]] = {}
        # Layer 2 entries that announcements of this batch changed, kept mutable and not yet
        # in the "l2" table; read()/write() of that table puts them there first.
        self._l2_drafts: dict[str, L2Draft] = {}
        self._held: tuple[Any, set[str]] | None = None  # (allocations, the addresses held)
        # Events to log, in order; the last MAX_LOG join the log's events at the end of the
        # batch (a 20k-event replay would throw most of them away).
        self._new_log: list[Event] = []
        # Failovers of this batch as Failover field tuples, made into Failovers at its end for
        # the last MAX_FAILOVERS only (a node kill moves thousands of addresses).
        self._new_failovers: list[tuple[Any, ...]] = []
        self._pulse_counts: dict[tuple[str, int], int] = {}
        self.changed_services: set[str] = set()
        self._dirty_services: set[str] = set()
        self.changed_l2: set[str] = set()
        self._owners_flipped: set[str] = set()  # nodes that died or came back in this batch

    # -- copy on write ---------------------------------------------------------------------
    def read(self, name: str) -> Mapping[Any, Any]:
        if self._l2_drafts and name == "l2":
            self._commit_l2()
        table = self._tables.get(name)
        return table if table is not None else getattr(self.base, name)

    def write(self, name: str) -> dict[Any, Any]:
        if self._l2_drafts and name == "l2":
            self._commit_l2()
        table = self._tables.get(name)
        if table is None:
            table = self._tables[name] = dict(getattr(self.base, name))
        return table

    def _commit_l2(self) -> None:
        drafts, self._l2_drafts = self._l2_drafts, {}
        table = self.write("l2")
        for ip, draft in drafts.items():
            table[ip] = draft.entry()

    def _l2_draft(self, ip: str, *, create: bool = False) -> L2Draft | None:
        """The address's entry as a draft to change in place (None: no such address)."""
        draft = self._l2_drafts.get(ip)
        if draft is None:
            table = self._tables.get("l2")
            entry = (table if table is not None else self.base.l2).get(ip)
            if entry is not None:
                draft = L2Draft.of(entry)
            elif create:
                draft = L2Draft(ip)
            else:
                return None
            self._l2_drafts[ip] = draft
        return draft

    def finish(self) -> ConsoleState:
        """The new state: drafts committed, tables frozen, this batch's log lines, failovers
        and pulses added, and what it touched in ``changes``."""
        if self._l2_drafts:
            self._commit_l2()
        if self._owners_flipped:
            flipped = self._owners_flipped
            self.changed_l2.update(
                ip for ip, entry in self.read("l2").items() if entry.node in flipped
            )
        tables = {name: MappingProxyType(t) for name, t in self._tables.items()}
        log = self.base.log
        if self._new_log:
            events = (*log.events, *self._new_log[-MAX_LOG:])[-MAX_LOG:]
            log = EventLog(events, self.seq - len(events) + 1)
        failovers = self.failovers
        if self._new_failovers:
            fresh = [Failover(*f) for f in self._new_failovers[-MAX_FAILOVERS:]]
            failovers = (*failovers, *fresh)[-MAX_FAILOVERS:]
        pulses, pulse_second = with_counts(self.pulses, self.pulse_second, self._pulse_counts)
        return ConsoleState(
            role=self.role,
            ready=self.ready,
            now=self.now,
            config=self.config,
            config_source=self.config_source,
            config_errors=self.config_errors,
            cluster=self.cluster,
            allocations=self.allocations,
            usage=self.usage,
            alive=self.alive,
            members=tables.get("members", self.base.members),
            l2=tables.get("l2", self.base.l2),
            routes=tables.get("routes", self.base.routes),
            sessions=tables.get("sessions", self.base.sessions),
            advertised=tables.get("advertised", self.base.advertised),
            interfaces=tables.get("interfaces", self.base.interfaces),
            not_candidate=tables.get("not_candidate", self.base.not_candidate),
            views=tables.get("views", self.base.views),
            services=tables.get("services", self.base.services),
            announcers=tables.get("announcers", self.base.announcers),
            log=log,
            seq=self.seq,
            failovers=failovers,
            losses=tables.get("losses", self.base.losses),
            pulses=pulses,
            pulse_second=pulse_second,
            actors=tables.get("actors", self.base.actors),
            changes=Changes(
                services=frozenset(self.changed_services),
                l2=frozenset(self.changed_l2),
                log=len(self._new_log),
                full=self.full,
            ),
        )

    # -- events ------------------------------------------------------------------------------
    def apply(self, event: Event) -> None:
        self.apply_all((event,))

    def apply_all(self, events: Iterable[Event]) -> None:
        """Each event in turn: its time, log line and pulse, then its handler. The bookkeeping
        is kept in locals across the batch (no handler reads ``now`` or ``seq``)."""
        handlers = self.HANDLERS
        log = self._new_log.append
        counts = self._pulse_counts
        logging = self.logging
        now, seq = self.now, self.seq
        for event in events:
            t = event.t
            if t > now:
                now = t
            kind = type(event)
            if logging and kind.__name__ not in UNLOGGED:
                seq += 1
                log(event)
                if kind is AnnouncementStarted or kind is AnnouncementStopped:
                    # Most of a big batch: pulse_category's answer without its type tests.
                    layer2 = getattr(event, "protocol", "") == "layer2"
                    category: str | None = "l2" if layer2 else "bgp"
                    count = 1
                else:
                    category = pulse_category(event)
                    count = pulse_count(event) if category is not None else 0
                if category is not None:
                    key = (category, int(t))
                    counts[key] = counts.get(key, 0) + count
            handler = handlers.get(kind)
            if handler is not None:
                handler(self, event)
        self.now, self.seq = now, seq

    # configuration and runtime
    def _config_applied(self, e: ConfigApplied) -> None:
        self.config = e.config
        self.config_source = e.source
        self.config_errors = ()

    def _config_rejected(self, e: ConfigRejected) -> None:
        # A refused edit is the form's business (and the event log's): the header's "config
        # rejected" is for a configuration as written that does not load.
        if not e.proposal:
            self.config_errors = e.errors

    def _runtime_ready(self, e: RuntimeReady) -> None:
        self.ready = True
        self.role = e.role

    def _runtime_stopped(self, e: RuntimeStopped) -> None:
        self.ready = False

    def _actor_started(self, e: ActorStarted) -> None:
        self.write("actors")[e.actor] = "running"

    def _actor_failed(self, e: ActorFailed) -> None:
        self.write("actors")[e.actor] = f"failed ({e.restarts}): {e.error}"


RUNTIME_HANDLERS: dict[type[Event], Handler] = {
    ConfigApplied: Batch._config_applied,
    ConfigRejected: Batch._config_rejected,
    RuntimeReady: Batch._runtime_ready,
    RuntimeStopped: Batch._runtime_stopped,
    ActorStarted: Batch._actor_started,
    ActorFailed: Batch._actor_failed,
}
