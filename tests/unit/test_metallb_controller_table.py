"""MetalLB's own controller cases, restated: the five tests of controller/controller_test.go.

MetalLB's test hands its controller one Service at a time (pools fixed: its twelve, restated
below) and checks two things a user sees: the status the controller writes (or that it writes
nothing) and whether it posts a Warning Event. lbtui's controller is the same path, pure: the
allocator converges the cluster holding that one Service (``Allocator.converge_all``), the
status writer's patch (``service_status_patch``) says what it writes, and
``allocation_service_events`` says which Events it posts. The Service's status in a case is
what the controller had written before (MetalLB's ``in.Status``).

MetalLB then runs the whole table a hundred times, shuffled, through one controller: "every
input should be equivalent to a pure function ... regardless of past controller state", the
Service's status being the only truth. lbtui's controller keeps what it holds when a status
says otherwise (README), so that rerun is not restated; each row runs on a fresh controller,
and :func:`test_a_status_that_lost_the_held_address_gets_that_address_back` shows the
difference.

Cases: 46, every one of TestControllerMutation (and one more beside a difference). They agree
with MetalLB except where the README's differences table says why:

- "No ClusterIP": MetalLB gives a Service without clusterIPs nothing; lbtui takes its family
  from ``ipFamilies``, else IPv4 (hand-written ``--cluster`` files for ``plan``).
- "former LoadBalancer, now NodePort": MetalLB clears any address of a Service that stopped
  being a LoadBalancer; lbtui clears the ones it wrote (its pool annotation says so), as the
  row beside it shows: the Service's loadBalancerClass went with its type, so an address
  without the annotation may be another load balancer's.
- MetalLB's pool5 overlaps pool1 and pool3 (its own validation refuses that; lbtui's
  allocator ignores the later range): the seven rows that turn on pool5 run without pool1
  and pool3, where MetalLB's answers hold word for word.

Two rows found lbtui wrong and it was fixed: "request specific loadbalancer IP with
dual-stack" and its annotation twin (two clusterIPs are dual-stack whatever the
ipFamilyPolicy, as MetalLB reads them; lbtui took one family without a dual-stack policy).

The controller's life, step by step: TestControllerConfig (no configuration, then one without
pools, then a pool, then none again), TestControllerDualStackConfig, TestDeleteRecyclesIP and
TestControllerReassign, through :class:`Controller` (lbtui's allocator actor, by hand); they
agree with MetalLB since a configuration without pools stopped posting a Warning (MetalLB
posts none: a found difference, fixed). Not ported: TestControllerConfig's last step (a nil
configuration refused), which is MetalLB's configuration loader's; lbtui keeps the last good
configuration (tests/actors/test_actors_unthreaded.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from actors.allocator.converge import Allocator
from actors.kube.service_events import allocation_service_events
from actors.kube.service_status import service_status_patch
from actors.model.allocation import Allocation
from actors.model.cluster import ClusterState, Service, ServiceStatus
from actors.model.config import ServiceAllocation
from actors.model.selectors import LabelSelector
from tests.unit.test_allocator import config, pool

TEAM = (LabelSelector(matchLabels={"team": "metallb"}),)
NS1 = frozenset({"test-ns1"})

#: TestControllerMutation's pools.
POOLS = config(
    pool("pool1", "1.2.3.0/31"),
    pool("pool2", "3.4.5.6/32", auto_assign=False),
    pool("pool3", "1000::/127"),
    pool("pool4", "2000::1/128", auto_assign=False),
    pool("pool5", "1.2.3.0/31", "1000::/127"),
    pool("pool6", "7.8.9.0/31", allocation=ServiceAllocation(priority=10, namespaces=NS1)),
    pool("pool7", "10.11.12.0/31", allocation=ServiceAllocation(priority=11, namespaces=NS1)),
    pool("pool8", "13.14.15.0/31", allocation=ServiceAllocation(9, service_selectors=TEAM)),
    pool("pool9", "16.17.18.0/31", allocation=ServiceAllocation(namespaces={"test-ns2"})),  # type: ignore[arg-type]
    pool("pool10", "19.20.21.0/31", allocation=ServiceAllocation(8, service_selectors=TEAM)),
    pool(
        "pool11",
        "22.23.24.0/31",
        allocation=ServiceAllocation(8, namespaces=NS1, service_selectors=TEAM),
    ),
    pool(
        "pool12",
        "25.26.27.0/31",
        allocation=ServiceAllocation(5, namespaces=NS1, service_selectors=TEAM),
    ),
)

#: MetalLB's pool5 is pool1's and pool3's ranges again: overlapping pools, which MetalLB's own
#: validation refuses and lbtui's allocator ignores (the later pool's range; README). The rows
#: that turn on pool5 run with the pools a user could write: without pool1 and pool3.
POOLS_APART = config(*(p for name, p in POOLS.pools.items() if name not in ("pool1", "pool3")))
ON_POOL5 = {
    "simple dual-stack LoadBalancer",
    "request IPs from specific pool",
    "simple dual-stack LoadBalancer with PreferDualStack policy",
    "request IPs from dualstack pool with PreferDualStack policy",
    "request IPs from dualstack pool with PreferDualStack policy but single stack clusterip",
    "request dual-stack loadbalancer IPs via custom annotation",
    "request dual-stack loadbalancer with invalid ingress",
}

IPS = "metallb.io/loadBalancerIPs"
POOL = "metallb.io/address-pool"
LB = "LoadBalancer"
REQUIRE, PREFER = "RequireDualStack", "PreferDualStack"


def svc(
    kind: str = LB,
    cluster_ips: tuple[str, ...] = ("1.2.3.4",),
    *,
    status: tuple[str, ...] = (),
    hostname_first: bool = False,
    namespace: str = "default",
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """The Service as MetalLB's case writes it (its ``in``), as Kubernetes YAML."""
    ingress: list[dict[str, str]] = [{"ip": ip} for ip in status]
    if hostname_first:
        ingress.insert(0, {"hostname": "foo.bar.local"})
    body: dict[str, Any] = {"type": kind, **spec}
    if len(cluster_ips) == 1 and spec.pop("single_cluster_ip", False):
        body["clusterIP"] = cluster_ips[0]
    elif cluster_ips:
        body["clusterIPs"] = list(cluster_ips)
    return {
        "metadata": {
            "name": "test",
            "namespace": namespace,
            "annotations": annotations or {},
            "labels": labels or {},
        },
        "spec": body,
        "status": {"loadBalancer": {"ingress": ingress}},
    }


UNCHANGED = None  # MetalLB's ``want: nil``: the controller writes nothing

# (desc, the Service (None: deleted), the status written (UNCHANGED: none), a Warning Event?)
MUTATION_CASES: list[tuple[str, dict[str, Any] | None, tuple[str, ...] | None, bool]] = [
    ("deleted balancer", None, UNCHANGED, False),
    ("simple non-LoadBalancer", svc("ClusterIP"), UNCHANGED, False),
    ("simple LoadBalancer", svc(), ("1.2.3.0",), False),
    ("request specific IP", svc(loadBalancerIP="1.2.3.1"), ("1.2.3.1",), False),
    (
        "request specific IP via custom annotation",
        svc(annotations={IPS: "1.2.3.1"}),
        ("1.2.3.1",),
        False,
    ),
    (
        "request IP from both svc.spec.LoadBalancerIP and custom annotation",
        svc(annotations={IPS: "1.2.3.1"}, loadBalancerIP="1.2.3.2"),
        UNCHANGED,
        True,
    ),
    (
        "request invalid IP",
        svc(loadBalancerIP="please sir may I have an IP address thank you"),
        UNCHANGED,
        True,
    ),
    (
        "incompatible ip and address pool annotations",
        svc(annotations={IPS: "1.2.3.1", POOL: "pool2"}),
        UNCHANGED,
        True,
    ),
    (
        "request invalid IP via custom annotation",
        svc(annotations={IPS: "please sir may I have an IP address thank you"}),
        UNCHANGED,
        True,
    ),
    (
        "request two IPs from same ip family via custom annotation",
        svc(annotations={IPS: "1.2.3.1,1.2.3.2"}),
        UNCHANGED,
        True,
    ),
    ("request infeasible IP", svc(loadBalancerIP="1.2.3.4", status=("1.2.3.1",)), (), True),
    ("request IP from specific pool", svc(annotations={POOL: "pool1"}), ("1.2.3.0",), False),
    (
        "switch to a different specific pool",
        svc(annotations={POOL: "pool2"}, status=("1.2.3.0",)),
        ("3.4.5.6",),
        False,
    ),
    ("unknown pool requested", svc(annotations={POOL: "does-not-exist"}), UNCHANGED, True),
    ("invalid IP assigned", svc(status=("2.3.4.5",)), ("1.2.3.0",), False),
    (
        "invalid ingress state",
        svc(status=("10.10.10.10",), hostname_first=True),
        ("1.2.3.0",),
        False,
    ),
    # The README's difference: MetalLB clears any address of a Service that is no longer a
    # LoadBalancer; lbtui clears only the ones it wrote (with metallb.io/ip-allocated-from-pool):
    # the Service's loadBalancerClass went with its type, so the address may be another
    # load balancer's.
    ("former LoadBalancer, now NodePort", svc("NodePort", status=("1.2.3.0",)), UNCHANGED, False),
    (
        "former LoadBalancer, now NodePort (the address lbtui's, as its annotation says)",
        svc(
            "NodePort",
            status=("1.2.3.0",),
            annotations={"metallb.io/ip-allocated-from-pool": "pool1"},
        ),
        (),
        False,
    ),
    ("request layer2 service", svc(loadBalancerIP="3.4.5.6"), ("3.4.5.6",), False),
    (
        "Layer2 service with local traffic policy",
        svc(loadBalancerIP="3.4.5.6", externalTrafficPolicy="Local"),
        ("3.4.5.6",),
        False,
    ),
    # The README's difference: MetalLB gives a Service without clusterIPs nothing; lbtui
    # takes IPv4 when neither ipFamilies nor a request says otherwise.
    ("No ClusterIP", svc(cluster_ips=()), ("1.2.3.0",), False),
    (
        "request IP from wrong ip-family (ipv4)",
        svc(cluster_ips=("3000::1",), loadBalancerIP="1.2.3.1"),
        UNCHANGED,
        True,
    ),
    (
        "request IP from wrong ip-family (ipv4) via custom annotation",
        svc(cluster_ips=("3000::1",), annotations={IPS: "1.2.3.1"}),
        UNCHANGED,
        True,
    ),
    ("request IP from wrong ip-family (ipv6)", svc(loadBalancerIP="1000::"), UNCHANGED, True),
    (
        "request IP from wrong ip-family (ipv6) via custom annotation",
        svc(annotations={IPS: "1000::"}),
        UNCHANGED,
        True,
    ),
    ("IP from wrong ip-family (ipv6) assigned", svc(status=("1000::",)), ("1.2.3.0",), False),
    (
        "IP from wrong ip-family (ipv4) assigned",
        svc(cluster_ips=("3000::1",), status=("1.2.3.0",)),
        ("1000::",),
        False,
    ),
    # dual-stack cases (MetalLB's table starts them with a second "deleted balancer")
    ("deleted balancer (before the dual-stack cases)", None, UNCHANGED, False),
    (
        "simple dual-stack LoadBalancer",
        svc(cluster_ips=("1.2.3.4", "3000::1"), ipFamilyPolicy=REQUIRE),
        ("1.2.3.0", "1000::"),
        False,
    ),
    (
        "request IPs from specific pool",
        svc(
            cluster_ips=("1.2.3.4", "3000::1"), ipFamilyPolicy=REQUIRE, annotations={POOL: "pool5"}
        ),
        ("1.2.3.0", "1000::"),
        False,
    ),
    (
        "simple dual-stack LoadBalancer with PreferDualStack policy",
        svc(cluster_ips=("1.2.3.4", "3000::1"), ipFamilyPolicy=PREFER),
        ("1.2.3.0", "1000::"),
        False,
    ),
    (
        "single-stack LoadBalancer with PreferDualStack policy",
        svc(namespace="test-ns1", ipFamilyPolicy=PREFER),
        ("7.8.9.0",),
        False,
    ),
    (
        "request IPs from dualstack pool with PreferDualStack policy",
        svc(cluster_ips=("1.2.3.4", "3000::1"), ipFamilyPolicy=PREFER, annotations={POOL: "pool5"}),
        ("1.2.3.0", "1000::"),
        False,
    ),
    (
        "request IP from single-stack ipv4 pool with PreferDualStack policy",
        svc(cluster_ips=("1.2.3.4", "1000::"), ipFamilyPolicy=PREFER, annotations={POOL: "pool1"}),
        ("1.2.3.0",),
        False,
    ),
    (
        "request IP from single-stack ipv6 pool with PreferDualStack policy",
        svc(cluster_ips=("1000::1",), ipFamilyPolicy=PREFER, annotations={POOL: "pool3"}),
        ("1000::",),
        False,
    ),
    (
        "request IPs from dualstack pool with PreferDualStack policy but single stack clusterip",
        svc(ipFamilyPolicy=PREFER, annotations={POOL: "pool5"}),
        ("1.2.3.0",),
        False,
    ),
    (
        "request IPs from dualstack pool with RequireDualStack policy but single stack clusterip",
        svc(ipFamilyPolicy=REQUIRE, annotations={POOL: "pool5"}),
        UNCHANGED,
        True,
    ),
    (
        "request specific loadbalancer IP with dual-stack",
        svc(cluster_ips=("1.2.3.4", "3000::1"), loadBalancerIP="1.2.3.1"),
        UNCHANGED,
        True,
    ),
    (
        "request specific loadbalancer IPv4 address via custom annotation for dual-stack config",
        svc(cluster_ips=("1.2.3.4", "3000::1"), annotations={IPS: "1.2.3.1"}),
        UNCHANGED,
        True,
    ),
    (
        "request dual-stack loadbalancer IPs via custom annotation",
        svc(
            cluster_ips=("1.2.3.4", "3000::1"),
            ipFamilyPolicy=REQUIRE,
            annotations={IPS: "1.2.3.0,1000::"},
        ),
        ("1.2.3.0", "1000::"),
        False,
    ),
    (
        "request dual-stack loadbalancer with invalid ingress",
        svc(
            cluster_ips=("3000::1", "5.6.7.8"),
            ipFamilyPolicy=REQUIRE,
            status=("1000::",),
            hostname_first=True,
        ),
        ("1.2.3.0", "1000::"),
        False,
    ),
    (
        "request dual-stack loadbalancer IPs via custom annotation in a single stack cluster",
        svc(annotations={IPS: "1.2.3.0,1000::"}, single_cluster_ip=True),
        UNCHANGED,
        True,
    ),
    (
        "request IP for service from namespace specific ip pool",
        svc(namespace="test-ns1"),
        ("7.8.9.0",),
        False,
    ),
    (
        "request IP for service from no priority namespace specific ip pool",
        svc(namespace="test-ns2"),
        ("16.17.18.0",),
        False,
    ),
    (
        "request IP for service from service label specific ip pool",
        svc(labels={"team": "metallb"}),
        ("19.20.21.0",),
        False,
    ),
    (
        "request IP for service from ip pool having both namespace and service label",
        svc(namespace="test-ns1", labels={"team": "metallb"}),
        ("25.26.27.0",),
        False,
    ),
    (
        "simple LoadBalancer, ips already assigned but can't determine family",
        svc(status=("1.2.3.0", "1.2.3.1", "1.2.3.2")),
        ("1.2.3.0",),
        True,
    ),
]


def controller_step(
    allocator: Allocator, doc: dict[str, Any] | None, before: Allocation | None = None
) -> tuple[tuple[str, ...] | None, bool, Allocation | None]:
    """What lbtui's controller does with the cluster holding this one Service (None: none):
    the status it writes (None: nothing), whether it posts a Warning, and the allocation."""
    if doc is None:
        allocator.converge_all(ClusterState.of([]))
        return UNCHANGED, False, None
    service = Service.model_validate(doc)
    allocation = allocator.converge_all(ClusterState.of([service])).get(service.key)
    patch = service_status_patch(service, allocation)
    written = None
    if patch is not None and "status" in patch:
        written = tuple(i["ip"] for i in patch["status"]["loadBalancer"]["ingress"])
        if written == service.ingress_ips and not any(
            i.hostname for i in service.status.load_balancer.ingress
        ):
            written = None  # only the pool annotation changed: MetalLB's status is the same
    events = allocation_service_events(service.key, service, before, allocation)
    return written, any(e.kind == "Warning" for e in events), allocation


def pools_for(desc: str):
    return POOLS_APART if desc in ON_POOL5 else POOLS


@pytest.mark.parametrize(
    ("desc", "doc", "status", "warning"), MUTATION_CASES, ids=[c[0] for c in MUTATION_CASES]
)
def test_controller_mutation(
    desc: str, doc: dict[str, Any] | None, status: tuple[str, ...] | None, warning: bool
) -> None:
    written, warned, allocation = controller_step(Allocator(pools_for(desc)), doc)
    assert (written, warned) == (status, warning), (desc, allocation)


def test_overlapping_pools_leave_the_later_pool_empty() -> None:
    """With MetalLB's own pools, pool5 (all of whose ranges pool1 and pool3 hold already)
    has nothing to give: the README's "a range overlapping an earlier one"."""
    doc = svc(
        cluster_ips=("1.2.3.4", "3000::1"), ipFamilyPolicy=REQUIRE, annotations={POOL: "pool5"}
    )
    written, warned, allocation = controller_step(Allocator(POOLS), doc)
    assert (written, warned) == (UNCHANGED, True)
    assert allocation is not None and "pool5" in (allocation.error or "")


def test_a_status_that_lost_the_held_address_gets_that_address_back() -> None:
    """Why MetalLB's shuffled rerun of the table is not restated: MetalLB takes the status as
    the only truth, so a Service whose status is empty loses what the controller held and is
    allocated afresh; lbtui's controller keeps what it holds and writes it back (a watch that
    has not yet seen the controller's own write must not move an address; the README's
    differences table). Here the previous case left 1.2.3.1 held; MetalLB would now give
    1.2.3.0."""
    allocator = Allocator(POOLS)
    controller_step(allocator, svc(loadBalancerIP="1.2.3.1"))  # "request specific IP"
    written, warned, _ = controller_step(allocator, svc())  # "simple LoadBalancer", no status
    assert (written, warned) == (("1.2.3.1",), False)


# -- TestControllerConfig, TestControllerDualStackConfig, TestDeleteRecyclesIP,
#    TestControllerReassign: the controller's life, step by step ------------------------------


class Controller:
    """lbtui's controller on one cluster, as its allocator actor runs it: nothing before the
    first configuration, then one allocator kept across configurations (``set_config``), the
    cluster converged whole at each step, the Service's status written back as patched."""

    def __init__(self) -> None:
        self.allocator: Allocator | None = None
        self.services: dict[str, Service] = {}
        self.held: dict[str, Allocation] = {}

    def configure(self, *pools: Any) -> None:
        cfg = config(*pools)
        if self.allocator is None:
            self.allocator = Allocator(cfg)
        else:
            self.allocator.set_config(cfg)

    def step(self, **services: dict[str, Any] | None) -> dict[str, tuple[tuple[str, ...], bool]]:
        """Set (or, with None, delete) these Services and converge: per Service named, the
        status it shows afterwards and whether a Warning Event was posted for it."""
        for name, doc in services.items():
            if doc is None:
                self.services.pop(name, None)
            else:
                doc = {**doc, "metadata": {**doc["metadata"], "name": name}}
                self.services[name] = Service.model_validate(doc)
        if self.allocator is None:  # no configuration yet: the allocator does not run
            return {name: (s.ingress_ips, False) for name, s in self.services.items()}
        cluster = ClusterState.of(list(self.services.values()))
        allocations = self.allocator.converge_all(cluster)
        out = {}
        for name, service in list(self.services.items()):
            after = allocations.get(service.key)
            events = allocation_service_events(
                service.key, service, self.held.get(service.key), after
            )
            patch = service_status_patch(service, after)
            if patch is not None and "status" in patch:
                status = ServiceStatus.model_validate(patch["status"])
                service = service.model_copy(update={"status": status})
                self.services[name] = service
            if after is not None:
                self.held[service.key] = after
            out[name] = (service.ingress_ips, any(e.kind == "Warning" for e in events))
        return out


DEFAULT_V4 = pool("default", "1.2.3.0/24")
# MetalLB writes 1000::1/127, which Go (and lbtui's configuration) masks to 1000::/127.
DEFAULT_DUAL = pool("default", "1.2.3.0/24", "1000::/127")
SECOND = pool("second", "4.5.6.0/24")


def test_controller_config() -> None:
    c = Controller()
    # No configuration yet: nothing written, nothing told.
    assert c.step(test=svc()) == {"test": ((), False)}
    # A configuration without pools: still nothing, and no Event (MetalLB: a silent retry).
    c.configure()
    assert c.step() == {"test": ((), False)}
    # A pool: the Service gets its first address.
    c.configure(DEFAULT_V4)
    assert c.step() == {"test": (("1.2.3.0",), False)}
    # The pool deleted while its address is in use: accepted, and the Service cleared.
    c.configure()
    assert c.step() == {"test": ((), False)}
    # (MetalLB's last step, a nil configuration refused, is its configuration loader's:
    # lbtui keeps the last good one: tests/actors/test_actors_unthreaded.py.)


def test_controller_dual_stack_config() -> None:
    c = Controller()
    dual = svc(cluster_ips=("1.2.3.4", "1000::"), ipFamilyPolicy=REQUIRE)
    assert c.step(test=dual) == {"test": ((), False)}
    c.configure()
    assert c.step() == {"test": ((), False)}
    c.configure(DEFAULT_DUAL)
    assert c.step() == {"test": (("1.2.3.0", "1000::"), False)}


def test_delete_recycles_ip() -> None:
    c = Controller()
    c.configure(pool("default", "1.2.3.0/32"))
    assert c.step(test=svc()) == {"test": (("1.2.3.0",), False)}
    # A second Service: no address left, and a Warning says so.
    assert c.step(test2=svc())["test2"] == ((), True)
    # The first one deleted: the second gets its address.
    assert c.step(test=None) == {"test2": (("1.2.3.0",), False)}


def test_controller_reassign() -> None:
    c = Controller()
    c.configure(DEFAULT_DUAL)
    assert c.step(test=svc()) == {"test": (("1.2.3.0",), False)}
    # A second pool: the allocation does not change.
    c.configure(DEFAULT_DUAL, SECOND)
    assert c.step() == {"test": (("1.2.3.0",), False)}
    # The first pool deleted: an address from the second.
    c.configure(SECOND)
    assert c.step() == {"test": (("4.5.6.0",), False)}
