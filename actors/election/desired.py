"""What one node must announce, from the election core: the pure half of the speaker.

``desired_announcements`` says, given the configuration, the cluster, the allocations and who
is alive, which L2 addresses the node answers for and which BGP routes it sends; the
SpeakerActor diffs two answers and tells its Announcer the difference. ``won_reason`` and
``lost_reason`` say why an address moved (a failover from a dead node, another node elected),
and ``announced_services`` is the per-service summary the speaker publishes.

Pure: no actor, no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from ipaddress import ip_network

import msgspec

from actors.election.bgp import bgp_advertisements
from actors.election.l2 import L2Decision, l2_decisions
from actors.events import Announced
from actors.model.allocation import Allocation
from actors.model.cluster import ClusterState
from actors.model.config import Config
from actors.model.route import BGPRoute


class L2Duty(msgspec.Struct, frozen=True):
    ip: str
    interfaces: tuple[str, ...]
    services: tuple[str, ...]
    message: str


class Announcements(msgspec.Struct, frozen=True):
    """What one node announces: L2 addresses it owns and BGP routes it sends."""

    l2: Mapping[str, L2Duty] = msgspec.field(default_factory=dict)
    # Keyed by (prefix, peers): one prefix may go to different peers with different attributes.
    bgp: Mapping[tuple[str, tuple[str, ...]], BGPRoute] = msgspec.field(default_factory=dict)
    # Owner of every L2 address cluster-wide, to tell a failover from a first election.
    l2_owners: Mapping[str, str | None] = msgspec.field(default_factory=dict)
    # Per service, its own addresses that the BGP routes carry (an aggregate carries several).
    bgp_addresses: Mapping[str, tuple[str, ...]] = msgspec.field(default_factory=dict)


def desired_announcements(
    node: str,
    config: Config,
    cluster: ClusterState,
    allocations: Mapping[str, Allocation],
    alive: frozenset[str] | None,
    ignore_exclude_lb: bool = False,
) -> Announcements:
    """What ``node`` should announce. ``ignore_exclude_lb``: nodes labelled
    node.kubernetes.io/exclude-from-external-load-balancers still announce (MetalLB's
    ``--ignore-exclude-lb``)."""
    assigned = {key: a for key, a in allocations.items() if a.ips}
    decisions: dict[str, L2Decision] = l2_decisions(
        config, cluster, assigned, alive, ignore_exclude_lb=ignore_exclude_lb
    )
    l2: dict[str, L2Duty] = {}
    owners: dict[str, str | None] = {}
    for decision in decisions.values():
        for ip in decision.ips:
            text = str(ip)
            owners.setdefault(text, decision.node)
            if decision.node != node:
                continue
            duty = l2.get(text)
            services = tuple(sorted({*(duty.services if duty else ()), decision.service}))
            l2[text] = L2Duty(text, decision.interfaces, services, decision.message)
    routes = bgp_advertisements(
        config, cluster, assigned, alive, ignore_exclude_lb=ignore_exclude_lb
    ).get(node, ())
    return Announcements(
        l2=l2,
        bgp={(r.prefix, r.peers): r for r in routes},
        l2_owners=owners,
        bgp_addresses=_carried(routes, assigned),
    )


def _carried(
    routes: tuple[BGPRoute, ...], assigned: Mapping[str, Allocation]
) -> dict[str, tuple[str, ...]]:
    """Per service, its addresses that lie in a prefix the node advertises: what MetalLB's
    ``metallb_speaker_announced{ip}`` names (the service's address, not an aggregate)."""
    found: dict[str, set[str]] = {}
    for route in routes:
        network = ip_network(route.prefix, strict=False)
        for service in route.services:
            allocation = assigned.get(service)
            for ip in allocation.ips if allocation is not None else ():
                if ip in network:
                    found.setdefault(service, set()).add(str(ip))
    return {service: tuple(sorted(ips)) for service, ips in found.items()}


def announced_services(current: Announcements) -> tuple[Announced, ...]:
    """What a node announces, per service and protocol (pure; sorted, so comparable)."""
    l2: dict[str, tuple[set[str], set[str]]] = {}
    for ip, duty in current.l2.items():
        for service in duty.services:
            ips, interfaces = l2.setdefault(service, (set(), set()))
            ips.add(ip)
            interfaces.update(duty.interfaces)
    bgp: dict[str, tuple[set[str], set[str]]] = {}
    for route in current.bgp.values():
        for service in route.services:
            ips, peers = bgp.setdefault(service, (set(), set()))
            # The service's own addresses (MetalLB's ip label), not an aggregate prefix; a
            # route known without them (made by hand) names its prefix, or a host route's address.
            address, _, length = route.prefix.partition("/")
            fallback = address if length in ("32", "128") else route.prefix
            ips.update(current.bgp_addresses.get(service, ()) or (fallback,))
            peers.update(route.peers)
    out = [
        Announced(s, "layer2", tuple(sorted(ips)), tuple(sorted(ifs)))
        for s, (ips, ifs) in l2.items()
    ]
    out += [
        Announced(s, "bgp", tuple(sorted(ips)), (), tuple(sorted(peers)))
        for s, (ips, peers) in bgp.items()
    ]
    return tuple(sorted(out, key=lambda a: (a.service, a.protocol)))


def won_reason(
    ip: str,
    previous_owners: Mapping[str, str | None],
    dead: frozenset[str],
    node: str,
    left: frozenset[str] = frozenset(),
) -> str:
    before = previous_owners.get(ip)
    if before and before != node:
        state = "left" if before in left else "dead" if before in dead else "no longer eligible"
        return f"failover from {before} ({state})"
    return ""


def lost_reason(ip: str, owners: Mapping[str, str | None]) -> str:
    if ip not in owners:
        return "address released"
    now = owners[ip]
    return f"{now} elected" if now else "no eligible node"
