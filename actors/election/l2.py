"""Layer 2 election: which node answers ARP/NDP for each service address.

Reproduces MetalLB's ``ShouldAnnounce`` (speaker/layer2_controller.go) for the whole cluster at
once; every speaker running this code on the same objects picks the same owner MetalLB would.
For one service, in order:

1. no serving endpoint anywhere                                         -> ``noEndpoints``
2. ads = the pool's L2Advertisements whose serviceSelectors match the service (empty = all);
   the service carries ``allow-shared-ip`` and one of those ads has
   serviceSelectors                                             -> ``sharedIPWithServiceSelector``
   no such ad                                                       -> ``noMatchingAdvertisement``
3. candidates = known nodes that are alive, not NetworkUnavailable, not labelled
   exclude-from-external-load-balancers, and selected by one of the ads' nodeSelectors
                                                                    -> ``noAvailableNodes``
4. externalTrafficPolicy Local: only candidates hosting a serving endpoint
                                                                    -> ``noLocalEndpoints``
5. rank by preference score descending (sum over the ads of the weights of the
   preferredNodeSelectors matching the node, counted only where that ad's nodeSelectors select
   the node, as MetalLB's ``preferredNodeScores`` does), then by
   ``sha256(node + "#" + first IP)`` ascending byte-wise; the first one owns **all** the
   service's addresses                                                        -> ``announced``

Interfaces on the owner: union of the ``interfaces`` of the ads that select it; any of them with
no interfaces means all interfaces, written as an empty tuple.

API::

    l2_decision(config, cluster, service_key, assigned, alive=None) -> L2Decision
    l2_decisions(config, cluster, assignments, alive=None) -> dict[service key, L2Decision]
    l2_owners(config, cluster, assignments, alive=None) -> dict[IP text, L2Owner]
    owners_from(decisions) -> dict[IP text, L2Owner]

``assignments`` maps service keys (``namespace/name``) to anything with ``.ips`` and ``.pool``;
``alive`` is the set of live node names, None meaning every known node. Services sharing an
address are grouped in :class:`L2Owner`; in MetalLB each service elects on its own, so when
they disagree (different endpoints) every winner answers, and :attr:`L2Owner.announcers` says so.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from actors.election.candidates import (
    NO_LOCAL_ENDPOINTS,
    NOT_SELECTED,
    Assigned,
    ClusterView,
    NodeFacts,
    NodeRejection,
    go_ip_text,
    health_rejection,
    ip_sort_key,
    resolve_pool,
    wants_shared_ip,
)
from actors.model.cluster import ClusterState, Service
from actors.model.config import Config, IPAddress, L2Advertisement
from actors.model.selectors import any_matches

# Service-level reason codes (MetalLB's where it has them; it says "notOwner" for several).
ANNOUNCED = "announced"
NO_IPS = "noIPs"
UNKNOWN_SERVICE = "unknownService"
UNKNOWN_POOL = "unknownPool"
NO_ENDPOINTS = "noEndpoints"
SHARED_IP_WITH_SERVICE_SELECTOR = "sharedIPWithServiceSelector"
NO_MATCHING_ADVERTISEMENT = "noMatchingAdvertisement"
NO_AVAILABLE_NODES = "noAvailableNodes"


@dataclass(frozen=True, slots=True)
class L2Candidate:
    """One node still in the running, with what decided its rank."""

    node: str
    score: int
    digest: bytes  # sha256(node + "#" + first IP)

    @property
    def hash(self) -> str:
        return self.digest.hex()

    def sort_key(self) -> tuple[int, bytes]:
        return (-self.score, self.digest)


@dataclass(frozen=True, slots=True)
class L2Decision:
    """The election for one service, with enough detail to explain it."""

    service: str
    ips: tuple[IPAddress, ...]
    pool: str | None
    node: str | None
    reason: str
    message: str
    # Winner first; empty unless the service got as far as ranking.
    ranked: tuple[L2Candidate, ...] = ()
    # Known nodes that were ruled out, by name, with why.
    rejected: tuple[NodeRejection, ...] = ()
    advertisements: tuple[str, ...] = ()
    interfaces: tuple[str, ...] = ()

    @property
    def announced(self) -> bool:
        return self.node is not None


@dataclass(frozen=True, slots=True)
class L2Owner:
    """Who answers for one address, and for which services."""

    ip: str
    node: str | None
    services: tuple[str, ...]
    interfaces: tuple[str, ...]
    reason: str
    message: str
    # Every node that answers for the address: one normally, several only if services sharing
    # the address elected differently (MetalLB would then answer from all of them).
    announcers: tuple[str, ...] = ()


def l2_hash(node: str, first_ip: IPAddress) -> bytes:
    """MetalLB's tie-break: sha256 of ``node#ip`` with the IP as Go prints it."""
    return _digest(node, go_ip_text(first_ip))


def _digest(node: str, ip_text: str) -> bytes:
    return hashlib.sha256(f"{node}#{ip_text}".encode()).digest()


def l2_decision(
    config: Config,
    cluster: ClusterState,
    service_key: str,
    assigned: Assigned,
    alive: frozenset[str] | None = None,
    *,
    ignore_exclude_lb: bool = False,
) -> L2Decision:
    """Elect the owner of one service's addresses and say why."""
    return _decide(config, ClusterView.of(cluster), service_key, assigned, alive, ignore_exclude_lb)


def l2_decisions(
    config: Config,
    cluster: ClusterState,
    assignments: Mapping[str, Assigned],
    alive: frozenset[str] | None = None,
    *,
    ignore_exclude_lb: bool = False,
) -> dict[str, L2Decision]:
    """:func:`l2_decision` for every assigned service, keyed and ordered by service key."""
    view = ClusterView.of(cluster)
    return {
        key: _decide(config, view, key, assignments[key], alive, ignore_exclude_lb)
        for key in sorted(assignments)
    }


def l2_owners(
    config: Config,
    cluster: ClusterState,
    assignments: Mapping[str, Assigned],
    alive: frozenset[str] | None = None,
    *,
    ignore_exclude_lb: bool = False,
) -> dict[str, L2Owner]:
    """The owner of every assigned address, keyed by IP text, ordered v4 then v6 by value.

    Each service's decision is made, reduced to what its owner needs and dropped one at a
    time: the full decisions (ranked candidates, rejections) are ~1.7 KB each with ten nodes.
    """
    view = ClusterView.of(cluster)
    return owners_from(
        _decide(config, view, key, assignments[key], alive, ignore_exclude_lb)
        for key in sorted(assignments)
    )


def owners_from(decisions: Iterable[L2Decision]) -> dict[str, L2Owner]:
    """Group per-service decisions by address (consumed one at a time, none kept whole)."""
    # A vote alone, or a list once an address is shared: most are not, and of 100k Services
    # a list each is ~9 MB.
    by_ip: dict[IPAddress, _Vote | list[_Vote]] = {}
    for decision in decisions:
        vote = _Vote(
            decision.service,
            decision.node,
            decision.reason,
            decision.message,
            decision.interfaces,
        )
        for ip in decision.ips:
            held = by_ip.get(ip)
            if held is None:
                by_ip[ip] = vote
            elif isinstance(held, list):
                held.append(vote)
            else:
                by_ip[ip] = [held, vote]
    owners: dict[str, L2Owner] = {}
    for ip in sorted(by_ip, key=ip_sort_key):
        votes = by_ip.pop(ip)
        group = sorted(votes, key=lambda d: d.service) if isinstance(votes, list) else [votes]
        services = tuple(d.service for d in group)
        winners = [d for d in group if d.node is not None]
        text = str(ip)
        if not winners:
            first = group[0]
            owners[text] = L2Owner(text, None, services, (), first.reason, first.message)
            continue
        lead = winners[0]
        same_node = [d for d in winners if d.node == lead.node]
        owners[text] = L2Owner(
            ip=text,
            node=lead.node,
            services=services,
            interfaces=_union_interfaces(d.interfaces for d in same_node),
            reason=ANNOUNCED,
            message=lead.message,
            announcers=tuple(sorted({d.node for d in winners if d.node is not None})),
        )
    return owners


class _Vote(NamedTuple):
    """What an owner needs of one service's decision."""

    service: str
    node: str | None
    reason: str
    message: str
    interfaces: tuple[str, ...]


def _decide(
    config: Config,
    view: ClusterView,
    key: str,
    assigned: Assigned,
    alive: frozenset[str] | None,
    ignore_exclude_lb: bool,
) -> L2Decision:
    ips = tuple(assigned.ips)
    pool = resolve_pool(config, assigned)
    pool_name = pool.name if pool else assigned.pool

    def verdict(
        reason: str,
        message: str,
        rejected: tuple[NodeRejection, ...] = (),
        advertisements: tuple[str, ...] = (),
    ) -> L2Decision:
        return L2Decision(key, ips, pool_name, None, reason, message, (), rejected, advertisements)

    if not ips:
        return verdict(NO_IPS, f"{key} has no assigned address")
    service = view.services.get(key)
    if service is None:
        return verdict(UNKNOWN_SERVICE, f"{key} is not a known Service")
    if pool is None:
        return verdict(UNKNOWN_POOL, f"no configured pool holds {ips[0]}")
    endpoints = view.endpoints(key)
    if not endpoints.anywhere:
        return verdict(NO_ENDPOINTS, f"{key} has no serving endpoint")

    ads = _ads_for_service(config.l2_advertisements_for(pool.name), service)
    ad_names = tuple(ad.name for ad in ads)
    if wants_shared_ip(service) and any(ad.service_selectors for ad in ads):
        return verdict(
            SHARED_IP_WITH_SERVICE_SELECTOR,
            f"{key} allows a shared IP, which L2Advertisements with serviceSelectors refuse",
            advertisements=ad_names,
        )
    if not ads:
        return verdict(
            NO_MATCHING_ADVERTISEMENT,
            f"no L2Advertisement of pool {pool.name} matches {key}",
        )

    local = service.spec.external_traffic_policy == "Local"
    rejected: list[NodeRejection] = []
    available: list[NodeFacts] = []
    for node in view.nodes.values():
        # Selection before health: "not selected" is the more lasting explanation.
        reason = None if any(_selects(ad, node) for ad in ads) else NOT_SELECTED
        if reason is None:
            reason = health_rejection(node, alive, ignore_exclude_lb)
        if reason is None and local and node.name not in endpoints.nodes:
            reason = NO_LOCAL_ENDPOINTS
        if reason is None:
            available.append(node)
        else:
            rejected.append(NodeRejection(node.name, reason))

    if not available:
        local_only = any(r.reason == NO_LOCAL_ENDPOINTS for r in rejected)
        return verdict(
            NO_LOCAL_ENDPOINTS if local_only else NO_AVAILABLE_NODES,
            (
                f"no eligible node hosts a serving endpoint of {key}"
                if local_only
                else f"no live node is eligible to announce {key}"
            ),
            rejected=tuple(rejected),
            advertisements=ad_names,
        )

    first_ip = ips[0]
    ip_text = go_ip_text(first_ip)  # once per service, not once per node
    ranked = tuple(
        sorted(
            (L2Candidate(n.name, _score(ads, n), _digest(n.name, ip_text)) for n in available),
            key=L2Candidate.sort_key,
        )
    )
    winner = ranked[0]
    owner = view.nodes[winner.node]
    return L2Decision(
        service=key,
        ips=ips,
        pool=pool.name,
        node=winner.node,
        reason=ANNOUNCED,
        message=_win_message(ranked, first_ip),
        ranked=ranked,
        rejected=tuple(rejected),
        advertisements=ad_names,
        interfaces=_union_interfaces(ad.interfaces for ad in ads if _selects(ad, owner)),
    )


def _ads_for_service(
    ads: tuple[L2Advertisement, ...], service: Service
) -> tuple[L2Advertisement, ...]:
    return tuple(ad for ad in ads if any_matches(ad.service_selectors, service.metadata.labels))


def _selects(ad: L2Advertisement, node: NodeFacts) -> bool:
    return any_matches(ad.node_selectors, node.labels)


def _score(ads: tuple[L2Advertisement, ...], node: NodeFacts) -> int:
    # An ad's preferences only score the nodes its own nodeSelectors select (MetalLB resolves
    # PreferredNodes over the ad's selected nodes at config time).
    return sum(
        pref.weight
        for ad in ads
        if _selects(ad, node)
        for pref in ad.preferred_nodes
        if pref.preference.matches(node.labels)
    )


def _union_interfaces(lists: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    """Union of interface lists where an empty list means "all interfaces" and absorbs the rest.

    Works for raw ad ``interfaces`` and for already-resolved results alike (same convention).
    """
    names: set[str] = set()
    for names_of_one in lists:
        if not names_of_one:
            return ()
        names.update(names_of_one)
    return tuple(sorted(names))


def _win_message(ranked: tuple[L2Candidate, ...], first_ip: IPAddress) -> str:
    winner = ranked[0]
    if len(ranked) == 1:
        return f"{winner.node} is the only eligible node"
    runner_up = ranked[1]
    if winner.score != runner_up.score:
        return (
            f"{winner.node} has the highest preference score ({winner.score}, "
            f"next {runner_up.node} with {runner_up.score})"
        )
    return (
        f"{winner.node} sorts first by sha256(node#{go_ip_text(first_ip)}) "
        f"among {len(ranked)} eligible nodes"
        + (f" with score {winner.score}" if winner.score else "")
    )
