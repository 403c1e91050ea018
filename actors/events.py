"""Every event the runtime publishes: frozen ``msgspec.Struct`` s named in the past tense.

Each carries ``t``, the monotonic time (from the injected Clock) at which it happened.
Events cross thread boundaries without copying (Pykka does not copy), so they and everything
they hold are immutable. ``to_json`` gives the JSON-lines form of ``lbtui demo --headless``;
events that carry whole state snapshots (``StateEvent``) are for the runtime's own wiring and
are summarized, not dumped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import msgspec

if TYPE_CHECKING:
    from actors.model.allocation import Allocation, PoolUsage
    from actors.model.cluster import ClusterState
    from actors.model.config import Config

Protocol = Literal["layer2", "bgp"]


class Event(msgspec.Struct, frozen=True):
    t: float

    @property
    def name(self) -> str:
        return type(self).__name__

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"t": round(self.t, 6), "event": self.name}
        for name in self.__struct_fields__:
            if name != "t":
                out[name] = _plain(getattr(self, name))
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list | frozenset | set):
        items = [_plain(v) for v in value]
        return sorted(items) if isinstance(value, frozenset | set) else items
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


class StateEvent(Event):
    """Marker base for events whose payload is a snapshot consumed by other actors."""


# -- configuration --------------------------------------------------------------------------


class ConfigApplied(StateEvent):
    config: Config
    source: str

    def to_json(self) -> dict[str, Any]:
        c = self.config
        return {
            "t": round(self.t, 6),
            "event": self.name,
            "source": self.source,
            "pools": sorted(c.pools),
            "l2Advertisements": len(c.l2_advertisements),
            "bgpAdvertisements": len(c.bgp_advertisements),
            "peers": [p.name for p in c.peers],
        }


class ConfigRejected(Event):
    """A configuration refused; the last good one stays. ``source`` "edit" or "delete": a
    change someone proposed was refused (the running configuration is untouched and valid);
    "startup" or "reload": the configuration as written is invalid."""

    source: str
    errors: tuple[str, ...]

    @property
    def proposal(self) -> bool:
        """A refused edit or delete: nothing is wrong with what runs."""
        return self.source in ("edit", "delete")


class ConfigPersisted(Event):
    path: str
    backup: str


# -- cluster --------------------------------------------------------------------------------


class ClusterUpdated(StateEvent):
    """The cluster as its source now shows it. ``serial`` numbers each state a cluster actor
    publishes (unique in the process; 0: unnumbered), and ``changed`` lists the keys of the
    Services that may differ between the state numbered ``since`` and this one (a superset;
    None: unknown), so a consumer that worked on state ``since`` need look only at those
    (see :class:`actors.cluster.delta.ServiceDelta`)."""

    cluster: ClusterState
    source: str
    serial: int = 0
    since: int = 0
    changed: frozenset[str] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "t": round(self.t, 6),
            "event": self.name,
            "source": self.source,
            "services": len(self.cluster.services),
            "nodes": sorted(self.cluster.nodes),
        }


class SourceRejected(Event):
    """A cluster or scenario file that could not be used; the running state is unchanged."""

    source: str
    errors: tuple[str, ...]


class ServiceChanged(Event):
    service: str
    change: Literal["added", "updated", "deleted"]


# -- allocation -----------------------------------------------------------------------------


class IpAssigned(Event):
    service: str
    ips: tuple[str, ...]
    pool: str


class IpReleased(Event):
    service: str
    ips: tuple[str, ...]
    reason: str


class AllocationFailed(Event):
    service: str
    reason: str


class AllocationsUpdated(StateEvent):
    allocations: Mapping[str, Allocation]
    usage: Mapping[str, PoolUsage]

    def to_json(self) -> dict[str, Any]:
        return {
            "t": round(self.t, 6),
            "event": self.name,
            "services": sum(1 for a in self.allocations.values() if a.ips),
            "pools": {
                name: {"total": u.total, "inUse": u.in_use} for name, u in self.usage.items()
            },
        }


# -- membership -----------------------------------------------------------------------------


# With gossip every node has its own view: ``observer`` is the node whose membership says so
# ("" for the demo's simulated membership), ``incarnation`` the member's SWIM incarnation.


class NodeJoined(Event):
    node: str
    observer: str = ""
    incarnation: int | None = None


class NodeSuspected(Event):
    node: str
    by: str = ""
    observer: str = ""
    incarnation: int | None = None


class NodeRecovered(Event):
    """A suspected node refuted the suspicion (it was slow, not dead)."""

    node: str
    observer: str = ""
    incarnation: int | None = None


class NodeLeft(Event):
    node: str
    reason: str  # "dead" (failure detected), "left" (graceful), "killed" (demo)
    observer: str = ""
    incarnation: int | None = None


class MembershipUpdated(StateEvent):
    """Who is alive now, as one node sees it (the speakers' candidate set comes from here)."""

    observer: str
    alive: frozenset[str]
    dead: frozenset[str]
    # Alive but not candidates for announcements: every interface they would announce on has
    # lost carrier (link awareness; each node's CandidacyChanged, spread by membership).
    not_candidates: frozenset[str] = frozenset()
    # Gossip only: of ``alive``, those suspected right now; of ``dead``, those that left
    # gracefully (SIGTERM) rather than failed.
    suspect: frozenset[str] = frozenset()
    left: frozenset[str] = frozenset()


# -- announcement ---------------------------------------------------------------------------


class AnnouncementStarted(Event):
    node: str
    ip: str
    protocol: Protocol
    reason: str
    interface: str = ""
    services: tuple[str, ...] = ()
    # BGP: the peers the route goes to (one prefix may go to different peers separately).
    peers: tuple[str, ...] = ()


class AnnouncementStopped(Event):
    node: str
    ip: str
    protocol: Protocol
    reason: str
    interface: str = ""
    peers: tuple[str, ...] = ()


# -- layer 2 on the wire (actors/l2) -------------------------------------------------------


class L2AnswersChanged(Event):
    """The interfaces ``node`` answers ARP/NDP for ``ip`` on (empty: nowhere, e.g. none of the
    interfaces an L2Advertisement names exists here: MetalLB's announceFailed)."""

    node: str
    ip: str
    interfaces: tuple[str, ...]
    reason: str


class GratuitousSent(Event):
    """One round of gratuitous ARP (request + reply) or unsolicited NA for ``ip``."""

    node: str
    ip: str
    interfaces: tuple[str, ...]
    packets: int
    round: int  # 1 for the takeover's first round


class L2InterfacesChanged(Event):
    """The interfaces ``node`` would announce on by default, and which of them lack carrier."""

    node: str
    interfaces: tuple[str, ...]
    without_carrier: tuple[str, ...]


class CandidacyChanged(Event):
    """Link awareness: whether ``node`` can announce at all. False when every interface it
    would announce on has lost carrier. Published by the node's L2 actor; membership spreads
    it to the others, whose MembershipUpdated then lists the node in ``not_candidates``."""

    node: str
    candidate: bool
    reason: str


class SplitBrainDetected(Event):
    """``node`` answers for ``ip`` and heard a gratuitous ARP for it from another MAC
    (``other_mac``) on ``interface``: two nodes announce one address (e.g. a membership
    partition). Counted in ``lbtui_l2_conflicts_total``."""

    node: str
    ip: str
    interface: str
    other_mac: str
    own_mac: str


# -- failover measurement (actors/observability/failover.py) ---------------------------------


class FailoverMeasured(Event):
    """``node`` took ``ip`` (an address, or a prefix in BGP) over from ``from_node``.

    ``seconds``: from the first membership event saying ``from_node`` was lost (suspected,
    dead, left or no longer a candidate) to the first gratuitous packet (layer 2) or UPDATE
    (BGP) ``node`` sent for it. ``detection``: the part of it from that first sign to the
    verdict that moved the address (0 when the first sign was the verdict). ``cause``: the
    verdict ("dead", "left", "not candidate"). Observed in ``lbtui_failover_seconds``.
    """

    node: str
    ip: str
    protocol: Protocol
    from_node: str
    seconds: float
    cause: str
    detection: float = 0.0


# -- the runtime itself ---------------------------------------------------------------------


class ActorStarted(Event):
    actor: str


class ActorFailed(Event):
    actor: str
    error: str
    restarts: int
    next_restart_in: float


class RuntimeReady(Event):
    role: str
    actors: tuple[str, ...]


class RuntimeStopped(Event):
    role: str
    reason: str


# -- BGP on the wire (actors/bgp) ----------------------------------------------------------


class UnnumberedRouterFound(Event):
    """The router of the unnumbered BGPPeer ``peer`` (a session over ``interface``) on
    ``node`` is ``address``, a link-local address with its scope (``fe80::1%eth1``); ""
    when it is no longer known. The BGP speaker finds it; BFD follows it."""

    node: str
    peer: str
    interface: str
    address: str


class PeerSessionChanged(Event):
    """The BGP session from ``node`` to the BGPPeer named ``peer`` changed FSM state.

    ``state`` is RFC 4271's: "Idle", "Connect", "Active", "OpenSent", "OpenConfirm",
    "Established". ``reason`` says why, readably ("sent NOTIFICATION: Hold Timer Expired:
    nothing received for 9s; retry in 1s", "peer 10.99.0.1 AS 64500", ...).
    """

    node: str
    peer: str
    state: str
    reason: str


class PrefixAnnounced(Event):
    """UPDATEs carrying ``prefixes`` went out on ``node``'s session to ``peer`` (one event per
    batch: a config change can announce thousands at once)."""

    node: str
    peer: str
    prefixes: tuple[str, ...]


class PrefixWithdrawn(Event):
    """``prefixes`` are no longer announced to ``peer``: withdrawn, or the session went down."""

    node: str
    peer: str
    prefixes: tuple[str, ...]
    reason: str


# -- BFD (actors/bgp/bfd) -------------------------------------------------------------------


class BfdSessionChanged(Event):
    """The BFD session from ``node`` to the BGPPeer named ``peer`` changed state.

    ``state`` is "up", "init", "down" or "admin-down". "down" means the path failed (or the
    peer restarted): the BGP session to that peer must go down at once. "admin-down" is not a
    failure (RFC 5882 §3.2): the peer, or our own configuration, disabled BFD; clients keep
    their sessions. ``diagnostic`` is RFC 5880's reason, readable ("control detection time
    expired", "neighbor signaled session down", ...).
    """

    node: str
    peer: str
    state: Literal["up", "init", "down", "admin-down"]
    diagnostic: str


# -- Kubernetes (actors/kube/source.py, actors/roles/controller.py) ------------------------------


class ApiConnectionChanged(Event):
    """The Kubernetes API went away (a watch keeps failing) or came back. In between the last
    objects stay in force: nothing announced is withdrawn because of an outage."""

    source: str
    connected: bool
    detail: str = ""


class LeadershipChanged(Event):
    """Leader election (a coordination.k8s.io Lease): whether ``identity`` leads now, and who
    holds the lease (``holder``, "" when nobody does)."""

    identity: str
    leader: bool
    holder: str


class PeersDiscovered(Event):
    """Addresses of the other speakers, found through the API (speaker pods by label): the
    seeds membership joins through."""

    node: str
    addresses: tuple[str, ...]


class SpeakerStreamChanged(Event):
    """The console following one speaker's event stream through the API server's pod proxy
    (``lbtui console --kubeconfig``): ``state`` is "following", "lost" (the stream broke, it
    reconnects with backoff) or "gone" (the pod was deleted); ``detail`` says why."""

    node: str
    pod: str
    state: Literal["following", "lost", "gone"]
    detail: str = ""


class ServiceEventObserved(Event):
    """A core/v1 Event about a Service written by MetalLB's components (IPAllocated,
    AllocationFailed, nodeAssigned...), as ``lbtui console --kubeconfig`` sees it on the API.
    ``kind`` is the Event's type (Normal or Warning); ``count`` MetalLB's repeat count."""

    service: str
    reason: str
    message: str
    kind: str = "Normal"
    component: str = ""
    host: str = ""
    count: int = 1


class Announced(msgspec.Struct, frozen=True):
    """One service announced by one node over one protocol (inside AnnouncementsUpdated)."""

    service: str
    protocol: Protocol
    ips: tuple[str, ...]
    interfaces: tuple[str, ...] = ()
    peers: tuple[str, ...] = ()


class AnnouncementsUpdated(StateEvent):
    """Everything ``node`` announces now, per service and protocol (ServiceL2Status,
    ServiceBGPStatus and metallb_speaker_announced are written from it)."""

    node: str
    announced: tuple[Announced, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "t": round(self.t, 6),
            "event": self.name,
            "node": self.node,
            "announced": [
                {"service": a.service, "protocol": a.protocol, "ips": list(a.ips)}
                for a in self.announced
            ],
        }
