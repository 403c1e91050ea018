"""The allocator core against MetalLB's documented allocation behaviour (semantics §2-3)."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import pytest

from actors.allocator.converge import NO_AVAILABLE_IPS, NO_POOLS, Allocator, allocate_cluster
from actors.model.allocation import ERROR_NO_POOLS, Allocation, PoolUsage
from actors.model.cluster import ClusterState, Namespace, Service
from actors.model.config import AddressRange, Config, Pool, ServiceAllocation
from actors.model.selectors import LabelSelector

T0 = datetime(2024, 1, 1, tzinfo=UTC)


# --------------------------------------------------------------------------- builders


def addresses(text: str) -> AddressRange:
    """``a-b`` or a CIDR, as the config loader resolves them."""
    if "-" in text:
        first, last = (ipaddress.ip_address(part.strip()) for part in text.split("-"))
    else:
        net = ipaddress.ip_network(text)
        first, last = net[0], net[-1]
    return AddressRange(first, last, text)


def pool(
    name: str,
    *ranges: str,
    auto_assign: bool = True,
    avoid_buggy_ips: bool = False,
    allocation: ServiceAllocation | None = None,
) -> Pool:
    return Pool(
        name=name,
        ranges=tuple(addresses(r) for r in ranges),
        auto_assign=auto_assign,
        avoid_buggy_ips=avoid_buggy_ips,
        allocation=allocation,
    )


def config(*pools: Pool) -> Config:
    return Config(pools=MappingProxyType({p.name: p for p in pools}))


def selector(**labels: str) -> LabelSelector:
    return LabelSelector(matchLabels=labels)


def service(
    name: str,
    namespace: str = "default",
    *,
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    ports: tuple[tuple[str, int], ...] = (("TCP", 80),),
    cluster_ips: tuple[str, ...] = ("10.96.0.10",),
    ip_families: tuple[str, ...] = (),
    policy: str | None = None,
    local: bool = False,
    pod_selector: dict[str, str] | None = None,
    load_balancer_ip: str = "",
    lb_class: str | None = None,
    status: tuple[str, ...] = (),
    created: int = 0,
    kind: str = "LoadBalancer",
) -> Service:
    spec: dict[str, Any] = {
        "type": kind,
        "ports": [{"protocol": proto, "port": port} for proto, port in ports],
        "selector": pod_selector or {"app": name},
        "clusterIP": cluster_ips[0] if cluster_ips else "",
        "clusterIPs": list(cluster_ips),
        "externalTrafficPolicy": "Local" if local else "Cluster",
        "loadBalancerIP": load_balancer_ip,
    }
    if ip_families:
        spec["ipFamilies"] = list(ip_families)
    if policy:
        spec["ipFamilyPolicy"] = policy
    if lb_class is not None:
        spec["loadBalancerClass"] = lb_class
    return Service.model_validate(
        {
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": labels or {},
                "annotations": annotations or {},
                "creationTimestamp": (T0 + timedelta(seconds=created)).isoformat(),
            },
            "spec": spec,
            "status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in status]}},
        }
    )


def namespace(name: str, **labels: str) -> Namespace:
    return Namespace.model_validate({"metadata": {"name": name, "labels": labels}})


def cluster(*services: Service, namespaces: tuple[Namespace, ...] = ()) -> ClusterState:
    return ClusterState.of(list(services), namespaces=list(namespaces))


def ips(allocation: Allocation | None) -> list[str]:
    assert allocation is not None
    return [str(ip) for ip in allocation.ips]


def run(cfg: Config, *services: Service, **kwargs: Any) -> dict[str, Allocation]:
    return allocate_cluster(cfg, cluster(*services, **kwargs))[0]


def with_status(svc: Service, allocation: Allocation) -> Service:
    """The service as the controller writes it back: status.loadBalancer.ingress = its ips."""
    return svc.model_copy(
        update={
            "status": Service.model_validate(
                {
                    "metadata": {"name": "x"},
                    "status": {
                        "loadBalancer": {"ingress": [{"ip": str(i)} for i in allocation.ips]}
                    },
                }
            ).status
        }
    )


SHARED = "metallb.io/allow-shared-ip"
LB_IPS = "metallb.io/loadBalancerIPs"
POOL = "metallb.io/address-pool"
OLD_SHARED = "metallb.universe.tf/allow-shared-ip"
OLD_LB_IPS = "metallb.universe.tf/loadBalancerIPs"
OLD_POOL = "metallb.universe.tf/address-pool"


# --------------------------------------------------------------------------- lowest free


def test_allocates_lowest_free_address_including_network_address() -> None:
    alloc = Allocator(config(pool("p", "10.0.0.0/30")))
    got = [ips(alloc.converge(service(f"s{i}"), {})) for i in range(4)]
    assert got == [["10.0.0.0"], ["10.0.0.1"], ["10.0.0.2"], ["10.0.0.3"]]
    full = alloc.converge(service("s4"), {})
    assert full == Allocation("default/s4", (), None, NO_AVAILABLE_IPS)


def test_released_holes_are_refilled_lowest_first() -> None:
    alloc = Allocator(config(pool("p", "10.0.0.0/28")))
    for i in range(6):
        alloc.converge(service(f"s{i}"), {})
    alloc.release("default/s3")
    alloc.release("default/s1")
    alloc.release("default/s4")
    assert ips(alloc.converge(service("a"), {})) == ["10.0.0.1"]
    assert ips(alloc.converge(service("b"), {})) == ["10.0.0.3"]
    assert ips(alloc.converge(service("c"), {})) == ["10.0.0.4"]
    assert ips(alloc.converge(service("d"), {})) == ["10.0.0.6"]
    assert alloc.assigned("default/s3") is None
    assert ips(alloc.assigned("default/a")) == ["10.0.0.1"]


def test_ranges_are_used_in_the_order_written_not_numeric_order() -> None:
    cfg = config(pool("p", "10.0.9.0/31", "10.0.1.5-10.0.1.6", "10.0.0.0/31"))
    alloc = Allocator(cfg)
    got = [ips(alloc.converge(service(f"s{i}"), {}))[0] for i in range(6)]
    assert got == ["10.0.9.0", "10.0.9.1", "10.0.1.5", "10.0.1.6", "10.0.0.0", "10.0.0.1"]
    alloc.release("default/s3")
    assert ips(alloc.converge(service("again"), {})) == ["10.0.1.6"]


def test_avoid_buggy_ips_skips_dot_zero_and_dot_255() -> None:
    alloc = Allocator(config(pool("p", "10.0.0.254-10.0.1.2", avoid_buggy_ips=True)))
    got = [ips(alloc.converge(service(f"s{i}"), {})) for i in range(4)]
    assert got == [["10.0.0.254"], ["10.0.1.1"], ["10.0.1.2"], []]
    # A buggy address is not part of such a pool, even when requested.
    asked = alloc.converge(service("x", load_balancer_ip="10.0.1.0"), {})
    assert asked is not None and asked.error == '["10.0.1.0"] is not allowed in config'


def test_ipv6_pool_allocates_from_the_start_of_a_64() -> None:
    alloc = Allocator(config(pool("v6", "fd00::/64")))
    got = [ips(alloc.converge(service(f"s{i}", cluster_ips=("fd00:96::1",)), {})) for i in range(3)]
    assert got == [["fd00::"], ["fd00::1"], ["fd00::2"]]


# --------------------------------------------------------------------------- requested addresses


def test_spec_load_balancer_ip_is_assigned() -> None:
    got = run(config(pool("p", "10.0.0.0/24")), service("a", load_balancer_ip="10.0.0.42"))
    assert ips(got["default/a"]) == ["10.0.0.42"]
    assert got["default/a"].pool == "p"


@pytest.mark.parametrize("annotation", [LB_IPS, OLD_LB_IPS])
def test_load_balancer_ips_annotation_both_prefixes(annotation: str) -> None:
    svc = service("a", annotations={annotation: " 10.0.0.7 "})
    assert ips(run(config(pool("p", "10.0.0.0/24")), svc)["default/a"]) == ["10.0.0.7"]


def test_stable_annotation_wins_over_deprecated() -> None:
    svc = service("a", annotations={LB_IPS: "10.0.0.7", OLD_LB_IPS: "10.0.0.9"})
    assert ips(run(config(pool("p", "10.0.0.0/24")), svc)["default/a"]) == ["10.0.0.7"]


def test_dual_stack_request_as_trimmed_comma_list() -> None:
    cfg = config(pool("p", "10.0.0.0/24", "fd00::/120"))
    svc = service(
        "a",
        annotations={LB_IPS: "fd00::5 , 10.0.0.5"},
        cluster_ips=("fd00:96::1", "10.96.0.1"),
        policy="RequireDualStack",
    )
    assert ips(run(cfg, svc)["default/a"]) == ["fd00::5", "10.0.0.5"]


@pytest.mark.parametrize(
    ("svc", "error"),
    [
        (
            service("a", annotations={LB_IPS: "10.0.0.1"}, load_balancer_ip="10.0.0.2"),
            "service can not have both metallb.io/loadBalancerIPs and svc.Spec.LoadBalancerIP",
        ),
        (
            service("a", annotations={LB_IPS: "10.0.0.1,10.0.0.2"}),
            'requested addresses ["10.0.0.1" "10.0.0.2"] have the same family',
        ),
        (
            service("a", annotations={LB_IPS: "10.0.0.1,fd00::1,10.0.0.3"}),
            "at most 2 addresses can be requested",
        ),
        (
            service("a", annotations={LB_IPS: "10.0.0.1,bogus"}),
            "invalid metallb.io/loadBalancerIPs",
        ),
        (service("a", load_balancer_ip="10.0.0.300"), 'invalid spec.loadBalancerIP "10.0.0.300"'),
        (service("a", load_balancer_ip="192.168.1.1"), '["192.168.1.1"] is not allowed in config'),
        (
            service("a", load_balancer_ip="fd00::1"),
            'requested loadBalancer IP(s) ["fd00::1"] does not match the ipFamily of the service',
        ),
        (
            service("a", annotations={LB_IPS: "10.0.0.1,fd00::1"}),
            "does not match the ipFamily of the service",
        ),
    ],
)
def test_invalid_requests_fail_with_a_reason(svc: Service, error: str) -> None:
    cfg = config(pool("p", "10.0.0.0/24", "fd00::/120"))
    got = run(cfg, svc)["default/a"]
    assert got.ips == ()
    assert got.error is not None and error in got.error, got.error


def test_requested_ips_must_lie_in_one_pool() -> None:
    cfg = config(pool("v4", "10.0.0.0/24"), pool("v6", "fd00::/120"))
    svc = service(
        "a",
        annotations={LB_IPS: "10.0.0.1,fd00::1"},
        cluster_ips=("10.96.0.1", "fd00:96::1"),
        policy="PreferDualStack",
    )
    assert run(cfg, svc)["default/a"].error == '["10.0.0.1" "fd00::1"] is not allowed in config'


def test_requested_ip_from_a_pool_without_auto_assign() -> None:
    cfg = config(pool("manual", "10.0.0.0/24", auto_assign=False))
    got = run(cfg, service("a", load_balancer_ip="10.0.0.9"), service("b"))
    assert ips(got["default/a"]) == ["10.0.0.9"]
    assert got["default/b"].error == NO_AVAILABLE_IPS


def test_requested_ip_with_requested_pool_must_match() -> None:
    cfg = config(pool("a", "10.0.0.0/24"), pool("b", "10.0.1.0/24"))
    ok = service("ok", load_balancer_ip="10.0.1.1", annotations={POOL: "b"})
    bad = service("bad", load_balancer_ip="10.0.0.1", annotations={POOL: "b"})
    got = run(cfg, ok, bad)
    assert ips(got["default/ok"]) == ["10.0.1.1"]
    assert got["default/bad"].error == (
        'requested loadBalancer IP(s) ["10.0.0.1"] is not compatible with requested address pool b'
    )


def test_requested_ip_in_a_pool_that_does_not_admit_the_service() -> None:
    cfg = config(
        pool("team", "10.0.0.0/24", allocation=ServiceAllocation(namespaces=frozenset({"team"})))
    )
    got = run(cfg, service("a", "other", load_balancer_ip="10.0.0.1"))
    assert got["other/a"].error == "pool team not compatible for ip assignment"


# --------------------------------------------------------------------------- address-pool


@pytest.mark.parametrize("annotation", [POOL, OLD_POOL])
def test_address_pool_annotation_ignores_auto_assign(annotation: str) -> None:
    cfg = config(pool("a", "10.0.0.0/24"), pool("z", "10.0.9.0/24", auto_assign=False))
    got = run(cfg, service("s", annotations={annotation: "z"}))
    assert ips(got["default/s"]) == ["10.0.9.0"]
    assert got["default/s"].pool == "z"


def test_address_pool_stable_annotation_wins() -> None:
    cfg = config(pool("a", "10.0.0.0/24"), pool("b", "10.0.1.0/24"))
    got = run(cfg, service("s", annotations={POOL: "b", OLD_POOL: "a"}))
    assert got["default/s"].pool == "b"


def test_address_pool_unknown_or_not_admitting_or_full() -> None:
    cfg = config(
        pool("small", "10.0.0.0/32"),
        pool("team", "10.0.1.0/24", allocation=ServiceAllocation(namespaces=frozenset({"t"}))),
    )
    got = run(
        cfg,
        service("unknown", annotations={POOL: "nope"}, created=1),
        service("refused", annotations={POOL: "team"}, created=2),
        service("first", annotations={POOL: "small"}, created=3),
        service("second", annotations={POOL: "small"}, created=4),
    )
    assert got["default/unknown"].error == 'unknown pool "nope"'
    assert got["default/refused"].error == "pool team not compatible for ip assignment"
    assert ips(got["default/first"]) == ["10.0.0.0"]
    assert got["default/second"].error == "no available IPs in pool small for ipv4 IPFamily"


# --------------------------------------------------------------------------- pool order


def test_priority_lower_first_unset_last_ties_by_name() -> None:
    cfg = config(
        pool("a-unset", "10.0.0.0/32", allocation=ServiceAllocation()),
        pool("b-prio2", "10.0.2.0/32", allocation=ServiceAllocation(priority=2)),
        pool("d-prio1", "10.0.4.0/32", allocation=ServiceAllocation(priority=1)),
        pool("c-prio1", "10.0.3.0/32", allocation=ServiceAllocation(priority=1)),
        pool("open", "10.0.9.0/32"),
    )
    got = run(cfg, *(service(f"s{i}", created=i) for i in range(6)))
    pools = [got[f"default/s{i}"].pool for i in range(6)]
    assert pools == ["c-prio1", "d-prio1", "b-prio2", "a-unset", "open", None]


def test_pools_without_service_allocation_are_tried_by_name() -> None:
    cfg = config(
        pool("zeta", "10.0.0.0/32"),
        pool("alpha", "10.0.1.0/32"),
        pool("manual", "10.0.2.0/32", auto_assign=False),
        pool("mid", "10.0.3.0/32"),
    )
    got = run(cfg, *(service(f"s{i}", created=i) for i in range(4)))
    assert [got[f"default/s{i}"].pool for i in range(4)] == ["alpha", "mid", "zeta", None]


def test_pinned_pool_without_auto_assign_is_skipped() -> None:
    cfg = config(
        pool("pinned", "10.0.0.0/24", auto_assign=False, allocation=ServiceAllocation(priority=1)),
        pool("open", "10.0.1.0/24"),
    )
    assert run(cfg, service("s"))["default/s"].pool == "open"


def test_pool_with_service_allocation_never_serves_others() -> None:
    cfg = config(
        pool("team", "10.0.0.0/24", allocation=ServiceAllocation(namespaces=frozenset({"team"}))),
        pool("open", "10.0.1.0/32"),
    )
    got = run(
        cfg,
        service("a", "team", created=0),
        service("b", "other", created=1),
        service("c", "other", created=2),
    )
    assert got["team/a"].pool == "team"
    assert got["other/b"].pool == "open"
    assert got["other/c"].error == NO_AVAILABLE_IPS


# --------------------------------------------------------------------------- admission


def test_namespace_selectors_match_namespace_labels() -> None:
    prod = ServiceAllocation(priority=1, namespace_selectors=(selector(env="prod"),))
    cfg = config(pool("prod", "10.0.0.0/24", allocation=prod), pool("open", "10.0.1.0/24"))
    got = run(
        cfg,
        service("a", "shop"),
        service("b", "lab"),
        namespaces=(namespace("shop", env="prod"), namespace("lab", env="dev")),
    )
    assert got["shop/a"].pool == "prod"
    assert got["lab/b"].pool == "open"


def test_service_selectors_match_service_labels() -> None:
    web = ServiceAllocation(priority=1, service_selectors=(selector(tier="web"), selector(x="y")))
    cfg = config(pool("web", "10.0.0.0/24", allocation=web), pool("open", "10.0.1.0/24"))
    got = run(cfg, service("a", labels={"tier": "web"}), service("b", labels={"tier": "db"}))
    assert got["default/a"].pool == "web"
    assert got["default/b"].pool == "open"


def test_every_set_admission_list_must_match() -> None:
    strict = ServiceAllocation(
        priority=1,
        namespaces=frozenset({"shop"}),
        namespace_selectors=(selector(env="prod"),),
        service_selectors=(selector(tier="web"),),
    )
    cfg = config(pool("strict", "10.0.0.0/24", allocation=strict), pool("open", "10.0.1.0/24"))
    namespaces = (namespace("shop", env="prod"), namespace("dev", env="prod"))
    got = run(
        cfg,
        service("all", "shop", labels={"tier": "web"}),
        service("wrong-label", "shop", labels={"tier": "db"}),
        service("wrong-ns", "dev", labels={"tier": "web"}),
        namespaces=namespaces,
    )
    assert got["shop/all"].pool == "strict"
    assert got["shop/wrong-label"].pool == "open"
    assert got["dev/wrong-ns"].pool == "open"


def test_empty_service_allocation_admits_everything() -> None:
    cfg = config(
        pool("any", "10.0.0.0/24", allocation=ServiceAllocation()), pool("a", "10.0.1.0/24")
    )
    got = run(cfg, service("s", "whatever"))
    assert got["whatever/s"].pool == "any"


# --------------------------------------------------------------------------- sharing


def test_compatible_services_share_the_lowest_address() -> None:
    cfg = config(pool("p", "10.0.0.0/24"))
    got = run(
        cfg,
        service("a", annotations={SHARED: "k"}, ports=(("TCP", 53),), created=0),
        service("plain", created=1),
        service("b", annotations={SHARED: "k"}, ports=(("UDP", 53),), created=2),
        service("c", annotations={OLD_SHARED: "k"}, ports=(("TCP", 80),), created=3),
        service("clash", annotations={SHARED: "k"}, ports=(("TCP", 53),), created=4),
    )
    assert ips(got["default/a"]) == ["10.0.0.0"]
    assert ips(got["default/plain"]) == ["10.0.0.1"]
    assert ips(got["default/b"]) == ["10.0.0.0"]
    assert ips(got["default/c"]) == ["10.0.0.0"]
    assert ips(got["default/clash"]) == ["10.0.0.2"]  # TCP/53 is taken on .0
    assert allocate_cluster(cfg, cluster())[1]["p"].in_use == 0


def test_lower_free_address_beats_a_shareable_one() -> None:
    alloc = Allocator(config(pool("p", "10.0.0.0/24")))
    alloc.converge(service("first"), {})
    alloc.converge(service("a", annotations={SHARED: "k"}), {})
    alloc.release("default/first")
    got = alloc.converge(service("b", annotations={SHARED: "k"}, ports=(("UDP", 1),)), {})
    assert ips(got) == ["10.0.0.0"]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"annotations": {SHARED: "k1"}}, {"annotations": {SHARED: "k2"}}),
        ({}, {"annotations": {SHARED: "k"}}),
        ({"annotations": {SHARED: "k"}}, {}),
        ({"annotations": {SHARED: "k"}, "local": True}, {"annotations": {SHARED: "k"}}),
        (
            {"annotations": {SHARED: "k"}, "local": True, "pod_selector": {"app": "x"}},
            {"annotations": {SHARED: "k"}, "local": True, "pod_selector": {"app": "y"}},
        ),
    ],
    ids=["different-keys", "first-unshared", "second-unshared", "local-vs-cluster", "local-pods"],
)
def test_incompatible_keys_do_not_share(first: dict[str, Any], second: dict[str, Any]) -> None:
    cfg = config(pool("p", "10.0.0.0/24"))
    a = service("a", ports=(("TCP", 1),), created=0, **first)
    b = service("b", ports=(("TCP", 2),), created=1, **second)
    got = run(cfg, a, b)
    assert ips(got["default/a"]) == ["10.0.0.0"]
    assert ips(got["default/b"]) == ["10.0.0.1"]
    # Asking for the address does not help while a holds it.
    holding = service("a", ports=(("TCP", 1),), status=("10.0.0.0",), **first)
    pinned = service("b", ports=(("TCP", 2),), load_balancer_ip="10.0.0.0", **second)
    refused = run(cfg, holding, pinned)["default/b"]
    assert refused.error == (
        'can\'t change sharing key for "default/b", address also in use by default/a'
    )


def test_local_services_selecting_the_same_pods_share() -> None:
    cfg = config(pool("p", "10.0.0.0/24"))
    same = {"annotations": {SHARED: "k"}, "local": True, "pod_selector": {"app": "x", "v": "1"}}
    got = run(
        cfg, service("a", ports=(("TCP", 1),), **same), service("b", ports=(("TCP", 2),), **same)
    )
    assert ips(got["default/a"]) == ips(got["default/b"]) == ["10.0.0.0"]


def test_requested_shared_ip_with_port_overlap_is_refused() -> None:
    cfg = config(pool("p", "10.0.0.0/24"))
    a = service("a", annotations={SHARED: "k"}, load_balancer_ip="10.0.0.5", created=0)
    b = service("b", annotations={SHARED: "k"}, load_balancer_ip="10.0.0.5", created=1)
    c = service(
        "c", annotations={SHARED: "k"}, load_balancer_ip="10.0.0.5", ports=(("UDP", 80),), created=2
    )
    got = run(cfg, a, b, c)
    assert ips(got["default/a"]) == ["10.0.0.5"]
    assert got["default/b"].error == 'port TCP/80 is already in use on "10.0.0.5"'
    assert ips(got["default/c"]) == ["10.0.0.5"]


def test_service_alone_on_its_address_may_change_its_key() -> None:
    alloc = Allocator(config(pool("p", "10.0.0.0/24")))
    first = alloc.converge(service("a", annotations={SHARED: "k1"}), {})
    again = alloc.converge(service("a", annotations={SHARED: "k2"}, ports=(("UDP", 9),)), {})
    assert ips(first) == ips(again) == ["10.0.0.0"]
    assert ips(alloc.converge(service("b", annotations={SHARED: "k2"}), {})) == ["10.0.0.0"]
    # Now that b shares it, a cannot switch keys any more: it moves.
    moved = alloc.converge(service("a", annotations={SHARED: "k3"}, status=("10.0.0.0",)), {})
    assert moved is not None and ips(moved) == ["10.0.0.1"]
    assert moved.cleared is not None
    assert "can't change sharing key" in moved.cleared


def test_sharing_key_can_come_and_go_while_alone() -> None:
    alloc = Allocator(config(pool("p", "10.0.0.0/24")))
    plain = service("a", ports=(("TCP", 1),))
    keyed = service("a", ports=(("TCP", 1),), annotations={SHARED: "k"})
    assert ips(alloc.converge(plain, {})) == ["10.0.0.0"]
    assert ips(alloc.converge(keyed, {})) == ["10.0.0.0"]  # alone: may take a key
    b = service("b", ports=(("TCP", 2),), annotations={SHARED: "k"})
    assert ips(alloc.converge(b, {})) == ["10.0.0.0"]
    alloc.release("default/b")
    assert ips(alloc.converge(plain, {})) == ["10.0.0.0"]  # alone again: may drop it
    c = service("c", ports=(("TCP", 3),), annotations={SHARED: "k"})
    assert ips(alloc.converge(c, {})) == ["10.0.0.1"]  # a holds .0 without a key now
    alloc.release("default/a")
    assert alloc.usage()["p"].in_use == 1
    assert ips(alloc.converge(service("d"), {})) == ["10.0.0.0"]


def test_config_change_keeps_how_addresses_are_shared() -> None:
    alloc = Allocator(config(pool("p", "10.0.0.0/24")))
    a = service("a", ports=(("TCP", 1),), annotations={SHARED: "k"})
    b = service("b", ports=(("TCP", 2),), annotations={SHARED: "k"})
    assert ips(alloc.converge(a, {})) == ips(alloc.converge(b, {})) == ["10.0.0.0"]
    assert ips(alloc.converge(service("plain"), {})) == ["10.0.0.1"]
    assert alloc.set_config(config(pool("q", "10.0.0.0/24"))) == []
    clash = service("clash", ports=(("TCP", 1),), annotations={SHARED: "k"})
    assert ips(alloc.converge(clash, {})) == ["10.0.0.2"]  # TCP/1 is a's on .0
    fits = service("fits", ports=(("TCP", 3),), annotations={SHARED: "k"})
    assert ips(alloc.converge(fits, {})) == ["10.0.0.0"]
    # The unshared address stays unshared, and a cannot drop its key while others share .0.
    asks = service("asks", annotations={SHARED: "k"}, load_balancer_ip="10.0.0.1")
    assert (alloc.converge(asks, {}) or Allocation("", (), None)).error == (
        'can\'t change sharing key for "default/asks", address also in use by default/plain'
    )
    moved = alloc.converge(service("a", ports=(("TCP", 1),)), {})
    assert ips(moved) == ["10.0.0.3"]
    assert alloc.usage()["q"].in_use == 4


# --------------------------------------------------------------------------- dual-stack

V4 = ("10.96.0.1",)
V6 = ("fd00:96::1",)
DUAL = ("10.96.0.1", "fd00:96::1")
DUAL_V6_FIRST = ("fd00:96::1", "10.96.0.1")


def test_single_stack_follows_the_cluster_ip_family() -> None:
    cfg = config(pool("p", "10.0.0.0/24", "fd00::/120"))
    got = run(cfg, service("v4", cluster_ips=V4), service("v6", cluster_ips=V6))
    assert ips(got["default/v4"]) == ["10.0.0.0"]
    assert ips(got["default/v6"]) == ["fd00::"]


def test_require_dual_stack_needs_a_pool_with_both_families() -> None:
    cfg = config(pool("a-v4", "10.0.0.0/24"), pool("b-v6", "fd00::/120"))
    svc = service("s", cluster_ips=DUAL, policy="RequireDualStack")
    assert run(cfg, svc)["default/s"].error == NO_AVAILABLE_IPS
    cfg = config(pool("a-v4", "10.0.0.0/24"), pool("c-dual", "10.0.1.0/24", "fd01::/120"))
    got = run(cfg, svc)["default/s"]
    assert ips(got) == ["10.0.1.0", "fd01::"]  # IPv4 first, as MetalLB writes it
    assert got.pool == "c-dual"


def test_require_dual_stack_with_one_cluster_ip_fails() -> None:
    cfg = config(pool("p", "10.0.0.0/24", "fd00::/120"))
    got = run(cfg, service("s", cluster_ips=V4, policy="RequireDualStack"))["default/s"]
    assert got.ips == ()
    assert got.error is not None and got.error.startswith("not enough clusterips")


def test_prefer_dual_stack_picks_a_dual_pool_over_earlier_single_ones() -> None:
    cfg = config(
        pool("a-v4", "10.0.0.0/24"),
        pool("b-v6", "fd00::/120"),
        pool("c-dual", "10.0.1.0/24", "fd01::/120"),
    )
    got = run(cfg, service("s", cluster_ips=DUAL, policy="PreferDualStack"))["default/s"]
    assert got.pool == "c-dual"
    assert ips(got) == ["10.0.1.0", "fd01::"]


def test_prefer_dual_stack_falls_back_to_primary_then_other_family() -> None:
    cfg = config(pool("a-v4", "10.0.0.0/32"), pool("b-v6", "fd00::/127"))
    prefer_v6 = service(
        "v6first",
        cluster_ips=DUAL_V6_FIRST,
        ip_families=("IPv6", "IPv4"),
        policy="PreferDualStack",
        created=0,
    )
    prefer_v4 = service("v4first", cluster_ips=DUAL, policy="PreferDualStack", created=1)
    v4_again = service("v4again", cluster_ips=DUAL, policy="PreferDualStack", created=2)
    got = run(cfg, prefer_v6, prefer_v4, v4_again)
    assert ips(got["default/v6first"]) == ["fd00::"]
    assert ips(got["default/v4first"]) == ["10.0.0.0"]
    assert ips(got["default/v4again"]) == ["fd00::1"]  # v4 exhausted: the other family


def test_prefer_dual_stack_is_topped_up_from_its_own_pool() -> None:
    v4_only = config(pool("home", "10.0.0.0/24"), pool("zz-dual", "10.0.9.0/24", "fd09::/120"))
    alloc = Allocator(v4_only)
    svc = service("s", cluster_ips=DUAL, policy="PreferDualStack", annotations={POOL: "home"})
    assert ips(alloc.converge(svc, {})) == ["10.0.0.0"]
    svc = service("s", cluster_ips=DUAL, policy="PreferDualStack", status=("10.0.0.0",))
    assert ips(alloc.converge(svc, {})) == ["10.0.0.0"]  # no jump to the dual pool
    grown = config(pool("home", "10.0.0.0/24", "fd00::/120"), v4_only.pools["zz-dual"])
    assert alloc.set_config(grown) == []
    topped = alloc.converge(svc, {})
    assert topped is not None and topped.pool == "home"
    assert ips(topped) == ["10.0.0.0", "fd00::"]


def test_requested_address_is_never_topped_up() -> None:
    # MetalLB would add an IPv6 address, then drop both as "different IP" on the next pass.
    cfg = config(pool("p", "10.0.0.0/24", "fd00::/120"))
    svc = service(
        "s",
        cluster_ips=DUAL,
        policy="PreferDualStack",
        load_balancer_ip="10.0.0.9",
        status=("10.0.0.9",),
    )
    assert ips(run(cfg, svc)["default/s"]) == ["10.0.0.9"]


def test_without_cluster_ips_families_come_from_ip_families() -> None:
    cfg = config(pool("p", "10.0.0.0/24", "fd00::/120"))
    got = run(cfg, service("s", cluster_ips=(), ip_families=("IPv6",)))
    assert ips(got["default/s"]) == ["fd00::"]


# --------------------------------------------------------------------------- classes and types


def test_load_balancer_class_filter() -> None:
    cfg = config(pool("p", "10.0.0.0/24"))
    services = (
        service("plain"),
        service("mine", lb_class="x"),
        service("theirs", lb_class="y"),
        service("internal", kind="ClusterIP"),
    )
    assert set(run(cfg, *services)) == {"default/plain"}
    only_x = allocate_cluster(cfg, cluster(*services), lb_class="x")[0]
    assert set(only_x) == {"default/mine"}
    assert Allocator(cfg).converge(service("theirs", lb_class="y"), {}) is None


def test_service_that_stops_being_a_load_balancer_releases_its_address() -> None:
    alloc = Allocator(config(pool("p", "10.0.0.0/24")))
    alloc.converge(service("a"), {})
    assert alloc.converge(service("a", kind="NodePort"), {}) is None
    assert alloc.assigned("default/a") is None
    assert alloc.usage()["p"].in_use == 0


def test_no_pools_clears_everything() -> None:
    alloc = Allocator(config(pool("p", "10.0.0.0/24")))
    alloc.converge(service("a"), {})
    assert alloc.set_config(config()) == ["default/a"]
    got = alloc.converge(service("a", status=("10.0.0.0",)), {})
    assert got == Allocation("default/a", (), None, NO_POOLS, None, ERROR_NO_POOLS)


# --------------------------------------------------------------------------- re-claiming and order


def test_restart_keeps_every_address() -> None:
    cfg = config(pool("p", "10.0.0.0/24"))
    first = run(cfg, *(service(f"s{i}", created=i) for i in range(5)))
    # s0 and s2 were deleted; newcomers are older than everything else but must not steal.
    survivors = [
        with_status(service(f"s{i}", created=i), first[f"default/s{i}"]) for i in (1, 3, 4)
    ]
    newcomers = [service(f"new{i}", created=-10 - i) for i in range(3)]
    again = run(cfg, *newcomers, *survivors)
    for i in (1, 3, 4):
        assert again[f"default/s{i}"] == first[f"default/s{i}"]
    assert sorted(ips(again[f"default/new{i}"])[0] for i in range(3)) == [
        "10.0.0.0",
        "10.0.0.2",
        "10.0.0.5",
    ]
    assert ips(again["default/new2"]) == ["10.0.0.0"]  # oldest first


def test_converging_everything_again_changes_nothing_but_top_ups() -> None:
    v4_only = config(pool("p", "10.0.0.0/24"))
    alloc = Allocator(v4_only)
    services = cluster(
        service("dual", cluster_ips=DUAL, policy="PreferDualStack", created=0),
        service("asks", load_balancer_ip="10.0.0.7", created=1),
        service("shared", annotations={SHARED: "k"}, created=2),
        service("plain", created=3),
    )
    first = alloc.converge_all(services)
    again = alloc.converge_all(services)
    assert again == first
    assert all(again[k] is first[k] for k in first)  # unchanged allocations are kept as is
    assert alloc.set_config(config(pool("p", "10.0.0.0/24", "fd00::/120"))) == []
    grown = alloc.converge_all(services)
    assert ips(grown["default/dual"]) == ["10.0.0.0", "fd00::"]
    assert all(grown[k] is first[k] for k in first if k != "default/dual")


def test_automatic_assignment_never_steals_a_requested_address() -> None:
    cfg = config(pool("p", "10.0.0.0/24"))
    got = run(
        cfg,
        service("early", created=0),
        service("orphan", status=("192.168.0.1",), created=-5),
        service("asks", load_balancer_ip="10.0.0.0", created=9),
    )
    assert ips(got["default/asks"]) == ["10.0.0.0"]
    assert ips(got["default/orphan"]) == ["10.0.0.1"]
    assert ips(got["default/early"]) == ["10.0.0.2"]


def test_status_address_outside_the_pools_is_cleared_and_reallocated() -> None:
    got = run(config(pool("p", "10.0.0.0/24")), service("a", status=("192.168.0.1",)))
    a = got["default/a"]
    assert ips(a) == ["10.0.0.0"]
    assert a.cleared == (
        'current IP for "default/a" not allowed by config, will attempt for new IP assignment: '
        '["192.168.0.1"] is not allowed in config'
    )


def test_status_in_a_pool_that_no_longer_admits_is_cleared() -> None:
    cfg = config(
        pool("team", "10.0.0.0/24", allocation=ServiceAllocation(namespaces=frozenset({"team"}))),
        pool("open", "10.0.1.0/24"),
    )
    got = run(cfg, service("a", "other", status=("10.0.0.3",)))["other/a"]
    assert ips(got) == ["10.0.1.0"]
    assert got.cleared is not None and "pool team not compatible" in got.cleared


def test_changed_pool_annotation_or_requested_ip_moves_the_service() -> None:
    cfg = config(pool("a", "10.0.0.0/24"), pool("b", "10.0.1.0/24"))
    moved = run(cfg, service("s", status=("10.0.0.4",), annotations={POOL: "b"}))["default/s"]
    assert (moved.pool, ips(moved)) == ("b", ["10.0.1.0"])
    assert moved.cleared == "user requested a different pool than the one currently assigned"
    asked = run(cfg, service("s", status=("10.0.0.4",), load_balancer_ip="10.0.0.8"))["default/s"]
    assert ips(asked) == ["10.0.0.8"]
    kept = run(cfg, service("s", status=("10.0.0.4",), load_balancer_ip="10.0.0.4"))["default/s"]
    assert ips(kept) == ["10.0.0.4"]
    assert kept.cleared is None


def test_two_unshared_services_claiming_one_address_oldest_keeps_it() -> None:
    cfg = config(pool("p", "10.0.0.0/24"))
    got = run(
        cfg,
        service("young", status=("10.0.0.7",), created=5),
        service("old", status=("10.0.0.7",), created=1),
    )
    assert ips(got["default/old"]) == ["10.0.0.7"]
    assert ips(got["default/young"]) == ["10.0.0.0"]
    assert got["default/young"].cleared is not None


def test_invalid_request_keeps_the_current_address_and_reports() -> None:
    svc = service(
        "a", status=("10.0.0.4",), load_balancer_ip="10.0.0.4", annotations={LB_IPS: "10.0.0.4"}
    )
    got = run(config(pool("p", "10.0.0.0/24")), svc)["default/a"]
    assert ips(got) == ["10.0.0.4"]
    assert got.error is not None and got.error.startswith("service can not have both")


def test_status_of_the_wrong_family_is_cleared() -> None:
    cfg = config(pool("p", "10.0.0.0/24", "fd00::/120"))
    got = run(cfg, service("a", cluster_ips=V6, status=("10.0.0.4",)))["default/a"]
    assert ips(got) == ["fd00::"]
    assert got.cleared is not None and "IP family" in got.cleared


def test_result_does_not_depend_on_input_order() -> None:
    cfg = config(pool("p", "10.0.0.0/29"))
    services = [service(f"s{i}", created=i % 3) for i in range(10)]
    forward = run(cfg, *services)
    backward = run(cfg, *reversed(services))
    assert forward == backward
    # Equal creation times: by namespace, then name.
    assert ips(forward["default/s0"]) == ["10.0.0.0"]
    assert ips(forward["default/s3"]) == ["10.0.0.1"]


# --------------------------------------------------------------------------- config changes


def test_config_change_orphans_are_released_and_reallocated() -> None:
    old = config(pool("p", "10.0.0.0/30", "10.0.1.0/30"))
    alloc = Allocator(old)
    a = alloc.converge(service("a"), {})
    for i in range(4):
        alloc.converge(service(f"fill{i}"), {})
    b = alloc.converge(service("b"), {})
    assert ips(a) == ["10.0.0.0"]
    assert ips(b) == ["10.0.1.1"]
    orphans = alloc.set_config(config(pool("p", "10.0.1.0/30", "10.0.2.0/30")))
    assert orphans == ["default/a", "default/fill0", "default/fill1", "default/fill2"]
    assert ips(alloc.assigned("default/b")) == ["10.0.1.1"]
    assert a is not None
    again = alloc.converge(with_status(service("a"), a), {})
    assert again is not None and ips(again) == ["10.0.1.2"]
    assert again.cleared is not None and again.cleared.startswith('current IP for "default/a"')


def test_range_moving_to_another_pool_is_reattributed() -> None:
    alloc = Allocator(config(pool("old", "10.0.0.0/24")))
    alloc.converge(service("a"), {})
    assert alloc.set_config(config(pool("new", "10.0.0.0/24"))) == []
    assigned = alloc.assigned("default/a")
    assert assigned is not None and assigned.pool == "new"
    assert alloc.usage()["new"].in_use == 1


def test_allocate_cluster_reallocates_orphans_of_a_new_config() -> None:
    first = run(config(pool("p", "10.0.0.0/24")), service("a"))
    svc = with_status(service("a"), first["default/a"])
    got = run(config(pool("q", "10.0.5.0/24")), svc)["default/a"]
    assert (got.pool, ips(got)) == ("q", ["10.0.5.0"])
    assert got.cleared is not None


# --------------------------------------------------------------------------- counters


def test_usage_counts_addresses_by_family() -> None:
    cfg = config(pool("p", "10.0.0.0/24", "fd00::/64"), pool("z-idle", "10.1.0.0/30"))
    alloc = Allocator(cfg)
    alloc.converge(service("a", cluster_ips=DUAL, policy="RequireDualStack"), {})
    alloc.converge(service("b", annotations={SHARED: "k"}, ports=(("TCP", 1),)), {})
    alloc.converge(service("c", annotations={SHARED: "k"}, ports=(("TCP", 2),)), {})
    usage = alloc.usage()
    assert usage["p"] == PoolUsage(
        total=256 + 2**64, in_use=3, total_v4=256, total_v6=2**64, in_use_v4=2, in_use_v6=1
    )
    assert usage["z-idle"] == PoolUsage(4, 0, 4, 0, 0, 0)
    alloc.release("default/b")
    assert alloc.usage()["p"].in_use_v4 == 2  # c still holds the shared address
    alloc.release("default/c")
    assert alloc.usage()["p"].in_use_v4 == 1


@pytest.mark.parametrize(
    ("ranges", "total"),
    [
        (("10.0.0.0/24",), 254),
        (("10.0.0.0/23",), 508),
        (("10.0.0.0/25",), 127),
        (("10.0.0.8/29",), 8),
        (("10.0.0.250-10.0.1.5",), 10),
        (("10.0.0.255/32", "10.0.1.0/32"), 0),
        (("fd00::/120",), 256),
    ],
)
def test_total_excludes_buggy_addresses(ranges: tuple[str, ...], total: int) -> None:
    alloc = Allocator(config(pool("p", *ranges, avoid_buggy_ips=True)))
    assert alloc.usage()["p"].total == total


def test_large_ipv6_pool_is_cheap_and_exact() -> None:
    alloc = Allocator(config(pool("v6", "fd00::/48")))
    for i in range(2000):
        alloc.converge(service(f"s{i}", cluster_ips=V6), {})
    alloc.release("default/s1000")
    assert ips(alloc.converge(service("x", cluster_ips=V6), {})) == ["fd00::3e8"]
    assert alloc.usage()["v6"] == PoolUsage(2**80, 2000, 0, 2**80, 0, 2000)
