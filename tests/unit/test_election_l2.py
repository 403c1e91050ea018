"""L2 election, checked against MetalLB's documented ShouldAnnounce behaviour.

Expected owners are computed here independently with hashlib, never through the code under test.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from types import MappingProxyType

import pytest

from actors.election.candidates import go_ip_text
from actors.election.l2 import l2_decision, l2_decisions, l2_owners
from actors.model.cluster import (
    EXCLUDE_LB_LABEL,
    SERVICE_NAME_LABEL,
    ClusterState,
    Endpoint,
    EndpointConditions,
    EndpointSlice,
    Node,
    NodeCondition,
    NodeStatus,
    ObjectMeta,
    Service,
    ServiceSpec,
)
from actors.model.config import (
    AddressRange,
    Config,
    IPAddress,
    L2Advertisement,
    Pool,
    PreferredNode,
)
from actors.model.selectors import LabelSelector

NODES = ("node-a", "node-b", "node-c", "node-d", "node-e")


# --- builders -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alloc:
    ips: tuple[IPAddress, ...]
    pool: str | None = "pool"


def alloc(*texts: str, pool: str | None = "pool") -> Alloc:
    return Alloc(tuple(ipaddress.ip_address(t) for t in texts), pool)


def node(name: str, labels: dict[str, str] | None = None, unavailable: bool = False) -> Node:
    conditions = (NodeCondition(type="NetworkUnavailable", status="True"),) if unavailable else ()
    return Node(
        metadata=ObjectMeta(name=name, labels=labels or {}),
        status=NodeStatus(conditions=conditions),
    )


def service(
    name: str,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    local: bool = False,
) -> Service:
    return Service(
        metadata=ObjectMeta(
            name=name, namespace="default", labels=labels or {}, annotations=annotations or {}
        ),
        spec=ServiceSpec(
            type="LoadBalancer", externalTrafficPolicy="Local" if local else "Cluster"
        ),
    )


def endpoint(
    node_name: str | None, ready: bool | None = True, serving: bool | None = None
) -> Endpoint:
    return Endpoint(
        addresses=("10.244.0.10",),
        nodeName=node_name,
        conditions=EndpointConditions(ready=ready, serving=serving),
    )


def slice_of(name: str, *endpoints: Endpoint) -> EndpointSlice:
    return EndpointSlice(
        metadata=ObjectMeta(
            name=f"{name}-abc", namespace="default", labels={SERVICE_NAME_LABEL: name}
        ),
        endpoints=endpoints,
    )


def config(*ads: L2Advertisement, pools: tuple[str, ...] = ("pool",)) -> Config:
    return Config(
        pools=MappingProxyType(
            {
                name: Pool(
                    name=name,
                    ranges=(
                        AddressRange(
                            ipaddress.ip_address("192.168.10.0"),
                            ipaddress.ip_address("192.168.10.255"),
                            "192.168.10.0/24",
                        ),
                        AddressRange(
                            ipaddress.ip_address("2001:db8::"),
                            ipaddress.ip_address("2001:db8::ff"),
                            "2001:db8::/120",
                        ),
                    ),
                )
                for name in pools
            }
        ),
        l2_advertisements=ads,
    )


def ad(name: str = "l2", **kwargs: object) -> L2Advertisement:
    return L2Advertisement(name=name, pools=frozenset({"pool"}), **kwargs)  # type: ignore[arg-type]


def sel(**labels: str) -> LabelSelector:
    return LabelSelector(matchLabels=labels)


def cluster(
    services: list[Service], slices: list[EndpointSlice], nodes: list[Node] | None = None
) -> ClusterState:
    return ClusterState.of(
        services=services,
        endpoint_slices=slices,
        nodes=[node(n) for n in NODES] if nodes is None else nodes,
    )


def web_cluster(**kwargs: object) -> ClusterState:
    """One Cluster-policy service "web" with a serving endpoint on node-a."""
    return cluster([service("web", **kwargs)], [slice_of("web", endpoint("node-a"))])  # type: ignore[arg-type]


def digest(node_name: str, ip: str) -> bytes:
    return hashlib.sha256((node_name + "#" + ip).encode()).digest()


def expected_owner(nodes: tuple[str, ...] | list[str], ip: str) -> str:
    return min(nodes, key=lambda n: digest(n, ip))


IPS = [f"192.168.10.{i}" for i in range(1, 41)]


# --- hash ordering --------------------------------------------------------------------------


@pytest.mark.parametrize("ip", IPS)
def test_owner_is_the_node_with_the_lowest_sha256(ip: str) -> None:
    decision = l2_decision(config(ad()), web_cluster(), "default/web", alloc(ip))
    assert decision.reason == "announced"
    assert decision.node == expected_owner(NODES, ip)
    # The whole ranking is the byte-wise hash order, and it is exposed with the hashes.
    assert [c.node for c in decision.ranked] == sorted(NODES, key=lambda n: digest(n, ip))
    assert [c.hash for c in decision.ranked] == sorted(digest(n, ip).hex() for n in NODES)


def test_assignment_without_a_service_object_is_reported() -> None:
    owners = l2_owners(config(ad()), web_cluster(), {"default/gone": alloc(IPS[0])})
    assert owners[IPS[0]].node is None
    assert owners[IPS[0]].reason == "unknownService"


def test_owners_spread_over_nodes() -> None:
    services = [service(f"web{i}") for i in range(len(IPS))]
    slices = [slice_of(f"web{i}", endpoint("node-a")) for i in range(len(IPS))]
    owners = l2_owners(
        config(ad()),
        cluster(services, slices),
        {f"default/web{i}": alloc(ip) for i, ip in enumerate(IPS)},
    )
    assert {ip: o.node for ip, o in owners.items()} == {ip: expected_owner(NODES, ip) for ip in IPS}
    assert len({o.node for o in owners.values()}) > 1


def test_all_addresses_follow_the_first_one() -> None:
    owners = l2_owners(
        config(ad()), web_cluster(), {"default/web": alloc("192.168.10.7", "2001:db8::7")}
    )
    owner = expected_owner(NODES, "192.168.10.7")
    assert list(owners) == ["192.168.10.7", "2001:db8::7"]
    assert owners["192.168.10.7"].node == owner
    assert owners["2001:db8::7"].node == owner


def test_ipv6_first_address_is_hashed_in_compressed_form() -> None:
    ip = "2001:db8::1f"
    decision = l2_decision(config(ad()), web_cluster(), "default/web", alloc(ip))
    assert decision.node == expected_owner(NODES, ip)


def test_ipv4_mapped_ipv6_prints_like_go() -> None:
    assert go_ip_text(ipaddress.ip_address("::ffff:192.168.10.1")) == "192.168.10.1"
    assert go_ip_text(ipaddress.ip_address("2001:db8::1")) == "2001:db8::1"


# --- preferred nodes ------------------------------------------------------------------------


def test_preferred_weight_beats_the_hash() -> None:
    ip = "192.168.10.3"
    loser = max(NODES, key=lambda n: digest(n, ip))
    nodes = [node(n, {"edge": "true"} if n == loser else {}) for n in NODES]
    preferred = ad(preferred_nodes=(PreferredNode(10, sel(edge="true")),))
    c = cluster([service("web")], [slice_of("web", endpoint("node-a"))], nodes)
    decision = l2_decision(config(preferred), c, "default/web", alloc(ip))
    assert decision.node == loser
    assert decision.ranked[0].score == 10
    assert all(c.score == 0 for c in decision.ranked[1:])
    # The rest keep hash order.
    rest = sorted((n for n in NODES if n != loser), key=lambda n: digest(n, ip))
    assert [c.node for c in decision.ranked[1:]] == rest


def test_weights_add_up() -> None:
    ip = "192.168.10.3"
    labels = {"node-a": {"zone": "primary", "gpu": "true"}, "node-b": {"tier": "top"}}
    nodes = [node(n, labels.get(n, {})) for n in NODES]
    preferred = ad(
        preferred_nodes=(
            PreferredNode(60, sel(zone="primary")),
            PreferredNode(50, sel(gpu="true")),
            PreferredNode(100, sel(tier="top")),
        )
    )
    c = cluster([service("web")], [slice_of("web", endpoint("node-a"))], nodes)
    decision = l2_decision(config(preferred), c, "default/web", alloc(ip))
    assert [(x.node, x.score) for x in decision.ranked[:2]] == [("node-a", 110), ("node-b", 100)]


def test_preferred_node_down_falls_back_to_hash() -> None:
    ip = "192.168.10.3"
    loser = max(NODES, key=lambda n: digest(n, ip))
    nodes = [node(n, {"edge": "true"} if n == loser else {}) for n in NODES]
    preferred = ad(preferred_nodes=(PreferredNode(100, sel(edge="true")),))
    c = cluster([service("web")], [slice_of("web", endpoint("node-a"))], nodes)
    alive = frozenset(NODES) - {loser}
    decision = l2_decision(config(preferred), c, "default/web", alloc(ip), alive)
    assert decision.node == expected_owner(sorted(alive), ip)


def test_preference_scores_only_nodes_its_own_ad_selects() -> None:
    # MetalLB resolves an ad's PreferredNodes over that ad's selected nodes only: node-c is
    # eligible through "all" but the preferring ad selects only role=lb nodes.
    ip = "192.168.10.3"
    labels = {"node-c": {"zone": "primary"}, "node-d": {"role": "lb"}}
    nodes = [node(n, labels.get(n, {})) for n in NODES]
    everyone = ad("all")
    prefers = ad(
        "lb",
        node_selectors=(sel(role="lb"),),
        preferred_nodes=(PreferredNode(100, sel(zone="primary")),),
    )
    c = cluster([service("web")], [slice_of("web", endpoint("node-a"))], nodes)
    decision = l2_decision(config(everyone, prefers), c, "default/web", alloc(ip))
    assert all(x.score == 0 for x in decision.ranked)
    assert decision.node == expected_owner(NODES, ip)


# --- node eligibility -----------------------------------------------------------------------


def test_node_selectors_restrict_candidates() -> None:
    ip = "192.168.10.4"
    lb = ("node-b", "node-d")
    nodes = [node(n, {"role": "lb"} if n in lb else {}) for n in NODES]
    c = cluster([service("web")], [slice_of("web", endpoint("node-a"))], nodes)
    decision = l2_decision(
        config(ad(node_selectors=(sel(role="lb"),))), c, "default/web", alloc(ip)
    )
    assert decision.node == expected_owner(lb, ip)
    assert {r.node: r.reason for r in decision.rejected} == {
        n: "notSelectedByAdvertisement" for n in NODES if n not in lb
    }


def test_node_sets_of_several_ads_are_ored() -> None:
    labels = {"node-a": {"role": "lb"}, "node-e": {"role": "edge"}}
    nodes = [node(n, labels.get(n, {})) for n in NODES]
    c = cluster([service("web")], [slice_of("web", endpoint("node-a"))], nodes)
    ads = (
        ad("lb", node_selectors=(sel(role="lb"),)),
        ad("edge", node_selectors=(sel(role="edge"),)),
    )
    for ip in IPS[:10]:
        decision = l2_decision(config(*ads), c, "default/web", alloc(ip))
        assert decision.node == expected_owner(("node-a", "node-e"), ip)


@pytest.mark.parametrize("ip", IPS[:10])
def test_excluded_label_removes_node(ip: str) -> None:
    owner = expected_owner(NODES, ip)
    nodes = [node(n, {EXCLUDE_LB_LABEL: ""} if n == owner else {}) for n in NODES]
    c = cluster([service("web")], [slice_of("web", endpoint("node-a"))], nodes)
    decision = l2_decision(config(ad()), c, "default/web", alloc(ip))
    assert decision.node == expected_owner([n for n in NODES if n != owner], ip)
    assert any(
        r.node == owner and r.reason == "nodeLabeledExcludeBalancers" for r in decision.rejected
    )
    # MetalLB's --ignore-exclude-lb.
    kept = l2_decision(config(ad()), c, "default/web", alloc(ip), ignore_exclude_lb=True)
    assert kept.node == owner


@pytest.mark.parametrize("ip", IPS[:10])
def test_network_unavailable_removes_node(ip: str) -> None:
    owner = expected_owner(NODES, ip)
    nodes = [node(n, unavailable=(n == owner)) for n in NODES]
    c = cluster([service("web")], [slice_of("web", endpoint("node-a"))], nodes)
    decision = l2_decision(config(ad()), c, "default/web", alloc(ip))
    assert decision.node == expected_owner([n for n in NODES if n != owner], ip)
    assert any(r.node == owner and r.reason == "nodeNetworkUnavailable" for r in decision.rejected)


@pytest.mark.parametrize("ip", IPS[:10])
def test_dead_owner_hands_over_to_the_runner_up(ip: str) -> None:
    before = l2_decision(config(ad()), web_cluster(), "default/web", alloc(ip))
    alive = frozenset(NODES) - {before.node}
    after = l2_decision(config(ad()), web_cluster(), "default/web", alloc(ip), alive)
    assert after.node == before.ranked[1].node
    assert any(r.reason == "nodeDown" for r in after.rejected)


def test_alive_none_means_every_known_node_and_unknown_alive_names_are_ignored() -> None:
    ip = IPS[0]
    everyone = l2_decision(config(ad()), web_cluster(), "default/web", alloc(ip))
    with_stranger = l2_decision(
        config(ad()), web_cluster(), "default/web", alloc(ip), frozenset(NODES) | {"zzz"}
    )
    assert everyone.node == with_stranger.node == expected_owner(NODES, ip)
    assert "zzz" not in {c.node for c in with_stranger.ranked}


def test_removing_a_non_owner_never_moves_an_address() -> None:
    services = [service(f"web{i}") for i in range(len(IPS))]
    slices = [slice_of(f"web{i}", endpoint("node-a")) for i in range(len(IPS))]
    c = cluster(services, slices)
    assignments = {f"default/web{i}": alloc(ip) for i, ip in enumerate(IPS)}
    before = l2_owners(config(ad()), c, assignments)
    for gone in NODES:
        after = l2_owners(config(ad()), c, assignments, frozenset(NODES) - {gone})
        for ip, owner in before.items():
            if owner.node != gone:
                assert after[ip].node == owner.node
            else:
                assert after[ip].node != gone


def test_no_live_node_means_not_announced() -> None:
    decision = l2_decision(config(ad()), web_cluster(), "default/web", alloc(IPS[0]), frozenset())
    assert decision.node is None
    assert decision.reason == "noAvailableNodes"
    assert decision.message


# --- endpoints and traffic policy -----------------------------------------------------------


@pytest.mark.parametrize("ip", IPS[:10])
def test_local_policy_only_nodes_with_local_endpoints(ip: str) -> None:
    hosts = ("node-b", "node-e")
    c = cluster(
        [service("web", local=True)],
        [slice_of("web", endpoint("node-b"), endpoint("node-e"), endpoint("node-c", False))],
    )
    decision = l2_decision(config(ad()), c, "default/web", alloc(ip))
    assert decision.node == expected_owner(hosts, ip)
    assert {x.node for x in decision.ranked} == set(hosts)
    assert {r.node for r in decision.rejected if r.reason == "noLocalEndpoints"} == {
        "node-a",
        "node-c",
        "node-d",
    }


def test_local_policy_without_eligible_local_endpoint_is_not_announced() -> None:
    nodes = [node(n, {EXCLUDE_LB_LABEL: "x"} if n == "node-b" else {}) for n in NODES]
    c = cluster([service("web", local=True)], [slice_of("web", endpoint("node-b"))], nodes)
    decision = l2_decision(config(ad()), c, "default/web", alloc(IPS[0]))
    assert decision.node is None
    assert decision.reason == "noLocalEndpoints"


def test_cluster_policy_ignores_where_endpoints_are() -> None:
    ip = IPS[5]
    c = cluster([service("web")], [slice_of("web", endpoint("node-b"))])
    decision = l2_decision(config(ad()), c, "default/web", alloc(ip))
    assert decision.node == expected_owner(NODES, ip)


def test_no_endpoints_is_not_announced() -> None:
    c = cluster([service("web")], [])
    decision = l2_decision(config(ad()), c, "default/web", alloc(IPS[0]))
    assert (decision.node, decision.reason) == (None, "noEndpoints")
    owners = l2_owners(config(ad()), c, {"default/web": alloc(IPS[0])})
    assert owners[IPS[0]].node is None
    assert owners[IPS[0]].reason == "noEndpoints"
    assert owners[IPS[0]].services == ("default/web",)


def test_not_serving_endpoints_are_ignored() -> None:
    c = cluster([service("web")], [slice_of("web", endpoint("node-a", ready=False, serving=False))])
    decision = l2_decision(config(ad()), c, "default/web", alloc(IPS[0]))
    assert decision.reason == "noEndpoints"


@pytest.mark.parametrize(
    ("ready", "serving"), [(None, None), (True, None), (False, True), (None, False)]
)
def test_serving_endpoint_conditions(ready: bool | None, serving: bool | None) -> None:
    # MetalLB: ready unset, ready true, or serving true.
    c = cluster(
        [service("web", local=True)],
        [slice_of("web", endpoint("node-c", ready=ready, serving=serving))],
    )
    decision = l2_decision(config(ad()), c, "default/web", alloc(IPS[0]))
    assert decision.node == "node-c"


def test_nodes_known_only_from_endpoints() -> None:
    # Cluster files without Node objects still elect among the endpoint nodes.
    c = cluster(
        [service("web")], [slice_of("web", endpoint("w1"), endpoint("w2"), endpoint("w3"))], []
    )
    for ip in IPS[:10]:
        decision = l2_decision(config(ad()), c, "default/web", alloc(ip))
        assert decision.node == expected_owner(("w1", "w2", "w3"), ip)


# --- advertisements and service selectors ---------------------------------------------------


def test_service_selectors_pick_the_ads() -> None:
    ip = IPS[2]
    nodes = [node(n, {"role": "lb"} if n == "node-d" else {}) for n in NODES]
    c = cluster(
        [service("web", labels={"app": "web"}), service("db")],
        [slice_of("web", endpoint("node-a")), slice_of("db", endpoint("node-a"))],
        nodes,
    )
    web_only = ad("web", service_selectors=(sel(app="web"),), node_selectors=(sel(role="lb"),))
    web = l2_decision(config(web_only), c, "default/web", alloc(ip))
    assert web.node == "node-d"
    assert web.advertisements == ("web",)
    db = l2_decision(config(web_only), c, "default/db", alloc(ip))
    assert (db.node, db.reason) == (None, "noMatchingAdvertisement")


def test_pool_without_l2_advertisement_is_not_announced() -> None:
    other = L2Advertisement(name="other", pools=frozenset({"other"}))
    decision = l2_decision(
        config(other, pools=("pool", "other")), web_cluster(), "default/web", alloc(IPS[0])
    )
    assert decision.reason == "noMatchingAdvertisement"


@pytest.mark.parametrize(
    "annotation", ["metallb.io/allow-shared-ip", "metallb.universe.tf/allow-shared-ip"]
)
def test_shared_ip_with_service_selector_ad_is_not_announced(annotation: str) -> None:
    c = web_cluster(labels={"app": "web"}, annotations={annotation: "key"})
    selective = ad("sel", service_selectors=(sel(app="web"),))
    decision = l2_decision(config(selective), c, "default/web", alloc(IPS[0]))
    assert (decision.node, decision.reason) == (None, "sharedIPWithServiceSelector")
    # One selective ad among plain ones is enough.
    decision = l2_decision(config(ad(), selective), c, "default/web", alloc(IPS[0]))
    assert decision.reason == "sharedIPWithServiceSelector"
    # A selective ad that does not match the service does not count.
    unrelated = ad("other", service_selectors=(sel(app="db"),))
    decision = l2_decision(config(ad(), unrelated), c, "default/web", alloc(IPS[0]))
    assert decision.reason == "announced"


def test_services_sharing_an_address_are_grouped() -> None:
    ip = IPS[8]
    annotations = {"metallb.io/allow-shared-ip": "k"}
    c = cluster(
        [service("tcp", annotations=annotations), service("udp", annotations=annotations)],
        [slice_of("tcp", endpoint("node-a")), slice_of("udp", endpoint("node-a"))],
    )
    owners = l2_owners(
        config(ad()), c, {"default/udp": alloc(ip), "default/tcp": alloc(ip), "default/x": alloc()}
    )
    assert list(owners) == [ip]
    owner = owners[ip]
    assert owner.node == expected_owner(NODES, ip)
    assert owner.services == ("default/tcp", "default/udp")
    assert owner.announcers == (owner.node,)
    assert owner.reason == "announced"


def test_sharing_services_that_disagree_are_all_reported() -> None:
    # Local services sharing an address with endpoints on different nodes: MetalLB elects per
    # service, so both winners answer; the owner record says so.
    ip = IPS[8]
    annotations = {"metallb.io/allow-shared-ip": "k"}
    c = cluster(
        [
            service("tcp", annotations=annotations, local=True),
            service("udp", annotations=annotations, local=True),
        ],
        [slice_of("tcp", endpoint("node-a")), slice_of("udp", endpoint("node-b"))],
    )
    owners = l2_owners(config(ad()), c, {"default/tcp": alloc(ip), "default/udp": alloc(ip)})
    assert owners[ip].node == "node-a"
    assert owners[ip].announcers == ("node-a", "node-b")


# --- interfaces -----------------------------------------------------------------------------


def test_interfaces_are_the_union_of_the_ads_selecting_the_owner() -> None:
    ip = IPS[0]
    owner = expected_owner(NODES, ip)
    nodes = [node(n, {"owner": "yes"} if n == owner else {"owner": "no"}) for n in NODES]
    c = cluster([service("web")], [slice_of("web", endpoint("node-a"))], nodes)
    ads = (
        ad("a", interfaces=("eth1",)),
        ad("b", interfaces=("eth0", "eth1")),
        ad("c", interfaces=("eth9",), node_selectors=(sel(owner="no"),)),
    )
    owners = l2_owners(config(*ads), c, {"default/web": alloc(ip)})
    assert owners[ip].node == owner
    assert owners[ip].interfaces == ("eth0", "eth1")


def test_an_ad_without_interfaces_means_all_interfaces() -> None:
    ads = (ad("a", interfaces=("eth1",)), ad("b"))
    decision = l2_decision(config(*ads), web_cluster(), "default/web", alloc(IPS[0]))
    assert decision.node is not None
    assert decision.interfaces == ()


# --- bookkeeping ----------------------------------------------------------------------------


def test_pool_is_found_by_address_when_the_allocation_does_not_name_it() -> None:
    decision = l2_decision(config(ad()), web_cluster(), "default/web", alloc(IPS[0], pool=None))
    assert decision.pool == "pool"
    assert decision.node == expected_owner(NODES, IPS[0])
    outside = l2_decision(config(ad()), web_cluster(), "default/web", alloc("10.9.9.9", pool=None))
    assert outside.reason == "unknownPool"


def test_decisions_are_keyed_and_sorted_by_service_and_owners_by_address() -> None:
    services = [service(n) for n in ("b", "a", "c")]
    slices = [slice_of(n, endpoint("node-a")) for n in ("a", "b", "c")]
    c = cluster(services, slices)
    assignments = {
        "default/c": alloc("2001:db8::1"),
        "default/b": alloc("192.168.10.20"),
        "default/a": alloc("192.168.10.3"),
    }
    assert list(l2_decisions(config(ad()), c, assignments)) == [
        "default/a",
        "default/b",
        "default/c",
    ]
    # Numeric address order, IPv4 first (not text order, where "192.168.10.20" < "...3").
    assert list(l2_owners(config(ad()), c, assignments)) == [
        "192.168.10.3",
        "192.168.10.20",
        "2001:db8::1",
    ]


def test_results_are_frozen() -> None:
    decision = l2_decision(config(ad()), web_cluster(), "default/web", alloc(IPS[0]))
    with pytest.raises(AttributeError):
        decision.node = "x"  # type: ignore[misc]


# --- one election of many services -----------------------------------------------------------


@pytest.mark.parametrize(
    ("alive", "ignore_exclude_lb"),
    [(None, False), (frozenset({"node-a", "node-c", "node-d", "node-e"}), False), (None, True)],
)
def test_whole_cluster_decisions_are_each_services_own(
    alive: frozenset[str] | None, ignore_exclude_lb: bool
) -> None:
    """l2_decisions and l2_owners elect many services at once and reuse the node facts of
    each set of advertisements (issue 19): every decision is the one l2_decision makes for
    that service alone, across ads that select services, nodes and preferences differently,
    Local policy, nodes down, excluded and network-unavailable."""
    ads = (
        ad("all"),
        ad("edge", node_selectors=(sel(edge="true"),), interfaces=("eth1",)),
        ad(
            "prefer",
            service_selectors=(sel(tier="db"),),
            preferred_nodes=(PreferredNode(50, sel(zone="b")), PreferredNode(7, sel(edge="true"))),
        ),
        ad("front", service_selectors=(sel(tier="front"),), node_selectors=(sel(zone="b"),)),
    )
    labels = {
        "node-a": {"edge": "true"},
        "node-b": {"zone": "b", EXCLUDE_LB_LABEL: ""},
        "node-c": {"zone": "b", "edge": "true"},
        "node-d": {},
        "node-e": {"zone": "b"},
    }
    nodes = [node(n, labels[n], unavailable=n == "node-d") for n in NODES]
    tiers = ("db", "front", "web")
    services, slices, assignments = [], [], {}
    for i in range(24):
        name = f"s{i}"
        services.append(service(name, labels={"tier": tiers[i % 3]}, local=i % 4 == 0))
        hosts = ["node-d"] if i % 8 == 0 else [NODES[(i + k) % 5] for k in range(i % 3 + 1)]
        slices.append(slice_of(name, *(endpoint(host) for host in hosts)))
        assignments[f"default/{name}"] = alloc(f"192.168.10.{i + 1}")
    c = cluster(services, slices, nodes)
    cfg = config(*ads)
    whole = l2_decisions(cfg, c, assignments, alive, ignore_exclude_lb=ignore_exclude_lb)
    alone = {
        key: l2_decision(cfg, c, key, a, alive, ignore_exclude_lb=ignore_exclude_lb)
        for key, a in sorted(assignments.items())
    }
    assert whole == alone
    assert len({d.advertisements for d in whole.values()}) >= 3
    assert len({d.reason for d in whole.values()}) >= 2
    owners = l2_owners(cfg, c, assignments, alive, ignore_exclude_lb=ignore_exclude_lb)
    assert {ip: o.node for ip, o in owners.items()} == {
        str(d.ips[0]): d.node for d in alone.values()
    }
