"""BGP plan: which prefixes each node announces, to which peers, with which attributes.

Reproduces MetalLB's BGP ``ShouldAnnounce`` and ``SetBalancer`` (speaker/bgp_controller.go) plus
the native speaker's per-session merge, for every node at once. For one service and one node,
in order (the first that applies is the node's reason):

1. no BGPAdvertisement of the pool both selects the node (nodeSelectors) and matches the
   service (serviceSelectors, empty = all)                          -> ``noMatchingAdvertisement``
2. two of those ads disagree on localPref and neither their aggregation lengths (for the
   pool's families) nor their non-empty peer lists tell them apart -> ``conflictingAdvertisements``
3. the node is not alive / NetworkUnavailable / labelled exclude-from-external-load-balancers
   -> ``nodeDown`` / ``nodeNetworkUnavailable`` / ``nodeLabeledExcludeBalancers``
4. externalTrafficPolicy Local and no serving endpoint (with an address) on the node
                                                                     -> ``noLocalEndpoints``
   Cluster and no serving endpoint with an address anywhere               -> ``noEndpoints``
5. none of the node's BGP sessions would carry the routes                         -> ``noPeers``
6. otherwise                                                                       -> ``announced``

For each address x matching ad: prefix = address masked to ``aggregation_length`` (IPv4) or
``aggregation_length_v6`` (IPv6). It goes to the node's sessions (BGPPeers whose nodeSelectors
match the node) named in the ad's ``peers``, or to all of them when ``peers`` is empty.

Merging, as the native speaker does per session: on each peer, identical prefixes from several
services or ads become one route with the union of communities and of services and the highest
localPref (MetalLB rejects differing localPrefs per service, so max only matters across
services). Routes to different peers that end up identical are then listed once with all their
peers; a prefix therefore appears more than once on a node only when its peers get different
attributes.

API::

    bgp_decision(config, cluster, service_key, assigned, alive=None) -> BGPDecision
    bgp_decisions(config, cluster, assignments, alive=None) -> dict[service key, BGPDecision]
    bgp_advertisements(config, cluster, assignments, alive=None)
        -> dict[node name, tuple[BGPRoute, ...]]   (only nodes announcing something)

Nodes are sorted by name; routes by prefix (IP version, network address, length), then peers.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping

import msgspec

from actors.election.candidates import (
    NO_LOCAL_ENDPOINTS,
    NODE_DOWN,
    NODE_EXCLUDED,
    NODE_NETWORK_UNAVAILABLE,
    NODE_REASON_TEXT,
    Assigned,
    ClusterView,
    NodeFacts,
    health_rejection,
    resolve_pool,
)
from actors.model.cluster import ClusterState, Service
from actors.model.config import BGPAdvertisement, Config, IPAddress, IPNetwork, Pool
from actors.model.route import BGPRoute
from actors.model.selectors import any_matches

ANNOUNCED = "announced"
NO_IPS = "noIPs"
UNKNOWN_SERVICE = "unknownService"
UNKNOWN_POOL = "unknownPool"
NO_ENDPOINTS = "noEndpoints"
NO_MATCHING_ADVERTISEMENT = "noMatchingAdvertisement"
CONFLICTING_ADVERTISEMENTS = "conflictingAdvertisements"
NO_PEERS = "noPeers"
NO_NODES = "noNodes"

# How far a node got through the checks above; the service-level reason is the furthest.
_STAGE = {
    NO_MATCHING_ADVERTISEMENT: 0,
    CONFLICTING_ADVERTISEMENTS: 1,
    NODE_DOWN: 2,
    NODE_NETWORK_UNAVAILABLE: 3,
    NODE_EXCLUDED: 4,
    NO_ENDPOINTS: 5,
    NO_LOCAL_ENDPOINTS: 6,
    NO_PEERS: 7,
    ANNOUNCED: 8,
}


class BGPNodeVerdict(msgspec.Struct, frozen=True):
    """Whether one node announces one service, and why not when it does not."""

    node: str
    reason: str
    message: str
    advertisements: tuple[str, ...] = ()
    # Prefixes the node would announce for the service (set from the endpoint check on).
    prefixes: tuple[str, ...] = ()
    peers: tuple[str, ...] = ()

    @property
    def announced(self) -> bool:
        return self.reason == ANNOUNCED


class BGPDecision(msgspec.Struct, frozen=True):
    """Per-node verdicts for one service."""

    service: str
    ips: tuple[IPAddress, ...]
    pool: str | None
    reason: str
    message: str
    nodes: tuple[BGPNodeVerdict, ...] = ()

    @property
    def announcing(self) -> tuple[str, ...]:
        return tuple(v.node for v in self.nodes if v.announced)


class _Contribution(msgspec.Struct, frozen=True):
    """One (address, ad) route of a service on a node, before merging."""

    network: IPNetwork
    peers: tuple[str, ...]
    communities: frozenset[str]
    local_pref: int
    service: str


class _Merged(msgspec.Struct):
    communities: set[str] = msgspec.field(default_factory=set)
    local_pref: int = 0
    services: set[str] = msgspec.field(default_factory=set)


def bgp_decision(
    config: Config,
    cluster: ClusterState,
    service_key: str,
    assigned: Assigned,
    alive: frozenset[str] | None = None,
    *,
    ignore_exclude_lb: bool = False,
) -> BGPDecision:
    """Which nodes announce one service over BGP, node by node, with reasons."""
    run = _Run(config, ClusterView.of(cluster), alive, ignore_exclude_lb)
    return run.evaluate(service_key, assigned)[0]


def bgp_decisions(
    config: Config,
    cluster: ClusterState,
    assignments: Mapping[str, Assigned],
    alive: frozenset[str] | None = None,
    *,
    ignore_exclude_lb: bool = False,
) -> dict[str, BGPDecision]:
    """:func:`bgp_decision` for every assigned service, keyed and ordered by service key."""
    run = _Run(config, ClusterView.of(cluster), alive, ignore_exclude_lb)
    return {key: run.evaluate(key, assignments[key])[0] for key in sorted(assignments)}


def bgp_advertisements(
    config: Config,
    cluster: ClusterState,
    assignments: Mapping[str, Assigned],
    alive: frozenset[str] | None = None,
    *,
    ignore_exclude_lb: bool = False,
) -> dict[str, tuple[BGPRoute, ...]]:
    """Every node's merged routes, keyed by node name; nodes announcing nothing are left out."""
    if not config.bgp_advertisements:
        return {}  # no route to merge: no need to walk every node for every service
    run = _Run(config, ClusterView.of(cluster), alive, ignore_exclude_lb)
    per_node: dict[str, list[_Contribution]] = {}
    for key in sorted(assignments):
        _, contributions = run.evaluate(key, assignments[key])
        for node, routes in contributions.items():
            per_node.setdefault(node, []).extend(routes)
    return {node: _merge(per_node[node]) for node in sorted(per_node) if per_node[node]}


class _Run:
    """One evaluation over a fixed config and cluster, caching what does not depend on the
    service (a node's sessions, which ads select it, masked prefixes)."""

    def __init__(
        self,
        config: Config,
        view: ClusterView,
        alive: frozenset[str] | None,
        ignore_exclude_lb: bool,
    ) -> None:
        self.config = config
        self.view = view
        self.alive = alive
        self.ignore_exclude_lb = ignore_exclude_lb
        self._sessions: dict[str, frozenset[str]] = {}
        self._selects: dict[tuple[int, str], bool] = {}
        self._masked: dict[tuple[IPAddress, int], IPNetwork] = {}
        self._service_routes: dict[
            tuple[str, tuple[int, ...], frozenset[str]],
            tuple[tuple[_Contribution, ...], tuple[str, ...], tuple[str, ...]],
        ] = {}

    def sessions(self, node: NodeFacts) -> frozenset[str]:
        """The BGPPeers this node keeps a session with (their nodeSelectors match it)."""
        found = self._sessions.get(node.name)
        if found is None:
            found = frozenset(
                peer.name
                for peer in self.config.peers
                if any_matches(peer.node_selectors, node.labels)
            )
            self._sessions[node.name] = found
        return found

    def selects(self, ad: BGPAdvertisement, node: NodeFacts) -> bool:
        key = (id(ad), node.name)
        found = self._selects.get(key)
        if found is None:
            found = self._selects[key] = any_matches(ad.node_selectors, node.labels)
        return found

    def masked(self, ip: IPAddress, ad: BGPAdvertisement) -> IPNetwork:
        length = ad.aggregation_length if ip.version == 4 else ad.aggregation_length_v6
        found = self._masked.get((ip, length))
        if found is None:
            found = ipaddress.ip_network((ip, length), strict=False)
            self._masked[(ip, length)] = found
        return found

    def evaluate(
        self, key: str, assigned: Assigned
    ) -> tuple[BGPDecision, dict[str, tuple[_Contribution, ...]]]:
        ips = tuple(assigned.ips)
        pool = resolve_pool(self.config, assigned)
        pool_name = pool.name if pool else assigned.pool
        if not ips:
            return BGPDecision(key, ips, pool_name, NO_IPS, f"{key} has no assigned address"), {}
        service = self.view.services.get(key)
        if service is None:
            message = f"{key} is not a known Service"
            return BGPDecision(key, ips, pool_name, UNKNOWN_SERVICE, message), {}
        if pool is None:
            message = f"no configured pool holds {ips[0]}"
            return BGPDecision(key, ips, pool_name, UNKNOWN_POOL, message), {}

        service_ads = tuple(
            ad
            for ad in self.config.bgp_advertisements_for(pool.name)
            if any_matches(ad.service_selectors, service.metadata.labels)
        )
        verdicts: list[BGPNodeVerdict] = []
        contributions: dict[str, tuple[_Contribution, ...]] = {}
        for node in self.view.nodes.values():
            verdict, routes = self._node_verdict(service, pool, service_ads, node, ips)
            verdicts.append(verdict)
            if routes:
                contributions[node.name] = routes

        if not verdicts:
            return BGPDecision(key, ips, pool.name, NO_NODES, "no node is known"), {}
        announcing = [v.node for v in verdicts if v.announced]
        if announcing:
            reason = ANNOUNCED
            message = f"announced from {len(announcing)} node(s): {', '.join(announcing)}"
        else:
            furthest = max(verdicts, key=lambda v: _STAGE[v.reason])
            reason = furthest.reason
            message = f"announced from no node; furthest: {furthest.node}: {furthest.message}"
        return BGPDecision(key, ips, pool.name, reason, message, tuple(verdicts)), contributions

    def _routes(
        self,
        key: str,
        ips: tuple[IPAddress, ...],
        ads: tuple[BGPAdvertisement, ...],
        sessions: frozenset[str],
    ) -> tuple[tuple[_Contribution, ...], tuple[str, ...], tuple[str, ...]]:
        """A service's routes on a node, its prefixes and peers; most nodes share one answer."""
        memo_key = (key, tuple(id(ad) for ad in ads), sessions)
        found = self._service_routes.get(memo_key)
        if found is not None:
            return found
        contributions = tuple(
            _Contribution(
                network=self.masked(ip, ad),
                # The ad's `peers` (empty = all) picks among the node's sessions.
                peers=tuple(sorted(sessions & set(ad.peers) if ad.peers else sessions)),
                communities=frozenset(c.text for c in ad.communities),
                local_pref=ad.local_pref,
                service=key,
            )
            for ip in ips
            for ad in ads
        )
        networks = sorted({c.network for c in contributions}, key=_net_key)
        prefixes = tuple(str(n) for n in networks)
        peers = tuple(sorted({p for c in contributions for p in c.peers}))
        found = self._service_routes[memo_key] = (contributions, prefixes, peers)
        return found

    def _node_verdict(
        self,
        service: Service,
        pool: Pool,
        service_ads: tuple[BGPAdvertisement, ...],
        node: NodeFacts,
        ips: tuple[IPAddress, ...],
    ) -> tuple[BGPNodeVerdict, tuple[_Contribution, ...]]:
        key = service.key
        ads = tuple(ad for ad in service_ads if self.selects(ad, node))
        names = tuple(ad.name for ad in ads)
        if not ads:
            text = f"no BGPAdvertisement of pool {pool.name} selects this node and matches {key}"
            return BGPNodeVerdict(node.name, NO_MATCHING_ADVERTISEMENT, text), ()
        conflict = _conflict(ads, pool)
        if conflict:
            return BGPNodeVerdict(node.name, CONFLICTING_ADVERTISEMENTS, conflict, names), ()
        unhealthy = health_rejection(node, self.alive, self.ignore_exclude_lb)
        if unhealthy:
            return BGPNodeVerdict(node.name, unhealthy, NODE_REASON_TEXT[unhealthy], names), ()

        contributions, prefixes, peers = self._routes(key, ips, ads, self.sessions(node))

        endpoints = self.view.endpoints(key)
        # MetalLB's BGP side counts only serving endpoints that have an address.
        if service.spec.external_traffic_policy == "Local":
            if node.name not in endpoints.nodes_with_address:
                text = NODE_REASON_TEXT[NO_LOCAL_ENDPOINTS]
                return BGPNodeVerdict(node.name, NO_LOCAL_ENDPOINTS, text, names, prefixes), ()
        elif not endpoints.anywhere_with_address:
            text = f"{key} has no serving endpoint"
            return BGPNodeVerdict(node.name, NO_ENDPOINTS, text, names, prefixes), ()
        if not peers:
            text = "no BGPPeer of this node would receive the routes"
            return BGPNodeVerdict(node.name, NO_PEERS, text, names, prefixes), ()
        text = f"announced to {', '.join(peers)}"
        verdict = BGPNodeVerdict(node.name, ANNOUNCED, text, names, prefixes, peers)
        return verdict, contributions


def _conflict(ads: tuple[BGPAdvertisement, ...], pool: Pool) -> str:
    """MetalLB's per-service LOCAL_PREF check (``checkBGPAdvConflicts``); "" when compatible.

    Every ad here selects the node being evaluated, so MetalLB's "disjoint node sets" escape
    never applies and is left out.
    """
    for i, first in enumerate(ads):
        for second in ads[i + 1 :]:
            if first.local_pref == second.local_pref:
                continue
            if _aggregation_differs(first, second, pool):
                continue
            if first.peers and second.peers and not set(first.peers) & set(second.peers):
                continue
            return (
                f"advertisements {first.name!r} and {second.name!r} have conflicting "
                f"LOCAL_PREF ({first.local_pref} vs {second.local_pref})"
            )
    return ""


def _aggregation_differs(a: BGPAdvertisement, b: BGPAdvertisement, pool: Pool) -> bool:
    has_v4 = 4 in pool.families
    has_v6 = 6 in pool.families
    if not has_v4 and not has_v6:
        return True
    v4_differs = a.aggregation_length != b.aggregation_length
    v6_differs = a.aggregation_length_v6 != b.aggregation_length_v6
    if not has_v6 and v4_differs:
        return True
    if not has_v4 and v6_differs:
        return True
    return v4_differs and v6_differs


def _net_key(network: IPNetwork) -> tuple[int, int, int]:
    return (network.version, int(network.network_address), network.prefixlen)


def _merge(contributions: Iterable[_Contribution]) -> tuple[BGPRoute, ...]:
    # First merge per peer, as each session does; then fold peers that got identical routes.
    per_peer: dict[tuple[str, IPNetwork], _Merged] = {}
    for c in contributions:
        for peer in c.peers:
            merged = per_peer.setdefault((peer, c.network), _Merged(local_pref=c.local_pref))
            merged.communities |= c.communities
            merged.local_pref = max(merged.local_pref, c.local_pref)
            merged.services.add(c.service)
    grouped: dict[tuple[IPNetwork, tuple[str, ...], int, tuple[str, ...]], set[str]] = {}
    for (peer, network), merged in per_peer.items():
        attrs = (
            network,
            tuple(sorted(merged.communities)),
            merged.local_pref,
            tuple(sorted(merged.services)),
        )
        grouped.setdefault(attrs, set()).add(peer)
    routes = [
        BGPRoute(str(network), tuple(sorted(peers)), communities, local_pref, services)
        for (network, communities, local_pref, services), peers in grouped.items()
    ]
    return tuple(sorted(routes, key=lambda r: (_net_key(ipaddress.ip_network(r.prefix)), r.peers)))
