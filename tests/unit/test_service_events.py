"""The allocator's error kinds and the controller's mapping of them to MetalLB's Events (pure)."""

from __future__ import annotations

import ipaddress
from types import MappingProxyType
from typing import Any

from actors.allocator.converge import Allocator
from actors.kube.service_events import ServiceEvent, allocation_service_events
from actors.model.allocation import (
    CLEARED_NO_IP_FAMILY,
    CLEARED_NOT_ALLOWED,
    CLEARED_OTHER,
    ERROR_ALLOCATION,
    ERROR_CLUSTER_IP_FAMILY,
    ERROR_NO_POOLS,
    ERROR_NOT_ENOUGH_CLUSTER_IPS,
    ERROR_REQUEST,
    Allocation,
)
from actors.model.cluster import Service
from actors.model.config import AddressRange, Config, Pool

V4 = ipaddress.ip_address("10.0.0.1")
V6 = ipaddress.ip_address("fd00::1")


def pool(name: str, *cidrs: str) -> Pool:
    ranges = []
    for cidr in cidrs:
        net = ipaddress.ip_network(cidr)
        ranges.append(AddressRange(net[0], net[-1], cidr))
    return Pool(name=name, ranges=tuple(ranges))


def config(*pools: Pool) -> Config:
    return Config(pools=MappingProxyType({p.name: p for p in pools}))


def service(name: str = "s", *, status: tuple[str, ...] = (), **spec: Any) -> Service:
    spec.setdefault("clusterIPs", ["10.96.0.1"])
    spec.setdefault("clusterIP", spec["clusterIPs"][0])
    annotations = spec.pop("annotations", {})
    return Service.model_validate(
        {
            "metadata": {"name": name, "namespace": "default", "annotations": annotations},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80}], **spec},
            "status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in status]}},
        }
    )


def converge(cfg: Config, svc: Service) -> Allocation:
    got = Allocator(cfg).converge(svc, {})
    assert got is not None
    return got


# --------------------------------------------------------------------------- core kinds


def test_an_invalid_request_is_a_request_error_and_keeps_what_is_held() -> None:
    cfg = config(pool("p", "10.0.0.0/24"))
    held = converge(cfg, service(status=("10.0.0.7",), loadBalancerIP="nope"))
    assert [str(ip) for ip in held.ips] == ["10.0.0.7"]
    assert held.error == 'invalid spec.loadBalancerIP "nope"'
    assert held.error_kind == ERROR_REQUEST
    fresh = converge(cfg, service(loadBalancerIP="nope"))
    assert (fresh.ips, fresh.error_kind) == ((), ERROR_REQUEST)


def test_require_dual_stack_with_one_cluster_ip_is_its_own_kind() -> None:
    cfg = config(pool("p", "10.0.0.0/24", "fd00::/120"))
    got = converge(cfg, service(ipFamilyPolicy="RequireDualStack"))
    assert got.ips == ()
    assert got.error_kind == ERROR_NOT_ENOUGH_CLUSTER_IPS


def test_cluster_ips_without_a_family() -> None:
    cfg = config(pool("p", "10.0.0.0/24"))
    for cluster_ips in (["bogus"], ["10.96.0.1", "10.96.0.2"], ["a", "b", "c"]):
        got = converge(cfg, service(status=("10.0.0.3",), clusterIPs=cluster_ips))
        assert [str(ip) for ip in got.ips] == ["10.0.0.3"], cluster_ips
        assert got.error_kind == ERROR_CLUSTER_IP_FAMILY
        assert got.error is not None and "can't determine family" in got.error
    # Ordinary single- and dual-stack clusterIPs are no error.
    dual = ["10.96.0.1", "fd96::1"]
    for cluster_ips in (["10.96.0.1"], ["fd96::1"], dual):
        both = config(pool("p", "10.0.0.0/24", "fd00::/120"))
        assert converge(both, service(clusterIPs=cluster_ips)).error is None


def test_status_addresses_without_a_family_are_cleared_with_that_kind() -> None:
    cfg = config(pool("p", "10.0.0.0/24"))
    for status, says in (
        (("10.0.0.5", "10.0.0.6"), "same address family"),
        (("10.0.0.5", "zzz"), "Invalid address"),
        (("10.0.0.5", "fd00::1", "10.0.0.6"), "invalid ips length 3"),
    ):
        got = converge(cfg, service(status=status))
        assert [str(ip) for ip in got.ips] == ["10.0.0.0"]
        assert got.cleared is not None and says in got.cleared
        assert got.cleared_kind == CLEARED_NO_IP_FAMILY
    # Addresses the configuration no longer admits.
    gone = converge(cfg, service(status=("192.0.2.1",)))
    assert gone.cleared_kind == CLEARED_NOT_ALLOWED
    assert Allocation("x", (), None).cleared_kind == CLEARED_OTHER


def test_prefer_dual_stack_reports_the_missing_family_until_topped_up() -> None:
    svc = service(
        ipFamilyPolicy="PreferDualStack",
        clusterIPs=["10.96.0.1", "fd96::1"],
        ipFamilies=["IPv4", "IPv6"],
    )
    allocator = Allocator(config(pool("p", "10.0.0.0/24")))
    first = allocator.converge(svc, {})
    assert first is not None and first.notice == ("no available IPs in pool p for ipv6 IPFamily")
    assert allocator.converge(svc, {}) is first  # unchanged: the very same object
    allocator.set_config(config(pool("p", "10.0.0.0/24", "fd00::/120")))
    topped = allocator.converge(svc, {})
    assert topped is not None and [str(ip) for ip in topped.ips] == ["10.0.0.0", "fd00::"]
    assert topped.notice is None
    single = converge(config(pool("p", "10.0.0.0/24")), service())
    assert single.notice is None and single.error_kind == ERROR_ALLOCATION


# --------------------------------------------------------------------------- the mapping


def events(before: Allocation | None, after: Allocation | None, svc: Service | None = None):
    return allocation_service_events("default/s", svc or service(), before, after)


def test_nothing_changed_tells_nothing() -> None:
    a = Allocation("default/s", (V4,), "p")
    assert events(a, a) == []
    assert events(a, None) == []  # deleted: MetalLB says nothing


def test_an_assignment_and_an_additional_one() -> None:
    one = Allocation("default/s", (V4,), "p")
    two = Allocation("default/s", (V4, V6), "p")
    assert events(None, one) == [ServiceEvent("Normal", "IPAllocated", 'Assigned IP ["10.0.0.1"]')]
    assert events(one, two) == [
        ServiceEvent("Normal", "IPAllocated", 'Assigned additional IP "fd00::1"')
    ]
    # Re-learned from the status at start: nothing new.
    assert events(None, one, service(status=("10.0.0.1",))) == []


def test_each_error_kind_has_metallbs_reason() -> None:
    held = (V4,)
    cases = [
        ((), "no available IPs", ERROR_ALLOCATION, "Warning", "AllocationFailed",
         'Failed to allocate IP for "default/s": no available IPs'),
        ((), "bad", ERROR_REQUEST, "Warning", "AllocationFailed",
         'Failed to allocate IP for "default/s": bad'),
        (held, "bad", ERROR_REQUEST, "Warning", "LoadBalancerFailed",
         "invalid requested loadbalancer IPs: bad"),
        ((), "x", ERROR_NOT_ENOUGH_CLUSTER_IPS, "Warning", "not enough clusterips",
         "Service requires dual stack but not enough clusterips [10.96.0.1]"),
        (held, "y", ERROR_CLUSTER_IP_FAMILY, "Warning", "noclusterIPsIPFamily",
         'Failed to retrieve ClusterIPs IPFamily for ["10.96.0.1"] 10.96.0.1: y'),
        ((), "y", ERROR_CLUSTER_IP_FAMILY, "Warning", "AllocationFailed",
         'Failed to allocate IP for "default/s": y'),
    ]  # fmt: skip
    for ips, error, kind, type_, reason, message in cases:
        before = Allocation("default/s", ips, "p" if ips else None)
        after = Allocation("default/s", ips, "p" if ips else None, error, None, kind)
        assert events(before, after) == [ServiceEvent(type_, reason, message)], (kind, ips)
        assert events(after, after) == []


def test_no_pool_at_all_is_told_by_no_event_as_in_metallb() -> None:
    from actors.allocator.converge import NO_POOLS

    after = Allocation("default/s", (), None, NO_POOLS, None, ERROR_NO_POOLS)
    assert events(Allocation("default/s", (V4,), "p"), after) == []
    assert events(None, after) == []


def test_drops_and_notices() -> None:
    cleared = Allocation(
        "default/s", (V4,), "p", None, 'current IP for "default/s" not allowed by config, ...'
    )
    assert events(None, cleared, service(status=("192.0.2.1",)))[0] == ServiceEvent(
        "Normal", "ClearAssignment", 'current IP for "default/s" not allowed by config, ...'
    )
    no_family = Allocation(
        "default/s", (V4,), "p", None, 'IPFamilyForAddresses: same address family ["a" "b"]'
    )
    assert events(None, no_family, service(status=("10.0.0.8", "10.0.0.9")))[0] == ServiceEvent(
        "Warning",
        "nolbIPsIPFamily",
        'Failed to retrieve LBIPs IPFamily for ["10.0.0.8" "10.0.0.9"]: '
        'IPFamilyForAddresses: same address family ["a" "b"]',
    )
    silent = Allocation("default/s", (V4,), "p", None, "user requested a different IP")
    assert [e.reason for e in events(None, silent)] == ["IPAllocated"]
    noted = Allocation("default/s", (V4,), "p", notice="no available IPs in pool p for ipv6")
    assert events(Allocation("default/s", (V4,), "p"), noted) == [
        ServiceEvent(
            "Normal",
            "AdditionalAssignFailed",
            "cannot assign additional IP in PreferDualStack: no available IPs in pool p for ipv6",
        )
    ]
