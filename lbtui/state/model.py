"""The console's state as values: what one batch of events leaves behind. No textual.

Holds the immutable rows the reducer keeps (:class:`Member`, :class:`L2Entry`, :class:`Route`,
:class:`PeerSessionRow`, :class:`Failover`, :class:`ServiceRow`), :class:`ConsoleState` that
holds them all, :class:`Changes` (which rows the last batch touched) and :class:`Snapshot` (a
runtime's state at one moment, for a console that attaches late). No logic beyond the fields:
:mod:`lbtui.state.reducer` makes states, :mod:`lbtui.state.rows` reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from actors.events import AnnouncementStarted, Event, MembershipUpdated
from actors.model.cluster import ClusterState
from actors.model.config import Config
from lbtui.state.eventlog import EventLog

if TYPE_CHECKING:
    from actors.model.allocation import Allocation, PoolUsage

MAX_FAILOVERS = 200

EMPTY: Mapping[Any, Any] = MappingProxyType({})


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
class PeerSessionRow:
    """A row of the BGP sessions view: one node's session with one peer, from session events."""

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
    protocol: str = "layer2"  # or "bgp" (only the speakers' own measurement tells BGP's)


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
    sessions: Mapping[tuple[str, str], PeerSessionRow] = field(default_factory=lambda: EMPTY)
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
