"""BGP plan, checked against MetalLB's documented BGP ShouldAnnounce / SetBalancer behaviour."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from types import MappingProxyType

import pytest

from actors.election.bgp import bgp_advertisements, bgp_decision, bgp_decisions
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
    BGPAdvertisement,
    Community,
    Config,
    IPAddress,
    Peer,
    Pool,
)
from actors.model.route import BGPRoute
from actors.model.selectors import LabelSelector

NODES = ("node-a", "node-b", "node-c")


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


def service(name: str, labels: dict[str, str] | None = None, local: bool = False) -> Service:
    return Service(
        metadata=ObjectMeta(name=name, namespace="default", labels=labels or {}),
        spec=ServiceSpec(
            type="LoadBalancer", externalTrafficPolicy="Local" if local else "Cluster"
        ),
    )


def endpoint(
    node_name: str | None,
    ready: bool | None = True,
    serving: bool | None = None,
    addresses: tuple[str, ...] = ("10.244.0.10",),
) -> Endpoint:
    return Endpoint(
        addresses=addresses,
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


def rng(first: str, last: str) -> AddressRange:
    return AddressRange(ipaddress.ip_address(first), ipaddress.ip_address(last), f"{first}-{last}")


POOL = Pool(
    name="pool",
    ranges=(rng("10.0.0.0", "10.0.1.255"), rng("9.9.9.0", "9.9.9.255"), rng("fd00::", "fd00::ff")),
)
V4_POOL = Pool(name="v4", ranges=(rng("10.1.0.0", "10.1.0.255"),))


def peer(name: str, *selectors: LabelSelector) -> Peer:
    return Peer(
        name=name,
        my_asn=64512,
        peer_asn=64512,
        peer_address=ipaddress.ip_address("192.0.2.1"),
        node_selectors=selectors,
    )


def config(*ads: BGPAdvertisement, peers: tuple[Peer, ...] = (peer("router"),)) -> Config:
    return Config(
        pools=MappingProxyType({"pool": POOL, "v4": V4_POOL}),
        bgp_advertisements=ads,
        peers=peers,
    )


def ad(name: str = "bgp", pools: tuple[str, ...] = ("pool",), **kwargs: object) -> BGPAdvertisement:
    return BGPAdvertisement(name=name, pools=frozenset(pools), **kwargs)  # type: ignore[arg-type]


def communities(*texts: str) -> tuple[Community, ...]:
    return tuple(Community(t) for t in texts)


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


def simple(*names: str, local: bool = False, on: str = "node-a") -> ClusterState:
    """Services with one serving endpoint each, on node ``on``."""
    return cluster(
        [service(n, local=local) for n in names], [slice_of(n, endpoint(on)) for n in names]
    )


def route(
    prefix: str, *services: str, peers: tuple[str, ...] = ("router",), **kw: object
) -> BGPRoute:
    return BGPRoute(
        prefix=prefix,
        peers=peers,
        communities=kw.get("communities", ()),  # type: ignore[arg-type]
        local_pref=kw.get("local_pref", 0),  # type: ignore[arg-type]
        services=tuple(f"default/{s}" for s in services),
    )


# --- basics ---------------------------------------------------------------------------------


def test_cluster_policy_every_eligible_node_announces_a_host_route() -> None:
    plan = bgp_advertisements(config(ad()), simple("web"), {"default/web": alloc("10.0.0.5")})
    assert plan == {n: (route("10.0.0.5/32", "web"),) for n in NODES}


def test_services_without_addresses_or_objects_announce_nothing() -> None:
    plan = bgp_advertisements(
        config(ad()), simple("web"), {"default/web": alloc(), "default/gone": alloc("10.0.0.1")}
    )
    assert plan == {}
    decisions = bgp_decisions(
        config(ad()), simple("web"), {"default/web": alloc(), "default/gone": alloc("10.0.0.1")}
    )
    assert decisions["default/web"].reason == "noIPs"
    assert decisions["default/gone"].reason == "unknownService"


def test_pool_without_bgp_advertisement_announces_nothing() -> None:
    decision = bgp_decision(
        config(ad(pools=("v4",))), simple("web"), "default/web", alloc("10.0.0.5")
    )
    assert decision.reason == "noMatchingAdvertisement"
    assert {v.reason for v in decision.nodes} == {"noMatchingAdvertisement"}


# --- aggregation ----------------------------------------------------------------------------


def test_aggregation_merges_services_into_one_prefix() -> None:
    plan = bgp_advertisements(
        config(ad(aggregation_length=24)),
        simple("web", "api"),
        {"default/web": alloc("10.0.0.5"), "default/api": alloc("10.0.0.200")},
    )
    assert plan["node-a"] == (route("10.0.0.0/24", "api", "web"),)
    assert set(plan) == set(NODES)


def test_aggregate_stays_while_one_contributing_service_remains() -> None:
    c = cluster(
        [service("web"), service("api")],
        [slice_of("web", endpoint("node-a"))],  # api has no endpoints
    )
    plan = bgp_advertisements(
        config(ad(aggregation_length=24)),
        c,
        {"default/web": alloc("10.0.0.5"), "default/api": alloc("10.0.0.200")},
    )
    assert plan["node-b"] == (route("10.0.0.0/24", "web"),)


def test_ipv6_aggregation() -> None:
    plan = bgp_advertisements(
        config(ad(aggregation_length=24, aggregation_length_v6=64)),
        simple("web"),
        {"default/web": alloc("10.0.1.9", "fd00::5")},
    )
    assert plan["node-c"] == (route("10.0.1.0/24", "web"), route("fd00::/64", "web"))


def test_several_ads_give_several_prefixes_for_one_address() -> None:
    ads = (ad("host"), ad("agg", aggregation_length=16))
    plan = bgp_advertisements(config(*ads), simple("web"), {"default/web": alloc("10.0.1.9")})
    assert [r.prefix for r in plan["node-a"]] == ["10.0.0.0/16", "10.0.1.9/32"]


def test_routes_sorted_by_address_not_text() -> None:
    plan = bgp_advertisements(
        config(ad()),
        simple("a", "b", "c", "d"),
        {
            "default/a": alloc("fd00::1"),
            "default/b": alloc("10.0.1.3"),
            "default/c": alloc("10.0.0.20"),
            "default/d": alloc("9.9.9.9"),
        },
    )
    assert list(plan) == list(NODES)
    assert [r.prefix for r in plan["node-a"]] == [
        "9.9.9.9/32",
        "10.0.0.20/32",
        "10.0.1.3/32",
        "fd00::1/128",
    ]


# --- peers ----------------------------------------------------------------------------------


def test_ad_peers_filter_and_peer_node_selectors() -> None:
    nodes = [node("node-a", {"rack": "1"}), node("node-b", {"rack": "2"}), node("node-c")]
    peers = (peer("tor1", sel(rack="1")), peer("tor2", sel(rack="2")), peer("core"))
    c = cluster([service("web")], [slice_of("web", endpoint("node-a"))], nodes)
    assignments = {"default/web": alloc("10.0.0.5")}

    everyone = bgp_advertisements(config(ad(), peers=peers), c, assignments)
    assert {n: r[0].peers for n, r in everyone.items()} == {
        "node-a": ("core", "tor1"),
        "node-b": ("core", "tor2"),
        "node-c": ("core",),
    }

    only_tors = bgp_advertisements(config(ad(peers=("tor1", "tor2")), peers=peers), c, assignments)
    assert {n: r[0].peers for n, r in only_tors.items()} == {
        "node-a": ("tor1",),
        "node-b": ("tor2",),
    }
    decision = bgp_decision(
        config(ad(peers=("tor1", "tor2")), peers=peers), c, "default/web", alloc("10.0.0.5")
    )
    node_c = next(v for v in decision.nodes if v.node == "node-c")
    assert node_c.reason == "noPeers"
    assert node_c.prefixes == ("10.0.0.5/32",)


def test_no_peers_at_all_means_nothing_is_sent() -> None:
    plan = bgp_advertisements(
        config(ad(), peers=()), simple("web"), {"default/web": alloc("10.0.0.5")}
    )
    assert plan == {}


# --- attributes and merging -----------------------------------------------------------------


def test_communities_are_merged_and_sorted() -> None:
    ads = (
        ad("one", communities=communities("65000:2", "65000:1")),
        ad("two", communities=communities("large:1:2:3", "65000:1")),
    )
    plan = bgp_advertisements(config(*ads), simple("web"), {"default/web": alloc("10.0.0.5")})
    assert plan["node-a"] == (
        route("10.0.0.5/32", "web", communities=("65000:1", "65000:2", "large:1:2:3")),
    )


def test_shared_prefix_takes_union_of_services_and_highest_local_pref() -> None:
    # Two services on one address, each matched by its own ad (serviceSelectors): each service on
    # its own has no LOCAL_PREF conflict, and the merged route keeps the highest localPref.
    c = cluster(
        [service("tcp", {"proto": "tcp"}), service("udp", {"proto": "udp"})],
        [slice_of("tcp", endpoint("node-a")), slice_of("udp", endpoint("node-a"))],
    )
    ads = (
        ad(
            "tcp",
            local_pref=100,
            communities=communities("65000:1"),
            service_selectors=(sel(proto="tcp"),),
        ),
        ad(
            "udp",
            local_pref=300,
            communities=communities("65000:3"),
            service_selectors=(sel(proto="udp"),),
        ),
    )
    plan = bgp_advertisements(
        config(*ads), c, {"default/tcp": alloc("10.0.0.5"), "default/udp": alloc("10.0.0.5")}
    )
    assert plan["node-b"] == (
        route("10.0.0.5/32", "tcp", "udp", communities=("65000:1", "65000:3"), local_pref=300),
    )


def test_peers_that_get_different_attributes_get_separate_routes() -> None:
    # As each native session merges only what it is sent: tor1 gets both ads' communities.
    peers = (peer("tor1"), peer("tor2"))
    ads = (
        ad("all", communities=communities("65000:1")),
        ad("tor1-only", peers=("tor1",), communities=communities("65000:9")),
    )
    plan = bgp_advertisements(
        config(*ads, peers=peers), simple("web"), {"default/web": alloc("10.0.0.5")}
    )
    assert plan["node-a"] == (
        route("10.0.0.5/32", "web", peers=("tor1",), communities=("65000:1", "65000:9")),
        route("10.0.0.5/32", "web", peers=("tor2",), communities=("65000:1",)),
    )


def test_conflicting_local_pref_withdraws_the_service() -> None:
    ads = (ad("a", local_pref=100), ad("b", local_pref=200))
    decision = bgp_decision(config(*ads), simple("web"), "default/web", alloc("10.0.0.5"))
    assert decision.reason == "conflictingAdvertisements"
    assert decision.announcing == ()
    assert "LOCAL_PREF" in decision.nodes[0].message


@pytest.mark.parametrize(
    "second",
    [
        {"aggregation_length": 24},  # a different aggregation in a v4-only pool
        {"peers": ("tor2",)},  # disjoint peer lists
    ],
)
def test_local_prefs_that_cannot_collide_are_accepted(second: dict[str, object]) -> None:
    peers = (peer("tor1"), peer("tor2"))
    ads = (
        ad("a", pools=("v4",), local_pref=100, peers=("tor1",)),
        ad("b", pools=("v4",), local_pref=200, **second),
    )
    decision = bgp_decision(
        config(*ads, peers=peers), simple("web"), "default/web", alloc("10.1.0.5", pool="v4")
    )
    assert decision.reason == "announced"


def test_aggregation_must_differ_for_every_family_of_a_dual_stack_pool() -> None:
    ads = (ad("a", local_pref=100), ad("b", local_pref=200, aggregation_length=24))
    decision = bgp_decision(config(*ads), simple("web"), "default/web", alloc("10.0.0.5"))
    assert decision.reason == "conflictingAdvertisements"


# --- endpoints and traffic policy -----------------------------------------------------------


def test_local_policy_only_nodes_with_a_local_endpoint_announce() -> None:
    c = cluster([service("web", local=True)], [slice_of("web", endpoint("node-b"))])
    plan = bgp_advertisements(config(ad()), c, {"default/web": alloc("10.0.0.5")})
    assert plan == {"node-b": (route("10.0.0.5/32", "web"),)}
    decision = bgp_decision(config(ad()), c, "default/web", alloc("10.0.0.5"))
    assert {v.node: v.reason for v in decision.nodes} == {
        "node-a": "noLocalEndpoints",
        "node-b": "announced",
        "node-c": "noLocalEndpoints",
    }


def test_local_policy_withdraws_when_the_local_endpoint_stops_serving() -> None:
    c = cluster(
        [service("web", local=True)],
        [slice_of("web", endpoint("node-b", ready=False, serving=False), endpoint("node-c"))],
    )
    plan = bgp_advertisements(config(ad()), c, {"default/web": alloc("10.0.0.5")})
    assert list(plan) == ["node-c"]


def test_local_policy_no_endpoints_anywhere() -> None:
    c = cluster([service("web", local=True)], [])
    decision = bgp_decision(config(ad()), c, "default/web", alloc("10.0.0.5"))
    assert decision.reason == "noLocalEndpoints"
    assert decision.announcing == ()


def test_cluster_policy_without_endpoints_is_withdrawn() -> None:
    c = cluster([service("web")], [])
    decision = bgp_decision(config(ad()), c, "default/web", alloc("10.0.0.5"))
    assert decision.reason == "noEndpoints"
    assert bgp_advertisements(config(ad()), c, {"default/web": alloc("10.0.0.5")}) == {}


def test_not_serving_endpoints_are_ignored() -> None:
    c = cluster([service("web")], [slice_of("web", endpoint("node-a", ready=False, serving=False))])
    assert bgp_decision(config(ad()), c, "default/web", alloc("10.0.0.5")).reason == "noEndpoints"


@pytest.mark.parametrize(("ready", "serving"), [(None, None), (None, False), (False, True)])
def test_serving_endpoint_conditions(ready: bool | None, serving: bool | None) -> None:
    c = cluster(
        [service("web", local=True)],
        [slice_of("web", endpoint("node-c", ready=ready, serving=serving))],
    )
    assert bgp_decision(config(ad()), c, "default/web", alloc("10.0.0.5")).announcing == ("node-c",)


def test_endpoints_without_addresses_do_not_count_for_bgp() -> None:
    # MetalLB's hasHealthyEndpoint requires at least one address.
    c = cluster([service("web")], [slice_of("web", endpoint("node-a", addresses=()))])
    assert bgp_decision(config(ad()), c, "default/web", alloc("10.0.0.5")).reason == "noEndpoints"


# --- node eligibility -----------------------------------------------------------------------


def test_unhealthy_nodes_do_not_announce() -> None:
    nodes = [
        node("node-a", {EXCLUDE_LB_LABEL: ""}),
        node("node-b", unavailable=True),
        node("node-c"),
        node("node-d"),
    ]
    c = cluster([service("web")], [slice_of("web", endpoint("node-c"))], nodes)
    alive = frozenset({"node-a", "node-b", "node-c"})
    decision = bgp_decision(config(ad()), c, "default/web", alloc("10.0.0.5"), alive)
    assert {v.node: v.reason for v in decision.nodes} == {
        "node-a": "nodeLabeledExcludeBalancers",
        "node-b": "nodeNetworkUnavailable",
        "node-c": "announced",
        "node-d": "nodeDown",
    }
    plan = bgp_advertisements(config(ad()), c, {"default/web": alloc("10.0.0.5")}, alive)
    assert list(plan) == ["node-c"]
    ignoring = bgp_advertisements(
        config(ad()), c, {"default/web": alloc("10.0.0.5")}, alive, ignore_exclude_lb=True
    )
    assert list(ignoring) == ["node-a", "node-c"]


def test_ad_node_selectors_choose_the_next_hops() -> None:
    nodes = [node("node-a", {"edge": "yes"}), node("node-b"), node("node-c", {"edge": "yes"})]
    c = cluster([service("web")], [slice_of("web", endpoint("node-b"))], nodes)
    ads = (ad(node_selectors=(sel(edge="yes"),)),)
    plan = bgp_advertisements(config(*ads), c, {"default/web": alloc("10.0.0.5")})
    assert list(plan) == ["node-a", "node-c"]
    decision = bgp_decision(config(*ads), c, "default/web", alloc("10.0.0.5"))
    node_b = next(v for v in decision.nodes if v.node == "node-b")
    assert node_b.reason == "noMatchingAdvertisement"


def test_ad_service_selectors() -> None:
    c = cluster(
        [service("web", {"app": "web"}), service("db")],
        [slice_of("web", endpoint("node-a")), slice_of("db", endpoint("node-a"))],
    )
    ads = (ad(service_selectors=(sel(app="web"),)),)
    decisions = bgp_decisions(
        config(*ads), c, {"default/web": alloc("10.0.0.5"), "default/db": alloc("10.0.0.6")}
    )
    assert decisions["default/web"].announcing == NODES
    assert decisions["default/db"].reason == "noMatchingAdvertisement"


def test_nodes_known_only_from_endpoints_announce() -> None:
    c = cluster([service("web")], [slice_of("web", endpoint("w1"), endpoint("w2"))], [])
    plan = bgp_advertisements(config(ad()), c, {"default/web": alloc("10.0.0.5")})
    assert list(plan) == ["w1", "w2"]


def test_reason_when_nobody_announces_is_the_furthest_a_node_got() -> None:
    nodes = [node("node-a", {EXCLUDE_LB_LABEL: ""}), node("node-b", {"other": "x"})]
    c = cluster([service("web")], [slice_of("web", endpoint("node-a"))], nodes)
    ads = (ad(node_selectors=(sel(other="x"), LabelSelector(matchLabels={EXCLUDE_LB_LABEL: ""}))),)
    decision = bgp_decision(
        config(*ads), c, "default/web", alloc("10.0.0.5"), frozenset({"node-a"})
    )
    # node-b is down, node-a is excluded: exclusion comes later in MetalLB's checks.
    assert decision.reason == "nodeLabeledExcludeBalancers"
