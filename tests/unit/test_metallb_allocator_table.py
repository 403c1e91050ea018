"""MetalLB's own allocator cases, restated: TestAssignment of internal/allocator/allocator_test.go.

MetalLB's test drives an imperative allocator (``Assign``/``Unassign``) through a sequence of
steps, each a service asking for given addresses, and says whether the step succeeds. lbtui's
allocator is convergent: the same steps become a sequence of cluster states, where a step
changes one Service (its requested addresses in ``metallb.io/loadBalancerIPs``, its ports,
its sharing key, its backend) and every Service's status holds what the previous convergence
gave it (as the controller writes it back), converged by one allocator kept through the walk
(as the controller keeps one). "Unassign" is the Service going away.

MetalLB's ``backendKey`` is what the controller derives from an ``externalTrafficPolicy:
Local`` Service's pod selector; here a step with a backend is a Local Service selecting
``app=<backend>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from actors.allocator.converge import Allocator
from actors.model.config import ServiceAllocation
from actors.model.selectors import LabelSelector
from tests.unit.test_allocator import (
    LB_IPS,
    SHARED,
    cluster,
    config,
    namespace,
    pool,
    run,
    service,
)

Ports = tuple[tuple[str, int], ...]


def ports(*specs: str) -> Ports:
    return tuple((proto.upper(), int(port)) for proto, port in (s.split("/") for s in specs))


def _sa(priority: int = 0, namespaces: tuple[str, ...] = (), **labels: str) -> ServiceAllocation:
    selectors = (LabelSelector(matchLabels=labels),) if labels else ()
    return ServiceAllocation(
        priority=priority, namespaces=frozenset(namespaces), service_selectors=selectors
    )


#: TestAssignment's pools, as its makePools() has them.
POOLS = config(
    pool("test", "1.2.3.4/31", "1000::4/127"),
    pool("test2", "1.2.4.0/24", "1000::4:0/120", avoid_buggy_ips=True),
    pool(
        "test3",
        "1.2.5.0/24",
        "1000::5:0/120",
        avoid_buggy_ips=True,
        allocation=_sa(0, ("test-ns1",)),
    ),
    pool(
        "test4", "1.2.6.0/24", "1000::6:0/120", avoid_buggy_ips=True, allocation=_sa(team="metallb")
    ),
    pool(
        "test5",
        "1.2.7.0/24",
        "1000::7:0/120",
        avoid_buggy_ips=True,
        allocation=_sa(20, ("test-ns1",), team="metallb"),
    ),
    pool(
        "test6",
        "1.2.8.0/24",
        "1000::9:0/120",
        avoid_buggy_ips=True,
        allocation=_sa(20, ("test-ns2",), foo="bar"),
    ),
)


@dataclass(frozen=True)
class Step:
    desc: str  # the Go case's desc
    svc: str
    ips: tuple[str, ...]  # requested; () with no family: the service goes away (Unassign)
    ports: Ports = (("TCP", 8080),)
    sharing: str = ""
    backend: str = ""
    error: bool = False
    family: str = ""  # for an allocation without request (MetalLB's Allocate): ipv4/ipv6/dual


def _sequence(v6: bool) -> list[Step]:
    """TestAssignment's IPv4 steps, or their IPv6 twins (the buggy-IP steps have none)."""

    def a(four: str, six: str) -> str:
        return six if v6 else four

    share = {"ports": ports("tcp/80"), "backend": "backend"}
    steps = [
        Step("assign s1", "s1", (a("1.2.3.4", "1000::4"),)),
        Step("s1 idempotent reassign", "s1", (a("1.2.3.4", "1000::4"),)),
        Step("s2 can't grab s1's IP", "s2", (a("1.2.3.4", "1000::4"),), error=True),
        Step("s2 can get the other IP", "s2", (a("1.2.3.5", "1000::5"),)),
        Step("s1 now can't grab s2's IP", "s1", (a("1.2.3.5", "1000::5"),), error=True),
        Step("s1 frees its IP", "s1", ()),
        Step("s2 can grab s1's former IP", "s2", (a("1.2.3.4", "1000::4"),)),
        Step("s1 can now grab s2's former IP", "s1", (a("1.2.3.5", "1000::5"),)),
    ]
    if not v6:
        steps += [
            Step("s3 cannot grab a 0 buggy IP", "s3", ("1.2.4.0",), error=True),
            Step("s3 cannot grab a 255 buggy IP", "s3", ("1.2.4.255",), error=True),
        ]
    shared = a("1.2.4.3", "1000::4:3")
    steps += [
        Step("s3 can grab another IP in that pool", "s3", (a("1.2.4.254", "1000::4:ff"),)),
        Step("s4 takes an IP, with sharing", "s4", (shared,), sharing="sharing", **share),
        Step("s4 changes its sharing key in place", "s4", (shared,), sharing="share", **share),
        Step(
            "s3 can't share with s4 (port conflict)",
            "s3",
            (shared,),
            sharing="share",
            error=True,
            **share,
        ),
        Step(
            "s3 can't share with s4 (wrong sharing key)",
            "s3",
            (shared,),
            ports("tcp/443"),
            "othershare",
            "backend",
            error=True,
        ),
        Step(
            "s3 can't share with s4 (wrong backend key)",
            "s3",
            (shared,),
            ports("tcp/443"),
            "share",
            "otherbackend",
            error=True,
        ),
        Step("s3 takes the same IP as s4", "s3", (shared,), ports("tcp/443"), "share", "backend"),
        Step(
            "s3 can change its ports while keeping the same IP",
            "s3",
            (shared,),
            ports("udp/53"),
            "share",
            "backend",
        ),
        Step(
            "s3 can't change its sharing key while keeping the same IP",
            "s3",
            (shared,),
            ports("tcp/443"),
            "othershare",
            "backend",
            error=True,
        ),
        Step(
            "s3 can't change its backend key while keeping the same IP",
            "s3",
            (shared,),
            ports("tcp/443"),
            "share",
            "otherbackend",
            error=True,
        ),
        Step("s4 takes s3's former IP", "s4", (a("1.2.4.254", "1000::4:ff"),)),
    ]
    return steps


DUAL_STACK = [
    Step("s2 frees its IP", "s2", ()),
    Step("ip dual-stack assign s1", "s1", ("1.2.3.4", "1000::4")),
    Step("ip dual-stack assign s1 from different pools", "s1", ("1.2.4.5", "1000::4"), error=True),
]


CLUSTER_IPS = {
    "": (),
    "ipv4": ("10.96.0.10",),
    "ipv6": ("fd00::10",),
    "dual": ("10.96.0.10", "fd00::10"),
}


@dataclass
class Walk:
    """The cluster as the steps leave it: each Service's last request and last addresses."""

    requests: dict[str, Step] = field(default_factory=dict)
    held: dict[str, tuple[str, ...]] = field(default_factory=dict)
    created: dict[str, int] = field(default_factory=dict)
    # One allocator through the whole walk, as the controller keeps one.
    allocator: Allocator = field(default_factory=lambda: Allocator(POOLS))

    def apply(self, step: Step) -> tuple[tuple[str, ...], str | None]:
        if not step.ips and not step.family:
            self.requests.pop(step.svc, None)
            self.held.pop(step.svc, None)
        else:
            self.requests[step.svc] = step
            self.created.setdefault(step.svc, len(self.created))
        services = [self._service(s) for s in self.requests.values()]
        got = self.allocator.converge_all(cluster(*services))
        self.held = {
            name: tuple(str(ip) for ip in got[f"default/{name}"].ips) for name in self.requests
        }
        if not step.ips and not step.family:
            return (), None
        return self.held[step.svc], got[f"default/{step.svc}"].error

    def _service(self, step: Step) -> object:
        annotations = {LB_IPS: ",".join(step.ips)} if step.ips else {}
        if step.sharing:
            annotations[SHARED] = step.sharing
        dual = len(step.ips) == 2 or step.family == "dual"
        return service(
            step.svc,
            annotations=annotations,
            ports=step.ports,
            local=bool(step.backend),
            pod_selector={"app": step.backend or step.svc},
            status=self.held.get(step.svc, ()),
            created=self.created[step.svc],
            # Requested: as in the Go case, the families are the requested addresses'.
            cluster_ips=CLUSTER_IPS[step.family],
            policy="RequireDualStack" if dual else None,
        )


def _check(walk: Walk, step: Step, valid: frozenset[str] = frozenset()) -> None:
    got, error = walk.apply(step)
    if not step.ips and not step.family:
        return
    if step.error:
        assert error is not None, f"{step.desc}: {got}"
        assert got != step.ips if step.ips else got == (), f"{step.desc}: {got} {error}"
    elif step.ips:
        assert (got, error) == (step.ips, None), step.desc
    else:  # allocated: one address per family, each from the valid ones
        assert error is None and len(got) == (2 if step.family == "dual" else 1), step.desc
        assert set(got) <= valid, f"{step.desc}: {got}"


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_assignment_sequence(family: str) -> None:
    """TestAssignment, its IPv4 steps then (a fresh allocator) its IPv6 ones."""
    walk = Walk()
    for step in _sequence(family == "ipv6"):
        _check(walk, step)


def test_assignment_dual_stack_steps() -> None:
    """TestAssignment's dual-stack steps, after its IPv6 steps as in the Go sequence."""
    walk = Walk()
    for step in _sequence(True):
        _check(walk, step)
    for step in DUAL_STACK:
        _check(walk, step)


COMPATIBILITY = [
    # (desc, namespace, labels, requested, error)
    ("attempt to assign ip from pool pinned on same namespace", "test-ns1", {}, "1.2.5.10", False),
    (
        "attempt to assign ip from pool pinned on different namespace",
        "testns-not-exist",
        {},
        "1.2.5.10",
        True,
    ),
    (
        "attempt to assign ip from pool pinned with same service label",
        "testns-not-exist",
        {"team": "metallb"},
        "1.2.6.10",
        False,
    ),
    (
        "attempt to assign ip from pool pinned with different service label",
        "testns-not-exist",
        {"team": "red"},
        "1.2.6.10",
        True,
    ),
    (
        "attempt to assign ip from pool pinned with namespace and service label",
        "test-ns1",
        {"team": "metallb"},
        "1.2.7.10",
        False,
    ),
    (
        "attempt to assign ip from pool pinned with namespace and incompatible service label",
        "test-ns2",
        {"team": "metallb"},
        "1.2.8.10",
        True,
    ),
    (
        "attempt to assign ip from pool pinned with service label and incompatible namespace",
        "testns-not-exist",
        {"foo": "bar"},
        "1.2.8.10",
        True,
    ),
]


@pytest.mark.parametrize(
    ("desc", "ns", "labels", "requested", "error"), COMPATIBILITY, ids=[c[0] for c in COMPATIBILITY]
)
def test_assignment_pool_compatibility(
    desc: str, ns: str, labels: dict[str, str], requested: str, error: bool
) -> None:
    svc = service(
        "s1", ns, annotations={LB_IPS: requested}, labels=labels, pod_selector=labels or None
    )
    got = run(POOLS, svc, namespaces=(namespace(ns),))[f"{ns}/s1"]
    if error:
        assert got.error is not None and not got.ips, desc
    else:
        assert ([str(ip) for ip in got.ips], got.error) == ([requested], None), desc


# -- TestAllocation: allocation without a request, until the pools run out --------------------

ALLOCATION_POOLS = config(
    pool("test1", "1.2.3.4/31", "1000::4/127"), pool("test2", "1.2.3.10/31", "1000::10/127")
)
ALLOCATION_VALID = {
    "ipv4": frozenset({"1.2.3.4", "1.2.3.5", "1.2.3.10", "1.2.3.11"}),
    "ipv6": frozenset({"1000::4", "1000::5", "1000::10", "1000::11"}),
}
ALLOCATION_VALID["dual"] = ALLOCATION_VALID["ipv4"] | ALLOCATION_VALID["ipv6"]


def _allocation_steps(family: str) -> list[Step]:
    """TestAllocation's steps for one family (IPv4, IPv6 or dual-stack), in its words."""
    what = {"ipv4": "an IPv4", "ipv6": "an IPv6", "dual": "dual-stack IPs"}[family]
    steps = [Step(f"s{i} gets {what}", f"s{i}", (), family=family) for i in range(1, 5)]
    steps += [
        Step(f"s5 can't get {what}", "s5", (), family=family, error=True),
        Step(f"s6 can't get {what}", "s6", (), family=family, error=True),
        Step("s1 gives up its IPs", "s1", ()),
        Step(f"s5 can now get {what}", "s5", (), ports("tcp/80"), "share", family=family),
        Step(f"s6 still can't get {what}", "s6", (), family=family, error=True),
        Step(f"s6 can get {what} with sharing", "s6", (), ports("tcp/443"), "share", family=family),
    ]
    return steps


@pytest.mark.parametrize("family", ["ipv4", "ipv6", "dual"])
def test_allocation_sequence(family: str) -> None:
    """TestAllocation, one family at a time (the Go test clears every service in between)."""
    walk = Walk(allocator=Allocator(ALLOCATION_POOLS))
    for step in _allocation_steps(family):
        _check(walk, step, ALLOCATION_VALID[family])
    # The last two share one address (one per family), on different ports.
    assert walk.held["s5"] == walk.held["s6"]


# -- TestBuggyIPs: avoidBuggyIPs skips .0 and .255, and only where it is set -------------------


def test_buggy_ips() -> None:
    cfg = config(
        pool("test", "1.2.3.0/31"),
        pool("test2", "1.2.3.254/31"),
        pool("test3", "1.2.4.0/31", avoid_buggy_ips=True),
        pool("test4", "1.2.4.254/31", avoid_buggy_ips=True),
    )
    valid = frozenset({"1.2.3.0", "1.2.3.1", "1.2.3.254", "1.2.3.255", "1.2.4.1", "1.2.4.254"})
    walk = Walk(allocator=Allocator(cfg))
    for i in range(1, 7):
        _check(walk, Step(f"#{i}", f"s{i}", (), family="ipv4"), valid)
    _check(walk, Step("#7", "s7", (), family="ipv4", error=True))
    assert {ip for held in walk.held.values() for ip in held} == valid


# -- TestAutoAssign: a pool with autoAssign false is never picked without a request ------------


@pytest.mark.parametrize("family", ["ipv4", "ipv6", "dual"])
def test_auto_assign(family: str) -> None:
    cfg = config(
        pool("test1", "1.2.3.4/31", "1000::4/127", auto_assign=False),
        pool("test2", "1.2.3.10/31", "1000::10/127"),
    )
    valid = frozenset({"1.2.3.10", "1.2.3.11", "1000::10", "1000::11"})
    walk = Walk(allocator=Allocator(cfg))
    for i in (1, 2):
        _check(walk, Step(f"s{i}", f"s{i}", (), family=family), valid)
    for i in (3, 4, 5):
        _check(walk, Step(f"s{i}", f"s{i}", (), family=family, error=True))


# -- TestConfigReload: what a new configuration does to addresses already held ----------------

RELOADS = [
    # (desc, pools, pool of s1 holding 1.2.3.0, pool of s2 holding 1000::) ; None: released
    ("set same config is no-op", [pool("test", "1.2.3.0/30", "1000::/126")], "test", "test"),
    ("expand pool", [pool("test", "1.2.3.0/24", "1000::/120")], "test", "test"),
    ("shrink pool", [pool("test", "1.2.3.0/30", "1000::/126")], "test", "test"),
    (
        "can't shrink further, removing the service allocation",
        [pool("test", "1.2.3.2/31", "1000::0/126")],
        None,
        "test",
    ),
    (
        "can't shrink further ipv6, removing the service allocation",
        [pool("test", "1.2.3.0/30", "1000::2/127")],
        "test",
        None,
    ),
    ("rename the pool", [pool("test2", "1.2.3.0/30", "1000::0/126")], "test2", "test2"),
    (
        "split pool",
        [pool("test", "1.2.3.0/31", "1000::2/127"), pool("test2", "1.2.3.2/31", "1000::/127")],
        "test",
        "test2",
    ),
    (
        "enable buggy IPs not allowed",
        [pool("test2", "1.2.3.0/31", "1000::/127", avoid_buggy_ips=True)],
        None,
        "test2",
    ),
]


@pytest.mark.parametrize(
    ("desc", "pools", "pool_s1", "pool_s2"), RELOADS, ids=[r[0] for r in RELOADS]
)
def test_config_reload(desc: str, pools: list, pool_s1: str | None, pool_s2: str | None) -> None:
    allocator = Allocator(
        config(pool("test", "1.2.3.0/30", "1000::/126"), pool("unused", "1.2.4.0/30", "1001::/126"))
    )
    services = [
        service("s1", annotations={LB_IPS: "1.2.3.0"}, cluster_ips=()),
        service("s2", annotations={LB_IPS: "1000::"}, cluster_ips=()),
    ]
    first = allocator.converge_all(cluster(*services))
    assert [str(ip) for a in first.values() for ip in a.ips] == ["1.2.3.0", "1000::"]
    allocator.set_config(config(*pools))
    held = {key: allocator.assigned(f"default/{key}") for key in ("s1", "s2")}
    assert {k: a.pool if a else None for k, a in held.items()} == {"s1": pool_s1, "s2": pool_s2}


def test_the_service_that_changes_its_sharing_key_is_refused_not_the_other() -> None:
    """TestAssignment's "s3 can't change its sharing key while keeping the same IP", looked at
    from s4: with one allocator running, s4 keeps the shared address (nothing it did moved
    it); only s3 gets the error."""
    walk = Walk()
    for step in _sequence(False):
        walk.apply(step)
        if step.desc == "s3 can't change its sharing key while keeping the same IP":
            break
    assert (walk.held["s3"], walk.held["s4"]) == ((), ("1.2.4.3",))
