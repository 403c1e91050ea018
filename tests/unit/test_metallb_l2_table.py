"""MetalLB's own layer 2 cases, restated: every test of speaker/layer2_controller_test.go, the
layer 2 package's (internal/layer2/arp_test.go, announcer_test.go), the preferred-node scores
of internal/config/preferred_node_test.go and the speaker's TestLoadBalancerCreation
(speaker/speaker_test.go). Each row names the Go test and case; the inputs are MetalLB's, the
expected results are MetalLB's, written in lbtui's terms (MetalLB asks each speaker "do you
announce?"; lbtui elects once for the cluster, so a speaker's answer is read off that election
with :func:`node_answer`).

Cases, by Go test (84 in all; 37 of them ported before):

- speaker/layer2_controller_test.go: ``TestUsableNodesEPSlices`` 6,
  ``TestUsableNodesEPSlicesWithSpeakerlistDisabled`` 1, ``TestShouldAnnounceEPSlices`` 13,
  ``TestShouldAnnounceFromNodes`` 9, ``TestClusterPolicy`` 1 (255 addresses),
  ``TestL2ServiceSelectors`` 4, ``TestL2SharedIPWithServiceSelectors`` 5,
  ``TestL2AdsForService`` 5, ``TestL2ElectionConsistentButAdsPerNode`` 1,
  ``TestL2NoMatchingAdForServiceAndNode`` 1, ``TestL2ServiceSelectorFiltersCandidateNodes`` 2,
  ``TestIPAdvertisementFor`` 4, ``TestSortL2Candidates`` 7, ``TestPreferredScoresFor`` 3,
  ``TestShouldAnnouncePreferredNode`` 2, ``TestShouldAnnounceSplitBrainWithMixedAds`` 1,
  ``TestShouldAnnouncePreferredNodeFailover`` 3;
- internal/config/preferred_node_test.go: ``TestPreferredNodeScores`` 8 (from the YAML a user
  writes, the invalid operator refused at validation);
- internal/layer2/arp_test.go: ``TestARPResponder`` 6 (frames built with scapy);
  internal/layer2/announcer_test.go: ``Test_SetBalancer_AddsToAnnouncedServices`` 1;
- speaker/speaker_test.go: ``TestLoadBalancerCreation`` 1 (three steps).

Where a case's description and its expected results disagree, the results are kept and a
comment says so. Every case agrees with MetalLB but one input: ``TestARPResponder`` asks from
01:02:03:04:05:06, a group MAC, which lbtui ignores (the README's differences table); the rows
ask from a unicast MAC, and MetalLB's own MAC has a test of its own. Not ported: nothing of
these files; the parts of the Go tests that only check MetalLB's plumbing (its fake speaker
list, its channel to the announce loop) have no counterpart and are not cases.

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


def _pools(*cidrs: str):
    """Pool "default" over ``cidrs``, as the configuration resolves it."""
    from tests.unit.test_allocator import config, pool

    return config(pool("default", *cidrs)).pools


# -- TestUsableNodesEPSlices, TestUsableNodesEPSlicesWithSpeakerlistDisabled --------------------
# MetalLB's nodesWithEndpoint: the usable speakers' nodes hosting an active endpoint. lbtui's
# word for them is the candidates a Local-policy service keeps (decision.ranked).

USABLE_CASES: list[tuple[str, tuple[tuple[tuple[str, bool, bool | None], ...], ...], set[str]]] = [
    # (desc, the slices' endpoints (node, ready, serving), the nodes with an endpoint)
    (
        "Two endpoints, different hosts, multi slice",
        ((("iris1", T, None),), (("iris2", T, None),)),
        {"iris1", "iris2"},
    ),
    (
        "Two endpoints, different hosts",
        ((("iris1", T, None), ("iris2", T, None)),),
        {"iris1", "iris2"},
    ),
    ("Two endpoints, same host", ((("iris1", T, None), ("iris1", T, None)),), {"iris1"}),
    (
        "Two endpoints, same host, one is not ready",
        ((("iris1", T, None), ("iris1", F, None)),),
        {"iris1"},
    ),
    (
        "Two endpoints, different hosts, not ready but serving",
        ((("iris1", F, T), ("iris2", F, T)),),
        {"iris1", "iris2"},
    ),
    (
        "Two endpoints, different hosts, ready but not serving",
        ((("iris1", T, F), ("iris2", T, F)),),
        {"iris1", "iris2"},
    ),
]


def _local_decision(slices, alive: frozenset[str] | None):
    from actors.model.cluster import EndpointSlice, ObjectMeta

    base = slice_of("test1")
    cluster = ClusterState.of(
        services=[service("test1", local=True)],
        endpoint_slices=[
            EndpointSlice(
                metadata=ObjectMeta(
                    name=f"test1-{i}", namespace="default", labels=dict(base.metadata.labels)
                ),
                endpoints=tuple(endpoint(n, ready=r, serving=s) for n, r, s in eps),
            )
            for i, eps in enumerate(slices)
        ],
        nodes=[node("iris1"), node("iris2")],
    )
    assigned = {"default/test1": Alloc((ipaddress.ip_address("10.20.30.1"),), "default")}
    return l2_decisions(CONFIG, cluster, assigned, alive)["default/test1"]


@pytest.mark.parametrize(
    ("desc", "slices", "nodes"), USABLE_CASES, ids=[c[0] for c in USABLE_CASES]
)
def test_usable_nodes_ep_slices(desc: str, slices: tuple, nodes: set[str]) -> None:
    decision = _local_decision(slices, frozenset({"iris1", "iris2"}))
    assert {c.node for c in decision.ranked} == nodes, desc
    assert {r.node for r in decision.rejected} == {"iris1", "iris2"} - nodes


def test_usable_nodes_ep_slices_with_speakerlist_disabled() -> None:
    """Without membership (MetalLB: speaker list disabled; lbtui: ``alive`` None) every node
    counts as usable: the node hosting both endpoints announces."""
    decision = _local_decision(((("iris1", T, None), ("iris1", T, None)),), None)
    assert decision.node == "iris1"


# -- TestShouldAnnounceFromNodes: ads on some nodes, exclusion labels, --ignore-exclude-lb -----
# Each speaker's answer, as MetalLB's ShouldAnnounce gives it for that node: "" (it announces),
# "noMatchingAdvertisement" (no ad selects it) or "notOwner" (another node, or nobody).


def node_answer(decision, name: str) -> str:
    """What MetalLB's speaker on ``name`` would answer, read from lbtui's one election."""
    from actors.election.candidates import NOT_SELECTED

    if decision.node == name:
        return ""
    if decision.reason in ("noMatchingAdvertisement", "sharedIPWithServiceSelector"):
        return decision.reason
    if any(r.node == name and r.reason == NOT_SELECTED for r in decision.rejected):
        return "noMatchingAdvertisement"
    return "notOwner"


BOTH = (("both", ("iris1", "iris2")),)
ON_IRIS1 = (("on1", ("iris1",)),)
ON_IRIS2 = (("on2", ("iris2",)),)
SPLIT = (("on1", ("iris1",)), ("on2", ("iris2",)))

FROM_NODES_CASES = [
    # (desc, ads (name, nodes), endpoints on, Local?, excluded nodes, ignore exclude?, answers)
    (
        "One service, endpoint on iris1, selector on iris1, c1 should announce",
        ON_IRIS1,
        ("iris1",),
        F,
        (),
        F,
        ("", "noMatchingAdvertisement"),
    ),
    # MetalLB's desc says c2; its expected answers say c1 (the only node with a local endpoint).
    (
        "One service, etp local, endpoint on iris1, selector on both(split), c2 should announce",
        SPLIT,
        ("iris1",),
        T,
        (),
        F,
        ("", "notOwner"),
    ),
    (
        "One service, endpoint on iris1, selector on both, c2 should announce",
        BOTH,
        ("iris1",),
        F,
        (),
        F,
        ("notOwner", ""),
    ),
    (
        "One service, endpoint on both nodes, advertisement on iris1, c1 should announce",
        ON_IRIS1,
        ("iris1", "iris2"),
        F,
        (),
        F,
        ("", "noMatchingAdvertisement"),
    ),
    (
        "One service, ltp endpoint on iris1, advertisement on iris2, no one should announce",
        ON_IRIS2,
        ("iris1",),
        T,
        (),
        F,
        ("noMatchingAdvertisement", "notOwner"),
    ),
    (
        "One service, endpoint on iris1, no selector, iris2 excluded, c1 should announce",
        BOTH,
        ("iris1",),
        F,
        ("iris2",),
        F,
        ("", "notOwner"),
    ),
    (
        "One service, endpoint on iris1, no selector, iris1 excluded, c2 should announce",
        BOTH,
        ("iris1",),
        F,
        ("iris1",),
        F,
        ("notOwner", ""),
    ),
    (
        "One service, endpoint on iris1, no selector, both excluded, both should not announce",
        BOTH,
        ("iris1",),
        F,
        ("iris1", "iris2"),
        F,
        ("notOwner", "notOwner"),
    ),
    (
        "One service, endpoint on iris1, no selector, etplocal, both excluded, ignore excludelb, "
        "c1 should announce",
        BOTH,
        ("iris1",),
        T,
        ("iris1", "iris2"),
        T,
        ("", "notOwner"),
    ),
]


@pytest.mark.parametrize(
    ("desc", "ads", "on", "local", "excluded", "ignore", "answers"),
    FROM_NODES_CASES,
    ids=[c[0][:90] for c in FROM_NODES_CASES],
)
def test_should_announce_from_nodes(
    desc: str,
    ads: tuple,
    on: tuple[str, ...],
    local: bool,
    excluded: tuple[str, ...],
    ignore: bool,
    answers: tuple[str, str],
) -> None:
    from actors.model.cluster import EXCLUDE_LB_LABEL

    both = ("iris1", "iris2")
    config = Config(pools=CONFIG.pools, l2_advertisements=tuple(_ad(n, ns, {}) for n, ns in ads))
    labels = {n: {"kubernetes.io/hostname": n} for n in both}
    for n in excluded:
        labels[n][EXCLUDE_LB_LABEL] = ""
    cluster = ClusterState.of(
        services=[service("test1", local=local)],
        endpoint_slices=[slice_of("test1", *(endpoint(n) for n in on))],
        nodes=[node(n, labels[n]) for n in both],
    )
    assigned = {"default/test1": Alloc((ipaddress.ip_address("10.20.30.1"),), "default")}
    [decision] = l2_decisions(
        config, cluster, assigned, frozenset(both), ignore_exclude_lb=ignore
    ).values()
    assert tuple(node_answer(decision, n) for n in both) == answers, desc


# -- TestClusterPolicy: with Cluster policy the endpoint's node does not matter ------------------


def test_cluster_policy() -> None:
    """For every address of the /24, two Cluster-policy services holding it (one with its
    endpoint on iris1, one on iris2) are announced by the same one node, and over the range
    both nodes get some."""
    both = ("iris1", "iris2")
    config = Config(pools=CONFIG.pools, l2_advertisements=(_ad("both", both, {}),))
    cluster = ClusterState.of(
        services=[service("svc1"), service("svc2")],
        endpoint_slices=[slice_of("svc1", endpoint("iris1")), slice_of("svc2", endpoint("iris2"))],
        nodes=[node(n, {"kubernetes.io/hostname": n}) for n in both],
    )
    winners = set()
    for last in range(1, 256):
        ip = ipaddress.ip_address(f"10.20.30.{last}")
        assigned = {f"default/{s}": Alloc((ip,), "default") for s in ("svc1", "svc2")}
        decisions = l2_decisions(config, cluster, assigned, frozenset(both))
        owners = {d.node for d in decisions.values()}
        assert len(owners) == 1 and None not in owners, (str(ip), owners)
        winners |= owners
    assert winners == set(both)


# -- TestL2SharedIPWithServiceSelectors: allow-shared-ip and ads with serviceSelectors ----------

NGINX = {"app": "nginx"}
SHARED_CASES = [
    # (desc, the ads' serviceSelectors (None: the ad has none), the service's annotations,
    #  iris1's answer)
    (
        "allow-shared-ip with serviceSelectors is denied",
        (NGINX,),
        {"metallb.io/allow-shared-ip": "shared"},
        "sharedIPWithServiceSelector",
    ),
    (
        "allow-shared-ip without serviceSelectors is allowed",
        (None,),
        {"metallb.io/allow-shared-ip": "shared"},
        "",
    ),
    ("no allow-shared-ip with serviceSelectors is allowed", (NGINX,), {}, ""),
    (
        "deprecated allow-shared-ip with serviceSelectors is denied",
        (NGINX,),
        {"metallb.universe.tf/allow-shared-ip": "shared"},
        "sharedIPWithServiceSelector",
    ),
    (
        "allow-shared-ip with mixed ads (one with selectors) is denied",
        (None, NGINX),
        {"metallb.io/allow-shared-ip": "shared"},
        "sharedIPWithServiceSelector",
    ),
]


@pytest.mark.parametrize(
    ("desc", "selectors", "annotations", "answer"), SHARED_CASES, ids=[c[0] for c in SHARED_CASES]
)
def test_l2_shared_ip_with_service_selectors(
    desc: str, selectors: tuple, annotations: dict[str, str], answer: str
) -> None:
    from actors.model.selectors import LabelSelector

    ads = tuple(
        _ad(
            f"ad{i}",
            ("iris1",),
            {},
            service_selectors=(LabelSelector(matchLabels=s),) if s else (),
        )
        for i, s in enumerate(selectors)
    )
    cluster = ClusterState.of(
        services=[service("test-svc", labels=NGINX, annotations=annotations)],
        endpoint_slices=[slice_of("test-svc", endpoint("iris1"))],
        nodes=[node("iris1", {"kubernetes.io/hostname": "iris1"})],
    )
    assigned = {"default/test-svc": Alloc((ipaddress.ip_address("10.20.30.1"),), "default")}
    config = Config(pools=CONFIG.pools, l2_advertisements=ads)
    [decision] = l2_decisions(config, cluster, assigned, frozenset({"iris1"})).values()
    assert node_answer(decision, "iris1") == answer, desc


# -- TestL2ServiceSelectorFiltersCandidateNodes -------------------------------------------------


@pytest.mark.parametrize(
    ("desc", "app", "answers"),
    [
        (
            "svc-foo matches only iris1's adv, iris1 must announce",
            "foo",
            ("", "noMatchingAdvertisement"),
        ),
        (
            "svc-bar matches only iris2's adv, iris2 must announce",
            "bar",
            ("noMatchingAdvertisement", ""),
        ),
    ],
)
def test_l2_service_selector_filters_candidate_nodes(
    desc: str, app: str, answers: tuple[str, str]
) -> None:
    """Only nodes whose own ad matches the service run in its election: a node that would win
    the hash but whose ad does not match must not leave the address unannounced."""
    ads = (_svc_ad("on1", ("iris1",), "foo"), _svc_ad("on2", ("iris2",), "bar"))
    both = ("iris1", "iris2")
    decision = _decide(ads, both, both, app=app)
    assert tuple(node_answer(decision, n) for n in both) == answers, desc


# -- TestIPAdvertisementFor: the interfaces the owner answers on --------------------------------

IFACE_CASES = [
    # (desc, address, each ad's interfaces (empty: all), the owner's interfaces (empty: all))
    ("AllInterfaces set", "10.20.30.3", ((),), ()),
    # MetalLB's address here ("2000:12") is not one Go can parse; any IPv6 address will do.
    (
        "Single L2Advertisement with interfaces",
        "2001:db8::12",
        (("eth1", "eth2"),),
        ("eth1", "eth2"),
    ),
    (
        "Multiple L2Advertisements - interfaces merged",
        "10.20.30.3",
        (("eth0", "eth1"), ("eth0", "eth2")),
        ("eth0", "eth1", "eth2"),
    ),
    ("Multiple L2Advertisements - one has AllInterfaces", "10.20.30.3", (("eth0", "eth1"), ()), ()),
]


@pytest.mark.parametrize(
    ("desc", "ip", "interfaces", "want"), IFACE_CASES, ids=[c[0] for c in IFACE_CASES]
)
def test_ip_advertisement_for(
    desc: str, ip: str, interfaces: tuple[tuple[str, ...], ...], want: tuple[str, ...]
) -> None:
    pools = _pools("10.20.30.0/24", "2001:db8::/120")
    ads = tuple(_ad(f"ad{i}", ("iris1",), {}, interfaces=ifs) for i, ifs in enumerate(interfaces))
    cluster = ClusterState.of(
        services=[service("svc")],
        endpoint_slices=[slice_of("svc", endpoint("iris1"))],
        nodes=[node("iris1", {"kubernetes.io/hostname": "iris1"})],
    )
    assigned = {"default/svc": Alloc((ipaddress.ip_address(ip),), "default")}
    config = Config(pools=pools, l2_advertisements=ads)
    [decision] = l2_decisions(config, cluster, assigned, frozenset({"iris1"})).values()
    assert (decision.node, decision.interfaces) == ("iris1", want), desc


# -- TestPreferredScoresFor: the ads' preferences summed per node --------------------------------


@pytest.mark.parametrize(
    ("desc", "ads", "want"),
    [
        ("nil ads", (), None),
        ("ads without preferences", (((("a",), {}),)), {"a": 0}),
        (
            "preferences across ads sum",
            ((("a", "b"), {"a": 70}), (("a", "b"), {"a": 30, "b": 50})),
            {"a": 100, "b": 50},
        ),
    ],
)
def test_preferred_scores_for(desc: str, ads: tuple, want: dict[str, int] | None) -> None:
    """Read off the election's ranking (a score of 0 is MetalLB's absent score); with no ad
    there is no election (noMatchingAdvertisement)."""
    nodes = ("a", "b")
    config = Config(
        pools=CONFIG.pools,
        l2_advertisements=tuple(_ad(f"ad{i}", ns, p) for i, (ns, p) in enumerate(ads)),
    )
    cluster = ClusterState.of(
        services=[service("svc")],
        endpoint_slices=[slice_of("svc", endpoint("a"))],
        nodes=[node(n, {"kubernetes.io/hostname": n}) for n in nodes],
    )
    assigned = {"default/svc": Alloc((ipaddress.ip_address("10.20.30.1"),), "default")}
    [decision] = l2_decisions(config, cluster, assigned, frozenset(nodes)).values()
    if want is None:
        assert decision.reason == "noMatchingAdvertisement", desc
    else:
        assert {c.node: c.score for c in decision.ranked} == want, desc


# -- TestPreferredNodeScores (internal/config/preferred_node_test.go) ---------------------------
# The scores preferredNodeSelectors give the nodes an ad selects, here from the YAML a user
# writes (one L2Advertisement selecting the eligible nodes by hostname) to the election's ranking.

SCORE_NODES = {
    "edge-a": {"role": "edge", "zone": "primary"},
    "edge-b": {"role": "edge", "zone": "secondary"},
    "worker-a": {"role": "worker", "zone": "primary"},
    "worker-b": {"role": "worker"},
}
ALL4 = ("edge-a", "edge-b", "worker-a", "worker-b")


def _pref(weight: int, labels: dict[str, str] | None = None, **extra: object) -> dict:
    preference: dict[str, object] = {"matchLabels": labels} if labels else {}
    return {"weight": weight, "preference": {**preference, **extra}}


PREFERRED_SCORE_CASES = [
    # (desc, nodes (None: SCORE_NODES), eligible, preferredNodeSelectors, scores (None: refused))
    ("no preferences returns nil", None, ("edge-a", "worker-a"), [], {}),
    ("single selector scores matching eligible nodes", None, ALL4,
     [_pref(100, {"role": "edge"})], {"edge-a": 100, "edge-b": 100}),
    ("cumulative weights sum", None, ALL4,
     [_pref(60, {"zone": "primary"}), _pref(50, {"role": "edge"})],
     {"edge-a": 110, "edge-b": 50, "worker-a": 60}),
    ("preferences do not score ineligible nodes", None, ("edge-a", "edge-b"),
     [_pref(100, {"zone": "primary"})], {"edge-a": 100}),
    ("empty preference matches every eligible node", None, ("edge-a", "worker-b"),
     [_pref(10)], {"edge-a": 10, "worker-b": 10}),
    ("no matches returns nil", None, ("edge-a", "edge-b"), [_pref(50, {"role": "gpu"})], {}),
    ("selectors with distinct weights apply independently",
     {"edge-a": {"role": "edge"}, "worker-a": {"role": "worker"}}, ("edge-a", "worker-a"),
     [_pref(40, {"role": "edge"}), _pref(70, {"role": "worker"})], {"edge-a": 40, "worker-a": 70}),
    ("invalid label selector operator", {"n": {"a": "b"}}, ("n",),
     [_pref(10, matchExpressions=[{"key": "x", "operator": "BadOperator"}])], None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("desc", "nodes", "eligible", "preferred", "scores"),
    PREFERRED_SCORE_CASES,
    ids=[c[0] for c in PREFERRED_SCORE_CASES],
)
def test_preferred_node_scores(
    desc: str,
    nodes: dict[str, dict[str, str]] | None,
    eligible: tuple[str, ...],
    preferred: list[dict],
    scores: dict[str, int] | None,
) -> None:
    from tests.unit.test_config_validation import build, l2_ad, pool

    nodes = nodes or SCORE_NODES
    spec: dict[str, object] = {
        "ipAddressPools": ["default"],
        "nodeSelectors": [
            {
                "matchExpressions": [
                    {"key": "kubernetes.io/hostname", "operator": "In", "values": list(eligible)}
                ]
            }
        ],
    }
    if preferred:
        spec["preferredNodeSelectors"] = preferred
    result = build(pool("default", "10.20.30.0/24"), l2_ad("ad", **spec))
    if scores is None:
        assert result.config is None, desc
        assert any("preferredNodeSelectors" in str(i) for i in result.errors), [
            str(i) for i in result.errors
        ]
        return
    assert result.errors == [], [str(i) for i in result.errors]
    assert result.config is not None
    cluster = ClusterState.of(
        services=[service("svc")],
        endpoint_slices=[slice_of("svc", endpoint(eligible[0]))],
        nodes=[node(n, {**labels, "kubernetes.io/hostname": n}) for n, labels in nodes.items()],
    )
    assigned = {"default/svc": Alloc((ipaddress.ip_address("10.20.30.1"),), "default")}
    [decision] = l2_decisions(result.config, cluster, assigned, frozenset(nodes)).values()
    assert {c.node for c in decision.ranked} == set(eligible), desc
    assert {c.node: c.score for c in decision.ranked if c.score} == scores, desc


# -- TestARPResponder (internal/layer2/arp_test.go): which ARP frames are answered -------------
# Frames built with scapy (the tests' oracle); MetalLB's asker is 192.168.1.1, its default
# target 192.168.1.10, its announced addresses all (None) or 192.168.1.20 only.

OUR_MAC = "02:99:00:00:00:01"
ASKER_MAC = "02:01:02:03:04:05"  # MetalLB's is 01:02:03:04:05:06, a group MAC: see the last row

ARP_CASES = [
    # (desc, Ethernet destination (None: ours), target, op, announced (None: all), dropped why)
    ("ARP reply", None, "192.168.1.10", 2, None, "malformed"),
    ("bad Ethernet destination", "06:05:04:03:02:01", "192.168.1.10", 1, None, "not for us"),
    ("OK (unicast)", None, "192.168.1.10", 1, None, None),
    ("OK (broadcast)", "ff:ff:ff:ff:ff:ff", "192.168.1.10", 1, None, None),
    ("shouldAnnounce denies request", None, "192.168.1.10", 1, ("192.168.1.20",), "not announced"),
    ("shouldAnnounce allows request", None, "192.168.1.20", 1, ("192.168.1.20",), None),
]  # fmt: skip


def _arp_frame(dst: str, target: str, op: int, src: str = ASKER_MAC) -> bytes:
    from scapy.layers.l2 import ARP, Ether

    return bytes(
        Ether(dst=dst, src=src) / ARP(op=op, hwsrc=src, psrc="192.168.1.1", hwdst=dst, pdst=target)
    )


def _arp_answer(frame: bytes, announced: tuple[str, ...]) -> tuple[bytes | None, str]:
    from actors.l2.arp import ArpReplier
    from actors.l2.responder import InterfaceDuty, answer_arp

    mac = bytes.fromhex(OUR_MAC.replace(":", ""))
    ipv4 = {ipaddress.IPv4Address(a).packed: a for a in announced}
    return answer_arp(frame, InterfaceDuty("eth0", 2, mac, ipv4=ipv4), ArpReplier(mac))


@pytest.mark.parametrize(
    ("desc", "dst", "target", "op", "announced", "dropped"),
    ARP_CASES,
    ids=[c[0] for c in ARP_CASES],
)
def test_arp_responder(
    desc: str, dst: str | None, target: str, op: int, announced: tuple | None, dropped: str | None
) -> None:
    from scapy.layers.l2 import ARP, Ether

    frame = _arp_frame(dst or OUR_MAC, target, op)
    reply, why = _arp_answer(frame, announced or ("192.168.1.10", "192.168.1.20"))
    if dropped is not None:
        assert (reply, why) == (None, dropped), desc
        return
    assert reply is not None and why == target, (desc, why)
    assert Ether(reply)[ARP].answers(Ether(frame)[ARP])  # scapy: it answers the request


def test_arp_responder_metallbs_own_group_sender_mac_is_ignored() -> None:
    """MetalLB's test asks from 01:02:03:04:05:06, whose group bit is set; MetalLB answers,
    lbtui ignores it (a group MAC is never a real host: the README's differences table)."""
    frame = _arp_frame(OUR_MAC, "192.168.1.10", 1, src="01:02:03:04:05:06")
    assert _arp_answer(frame, ("192.168.1.10",)) == (None, "multicast sender")


# -- Test_SetBalancer_AddsToAnnouncedServices (internal/layer2/announcer_test.go) ---------------
# MetalLB keeps announced addresses per service with a reference count per address; in lbtui the
# speaker's desired announcements hold one duty per address naming every service behind it.


def _desired(allocations: dict[str, tuple[str, ...]], config: Config | None = None):
    from actors.election.desired import desired_announcements
    from actors.model.allocation import Allocation

    shared = {"metallb.io/allow-shared-ip": "k"}
    cluster = ClusterState.of(
        services=[service(s, annotations=shared) for s in ("foo", "bar")],
        endpoint_slices=[slice_of(s, endpoint("iris1")) for s in ("foo", "bar")],
        nodes=[node("iris1", {"kubernetes.io/hostname": "iris1"})],
    )
    held = {
        f"default/{s}": Allocation(
            f"default/{s}", tuple(ipaddress.ip_address(i) for i in ips), "default"
        )
        for s, ips in allocations.items()
    }
    pools = _pools("192.168.1.0/24", "1000::/120")
    config = config or Config(pools=pools, l2_advertisements=(_ad("l2", ("iris1",), {}),))
    return desired_announcements("iris1", config, cluster, held, frozenset({"iris1"}))


def test_set_balancer_adds_to_announced_services() -> None:
    both = _desired({"foo": ("192.168.1.20", "1000::1"), "bar": ("192.168.1.20",)})
    assert {ip: duty.services for ip, duty in both.l2.items()} == {
        "192.168.1.20": ("default/bar", "default/foo"),  # MetalLB: refcount 2
        "1000::1": ("default/foo",),
    }
    # One of the two services gone, the shared address is still announced (refcount 1).
    one = _desired({"foo": ("192.168.1.20", "1000::1")})
    assert {ip: duty.services for ip, duty in one.l2.items()} == {
        "192.168.1.20": ("default/foo",),
        "1000::1": ("default/foo",),
    }
    assert _desired({}).l2 == {}


# -- TestLoadBalancerCreation (speaker/speaker_test.go): both protocols, then one, then none -----


def test_load_balancer_creation() -> None:
    """A service is announced by layer 2 and BGP while an ad of each selects its pool; the
    L2Advertisement gone, BGP alone; both gone, nothing (and the service is forgotten)."""
    from actors.election.desired import announced_services
    from tests.unit.test_config_validation import bgp_ad, build, l2_ad, pool

    peer = {
        "apiVersion": "metallb.io/v1beta2",
        "kind": "BGPPeer",
        "metadata": {"name": "peer", "namespace": "metallb-system"},
        "spec": {"myASN": 64500, "peerASN": 64501, "peerAddress": "10.0.0.1"},
    }
    docs = {
        "pool": pool("default", "10.20.30.0/24"),
        "peer": peer,
        "l2": l2_ad("l2", ipAddressPools=["default"]),
        "bgp": bgp_ad("bgp", ipAddressPools=["default"]),
    }
    steps = [
        (("pool", "peer", "l2", "bgp"), {("default/foo", "bgp"), ("default/foo", "layer2")}),
        (("pool", "peer", "bgp"), {("default/foo", "bgp")}),
        (("pool", "peer"), set()),
    ]
    for kept, protocols in steps:
        result = build(*(docs[k] for k in kept))
        assert result.errors == [] and result.config is not None, [str(i) for i in result.errors]
        desired = _desired({"foo": ("10.20.30.1",)}, result.config)
        announced = {(a.service, a.protocol) for a in announced_services(desired)}
        assert announced == protocols, kept
        assert all(ip == "10.20.30.1" for a in announced_services(desired) for ip in a.ips)
