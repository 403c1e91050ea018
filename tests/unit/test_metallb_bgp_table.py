"""MetalLB's own BGP speaker cases, restated, from speaker/bgp_controller_test.go.

- ``TestBGPSpeakerEPSlices``, its endpoint steps: node "pandora", one peer (1.2.3.4) on
  every node, pool 10.20.30.0/24 advertised as /32 from pandora; a service holding
  10.20.30.1 with the given traffic policy and EndpointSlices; does pandora send
  10.20.30.1/32 to the peer? Each step's whole state is given, so each is a case.
- ``TestHasHealthyEndpoint``: whether a Cluster-policy service counts as having a healthy
  endpoint (MetalLB: any endpoint ready, or serving, anywhere), read through the same
  question (does a node announce it?).
- ``TestShouldAnnounceExcludeLB``: nodes labelled
  node.kubernetes.io/exclude-from-external-load-balancers announce nothing, unless the
  speaker ignores the label (``--ignore-exclude-lb``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from types import MappingProxyType

import pytest

from actors.election.bgp import CONFLICTING_ADVERTISEMENTS, bgp_advertisements, bgp_decision
from actors.model.cluster import (
    EXCLUDE_LB_LABEL,
    SERVICE_NAME_LABEL,
    ClusterState,
    EndpointSlice,
    ObjectMeta,
)
from actors.model.config import BGPAdvertisement, Config, Peer, Pool
from actors.model.selectors import LabelSelector
from tests.unit.test_election_bgp import Alloc, endpoint, node, rng, service

PEER = Peer(
    name="peer1",
    my_asn=64512,
    peer_asn=64512,
    peer_address=ipaddress.ip_address("1.2.3.4"),
    node_selectors=(LabelSelector(),),  # labels.Everything()
)


def _config(*nodes: str) -> Config:
    """The pool "default" (10.20.30.0/24) advertised as /32 from ``nodes``."""
    selector = LabelSelector(
        matchExpressions=(
            {"key": "kubernetes.io/hostname", "operator": "In", "values": list(nodes)},
        )
    )
    return Config(
        pools=MappingProxyType(
            {"default": Pool(name="default", ranges=(rng("10.20.30.0", "10.20.30.255"),))}
        ),
        bgp_advertisements=(
            BGPAdvertisement(
                name="ad",
                pools=frozenset({"default"}),
                aggregation_length=32,
                node_selectors=(selector,),
            ),
        ),
        peers=(PEER,),
    )


def _announcers(
    config: Config,
    local: bool,
    slices: tuple[tuple[tuple[str | None, bool | None, bool | None, str], ...], ...],
    nodes: tuple[str, ...] = ("pandora", "iris"),
    excluded: tuple[str, ...] = (),
    ignore_exclude_lb: bool = False,
) -> dict[str, tuple[str, ...]]:
    """Which nodes send which prefixes to peer1, for test1 holding 10.20.30.1."""
    cluster = ClusterState.of(
        services=[service("test1", local=local)],
        endpoint_slices=[
            EndpointSlice(
                metadata=ObjectMeta(
                    name=f"test1-{i}", namespace="default", labels={SERVICE_NAME_LABEL: "test1"}
                ),
                endpoints=tuple(endpoint(n, r, s, (a,)) for n, r, s, a in eps),
            )
            for i, eps in enumerate(slices)
        ],
        nodes=[
            node(
                n,
                {"kubernetes.io/hostname": n, **({EXCLUDE_LB_LABEL: ""} if n in excluded else {})},
            )
            for n in nodes
        ],
    )
    assigned = {"default/test1": Alloc((ipaddress.ip_address("10.20.30.1"),), "default")}
    routes = bgp_advertisements(config, cluster, assigned, ignore_exclude_lb=ignore_exclude_lb)
    return {
        n: tuple(r.prefix for r in node_routes if "peer1" in r.peers)
        for n, node_routes in routes.items()
    }


T, F = True, False
ON = ("10.20.30.1/32",)


@dataclass(frozen=True)
class EpCase:
    desc: str
    local: bool
    # EndpointSlices, each a tuple of endpoints (node, ready, serving, address)
    slices: tuple[tuple[tuple[str | None, bool | None, bool | None, str], ...], ...]
    pandora: tuple[str, ...]  # what pandora sends to peer1


EP_CASES = [
    EpCase("Add service, it's an LB!", F, ((("iris", T, None, "2.3.4.5"),),), ON),
    EpCase(
        "LB switches to local traffic policy, endpoint isn't on our node",
        T,
        ((("iris", T, None, "2.3.4.5"),),),
        (),
    ),
    EpCase(
        "New endpoint, on our node",
        T,
        ((("iris", T, None, "2.3.4.5"),), (("pandora", T, None, "2.3.4.6"),)),
        ON,
    ),
    EpCase(
        "Endpoint on our node has some unready ports",
        T,
        (
            (("iris", T, None, "2.3.4.5"), ("pandora", F, None, "2.3.4.6")),
            (("iris", T, None, "2.3.4.7"), ("pandora", T, None, "2.3.4.6")),
        ),
        ON,
    ),
    EpCase("Endpoint list is empty", F, (), ()),
    EpCase(
        "Endpoint list contains only unhealthy endpoints",
        F,
        ((("iris", F, None, "2.3.4.5"),),),
        (),
    ),
    EpCase(
        "Endpoint list contains some unhealthy endpoints",
        F,
        ((("iris", T, None, "2.3.4.5"), ("pandora", F, None, "2.3.4.6")),),
        ON,
    ),
    EpCase(
        "Endpoint list contains serving but not ready endpoints",
        F,
        ((("iris", F, T, "2.3.4.5"),),),
        ON,
    ),
    EpCase(
        "Endpoint list contains ready but not serving endpoints",
        F,
        ((("iris", T, F, "2.3.4.5"),),),
        ON,
    ),
]


@pytest.mark.parametrize("case", EP_CASES, ids=[c.desc for c in EP_CASES])
def test_bgp_speaker_ep_slices(case: EpCase) -> None:
    got = _announcers(_config("pandora"), case.local, case.slices)
    assert got.get("pandora", ()) == case.pandora


HEALTHY_CASES = [
    # (TestHasHealthyEndpoint desc, endpoints (ready, address), healthy)
    ("One ready endpoint", ((T, "1.2.3.4"),), True),
    ("One not ready endpoint", ((F, "1.2.3.4"),), False),
    ("Two endpoints same IP, one ready one not", ((F, "1.2.3.4"), (T, "1.2.3.4")), True),
    ("Two endpoints same IP, ready then not ready", ((T, "1.2.3.4"), (F, "1.2.3.4")), True),
    ("Two endpoints same IP, both not ready", ((F, "1.2.3.4"), (F, "1.2.3.4")), False),
    ("Mixed IPs, one ready", ((F, "1.2.3.4"), (T, "5.6.7.8")), True),
]


@pytest.mark.parametrize(
    ("desc", "eps", "healthy"), HEALTHY_CASES, ids=[c[0] for c in HEALTHY_CASES]
)
def test_has_healthy_endpoint(desc: str, eps: tuple[tuple[bool, str], ...], healthy: bool) -> None:
    # MetalLB's filterNode lets every node through: the endpoints' node does not matter.
    slices = (tuple(("iris", ready, None, address) for ready, address in eps),)
    got = _announcers(_config("pandora"), False, slices)
    assert (got.get("pandora", ()) == ON) is healthy, desc


@pytest.mark.parametrize(
    ("desc", "ignore", "announcers"),
    [
        (
            "One service, endpoint on iris1, no selector, both excluded, both should not announce",
            False,
            {},
        ),
        (
            "One service, endpoint on iris1, no selector, etplocal, ignore excludelb, "
            "both should announce",
            True,
            {"iris1": ON, "iris2": ON},
        ),
    ],
)
def test_should_announce_exclude_lb(desc: str, ignore: bool, announcers: dict) -> None:
    got = _announcers(
        _config("iris1", "iris2"),
        False,
        ((("iris1", T, None, "2.3.4.5"),),),
        nodes=("iris1", "iris2"),
        excluded=("iris1", "iris2"),
        ignore_exclude_lb=ignore,
    )
    assert got == announcers, desc


# -- TestCheckBGPAdvConflicts: two ads giving one service different LOCAL_PREFs ----------------

Ad = tuple[str, int, tuple[str, ...], tuple[str, ...]]  # name, localPref, nodes, peers

CONFLICT_CASES: list[tuple[str, tuple[Ad, ...], bool]] = [
    (
        "No conflict - same local pref",
        (("ad1", 100, ("nodeA",), ()), ("ad2", 100, ("nodeA",), ())),
        False,
    ),
    (
        "No conflict - different nodes",
        (("ad1", 100, ("nodeA",), ()), ("ad2", 200, ("nodeB",), ())),
        False,
    ),
    (
        "Conflict - ad1's nodes are a subset of ad2's nodes",
        (("ad1", 100, ("nodeA",), ()), ("ad2", 200, ("nodeB", "nodeA"), ())),
        True,
    ),
    (
        "Conflict - ad2's nodes are a subset of ad1's nodes",
        (("ad1", 100, ("nodeB", "nodeA"), ()), ("ad2", 200, ("nodeA",), ())),
        True,
    ),
    (
        "No conflict - ad1's nodes are empty",
        (("ad1", 100, (), ()), ("ad2", 200, ("nodeA",), ())),
        False,
    ),
    (
        "No conflict - ad2's nodes are empty",
        (("ad1", 100, ("nodeA",), ()), ("ad2", 200, (), ())),
        False,
    ),
    (
        "No conflict - different peers",
        (("ad1", 100, ("nodeA",), ("peer1",)), ("ad2", 200, ("nodeA",), ("peer2",))),
        False,
    ),
    ("Single ad - no conflict", (("ad1", 100, ("nodeA",), ()),), False),
    ("Empty ads - no conflict", (), False),
    (
        "Conflict - different local pref, same node",
        (("ad1", 100, ("nodeA",), ()), ("ad2", 200, ("nodeA",), ())),
        True,
    ),
    (
        "Conflict - ad1's peers are a subset of ad2's peers",
        (("ad1", 100, ("nodeA",), ("peer1",)), ("ad2", 200, ("nodeA",), ("peer2", "peer1"))),
        True,
    ),
    (
        "Conflict - ad2's peers are a subset of ad1's peers",
        (("ad1", 100, ("nodeA",), ("peer2", "peer1")), ("ad2", 200, ("nodeA",), ("peer1",))),
        True,
    ),
    (
        "Conflict - ad1's peers are a subset of ad2's peers, but ad1 also has one extra element",
        (
            ("ad1", 100, ("nodeA",), ("peer1", "peer3")),
            ("ad2", 200, ("nodeA",), ("peer2", "peer1")),
        ),
        True,
    ),
    (
        "Conflict - ad2's peers are a subset of ad1's peers, but ad2 also has one extra element",
        (
            ("ad1", 100, ("nodeA",), ("peer2", "peer1")),
            ("ad2", 200, ("nodeA",), ("peer1", "peer3")),
        ),
        True,
    ),
    (
        "Conflict - ad1's peers are empty",
        (("ad1", 100, ("nodeA",), ()), ("ad2", 200, ("nodeA",), ("peer1",))),
        True,
    ),
    (
        "Conflict - ad2's peers are empty",
        (("ad1", 100, ("nodeA",), ("peer1",)), ("ad2", 200, ("nodeA",), ())),
        True,
    ),
]


@pytest.mark.parametrize(
    ("desc", "ads", "conflict"), CONFLICT_CASES, ids=[c[0] for c in CONFLICT_CASES]
)
def test_check_bgp_adv_conflicts(desc: str, ads: tuple[Ad, ...], conflict: bool) -> None:
    # MetalLB's ad.Nodes are the nodes its nodeSelectors select: here by hostname ("none"
    # for an ad that selects no node).
    def hostnames(nodes: tuple[str, ...]) -> LabelSelector:
        values = list(nodes) or ["none"]
        return LabelSelector(
            matchExpressions=(
                {"key": "kubernetes.io/hostname", "operator": "In", "values": values},
            )
        )

    peers = tuple(
        Peer(
            name=f"peer{i}",
            my_asn=64512,
            peer_asn=64512,
            peer_address=ipaddress.ip_address(f"1.2.3.{i}"),
        )
        for i in (1, 2, 3)
    )
    config = Config(
        pools=MappingProxyType(
            {"test-pool": Pool(name="test-pool", ranges=(rng("10.20.30.0", "10.20.30.255"),))}
        ),
        bgp_advertisements=tuple(
            BGPAdvertisement(
                name=name,
                pools=frozenset({"test-pool"}),
                aggregation_length=32,
                local_pref=local_pref,
                node_selectors=(hostnames(nodes),),
                peers=ad_peers,
            )
            for name, local_pref, nodes, ad_peers in ads
        ),
        peers=peers,
    )
    cluster = ClusterState.of(
        services=[service("test1")],
        endpoint_slices=[
            EndpointSlice(
                metadata=ObjectMeta(
                    name="test1-0", namespace="default", labels={SERVICE_NAME_LABEL: "test1"}
                ),
                endpoints=(endpoint("nodeA"),),
            )
        ],
        nodes=[node(n, {"kubernetes.io/hostname": n}) for n in ("nodeA", "nodeB")],
    )
    assigned = Alloc((ipaddress.ip_address("10.20.30.1"),), "test-pool")
    decision = bgp_decision(config, cluster, "default/test1", assigned)
    conflicting = [v.node for v in decision.nodes if v.reason == CONFLICTING_ADVERTISEMENTS]
    assert bool(conflicting) is conflict, (desc, decision.nodes)


# -- TestShouldAnnounceBGPServiceSelectors: ads pick services by label ------------------------

# (desc, ads as (name, localPref, serviceSelectors as label dicts), MetalLB's answer for pandora)
SELECTOR_CASES: list[tuple[str, tuple[tuple[str, int, tuple[dict[str, str], ...]], ...], str]] = [
    ("Empty selector matches all services", (("ad1", 0, ()),), "announced"),
    ("Matching selector allows announcement", (("ad1", 0, ({"app": "nginx"},)),), "announced"),
    (
        "Non-matching selector prevents announcement",
        (("ad1", 0, ({"app": "apache"},)),),
        "noMatchingAdvertisement",
    ),
    (
        "Multiple selectors - OR logic - one matches",
        (("ad1", 0, ({"app": "apache"}, {"app": "nginx"})),),
        "announced",
    ),
    (
        "Multiple ads with different selectors - one matches",
        (("ad1", 0, ({"app": "apache"},)), ("ad2", 0, ({"app": "nginx"},))),
        "announced",
    ),
    (
        "Conflicting local prefs - different ads match same service",
        (("ad1", 100, ()), ("ad2", 200, ({"app": "nginx"},))),
        "conflictingAdvertisements",
    ),
]


@pytest.mark.parametrize(
    ("desc", "ads", "answer"), SELECTOR_CASES, ids=[c[0] for c in SELECTOR_CASES]
)
def test_should_announce_bgp_service_selectors(
    desc: str, ads: tuple[tuple[str, int, tuple[dict[str, str], ...]], ...], answer: str
) -> None:
    config = Config(
        pools=MappingProxyType(
            {"default": Pool(name="default", ranges=(rng("10.20.30.0", "10.20.30.255"),))}
        ),
        bgp_advertisements=tuple(
            BGPAdvertisement(
                name=name,
                pools=frozenset({"default"}),
                aggregation_length=32,
                local_pref=local_pref,
                service_selectors=tuple(LabelSelector(matchLabels=s) for s in selectors),
            )
            for name, local_pref, selectors in ads
        ),
        peers=(PEER,),
    )
    cluster = ClusterState.of(
        services=[service("test1", labels={"app": "nginx"})],
        endpoint_slices=[
            EndpointSlice(
                metadata=ObjectMeta(
                    name="test1-0", namespace="default", labels={SERVICE_NAME_LABEL: "test1"}
                ),
                endpoints=(endpoint("pandora"),),
            )
        ],
        nodes=[node("pandora")],
    )
    assigned = Alloc((ipaddress.ip_address("10.20.30.1"),), "default")
    decision = bgp_decision(config, cluster, "default/test1", assigned)
    assert [v.reason for v in decision.nodes] == [answer], desc


def test_local_prefs_behind_service_selectors_pass_validation() -> None:
    """The case above as YAML: MetalLB's validation skips the LOCAL_PREF check when service
    selectors are involved (validateBGPAdvPerPool), leaving it to the speaker, per service."""
    from tests.unit.test_config_validation import bgp_ad, build
    from tests.unit.test_config_validation import pool as pool_doc

    result = build(
        pool_doc("default", "10.20.30.0/24"),
        bgp_ad("ad1", ipAddressPools=["default"], localPref=100),
        bgp_ad(
            "ad2",
            ipAddressPools=["default"],
            localPref=200,
            serviceSelectors=[{"matchLabels": {"app": "nginx"}}],
        ),
    )
    assert result.issues == [] and result.config is not None


# -- TestNodeSelectors: which peers a node keeps sessions with, as its labels change ----------


def test_node_selectors_sequence() -> None:
    """Node "pandora", peers peer1 (every node) and peer2 (by selector); each step changes the
    configuration or the node's labels, and the sessions follow (MetalLB's wantAds keys)."""
    from actors.model.selectors import LabelSelectorRequirement as Requirement
    from tests.unit.test_bgp_actor import Harness
    from tests.unit.test_bgp_actor import peer as base_peer

    def selector(labels: dict[str, str] | None = None, *exprs: Requirement) -> LabelSelector:
        return LabelSelector(matchLabels=labels or {}, matchExpressions=exprs)

    foo_in_bar_baz = Requirement(key="foo", operator="In", values=("bar", "baz"))
    peer1 = replace(base_peer(), name="peer1", peer_address=ipaddress.ip_address("1.2.3.4"))

    def peer2(*selectors: LabelSelector) -> Peer:
        return replace(
            base_peer(),
            name="peer2",
            peer_address=ipaddress.ip_address("2.3.4.5"),
            node_selectors=selectors,
        )

    h = Harness()
    assert h.actor.sessions == {}  # "No config, no advertisements"
    steps: list[tuple[str, tuple[Peer, ...] | None, dict[str, str] | None, set[str]]] = [
        ("One peer, default node selector, no node labels", (peer1,), None, {"1.2.3.4"}),
        (
            "Second peer, non-matching node selector",
            (peer1, peer2(selector({"foo": "bar"}))),
            None,
            {"1.2.3.4"},
        ),
        ("Add node label that matches", None, {"foo": "bar"}, {"1.2.3.4", "2.3.4.5"}),
        ("Change node label so it no longer matches", None, {"foo": "baz"}, {"1.2.3.4"}),
        (
            "Change node selector so it matches again",
            (peer1, peer2(selector(None, foo_in_bar_baz))),
            None,
            {"1.2.3.4", "2.3.4.5"},
        ),
        ("Change node label back, still matches", None, {"foo": "bar"}, {"1.2.3.4", "2.3.4.5"}),
        (
            "Multiple node selectors, only one matches",
            (peer1, peer2(selector({"host": "frontend"}), selector(None, foo_in_bar_baz))),
            None,
            {"1.2.3.4", "2.3.4.5"},
        ),
        (
            "Change node labels to match the other selector",
            None,
            {"host": "frontend"},
            {"1.2.3.4", "2.3.4.5"},
        ),
    ]
    for desc, peers, labels, wanted in steps:
        if peers is not None:
            h.configure(*peers)
        if labels is not None:
            h.cluster(labels)
        got = {str(s.peer.peer_address) for s in h.actor.sessions.values()}
        assert got == wanted, desc


# -- TestBGPAdsForService: the ads that apply to one service on one node -----------------------

# (desc, ads as (name, nodes, serviceSelectors as label dicts), the ads applying on nodeA)
ADS_FOR_SERVICE: list[
    tuple[str, tuple[tuple[str, tuple[str, ...], tuple[dict, ...]], ...], set]
] = [
    ("Empty selectors match all", (("ad1", ("nodeA",), ()),), {"ad1"}),
    ("Matching selector", (("ad1", ("nodeA",), ({"app": "nginx"},)),), {"ad1"}),
    ("Non-matching selector", (("ad1", ("nodeA",), ({"app": "apache"},)),), set()),
    ("Wrong node", (("ad1", ("nodeB",), ()),), set()),
    (
        "Multiple ads - some match",
        (
            ("ad1", ("nodeA",), ({"app": "apache"},)),
            ("ad2", ("nodeA",), ({"app": "nginx"},)),
            ("ad3", ("nodeA",), ()),
        ),
        {"ad2", "ad3"},
    ),
    (
        "Multiple selectors in single ad - OR logic",
        (("ad1", ("nodeA",), ({"app": "apache"}, {"app": "nginx"})),),
        {"ad1"},
    ),
]


@pytest.mark.parametrize(
    ("desc", "ads", "expected"), ADS_FOR_SERVICE, ids=[c[0] for c in ADS_FOR_SERVICE]
)
def test_bgp_ads_for_service(desc: str, ads: tuple, expected: set[str]) -> None:
    config = Config(
        pools=MappingProxyType(
            {"default": Pool(name="default", ranges=(rng("10.20.30.0", "10.20.30.255"),))}
        ),
        bgp_advertisements=tuple(
            BGPAdvertisement(
                name=name,
                pools=frozenset({"default"}),
                aggregation_length=32,
                node_selectors=(
                    LabelSelector(
                        matchExpressions=(
                            {
                                "key": "kubernetes.io/hostname",
                                "operator": "In",
                                "values": list(nodes),
                            },
                        )
                    ),
                ),
                service_selectors=tuple(LabelSelector(matchLabels=s) for s in selectors),
            )
            for name, nodes, selectors in ads
        ),
        peers=(PEER,),
    )
    cluster = ClusterState.of(
        services=[service("test1", labels={"app": "nginx"})],
        endpoint_slices=[
            EndpointSlice(
                metadata=ObjectMeta(
                    name="test1-0", namespace="default", labels={SERVICE_NAME_LABEL: "test1"}
                ),
                endpoints=(endpoint("nodeA"),),
            )
        ],
        nodes=[node(n, {"kubernetes.io/hostname": n}) for n in ("nodeA", "nodeB")],
    )
    assigned = Alloc((ipaddress.ip_address("10.20.30.1"),), "default")
    decision = bgp_decision(config, cluster, "default/test1", assigned)
    [verdict] = [v for v in decision.nodes if v.node == "nodeA"]
    assert set(verdict.advertisements) == expected, desc
    assert verdict.announced is bool(expected)


# -- TestPeersForService: the peers each service is advertised to (ServiceBGPStatus) ----------


def test_peers_for_service_sequence() -> None:
    """Node "pandora", peers peer1/peer2, pools pool1 (10.20.30.0/24) and pool2
    (10.20.40.0/24) advertised from pandora; test1 and test2 come and go, pool1's ad narrows to
    peer1, peer1 goes: the peers each service is announced to follow (MetalLB's
    expectedPeers, which feed ServiceBGPStatus)."""
    from actors.election.desired import announced_services, desired_announcements

    def pools_and_ads(pool1_peers: tuple[str, ...]) -> tuple[dict, tuple]:
        pandora = LabelSelector(
            matchExpressions=(
                {"key": "kubernetes.io/hostname", "operator": "In", "values": ["pandora"]},
            )
        )
        pools = {
            "pool1": Pool(name="pool1", ranges=(rng("10.20.30.0", "10.20.30.255"),)),
            "pool2": Pool(name="pool2", ranges=(rng("10.20.40.0", "10.20.40.255"),)),
        }
        ads = tuple(
            BGPAdvertisement(
                name=f"ad-{name}",
                pools=frozenset({name}),
                aggregation_length=32,
                node_selectors=(pandora,),
                peers=peers,
            )
            for name, peers in (("pool1", pool1_peers), ("pool2", ()))
        )
        return pools, ads

    def bgp_peer(name: str, address: str) -> Peer:
        return Peer(
            name=name,
            my_asn=64512,
            peer_asn=64512,
            peer_address=ipaddress.ip_address(address),
            node_selectors=(LabelSelector(),),
        )

    peer1, peer2 = bgp_peer("peer1", "1.2.3.4"), bgp_peer("peer2", "1.2.3.5")
    addresses = {"test1": ("10.20.30.1", "pool1"), "test2": ("10.20.40.1", "pool2")}

    def peers_of(services: tuple[str, ...], peers: tuple[Peer, ...], pool1_peers=()):
        pools, ads = pools_and_ads(pool1_peers)
        config = Config(pools=MappingProxyType(pools), bgp_advertisements=ads, peers=peers)
        cluster = ClusterState.of(
            services=[service(s) for s in services],
            endpoint_slices=[
                EndpointSlice(
                    metadata=ObjectMeta(
                        name=f"{s}-0", namespace="default", labels={SERVICE_NAME_LABEL: s}
                    ),
                    endpoints=(endpoint("iris"),),
                )
                for s in services
            ],
            nodes=[node(n, {"kubernetes.io/hostname": n}) for n in ("pandora", "iris")],
        )
        assigned = {
            f"default/{s}": Alloc((ipaddress.ip_address(addresses[s][0]),), addresses[s][1])
            for s in services
        }
        current = desired_announcements("pandora", config, cluster, assigned, None)
        got = {a.service.split("/")[1]: set(a.peers) for a in announced_services(current)}
        return {s: got.get(s, set()) for s in ("test1", "test2")}

    both = (peer1, peer2)
    steps = [
        ("Set the config with 2 peers and 2 pools", (), both, (), {"test1": set(), "test2": set()}),
        (
            "Add first service",
            ("test1",),
            both,
            (),
            {"test1": {"peer1", "peer2"}, "test2": set()},
        ),
        (
            "Add second service",
            ("test1", "test2"),
            both,
            (),
            {"test1": {"peer1", "peer2"}, "test2": {"peer1", "peer2"}},
        ),
        (
            "Advertise service 1 to peer1 only",
            ("test1", "test2"),
            both,
            ("peer1",),
            {"test1": {"peer1"}, "test2": {"peer1", "peer2"}},
        ),
        (
            "Delete first service",
            ("test2",),
            both,
            ("peer1",),
            {"test1": set(), "test2": {"peer1", "peer2"}},
        ),
        (
            "Delete first peer",
            ("test2",),
            (peer2,),
            ("peer1",),
            {"test1": set(), "test2": {"peer2"}},
        ),
    ]
    for desc, services, peers, pool1_peers, expected in steps:
        assert peers_of(services, peers, pool1_peers) == expected, desc
