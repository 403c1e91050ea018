"""MetalLB's own layer 2 election cases, restated, from speaker/layer2_controller_test.go.

- ``TestSortL2Candidates``: the order of candidate nodes for an address (preference score
  first, then sha256(node + "#" + IP)); the expected orders are MetalLB's, written out there
  by hand, so they check lbtui's hash independently of lbtui's code.
- ``TestShouldAnnounceEPSlices``: two speakers (iris1, iris2), Local-policy services and their
  EndpointSlices; which of the two answers for each address ("" in MetalLB's table: this
  node announces; "notOwner": it does not).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from types import MappingProxyType

import pytest

from actors.election.l2 import L2Candidate, l2_decisions, l2_hash
from actors.model.cluster import ClusterState
from actors.model.config import AddressRange, Config, L2Advertisement, Pool
from tests.unit.test_election_l2 import Alloc, endpoint, node, service, slice_of


@dataclass(frozen=True)
class SortCase:
    desc: str
    candidates: tuple[str, ...]
    ip: str
    scores: dict[str, int]
    want: tuple[str, ...]


SORT_CASES = [
    SortCase("empty input", (), "10.0.0.1", {}, ()),
    SortCase("single candidate", ("node-a",), "10.0.0.1", {}, ("node-a",)),
    SortCase(
        "no scores: stable hash order independent of input order",
        ("node-a", "node-b", "node-c"),
        "10.0.0.1",
        {},
        ("node-b", "node-a", "node-c"),
    ),
    SortCase(
        "no scores: hash order depends on the IP",
        ("node-a", "node-b", "node-c"),
        "10.0.0.2",
        {},
        ("node-b", "node-c", "node-a"),
    ),
    SortCase(
        "highest score wins regardless of hash",
        ("edge-a", "edge-b", "worker-a", "worker-b"),
        "10.20.30.1",
        {"edge-a": 100},
        ("edge-a", "edge-b", "worker-a", "worker-b"),
    ),
    SortCase(
        "equal non-zero scores fall through to hash",
        ("node-a", "node-b"),
        "10.20.30.1",
        {"node-a": 100, "node-b": 100},
        ("node-b", "node-a"),
    ),
    SortCase(
        "preferred group sorted by hash, unpreferred trail",
        ("edge-a", "edge-b", "worker-a"),
        "10.20.30.1",
        {"edge-a": 100, "edge-b": 100},
        ("edge-b", "edge-a", "worker-a"),
    ),
]


@pytest.mark.parametrize("case", SORT_CASES, ids=[c.desc for c in SORT_CASES])
def test_sort_l2_candidates(case: SortCase) -> None:
    ip = ipaddress.ip_address(case.ip)
    for order in (case.candidates, tuple(reversed(case.candidates))):  # input order is moot
        ranked = sorted(
            (L2Candidate(n, case.scores.get(n, 0), l2_hash(n, ip)) for n in order),
            key=L2Candidate.sort_key,
        )
        assert tuple(c.node for c in ranked) == case.want


# -- TestShouldAnnounceEPSlices ----------------------------------------------------------------

CONFIG = Config(
    pools=MappingProxyType(
        {
            "default": Pool(
                name="default",
                ranges=(
                    AddressRange(
                        ipaddress.ip_address("10.20.30.0"),
                        ipaddress.ip_address("10.20.30.255"),
                        "10.20.30.0/24",
                    ),
                ),
            )
        }
    ),
    l2_advertisements=(L2Advertisement(name="l2", pools=frozenset({"default"})),),
)

T, F = True, False


@dataclass(frozen=True)
class AnnounceCase:
    desc: str
    # address -> its Local-policy service's endpoints: (node, ready, serving)
    endpoints: dict[str, tuple[tuple[str, bool, bool | None], ...]]
    # address -> the speaker that announces it (None: neither)
    owner: dict[str, str | None]


ANNOUNCE_CASES = [
    AnnounceCase(
        "One service, two endpoints, one host, controller 1 should announce",
        {"10.20.30.1": (("iris1", T, None), ("iris1", T, None))},
        {"10.20.30.1": "iris1"},
    ),
    AnnounceCase(
        "One service, two endpoints, one host, neither endpoint is ready, "
        "no controller should announce",
        {"10.20.30.1": (("iris1", F, None), ("iris1", F, None))},
        {"10.20.30.1": None},
    ),
    AnnounceCase(
        "One service, two endpoints across two hosts, controller2 should announce",
        {"10.20.30.1": (("iris1", T, None), ("iris2", F, T))},  # iris2: not ready but serving
        {"10.20.30.1": "iris2"},
    ),
    AnnounceCase(
        "One service, two endpoints across two hosts, neither endpoint is ready, "
        "no controllers should announce",
        {"10.20.30.1": (("iris1", F, None), ("iris2", F, None))},
        {"10.20.30.1": None},
    ),
    AnnounceCase(
        "One service, two endpoints across two hosts, controller 2 is not ready, "
        "controller 1 should announce",
        {"10.20.30.1": (("iris1", T, None), ("iris2", F, None))},
        {"10.20.30.1": "iris1"},
    ),
    AnnounceCase(
        "Two services each with two endpoints across across two hosts, "
        "each controller should announce one service",
        {
            "10.20.30.1": (("iris1", T, None), ("iris2", T, None)),
            "10.20.30.2": (("iris1", T, None), ("iris2", T, None)),
        },
        {"10.20.30.1": "iris2", "10.20.30.2": "iris1"},
    ),
    AnnounceCase(
        "Two services each with two endpoints across across two hosts, one service has an "
        "endpoint not ready on controller 2, each controller should announce one service",
        {
            "10.20.30.1": (("iris1", T, None), ("iris2", T, None)),
            "10.20.30.2": (("iris1", T, None), ("iris2", F, None)),
        },
        {"10.20.30.1": "iris2", "10.20.30.2": "iris1"},
    ),
    AnnounceCase(
        "Two services each with two endpoints across across two hosts, one service has an "
        "endpoint not ready on controller 1, the other service has an endpoint not ready on "
        "controller 2. Each controller should announce for the service with the ready "
        "endpoint on that controller",
        {
            "10.20.30.1": (("iris2", T, None), ("iris1", F, None)),
            "10.20.30.2": (("iris1", T, None), ("iris2", F, None)),
        },
        {"10.20.30.1": "iris2", "10.20.30.2": "iris1"},
    ),
    AnnounceCase(
        "One service with three endpoints across across two hosts, controller 2 hosts two "
        "endpoints controller 2 should announce for the service",
        {"10.20.30.1": (("iris1", T, None), ("iris2", T, None), ("iris2", T, None))},
        {"10.20.30.1": "iris2"},
    ),
    AnnounceCase(
        "One service with three endpoints across across two hosts, controller 1 hosts two "
        "endpoints controller 2 should announce for the service",
        {"10.20.30.1": (("iris1", T, None), ("iris2", T, None), ("iris1", T, None))},
        {"10.20.30.1": "iris2"},
    ),
    AnnounceCase(
        "One service with three endpoints across across two hosts, controller 2 hosts two "
        "endpoints, one of which is not ready, controller 2 should announce for the service",
        {"10.20.30.1": (("iris1", T, None), ("iris2", T, None), ("iris2", T, None))},
        {"10.20.30.1": "iris2"},
    ),
    AnnounceCase(
        # MetalLB's desc says controller 1; its expected results say controller 2 (the hash).
        "One service with three endpoints across across two hosts, controller 1 hosts two "
        "endpoints, one of which is not ready, controller 1 should announce for the service",
        {"10.20.30.1": (("iris1", T, None), ("iris2", T, None), ("iris1", F, None))},
        {"10.20.30.1": "iris2"},
    ),
    AnnounceCase(
        "One service with three endpoints across across two hosts, controller 2 hosts two "
        "endpoints, both of which are not ready, controller 1 should announce for the service",
        {"10.20.30.1": (("iris1", T, None), ("iris2", F, None), ("iris2", F, None))},
        {"10.20.30.1": "iris1"},
    ),
]


@pytest.mark.parametrize("case", ANNOUNCE_CASES, ids=[c.desc[:90] for c in ANNOUNCE_CASES])
def test_should_announce_ep_slices(case: AnnounceCase) -> None:
    services, slices, assigned = [], [], {}
    for i, (ip, eps) in enumerate(sorted(case.endpoints.items()), 1):
        name = f"test{i}"
        services.append(service(name, local=True))
        slices.append(slice_of(name, *(endpoint(n, ready=r, serving=s) for n, r, s in eps)))
        assigned[f"default/{name}"] = Alloc((ipaddress.ip_address(ip),), "default")
    cluster = ClusterState.of(
        services=services, endpoint_slices=slices, nodes=[node("iris1"), node("iris2")]
    )
    decisions = l2_decisions(CONFIG, cluster, assigned, frozenset({"iris1", "iris2"}))
    got = {str(d.ips[0]): d.node for d in decisions.values()}
    assert got == case.owner


# -- TestL2ServiceSelectors: L2Advertisements pick services by label --------------------------

L2_SELECTOR_CASES: list[tuple[str, tuple[dict[str, str], ...], str | None]] = [
    # (desc, the ad's serviceSelectors, the node that announces; None: noMatchingAdvertisement)
    ("Empty selector matches all services", (), "iris1"),
    ("Matching selector allows announcement", ({"app": "nginx"},), "iris1"),
    ("Non-matching selector prevents announcement", ({"app": "apache"},), None),
    ("Multiple selectors - OR logic - one matches", ({"app": "apache"}, {"app": "nginx"}), "iris1"),
]


@pytest.mark.parametrize(
    ("desc", "selectors", "owner"), L2_SELECTOR_CASES, ids=[c[0] for c in L2_SELECTOR_CASES]
)
def test_l2_service_selectors(
    desc: str, selectors: tuple[dict[str, str], ...], owner: str | None
) -> None:
    from actors.model.selectors import LabelSelector

    ad = L2Advertisement(
        name="l2",
        pools=frozenset({"default"}),
        service_selectors=tuple(LabelSelector(matchLabels=s) for s in selectors),
    )
    config = Config(pools=CONFIG.pools, l2_advertisements=(ad,))
    cluster = ClusterState.of(
        services=[service("test-svc", labels={"app": "nginx"})],
        endpoint_slices=[slice_of("test-svc", endpoint("iris1"))],
        nodes=[node("iris1")],
    )
    assigned = {"default/test-svc": Alloc((ipaddress.ip_address("10.20.30.1"),), "default")}
    [decision] = l2_decisions(config, cluster, assigned, frozenset({"iris1"})).values()
    assert decision.node == owner, desc
    if owner is None:
        assert decision.reason == "noMatchingAdvertisement"


# -- preferred nodes: TestShouldAnnouncePreferredNode, ...SplitBrainWithMixedAds, ...Failover --


def _hostnames(*names: str):
    from actors.model.selectors import LabelSelector

    return LabelSelector(
        matchExpressions=(
            {"key": "kubernetes.io/hostname", "operator": "In", "values": list(names)},
        )
    )


def _ad(name: str, nodes: tuple[str, ...], prefer: dict[str, int], **kw: object) -> L2Advertisement:
    """MetalLB's resolved ad: Nodes (by hostname) and PreferredNodes (node -> score)."""
    from actors.model.config import PreferredNode

    return L2Advertisement(
        name=name,
        pools=frozenset({"default"}),
        node_selectors=(_hostnames(*nodes),),
        preferred_nodes=tuple(PreferredNode(w, _hostnames(n)) for n, w in prefer.items()),
        **kw,  # type: ignore[arg-type]
    )


def _winner(
    ads: tuple[L2Advertisement, ...],
    nodes: tuple[str, ...],
    alive: tuple[str, ...],
    endpoint_on: str = "worker-a",
    local: bool = False,
) -> str | None:
    config = Config(pools=CONFIG.pools, l2_advertisements=ads)
    cluster = ClusterState.of(
        services=[service("svc1", local=local)],
        endpoint_slices=[slice_of("svc1", endpoint(endpoint_on))],
        nodes=[node(n, {"kubernetes.io/hostname": n}) for n in nodes],
    )
    assigned = {"default/svc1": Alloc((ipaddress.ip_address("10.20.30.1"),), "default")}
    [decision] = l2_decisions(config, cluster, assigned, frozenset(alive)).values()
    return decision.node


EDGES = ("edge-a", "edge-b", "worker-a", "worker-b")


def test_preferred_node_with_highest_score_wins() -> None:
    assert _winner((_ad("ad", EDGES, {"edge-a": 100}),), EDGES, EDGES) == "edge-a"


def test_etp_local_drops_preferred_node_without_local_endpoints() -> None:
    both = ("preferred-a", "worker-a")
    ads = (_ad("ad", both, {"preferred-a": 100}),)
    assert _winner(ads, both, both, local=True) == "worker-a"


def test_split_brain_with_mixed_ads() -> None:
    """Every node scores from the same ads (the service's, not those selecting itself), so
    the two agree on one winner; an ad whose serviceSelectors miss the service scores
    nothing (else worker-a's 1000 would win)."""
    from actors.model.selectors import LabelSelector

    both = ("edge-a", "worker-a")
    ads = (
        _ad("edge", ("edge-a",), {"edge-a": 100}),
        _ad("all", both, {}),
        _ad(
            "poison",
            both,
            {"worker-a": 1000},
            service_selectors=(LabelSelector(matchLabels={"app": "does-not-match"}),),
        ),
    )
    assert _winner(ads, both, both) == "edge-a"


@pytest.mark.parametrize(
    ("desc", "nodes", "alive", "winner"),
    [
        (
            "preferred node pruned leaves remaining preferred as winner",
            ("edge-a", "edge-b", "worker-a"),
            ("edge-b", "worker-a"),
            "edge-b",
        ),
        (
            "preferred node returns and reclaims via sha256 tie-break",
            ("edge-a", "edge-b", "worker-a"),
            ("edge-a", "edge-b", "worker-a"),
            "edge-b",
        ),
        (
            "all preferred unavailable falls through to hash across zero-score survivors",
            EDGES,
            ("worker-a", "worker-b"),
            "worker-a",
        ),
    ],
)
def test_preferred_node_failover(
    desc: str, nodes: tuple[str, ...], alive: tuple[str, ...], winner: str
) -> None:
    ads = (_ad("ad", nodes, {"edge-a": 100, "edge-b": 100}),)
    assert _winner(ads, nodes, alive) == winner, desc


# -- TestL2AdsForService, TestL2ElectionConsistentButAdsPerNode, TestL2NoMatchingAdForServiceAndNode


def _svc_ad(name: str, nodes: tuple[str, ...], app: str | None = None, **kw: object):
    from actors.model.selectors import LabelSelector

    selectors = (LabelSelector(matchLabels={"app": app}),) if app else ()
    return _ad(name, nodes, {}, service_selectors=selectors, **kw)


def _decide(
    ads: tuple[L2Advertisement, ...],
    nodes: tuple[str, ...],
    alive: tuple[str, ...],
    app: str = "web",
):
    config = Config(pools=CONFIG.pools, l2_advertisements=ads)
    cluster = ClusterState.of(
        services=[service("svc-web", labels={"app": app})],
        endpoint_slices=[slice_of("svc-web", *(endpoint(n) for n in nodes))],
        nodes=[node(n, {"kubernetes.io/hostname": n}) for n in nodes],
    )
    assigned = {"default/svc-web": Alloc((ipaddress.ip_address("10.20.30.1"),), "default")}
    [decision] = l2_decisions(config, cluster, assigned, frozenset(alive)).values()
    return decision


AD1 = ("ad1", ("nodeA",), None)
AD2 = ("ad2", ("nodeA",), "nginx")
AD3 = ("ad3", ("nodeA",), "apache")
AD4 = ("ad4", ("nodeB",), None)


@pytest.mark.parametrize(
    ("desc", "ads", "expected"),
    [
        ("Empty selectors match all", (AD1,), ("ad1",)),
        ("Matching selector", (AD2,), ("ad2",)),
        ("Non-matching selector", (AD3,), ()),
        (
            "Ad with no matching selector is still returned (node filtering is separate)",
            (AD4,),
            ("ad4",),
        ),
        ("Multiple ads - some match by service selector", (AD3, AD2, AD1), ("ad2", "ad1")),
    ],
)
def test_l2_ads_for_service(desc: str, ads: tuple, expected: tuple[str, ...]) -> None:
    decision = _decide(
        tuple(_svc_ad(n, nodes, app) for n, nodes, app in ads),
        ("nodeA", "nodeB"),
        ("nodeA", "nodeB"),
        app="nginx",
    )
    assert set(decision.advertisements) == set(expected), desc


def test_l2_election_consistent_but_ads_per_node() -> None:
    """One election for both nodes; the winner answers on its own ad's interface only."""
    ads = (
        _svc_ad("ad1", ("iris1",), "web", interfaces=("eth0",)),
        _svc_ad("ad2", ("iris2",), "web", interfaces=("eth1",)),
    )
    both = ("iris1", "iris2")
    decision = _decide(ads, both, both)
    assert decision.node in both  # one owner, the same answer whichever node asks
    own = {"iris1": ("eth0",), "iris2": ("eth1",)}
    assert decision.interfaces == own[decision.node]
    other = next(n for n in both if n != decision.node)  # the winner gone: the other, its own
    fallback = _decide(ads, both, (other,))
    assert (fallback.node, fallback.interfaces) == (other, own[other])


def test_l2_no_matching_ad_for_service_and_node() -> None:
    ads = (
        _svc_ad("other", ("iris1", "iris2"), "other"),  # every node, another service
        _svc_ad("ghost", ("ghost",), "web"),  # our service, a node that does not exist
    )
    both = ("iris1", "iris2")
    assert _decide(ads, both, both).node is None
