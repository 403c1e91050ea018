"""MetalLB's own BGP speaker cases, restated, from speaker/bgp_controller_test.go.

Cases, by Go test (77 in all): ``TestBGPSpeakerEPSlices`` 22 (9 endpoint steps, 13
configuration and service steps), ``TestNodeSelectors`` 9 (one sequence),
``TestShouldAnnounceExcludeLB`` 2, ``TestPasswordForSession`` 4 of 8 (each for lbtui's own
sessions and for the FRR backend, plus the Secret not found yet), ``TestPeersForService`` 6
(one sequence), ``TestBGPAdsForService`` 6, ``TestCheckBGPAdvConflicts`` 16,
``TestShouldAnnounceBGPServiceSelectors`` 6, ``TestHasHealthyEndpoint`` 6. Not ported:
``TestPasswordForSession``'s four FRR-K8s rows (the secret passthrough of MetalLB's frr-k8s
mode, which lbtui does not have). Every case agrees with MetalLB; ``TestPasswordForSession``
found the FRR backend writing no password for a ``passwordSecret`` (only lbtui's own sessions
looked the Secret up), now fixed.

- ``TestBGPSpeakerEPSlices``, its endpoint steps: node "pandora", one peer (1.2.3.4) on
  every node, pool 10.20.30.0/24 advertised as /32 from pandora; a service holding
  10.20.30.1 with the given traffic policy and EndpointSlices; does pandora send
  10.20.30.1/32 to the peer? Each step's whole state is given, so each is a case. Its
  configuration and service steps the same way, with what pandora sends to each peer.
- ``TestHasHealthyEndpoint``: whether a Cluster-policy service counts as having a healthy
  endpoint (MetalLB: any endpoint ready, or serving, anywhere), read through the same
  question (does a node announce it?).
- ``TestShouldAnnounceExcludeLB``: nodes labelled
  node.kubernetes.io/exclude-from-external-load-balancers announce nothing, unless the
  speaker ignores the label (``--ignore-exclude-lb``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from types import MappingProxyType

import pytest
from msgspec.structs import replace

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


# -- TestBGPSpeakerEPSlices, its configuration and service steps -------------------------------
# The whole state of each step, as a user writes it (the configuration in YAML, the Services
# with the status the controller wrote), read the way a speaker on a cluster reads it
# (allocations_from_status); the answer is what pandora sends to each peer it has a session
# with: (prefix, LOCAL_PREF, communities) per route. MetalLB's peers have no ASN (iBGP): here
# both are 64512.


def _steps_peer(name: str, address: str) -> dict:
    from tests.unit.test_config_validation import peer

    return peer(name, myASN=64512, peerASN=64512, peerAddress=address)


def _steps_ad(name: str, nodes: tuple[str, ...], **spec: object) -> dict:
    from tests.unit.test_config_validation import bgp_ad

    hostnames = {"key": "kubernetes.io/hostname", "operator": "In", "values": list(nodes)}
    return bgp_ad(
        name, ipAddressPools=["default"], nodeSelectors=[{"matchExpressions": [hostnames]}], **spec
    )


def _steps_config(*docs: dict) -> tuple[dict, ...]:
    from tests.unit.test_config_validation import pool

    return (pool("default", "10.20.30.0/24"), *docs)


COMMUNITIES = ("0:1234", "0:2345")
WITH_COMMUNITIES = {"aggregationLength": 32, "localPref": 100, "communities": list(COMMUNITIES)}
ONE_PEER = _steps_config(
    _steps_peer("peer1", "1.2.3.4"), _steps_ad("ad", ("pandora",), aggregationLength=32)
)
TWO_ADS = _steps_config(
    _steps_peer("peer1", "1.2.3.4"),
    _steps_ad("ad1", ("pandora",), **WITH_COMMUNITIES),
    _steps_ad("ad2", ("pandora",), aggregationLength=24, localPref=1000),
)
TWO_ADS_ONE_ELSEWHERE = _steps_config(
    _steps_peer("peer1", "1.2.3.4"),
    _steps_ad("ad1", ("pandora",), **WITH_COMMUNITIES),
    _steps_ad("ad2", ("iris",), aggregationLength=24, localPref=1000),
)
TWO_ADS_ONE_TO_PEER1 = _steps_config(
    _steps_peer("peer1", "1.2.3.4"),
    _steps_ad("ad1", ("pandora",), peers=["peer1"], **WITH_COMMUNITIES),
    _steps_ad("ad2", ("pandora",), aggregationLength=24, localPref=1000),
)
TWO_PEERS = _steps_config(
    _steps_peer("peer1", "1.2.3.4"),
    _steps_peer("peer2", "1.2.3.5"),
    _steps_ad("ad", ("pandora",), aggregationLength=32),
)
PEER_MOVED = _steps_config(
    _steps_peer("peer1", "1.2.3.5"), _steps_ad("ad", ("pandora",), aggregationLength=32)
)

LB = "LoadBalancer"
HOST = ("10.20.30.1/32", 0, ())
HOST5 = ("10.20.30.5/32", 0, ())
HOST_WITH_COMMUNITIES = ("10.20.30.1/32", 100, COMMUNITIES)
AGGREGATE = ("10.20.30.0/24", 1000, ())

STEP_CASES = [
    # (desc, configuration, services {name: (type, status IP, endpoint's node)}, per peer)
    ("Service ignored, no config", (), {"test1": (LB, "10.20.30.1", "iris")}, {}),
    ("One peer, no services", ONE_PEER, {}, {"1.2.3.4": ()}),
    ("Add service, not an LB", ONE_PEER, {"test1": ("ClusterIP", None, "pandora")},
     {"1.2.3.4": ()}),
    ("Multiple advertisement config", TWO_ADS, {"test1": (LB, "10.20.30.1", "iris")},
     {"1.2.3.4": (AGGREGATE, HOST_WITH_COMMUNITIES)}),
    ("Multiple advertisement config, one only for my node", TWO_ADS_ONE_ELSEWHERE,
     {"test1": (LB, "10.20.30.1", "iris")}, {"1.2.3.4": (HOST_WITH_COMMUNITIES,)}),
    ("Multiple advertisement config, one with peer selector", TWO_ADS_ONE_TO_PEER1,
     {"test1": (LB, "10.20.30.1", "iris")}, {"1.2.3.4": (AGGREGATE, HOST_WITH_COMMUNITIES)}),
    ("Multiple peers", TWO_PEERS, {"test1": (LB, "10.20.30.1", "iris")},
     {"1.2.3.4": (HOST,), "1.2.3.5": (HOST,)}),
    ("Second balancer, no ingress assigned", TWO_PEERS,
     {"test1": (LB, "10.20.30.1", "iris"), "test2": (LB, None, "iris")},
     {"1.2.3.4": (HOST,), "1.2.3.5": (HOST,)}),
    ("Second balancer, ingress gets assigned", TWO_PEERS,
     {"test1": (LB, "10.20.30.1", "iris"), "test2": (LB, "10.20.30.5", "iris")},
     {"1.2.3.4": (HOST, HOST5), "1.2.3.5": (HOST, HOST5)}),
    # MetalLB lists the prefix once per service and its session sends it once; lbtui's one
    # route carries both services (see the test).
    ("Second balancer, ingress shared with first", TWO_PEERS,
     {"test1": (LB, "10.20.30.1", "iris"), "test2": (LB, "10.20.30.1", "iris")},
     {"1.2.3.4": (HOST,), "1.2.3.5": (HOST,)}),
    ("Delete svc", TWO_PEERS, {"test2": (LB, "10.20.30.1", "iris")},
     {"1.2.3.4": (HOST,), "1.2.3.5": (HOST,)}),
    ("Delete peer", PEER_MOVED, {"test2": (LB, "10.20.30.1", "iris")}, {"1.2.3.5": (HOST,)}),
    ("Delete second svc", PEER_MOVED, {}, {"1.2.3.5": ()}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("desc", "docs", "services", "want"), STEP_CASES, ids=[c[0] for c in STEP_CASES]
)
def test_bgp_speaker_config_and_service_steps(
    desc: str, docs: tuple[dict, ...], services: dict, want: dict
) -> None:
    from actors.bgp.frr.render import node_peers
    from actors.kube.status_readers import allocations_from_status
    from actors.model.cluster import LoadBalancerIngress, LoadBalancerStatus, ServiceStatus
    from tests.unit.test_config_validation import build

    config = Config()
    if docs:
        result = build(*docs)
        assert result.errors == [] and result.config is not None, [str(i) for i in result.errors]
        config = result.config
    objects = []
    for name, (kind, ip, _) in services.items():
        svc = service(name)
        ingress = (LoadBalancerIngress(ip=ip),) if ip else ()
        status = ServiceStatus(loadBalancer=LoadBalancerStatus(ingress=ingress))
        objects.append(
            svc.model_copy(
                update={"spec": svc.spec.model_copy(update={"type": kind}), "status": status}
            )
        )
    cluster = ClusterState.of(
        services=objects,
        endpoint_slices=[
            EndpointSlice(
                metadata=ObjectMeta(
                    name=f"{name}-a", namespace="default", labels={SERVICE_NAME_LABEL: name}
                ),
                endpoints=(endpoint(on, True, None, ("2.3.4.5",)),),
            )
            for name, (_, _, on) in services.items()
        ],
        nodes=[node(n, {"kubernetes.io/hostname": n}) for n in ("pandora", "iris")],
    )
    routes = bgp_advertisements(config, cluster, allocations_from_status(cluster)).get(
        "pandora", ()
    )
    got = {
        str(p.peer_address): tuple(
            sorted((r.prefix, r.local_pref, r.communities) for r in routes if p.name in r.peers)
        )
        for p in node_peers(config, {"kubernetes.io/hostname": "pandora"})
    }
    assert got == want, desc
    if desc == "Second balancer, ingress shared with first":
        assert {r.services for r in routes} == {("default/test1", "default/test2")}


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


# -- TestPasswordForSession: the password a session uses, native and FRR ------------------------

SECRET = ("my-secret", "my-namespace")
PASSWORD_CASES = [
    # (desc, the peer's password, its passwordSecret, the Secret's password (None: no Secret),
    #  the session's password (None: it waits for the Secret))
    ("BGP with plain text password", "password123", None, None, "password123"),
    ("BGP with secret password", "", SECRET, "my-secret-password", "my-secret-password"),
    # Not in MetalLB's table (it resolves Secrets before): the Secret not there yet.
    ("BGP with unresolved secret ref", "", SECRET, None, None),
]


def _password_peer(password: str, secret: tuple[str, str] | None) -> Peer:
    from actors.model.config import SecretRef

    return replace(PEER, password=password, password_secret=SecretRef(*secret) if secret else None)


def _lookup(found: str | None):
    from actors.model.config import SecretRef

    def lookup(ref: SecretRef) -> str | None:
        return found if (ref.name, ref.namespace) == SECRET else None

    return lookup


@pytest.mark.parametrize(
    ("desc", "password", "secret", "found", "want"),
    PASSWORD_CASES,
    ids=[c[0] for c in PASSWORD_CASES],
)
def test_password_for_session_native(
    desc: str, password: str, secret: tuple | None, found: str | None, want: str | None
) -> None:
    """ "Native BGP with ..." rows: lbtui's own session takes this password (the BGP actor
    asks :func:`session_password`, and waits while it is None)."""
    from actors.bgp.secrets import session_password

    assert session_password(_password_peer(password, secret), _lookup(found)) == want, desc


@pytest.mark.parametrize(
    ("desc", "password", "secret", "found", "want"),
    PASSWORD_CASES,
    ids=[c[0] for c in PASSWORD_CASES],
)
def test_password_for_session_frr(
    tmp_path, desc: str, password: str, secret: tuple | None, found: str | None, want: str | None
) -> None:
    """ "FRR BGP with ..." rows: the frr.conf the FRR backend writes carries the password, the
    Secret's included (until it is found, the session is written without one, and says so)."""
    from actors.bgp.announcer import FrrAnnouncer
    from actors.bgp.frr.writer import FrrConfigWriter
    from actors.clock import ManualClock
    from actors.events import ClusterUpdated, ConfigApplied

    clock = ManualClock()
    path = tmp_path / "frr.conf"
    writer = FrrConfigWriter(
        "pandora",
        path,
        FrrAnnouncer(),
        secrets=_lookup(found),
        clock=clock,
        scheduler=clock,
        publish=lambda _event: None,
    )
    writer.on_start()
    writer.on_event(ConfigApplied(0.0, Config(peers=(_password_peer(password, secret),)), "t"))
    writer.on_event(ClusterUpdated(0.0, ClusterState.of(nodes=[node("pandora")]), "t"))
    writer.sync_overdue()  # no route to wait for: the sessions are written
    text = path.read_text()
    if want is None:
        assert " password " not in text and "Secret my-namespace/my-secret is not" in text
    else:
        assert f" neighbor 1.2.3.4 password {want}\n" in text, desc
