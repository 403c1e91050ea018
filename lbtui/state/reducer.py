"""The console's state: a pure reducer ``(ConsoleState, Event) -> ConsoleState``. No textual.

Everything the console shows is a function of a :class:`ConsoleState`, and a state is only
ever made from the previous one and runtime events, so the views can be tested on scripted
event lists and a remote console (fed from JSON) shows exactly what a local one shows.

The state is immutable. :func:`reduce_all` applies a batch of events and copies each table it
touches once per batch (copy on write), so a burst of 10k events costs a few copies, not 10k;
a layer 2 address a batch stops and starts again (a node kill: thousands) is changed in a
mutable draft and becomes one new entry at the end. ``state.changes`` says which rows of the
big tables (services, layer 2 addresses) the last batch touched, so views update those rows in
place instead of rebuilding 10k rows.

Facts only real networks produce (BGP sessions, BFD, gratuitous packets, interfaces and their
carrier) come from their own events; the simulated demo network has none, and the views show
"-" for them there. A membership incarnation is read by attribute where an event carries one.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, overload

from actors.events import (
    ActorFailed,
    ActorStarted,
    AllocationFailed,
    AllocationsUpdated,
    AnnouncementStarted,
    AnnouncementStopped,
    BfdSessionChanged,
    CandidacyChanged,
    ClusterUpdated,
    ConfigApplied,
    ConfigRejected,
    Event,
    FailoverMeasured,
    GratuitousSent,
    IpReleased,
    L2AnswersChanged,
    L2InterfacesChanged,
    MembershipUpdated,
    NodeJoined,
    NodeLeft,
    NodeSuspected,
    PeerSessionChanged,
    PrefixAnnounced,
    PrefixWithdrawn,
    RuntimeReady,
    RuntimeStopped,
    ServiceEventObserved,
    SourceRejected,
    SpeakerStreamChanged,
    SplitBrainDetected,
)
from actors.model.cluster import ClusterState
from actors.model.config import Config

if TYPE_CHECKING:
    from actors.model.allocation import Allocation, PoolUsage

MAX_LOG = 5000
MAX_FAILOVERS = 200
PULSE_SECONDS = 60
PULSES = ("l2", "bgp", "membership")

EMPTY: Mapping[Any, Any] = MappingProxyType({})
_FAILOVER = re.compile(r"^failover from (\S+)")
# Per-node snapshots repeating what AnnouncementStarted/Stopped already said.
UNLOGGED = frozenset({"AnnouncementsUpdated"})


@dataclass(frozen=True, slots=True)
class Member:
    """A node as membership sees it."""

    node: str
    state: str  # alive | suspect | dead | unknown
    since: float | None = None
    incarnation: int | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class L2Entry:
    """One layer 2 address: who answers for it and its failover history."""

    ip: str
    node: str | None
    since: float
    reason: str
    interfaces: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    # Every node answering right now: one normally, two for a moment during a hand-over.
    announcers: frozenset[str] = frozenset()
    takeovers: int = 0  # times a node started answering for it
    gratuitous: int = 0  # gratuitous ARP/NA packets sent (GratuitousSent; none when simulated)
    failover_seconds: float | None = None
    failover_at: float | None = None
    failover_measured: bool = False
    # A split brain: another MAC was heard answering for the address (SplitBrainDetected).
    conflict: str = ""


@dataclass(slots=True)
class _L2Draft:
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
    def of(e: L2Entry) -> _L2Draft:
        return _L2Draft(
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


@dataclass(frozen=True, slots=True)
class Route:
    """One BGP route a node announces."""

    node: str
    prefix: str
    peers: tuple[str, ...]
    since: float
    services: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class Session:
    """A BGP session of one node with one peer, from session events."""

    node: str
    peer: str
    state: str
    since: float
    reason: str = ""
    last_error: str = ""
    bfd: str = ""


@dataclass(frozen=True, slots=True)
class Failover:
    """An address moving from one node to another; ``seconds`` from the loss to the takeover.

    Estimated from events (the first sign of the loss to the new owner's announcement) unless
    ``measured``: then the speaker timed it to its first gratuitous packet or UPDATE.
    """

    t: float
    ip: str
    from_node: str
    to_node: str
    seconds: float | None
    cause: str
    measured: bool = False


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One line of the event log; its time, name, level and text are read from the event when
    shown (most never are: a 10k-event batch makes 5000 entries, two fields each)."""

    seq: int
    event: Event

    @property
    def t(self) -> float:
        return self.event.t

    @property
    def name(self) -> str:
        return type(self.event).__name__

    @property
    def level(self) -> str:  # info | warning | error
        return event_level(self.event)

    @property
    def record(self) -> dict[str, Any]:
        return self.event.to_json()

    @property
    def text(self) -> str:
        return _text(self.event.to_json())


class EventLog(Sequence[LogEntry]):
    """The event log: its events in order and the sequence number of the first; entries are
    made as they are read (a big batch would otherwise make thousands, most never read, for
    the collector to walk). Immutable; equal to any sequence of the same entries."""

    __slots__ = ("events", "first")

    def __init__(self, events: tuple[Event, ...] = (), first: int = 1) -> None:
        self.events = events
        self.first = first

    def __len__(self) -> int:
        return len(self.events)

    @overload
    def __getitem__(self, index: int) -> LogEntry: ...

    @overload
    def __getitem__(self, index: slice) -> EventLog: ...

    def __getitem__(self, index: int | slice) -> LogEntry | EventLog:
        if isinstance(index, slice):
            start, _, step = index.indices(len(self.events))
            if step != 1:
                raise ValueError("an event log slice has step 1")
            return EventLog(self.events[index], self.first + start)
        if index < 0:
            index += len(self.events)
        if not 0 <= index < len(self.events):
            raise IndexError("event log index out of range")
        return LogEntry(self.first + index, self.events[index])

    def __iter__(self) -> Iterator[LogEntry]:
        first = self.first
        return (LogEntry(first + i, e) for i, e in enumerate(self.events))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EventLog):
            return self.events == other.events and (not self.events or self.first == other.first)
        if isinstance(other, Sequence):
            return tuple(self) == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"EventLog({len(self.events)} events from {self.first})"


@dataclass(frozen=True, slots=True)
class ServiceRow:
    """A LoadBalancer service as the services view shows it."""

    key: str
    namespace: str
    name: str
    ips: tuple[str, ...]
    pool: str
    nodes: tuple[str, ...]
    protocols: tuple[str, ...]
    status: str  # announced | not announced | pending | error
    error: str = ""


@dataclass(frozen=True, slots=True)
class Changes:
    """What the last batch touched, for in-place updates of the big tables."""

    services: frozenset[str] = frozenset()
    l2: frozenset[str] = frozenset()
    log: int = 0
    full: bool = False


@dataclass(frozen=True, slots=True)
class ConsoleState:
    role: str = ""
    ready: bool = False
    now: float = 0.0
    config: Config | None = None
    config_source: str = ""
    config_errors: tuple[str, ...] = ()
    cluster: ClusterState | None = None
    allocations: Mapping[str, Allocation] = field(default_factory=lambda: EMPTY)
    usage: Mapping[str, PoolUsage] = field(default_factory=lambda: EMPTY)
    alive: frozenset[str] | None = None
    members: Mapping[str, Member] = field(default_factory=lambda: EMPTY)
    l2: Mapping[str, L2Entry] = field(default_factory=lambda: EMPTY)
    routes: Mapping[tuple[str, str, tuple[str, ...]], Route] = field(default_factory=lambda: EMPTY)
    sessions: Mapping[tuple[str, str], Session] = field(default_factory=lambda: EMPTY)
    # (node, peer) -> prefixes sent on that session (PrefixAnnounced/PrefixWithdrawn).
    advertised: Mapping[tuple[str, str], frozenset[str]] = field(default_factory=lambda: EMPTY)
    # node -> (interfaces it would announce on, those without carrier).
    interfaces: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = field(
        default_factory=lambda: EMPTY
    )
    # observer -> its last MembershipUpdated (with gossip every node has its own view).
    views: Mapping[str, MembershipUpdated] = field(default_factory=lambda: EMPTY)
    # node -> why it cannot announce (link awareness), absent while it can.
    not_candidate: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    services: Mapping[str, ServiceRow] = field(default_factory=lambda: EMPTY)
    # (node, protocol) pairs announcing each service, kept as announcements come and go.
    announcers: Mapping[str, frozenset[tuple[str, str]]] = field(default_factory=lambda: EMPTY)
    log: EventLog = field(default_factory=EventLog)
    seq: int = 0
    failovers: tuple[Failover, ...] = ()
    # node -> when its loss was first seen (kill, suspicion or death), until it is back.
    losses: Mapping[str, float] = field(default_factory=lambda: EMPTY)
    # category -> events per second, oldest first; the last bucket is second ``pulse_second``.
    pulses: Mapping[str, tuple[int, ...]] = field(default_factory=lambda: EMPTY)
    pulse_second: int = 0
    actors: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    changes: Changes = field(default_factory=Changes)

    @property
    def nodes(self) -> tuple[str, ...]:
        """Every node known from the cluster, membership or announcements, sorted."""
        names = set(self.members)
        if self.cluster is not None:
            names.update(self.cluster.nodes)
        return tuple(sorted(names))


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A runtime's state at one moment, for a console that attaches late (or remotely).

    ``history`` is replayed first (recent events, for the log, pulses and failovers); then the
    state is set from the snapshot, and the announcements in force replace what replay left.
    """

    now: float
    role: str = ""
    history: tuple[Event, ...] = ()
    config: Config | None = None
    cluster: ClusterState | None = None
    allocations: Mapping[str, Allocation] | None = None
    usage: Mapping[str, PoolUsage] | None = None
    memberships: tuple[MembershipUpdated, ...] = ()  # one view per observer
    announcements: tuple[AnnouncementStarted, ...] = ()
    config_errors: tuple[str, ...] = ()


# -- public API -------------------------------------------------------------------------------


def reduce(state: ConsoleState, event: Event) -> ConsoleState:
    """The state after one event."""
    return reduce_all(state, (event,))


def reduce_all(state: ConsoleState, events: Iterable[Event]) -> ConsoleState:
    """The state after a batch of events, in order."""
    with _collector_paused():
        builder = _Builder(state)
        builder.apply_all(events)
        return builder.finish()


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a batch is reduced.

    A batch allocates tens of thousands of small acyclic objects (rows, entries), which
    would start several collections, each walking every object the console holds (hundreds
    of milliseconds with 10k services). Paused, the batch costs one young collection after.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def load_snapshot(state: ConsoleState, snap: Snapshot) -> ConsoleState:
    """The state of a runtime seen through a snapshot (see :class:`Snapshot`)."""
    with _collector_paused():
        return _load_snapshot(state, snap)


def _load_snapshot(state: ConsoleState, snap: Snapshot) -> ConsoleState:
    builder = _Builder(reduce_all(state, snap.history))
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
        pulses=_shifted(state.pulses, state.pulse_second, second),
        pulse_second=second,
        now=max(state.now, now),
        changes=Changes(),
    )


def summary(event: Event) -> str:
    """One line of text for the event log: the event's JSON fields without time and name.

    Events carrying whole snapshots (StateEvent) have short JSON forms already.
    """
    return _text(event.to_json())


def _text(record: Mapping[str, Any]) -> str:
    parts = []
    for key, value in record.items():
        if key in ("t", "event"):
            continue
        if isinstance(value, list):
            value = ",".join(str(v) for v in value) or "-"
        elif isinstance(value, dict):
            value = " ".join(f"{k}={v}" for k, v in value.items())
        parts.append(f"{key}={value}")
    return " ".join(parts)


_LEVELS: dict[type[Event], str] = {
    ConfigRejected: "error",
    SourceRejected: "error",
    ActorFailed: "error",
    AllocationFailed: "error",
    NodeLeft: "warning",
    NodeSuspected: "warning",
    SplitBrainDetected: "error",
}


# Member states in which a node answers for nothing (an owner in them is shown as gone).
_GONE = frozenset({"dead", "left"})


def event_level(event: Event) -> str:
    if isinstance(event, AnnouncementStarted):
        return "warning" if _FAILOVER.match(event.reason) else "info"
    if isinstance(event, SpeakerStreamChanged):
        return "warning" if event.state == "lost" else "info"
    if isinstance(event, ServiceEventObserved):
        return "warning" if event.kind == "Warning" else "info"
    return _LEVELS.get(type(event), "info")


_CATEGORIES: dict[type[Event], str | None] = {
    NodeJoined: "membership",
    NodeLeft: "membership",
    NodeSuspected: "membership",
    MembershipUpdated: "membership",
    GratuitousSent: "l2",
    PrefixAnnounced: "bgp",
    PrefixWithdrawn: "bgp",
}


def pulse_category(event: Event) -> str | None:
    """Which pulse an event counts towards: ARP/NDP, BGP updates or membership traffic."""
    if isinstance(event, AnnouncementStarted | AnnouncementStopped):
        return "l2" if event.protocol == "layer2" else "bgp"
    kind = type(event)
    if kind in _CATEGORIES:
        return _CATEGORIES[kind]
    lowered = kind.__name__.lower()  # events added later, by their names
    category = None
    if lowered.startswith(("arp", "ndp", "gratuitous", "l2")):
        category = "l2"
    elif lowered.startswith(("bgp", "peer", "prefix", "session", "bfd")):
        category = "bgp"
    elif lowered.startswith(("probe", "gossip", "member", "node")):
        category = "membership"
    _CATEGORIES[kind] = category
    return category


# -- internals --------------------------------------------------------------------------------


def _shifted(
    pulses: Mapping[str, tuple[int, ...]], old_second: int, new_second: int
) -> Mapping[str, tuple[int, ...]]:
    gap = min(PULSE_SECONDS, new_second - old_second)
    out = {}
    for name in PULSES:
        series = pulses.get(name) or (0,) * PULSE_SECONDS
        out[name] = (*series[gap:], *(0,) * gap)
    return MappingProxyType(out)


class _Builder:
    """A mutable working copy of a state; tables are copied the first time they are written."""

    _TABLES = (
        "members",
        "l2",
        "routes",
        "sessions",
        "advertised",
        "interfaces",
        "not_candidate",
        "views",
        "services",
        "announcers",
        "losses",
        "actors",
    )

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
        self._tables: dict[str, dict[Any, Any]] = {}
        # Layer 2 entries that announcements of this batch changed, kept mutable and not yet
        # in the "l2" table; read()/write() of that table puts them there first.
        self._l2_drafts: dict[str, _L2Draft] = {}
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

    def _l2_draft(self, ip: str, *, create: bool = False) -> _L2Draft | None:
        """The address's entry as a draft to change in place (None: no such address)."""
        draft = self._l2_drafts.get(ip)
        if draft is None:
            table = self._tables.get("l2")
            entry = (table if table is not None else self.base.l2).get(ip)
            if entry is not None:
                draft = _L2Draft.of(entry)
            elif create:
                draft = _L2Draft(ip)
            else:
                return None
            self._l2_drafts[ip] = draft
        return draft

    def finish(self) -> ConsoleState:
        if self._l2_drafts:
            self._commit_l2()
        if self._owners_flipped:
            flipped = self._owners_flipped
            self.changed_l2.update(
                ip for ip, entry in self.read("l2").items() if entry.node in flipped
            )
        self._finish_services()
        tables = {name: MappingProxyType(t) for name, t in self._tables.items()}
        log = self.base.log
        if self._new_log:
            events = (*log.events, *self._new_log[-MAX_LOG:])[-MAX_LOG:]
            log = EventLog(events, self.seq - len(events) + 1)
        failovers = self.failovers
        if self._new_failovers:
            fresh = [Failover(*f) for f in self._new_failovers[-MAX_FAILOVERS:]]
            failovers = (*failovers, *fresh)[-MAX_FAILOVERS:]
        pulses, pulse_second = self._finish_pulses()
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

    def _finish_pulses(self) -> tuple[Mapping[str, tuple[int, ...]], int]:
        if not self._pulse_counts:
            return self.pulses, self.pulse_second
        latest = max(second for _, second in self._pulse_counts)
        second = max(self.pulse_second, latest)
        pulses = _shifted(self.pulses, self.pulse_second, second) if self.pulses else None
        series = {name: list((pulses or {}).get(name) or (0,) * PULSE_SECONDS) for name in PULSES}
        for (name, at), count in self._pulse_counts.items():
            index = PULSE_SECONDS - 1 - (second - at)
            if 0 <= index < PULSE_SECONDS:
                series[name][index] += count
        return MappingProxyType({k: tuple(v) for k, v in series.items()}), second

    # -- events ------------------------------------------------------------------------------
    def apply(self, event: Event) -> None:
        self.apply_all((event,))

    def apply_all(self, events: Iterable[Event]) -> None:
        """Each event in turn: its time, log line and pulse, then its handler. The bookkeeping
        is kept in locals across the batch (no handler reads ``now`` or ``seq``)."""
        handlers = _HANDLERS
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
                    count = _count(event) if category is not None else 0
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

    # cluster and allocation
    def _cluster_updated(self, e: ClusterUpdated) -> None:
        before = self.cluster.services if self.cluster is not None else EMPTY
        after = e.cluster.services
        self.cluster = e.cluster
        if before is after:
            return
        rows = self.write("services")
        for key in before.keys() - after.keys():
            if rows.pop(key, None) is not None:
                self.changed_services.add(key)
        for key, service in after.items():
            if before.get(key) is not service or key not in rows:
                self._refresh_service(key)
        members = self.read("members")
        for node in e.cluster.nodes:
            if node not in members:
                state = "unknown" if self.alive is None else _liveness(node, self.alive)
                self.write("members")[node] = Member(node, state)

    def _allocations_updated(self, e: AllocationsUpdated) -> None:
        before = self.allocations
        self.allocations = e.allocations
        self.usage = e.usage
        if before is e.allocations:
            return
        for key in before.keys() | e.allocations.keys():
            if before.get(key) != e.allocations.get(key):
                self._refresh_service(key)
        unowned = [ip for ip, entry in self.read("l2").items() if entry.node is None]
        held = {ip_text(ip) for a in e.allocations.values() for ip in a.ips} if unowned else ()
        stale = [ip for ip in unowned if ip not in held]
        if stale:
            l2 = self.write("l2")
            for ip in stale:
                del l2[ip]
                self.changed_l2.add(ip)

    # A service's row follows AllocationsUpdated (the allocator's whole answer); IpAssigned,
    # IpReleased and AllocationFailed say the same thing for the event log.
    def _ip_released(self, e: IpReleased) -> None:
        l2 = self.read("l2")
        for ip in e.ips:
            entry = l2.get(ip)
            if entry is not None and entry.node is None:
                del self.write("l2")[ip]
                self.changed_l2.add(ip)

    # membership
    def _membership(self, e: MembershipUpdated) -> None:
        """Each observer (with gossip, every node) has its own view; the console combines them:
        a node is dead if a live observer says so, suspect if one suspects it."""
        views = self.write("views")
        views[e.observer] = e
        dead = _combined(views.values(), "dead")
        # A crashed observer's last view is stale: only trust observers still alive.
        trusted = [v for observer, v in views.items() if observer not in dead]
        dead = _combined(trusted or views.values(), "dead")
        suspect = _combined(trusted, "suspect") - dead
        left = _combined(trusted, "left") & dead  # gone gracefully, not failed
        known = _combined(views.values(), "alive") | dead
        self.alive = frozenset(known - dead)
        not_candidates = _combined(trusted, "not_candidates")
        for node in not_candidates:
            if node not in self.read("not_candidate"):
                self.write("not_candidate")[node] = "not a candidate (no carrier)"
        for node in [n for n in self.read("not_candidate") if n not in not_candidates]:
            if node in self.alive:
                del self.write("not_candidate")[node]
        members = self.read("members")
        for node in sorted(known):
            state = (
                "left"
                if node in left
                else "dead"
                if node in dead
                else "suspect"
                if node in suspect
                else "alive"
            )
            old = members.get(node)
            if old is None or old.state != state:
                self.write("members")[node] = Member(
                    node, state, e.t, old.incarnation if old else None, old.reason if old else ""
                )
                self._owner_state_changed(node, old.state if old else None, state)
                if state == "alive" and old is not None and old.state != "alive":
                    self._recovered(node)
                elif state != "alive":
                    self._lost(node, e.t)

    def _node_joined(self, e: NodeJoined) -> None:
        self._member(e.node, "alive", e.t, getattr(e, "incarnation", None), "joined")
        self._recovered(e.node)

    def _node_suspected(self, e: NodeSuspected) -> None:
        by = f"suspected by {e.by}" if e.by else "suspected"
        self._member(e.node, "suspect", e.t, getattr(e, "incarnation", None), by)
        self._lost(e.node, e.t)

    def _node_left(self, e: NodeLeft) -> None:
        self._member(e.node, "dead", e.t, getattr(e, "incarnation", None), e.reason)
        self._lost(e.node, e.t)

    def _member(
        self, node: str, state: str, t: float, incarnation: int | None, reason: str
    ) -> None:
        old = self.read("members").get(node)
        if old is not None and old.state == "dead" and state == "suspect":
            return  # another observer suspecting what one already declared dead
        if incarnation is None and old is not None:
            incarnation = old.incarnation
        since = old.since if old is not None and old.state == state else t
        self.write("members")[node] = Member(node, state, since, incarnation, reason)
        self._owner_state_changed(node, old.state if old else None, state)

    def _owner_state_changed(self, node: str, before: str | None, after: str) -> None:
        """A layer 2 row shows whether its owner is gone: when that flips, the node's rows
        changed although their entries did not (marked at the end of the batch, so the
        layer 2 drafts are not committed halfway)."""
        if (before in _GONE) != (after in _GONE):
            self._owners_flipped.add(node)

    def _lost(self, node: str, t: float) -> None:
        if node not in self.read("losses"):
            self.write("losses")[node] = t

    def _recovered(self, node: str) -> None:
        if node in self.read("losses"):
            del self.write("losses")[node]

    # announcements
    def _started(self, e: AnnouncementStarted) -> None:
        if e.protocol == "layer2":
            self._l2_started(e)
        else:
            self._route_started(e)

    def _stopped(self, e: AnnouncementStopped) -> None:
        if e.reason == "node killed":
            # The demo's crash: the node is gone from now, whatever membership says later.
            self._lost(e.node, e.t)
        if e.protocol == "layer2":
            self._l2_stopped(e)
        else:
            self._route_stopped(e)

    def _l2_started(self, e: AnnouncementStarted) -> None:
        draft = self._l2_draft(e.ip, create=True)
        assert draft is not None
        interfaces = tuple(i for i in e.interface.split(",") if i) if e.interface else ()
        moved = (
            _FAILOVER.match(e.reason)
            if not self.snapshotting and e.reason.startswith("failover from ")
            else None
        )
        if moved:
            from_node = moved.group(1)
            lost_at = self.read("losses").get(from_node)
            seconds = e.t - lost_at if lost_at is not None else None
            self._new_failovers.append((e.t, e.ip, from_node, e.node, seconds, e.reason, False))
            draft.failover_seconds, draft.failover_at = seconds, e.t
            draft.failover_measured = False
        draft.node = e.node
        draft.since = e.t
        draft.reason = e.reason
        draft.interfaces = interfaces
        draft.services = e.services
        draft.announcers = draft.announcers | {e.node} if draft.announcers else _one(e.node)
        draft.takeovers += 1
        draft.conflict = ""
        self.changed_l2.add(e.ip)
        for service in e.services:
            self._announcer(service, _one_of(e.node, "layer2"), add=True)

    def _l2_stopped(self, e: AnnouncementStopped) -> None:
        draft = self._l2_draft(e.ip)
        if draft is None or e.node not in draft.announcers:
            return
        announcers = draft.announcers
        draft.announcers = announcers = announcers - {e.node} if len(announcers) > 1 else _NONE
        if draft.node == e.node:
            draft.node = min(announcers) if announcers else None
            draft.since = e.t
            if draft.node is None:
                draft.reason = e.reason
        draft.conflict = ""
        self.changed_l2.add(e.ip)
        for service in draft.services:
            self._announcer(service, _one_of(e.node, "layer2"), add=False)

    def _route_started(self, e: AnnouncementStarted) -> None:
        key = (e.node, e.ip, e.peers)
        self.write("routes")[key] = Route(e.node, e.ip, e.peers, e.t, e.services, e.reason)
        for service in e.services:
            self._announcer(service, _one_of(e.node, "bgp"), add=True)

    def _route_stopped(self, e: AnnouncementStopped) -> None:
        routes = self.read("routes")
        gone = [
            key
            for key in routes
            if key[0] == e.node and key[1] == e.ip and (not e.peers or key[2] == e.peers)
        ]
        if not gone:
            return
        table = self.write("routes")
        services = {s for key in gone for s in table.pop(key).services}
        still = {s for key, r in table.items() if key[0] == e.node for s in r.services}
        for service in services - still:
            self._announcer(service, _one_of(e.node, "bgp"), add=False)

    def replace_announcements(self, announcements: Iterable[AnnouncementStarted]) -> None:
        """Set the announcements in force to exactly these (from a snapshot)."""
        current = list(announcements)
        for ip, entry in list(self.read("l2").items()):
            if entry.node is not None:
                self.write("l2")[ip] = replace(entry, node=None, announcers=frozenset())
                self.changed_l2.add(ip)
        for key in list(self.read("routes")):
            del self.write("routes")[key]
        for service in list(self.read("announcers")):
            del self.write("announcers")[service]
            self._refresh_service(service)
        self.snapshotting = True
        for a in current:
            old = self.read("l2").get(a.ip) if a.protocol == "layer2" else None
            self._started(a)
            if old is not None:
                # Replayed history already counted this address; keep its counters.
                entry = self.read("l2")[a.ip]
                self.write("l2")[a.ip] = replace(
                    entry,
                    takeovers=max(old.takeovers, 1),
                    gratuitous=old.gratuitous,
                    failover_seconds=old.failover_seconds,
                    failover_at=old.failover_at,
                )
        self.snapshotting = False

    def _announcer(self, service: str, who: tuple[str, str], *, add: bool) -> None:
        # Called twice per address a batch moves: the table is looked up directly.
        table = self._tables.get("announcers")
        current = (table if table is not None else self.base.announcers).get(service)
        if (current is not None and who in current) == add:
            return  # nothing changes
        if table is None:
            table = self.write("announcers")
        if add:
            updated = current | {who} if current else _one(who)
        else:
            updated = current - {who} if len(current) > 1 else _NONE
        if updated:
            table[service] = updated
        else:
            del table[service]
        self._dirty_services.add(service)

    # the wire: layer 2, BGP sessions, BFD
    def _failover_measured(self, e: FailoverMeasured) -> None:
        """The speaker's own timing replaces the estimate made from the events."""
        measured = Failover(e.t, e.ip, e.from_node, e.node, e.seconds, e.cause, measured=True)
        fresh = self._new_failovers  # field tuples: (t, ip, from_node, to_node, ..., measured)
        for index in range(len(fresh) - 1, -1, -1):
            t, ip, _, to_node, _, _, was_measured = fresh[index]
            if (ip, to_node, was_measured) == (e.ip, e.node, False):
                fresh[index] = (t, e.ip, e.from_node, e.node, e.seconds, e.cause, True)
                break
        else:
            old = list(self.failovers)
            for index in range(len(old) - 1, -1, -1):
                f = old[index]
                if (f.ip, f.to_node, f.measured) == (e.ip, e.node, False):
                    old[index] = replace(measured, t=f.t)
                    self.failovers = tuple(old)
                    break
            else:
                fresh.append((e.t, e.ip, e.from_node, e.node, e.seconds, e.cause, True))
        entry = self.read("l2").get(e.ip)
        if entry is not None and e.protocol == "layer2" and entry.node == e.node:
            self.write("l2")[e.ip] = replace(
                entry, failover_seconds=e.seconds, failover_at=e.t, failover_measured=True
            )
            self.changed_l2.add(e.ip)

    def _split_brain(self, e: SplitBrainDetected) -> None:
        entry = self.read("l2").get(e.ip)
        if entry is not None:
            conflict = f"{e.node} hears {e.other_mac} on {e.interface}"
            self.write("l2")[e.ip] = replace(entry, conflict=conflict)
            self.changed_l2.add(e.ip)

    def _gratuitous(self, e: GratuitousSent) -> None:
        entry = self.read("l2").get(e.ip)
        if entry is not None:
            packets = max(0, e.packets)
            self.write("l2")[e.ip] = replace(entry, gratuitous=entry.gratuitous + packets)
            self.changed_l2.add(e.ip)

    def _answers(self, e: L2AnswersChanged) -> None:
        entry = self.read("l2").get(e.ip)
        if entry is not None and entry.node == e.node:
            self.write("l2")[e.ip] = replace(entry, interfaces=e.interfaces)
            self.changed_l2.add(e.ip)

    def _interfaces(self, e: L2InterfacesChanged) -> None:
        self.write("interfaces")[e.node] = (e.interfaces, e.without_carrier)

    def _candidacy(self, e: CandidacyChanged) -> None:
        if e.candidate:
            if e.node in self.read("not_candidate"):
                del self.write("not_candidate")[e.node]
        else:
            self.write("not_candidate")[e.node] = e.reason or "not a candidate"

    def _session(self, e: PeerSessionChanged) -> None:
        old = self.read("sessions").get((e.node, e.peer))
        since = old.since if old is not None and old.state == e.state else e.t
        last_error = old.last_error if old else ""
        if _session_error(e):
            last_error = e.reason
        bfd = old.bfd if old else ""
        self.write("sessions")[(e.node, e.peer)] = Session(
            e.node, e.peer, e.state, since, e.reason, last_error, bfd
        )
        if e.state != "Established" and (e.node, e.peer) in self.read("advertised"):
            # A session that is down holds no routes at the peer.
            del self.write("advertised")[(e.node, e.peer)]

    def _bfd(self, e: BfdSessionChanged) -> None:
        old = self.read("sessions").get((e.node, e.peer))
        if old is None:
            old = Session(e.node, e.peer, "", e.t)
        self.write("sessions")[(e.node, e.peer)] = replace(old, bfd=e.state)

    def _prefixes(self, e: PrefixAnnounced | PrefixWithdrawn) -> None:
        key = (e.node, e.peer)
        current = self.read("advertised").get(key, frozenset())
        if isinstance(e, PrefixAnnounced):
            self.write("advertised")[key] = current | frozenset(e.prefixes)
        else:
            self.write("advertised")[key] = current - frozenset(e.prefixes)

    # derived service rows: marked during the batch, computed once at its end
    def _refresh_service(self, key: str) -> None:
        self._dirty_services.add(key)

    def _finish_services(self) -> None:
        if not self._dirty_services:
            return
        rows = self.read("services")
        announcers = self.read("announcers")
        changed: list[tuple[str, ServiceRow | None]] = []
        # Neither services nor allocations changed in this batch (a failover): only who
        # announces a service did, so a row is its old one with new announcers (if those
        # differ, the row does: no comparison needed).
        failover = self.cluster is self.base.cluster and self.allocations is self.base.allocations
        for key in self._dirty_services:
            current = rows.get(key)
            if failover and current is not None:
                row = _with_announcers(current, announcers.get(key, _NONE))
                if row is not current:
                    changed.append((key, row))
                continue
            row = self._service_row(key, announcers)
            if row is not current and (row is None or current != row):
                changed.append((key, row))
        self._dirty_services.clear()
        if changed:
            table = self.write("services")
            for key, row in changed:
                if row is None:
                    del table[key]
                else:
                    table[key] = row
                self.changed_services.add(key)

    def _service_row(
        self, key: str, announcers: Mapping[str, frozenset[tuple[str, str]]]
    ) -> ServiceRow | None:
        if self.cluster is None:
            return None
        service = self.cluster.services.get(key)
        if service is None or not service.is_load_balancer:
            return None
        allocation = self.allocations.get(key)
        if allocation is not None:
            ips = tuple(map(ip_text, allocation.ips))
            pool = allocation.pool or ""
            error = allocation.error or ""
        else:
            ips, pool, error = service.ingress_ips, "", ""
        who = announcers.get(key, frozenset())
        if len(who) == 1:
            ((node, protocol),) = who
            nodes, protocols = _single(node), _single(protocol)
        else:
            nodes = tuple(sorted({node for node, _ in who}))
            protocols = tuple(sorted({protocol for _, protocol in who}))
        if not ips:
            status = "error" if error else "pending"
        else:
            status = "announced" if nodes else "not announced"
        return ServiceRow(
            key,
            service.namespace,
            service.metadata.name,
            ips,
            pool,
            nodes,
            protocols,
            status,
            error,
        )


def _with_announcers(row: ServiceRow, who: frozenset[tuple[str, str]]) -> ServiceRow:
    if len(who) == 1:
        ((node, protocol),) = who
        nodes, protocols = _single(node), _single(protocol)
    else:
        nodes = tuple(sorted({node for node, _ in who}))
        protocols = tuple(sorted({protocol for _, protocol in who}))
    if not row.ips:
        status = "error" if row.error else "pending"
    else:
        status = "announced" if nodes else "not announced"
    if (nodes, protocols, status) == (row.nodes, row.protocols, row.status):
        return row  # announced by the same nodes again (a stop and start in one batch)
    return ServiceRow(
        row.key, row.namespace, row.name, row.ips, row.pool, nodes, protocols, status, row.error
    )


_IP_TEXT: dict[Any, str] = {}
_NONE: frozenset[Any] = frozenset()
# Shared small immutable values: a node kill's batch would otherwise make (and the collector
# then walk) a frozenset and tuples per address, all for the same few node names. Bounded:
# node names are few, and a flood of made-up ones is not kept.
_SHARED_MAX = 10_000
_ONE: dict[Any, frozenset[Any]] = {}
_PAIRS: dict[tuple[str, str], tuple[str, str]] = {}
_SINGLES: dict[str, tuple[str]] = {}


def _one(item: Any) -> frozenset[Any]:
    """frozenset((item,)), one per item."""
    value = _ONE.get(item)
    if value is None:
        if len(_ONE) > _SHARED_MAX:
            _ONE.clear()
        value = _ONE[item] = frozenset((item,))
    return value


def _one_of(node: str, protocol: str) -> tuple[str, str]:
    """(node, protocol), one per pair."""
    pair = (node, protocol)
    value = _PAIRS.get(pair)
    if value is None:
        if len(_PAIRS) > _SHARED_MAX:
            _PAIRS.clear()
        value = _PAIRS[pair] = pair
    return value


def _single(item: str) -> tuple[str]:
    """(item,), one per item."""
    value = _SINGLES.get(item)
    if value is None:
        if len(_SINGLES) > _SHARED_MAX:
            _SINGLES.clear()
        value = _SINGLES[item] = (item,)
    return value


def ip_text(ip: Any) -> str:
    """``str(ip)``, remembered: ipaddress' formatting is slow and 10k rows ask for it often."""
    text = _IP_TEXT.get(ip)
    if text is None:
        if len(_IP_TEXT) > 200_000:
            _IP_TEXT.clear()
        text = _IP_TEXT[ip] = str(ip)
    return text


_SESSION_TROUBLE = ("notification", "error", "refused", "timed out", "expired", "down", "reset")


def _session_error(e: PeerSessionChanged) -> bool:
    """Whether a session change reports a failure (falling back to Idle/Active, or saying so)
    rather than the normal way up (Connect "started", OpenConfirm "OPEN received")."""
    if not e.reason:
        return False
    return e.state in ("Idle", "Active") or any(w in e.reason.lower() for w in _SESSION_TROUBLE)


def _combined(views: Iterable[MembershipUpdated], field_name: str) -> frozenset[str]:
    out: set[str] = set()
    for view in views:
        out.update(getattr(view, field_name, ()) or ())
    return frozenset(out)


def _liveness(node: str, alive: frozenset[str]) -> str:
    return "alive" if node in alive else "dead"


def _count(event: Event) -> int:
    """How much traffic an event stands for (a batch of prefixes, a round of packets)."""
    if isinstance(event, GratuitousSent):
        return max(1, event.packets)
    if isinstance(event, PrefixAnnounced | PrefixWithdrawn):
        return max(1, len(event.prefixes))
    return 1


_HANDLERS: dict[type[Event], Any] = {
    ConfigApplied: _Builder._config_applied,
    ConfigRejected: _Builder._config_rejected,
    RuntimeReady: _Builder._runtime_ready,
    RuntimeStopped: _Builder._runtime_stopped,
    ActorStarted: _Builder._actor_started,
    ActorFailed: _Builder._actor_failed,
    ClusterUpdated: _Builder._cluster_updated,
    AllocationsUpdated: _Builder._allocations_updated,
    IpReleased: _Builder._ip_released,
    MembershipUpdated: _Builder._membership,
    NodeJoined: _Builder._node_joined,
    NodeSuspected: _Builder._node_suspected,
    NodeLeft: _Builder._node_left,
    AnnouncementStarted: _Builder._started,
    AnnouncementStopped: _Builder._stopped,
    GratuitousSent: _Builder._gratuitous,
    FailoverMeasured: _Builder._failover_measured,
    SplitBrainDetected: _Builder._split_brain,
    L2AnswersChanged: _Builder._answers,
    L2InterfacesChanged: _Builder._interfaces,
    CandidacyChanged: _Builder._candidacy,
    PeerSessionChanged: _Builder._session,
    BfdSessionChanged: _Builder._bfd,
    PrefixAnnounced: _Builder._prefixes,
    PrefixWithdrawn: _Builder._prefixes,
}
