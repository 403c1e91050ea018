"""MetalLB's controller Events on Services beyond the allocation ones, against the fake API.

The reasons, types and messages are MetalLB's (controller/service.go): LoadBalancerFailed,
AdditionalAssignFailed, "not enough clusterips", nolbIPsIPFamily, noclusterIPsIPFamily. The
assertions read the Event objects from the API server, as ``kubectl describe service`` would.
"""

from __future__ import annotations

from typing import Any

import pytest

from actors.clock import ManualClock
from actors.kube.resources import CONTROLLER_RESOURCES
from actors.roles.controller import controller_specs
from tests.kube.fakeapi import FakeKubeApi
from tests.kube.harness import (
    NS,
    Role,
    events_for,
    ingress_of,
    kube_cluster,
    l2_advertisement,
    namespace,
    pool,
    service,
    wait_until,
)

DUAL = {"clusterIPs": ["10.96.7.1", "fd96::7:1"], "ipFamilies": ["IPv4", "IPv6"]}


def start_controller(fake: FakeKubeApi) -> Role:
    kube = kube_cluster(fake, CONTROLLER_RESOURCES)
    return Role("controller", controller_specs(kube), kube, ManualClock())


def seed(fake: FakeKubeApi, *addresses: str) -> None:
    fake.create(namespace(NS))
    fake.create(namespace("default"))
    fake.create(pool("lan", *(addresses or ("10.99.0.10-10.99.0.19",))))
    fake.create(l2_advertisement())


def only(fake: FakeKubeApi, name: str, reason: str) -> dict[str, Any]:
    (event,) = wait_until(lambda: events_for(fake, name, reason), what=f"{reason} on {name}")
    return event


def edit(fake: FakeKubeApi, name: str, patch: dict[str, Any]) -> None:
    fake.merge("Service", name, patch, "default")


def set_ingress(fake: FakeKubeApi, name: str, *ips: str) -> None:
    status = {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]}}
    fake.merge("Service", name, {"status": status}, "default", subresource="status")


def test_an_invalid_request_on_a_service_holding_an_ip_is_load_balancer_failed(
    fake: FakeKubeApi,
) -> None:
    seed(fake)
    controller = start_controller(fake)
    fake.create(service("web"))
    assert wait_until(lambda: ingress_of(fake, "web")) == ["10.99.0.10"]
    edit(fake, "web", {"metadata": {"annotations": {"metallb.io/loadBalancerIPs": "bogus"}}})
    event = only(fake, "web", "LoadBalancerFailed")
    assert event["type"] == "Warning"
    assert event["message"] == (
        'invalid requested loadbalancer IPs: invalid metallb.io/loadBalancerIPs: "bogus"'
    )
    assert event["involvedObject"]["kind"] == "Service"
    assert event["source"]["component"] == "metallb-controller"
    # MetalLB keeps serving the address it holds, and reports no allocation failure.
    assert ingress_of(fake, "web") == ["10.99.0.10"]
    assert not events_for(fake, "web", "AllocationFailed")
    # An unparsable spec.loadBalancerIP likewise (a new message: a new Event).
    edit(
        fake,
        "web",
        {
            "metadata": {"annotations": {"metallb.io/loadBalancerIPs": None}},
            "spec": {"loadBalancerIP": "nonsense"},
        },
    )
    wait_until(lambda: len(events_for(fake, "web", "LoadBalancerFailed")) == 2)
    messages = [e["message"] for e in events_for(fake, "web", "LoadBalancerFailed")]
    assert 'invalid requested loadbalancer IPs: invalid spec.loadBalancerIP "nonsense"' in messages
    controller.stop()


def test_an_invalid_request_on_a_new_service_is_allocation_failed_as_in_metallb(
    fake: FakeKubeApi,
) -> None:
    seed(fake)
    controller = start_controller(fake)
    fake.create(service("fresh", loadBalancerIP="10.99.0.300"))
    event = only(fake, "fresh", "AllocationFailed")
    assert event["type"] == "Warning"
    assert event["message"] == (
        'Failed to allocate IP for "default/fresh": invalid spec.loadBalancerIP "10.99.0.300"'
    )
    assert not events_for(fake, "fresh", "LoadBalancerFailed")
    controller.stop()


def test_prefer_dual_stack_without_the_second_family_then_with_it(fake: FakeKubeApi) -> None:
    seed(fake)  # IPv4 only
    controller = start_controller(fake)
    fake.create(service("dual", ipFamilyPolicy="PreferDualStack", **DUAL))
    assert wait_until(lambda: ingress_of(fake, "dual")) == ["10.99.0.10"]
    event = only(fake, "dual", "AdditionalAssignFailed")
    assert event["type"] == "Normal"
    assert event["message"] == (
        "cannot assign additional IP in PreferDualStack: no available IPs in pool lan for ipv6 "
        "IPFamily"
    )
    # The pool gains IPv6: the service is topped up from the same pool, and told so.
    lan = fake.get("IPAddressPool", "lan", NS)
    lan["spec"]["addresses"] = ["10.99.0.10-10.99.0.19", "fd00:99::/124"]
    fake.update(lan)
    assert wait_until(lambda: len(ingress_of(fake, "dual")) == 2 and ingress_of(fake, "dual")) == [
        "10.99.0.10",
        "fd00:99::",
    ]
    messages = [e["message"] for e in events_for(fake, "dual", "IPAllocated")]
    assert wait_until(
        lambda: [e["message"] for e in events_for(fake, "dual", "IPAllocated")][1:]
    ) == ['Assigned additional IP "fd00:99::"']
    assert messages[0] == 'Assigned IP ["10.99.0.10"]'
    assert len(events_for(fake, "dual", "AdditionalAssignFailed")) == 1
    controller.stop()


def test_require_dual_stack_with_one_cluster_ip_is_not_enough_clusterips(
    fake: FakeKubeApi,
) -> None:
    seed(fake, "10.99.0.0/28", "fd00:99::/124")
    controller = start_controller(fake)
    svc = service("strict", ipFamilyPolicy="RequireDualStack")
    fake.create(svc)
    event = only(fake, "strict", "not enough clusterips")
    assert event["type"] == "Warning"
    cluster_ip = svc["spec"]["clusterIPs"][0]
    assert event["message"] == (
        f"Service requires dual stack but not enough clusterips [{cluster_ip}]"
    )
    # MetalLB tells only that, not an allocation failure on top.
    fake.create(service("other"))
    wait_until(lambda: ingress_of(fake, "other"))
    assert not events_for(fake, "strict", "AllocationFailed")
    assert ingress_of(fake, "strict") == []
    controller.stop()


def test_addresses_in_the_status_without_an_ip_family_are_nolbipsipfamily(
    fake: FakeKubeApi,
) -> None:
    seed(fake)
    fake.create(service("twice"))
    set_ingress(fake, "twice", "10.99.0.15", "10.99.0.16")  # two of one family
    controller = start_controller(fake)
    event = only(fake, "twice", "nolbIPsIPFamily")
    assert event["type"] == "Warning"
    assert event["message"] == (
        'Failed to retrieve LBIPs IPFamily for ["10.99.0.15" "10.99.0.16"]: '
        'IPFamilyForAddresses: same address family ["10.99.0.15" "10.99.0.16"]'
    )
    # Cleared and allocated afresh, as MetalLB does.
    assert wait_until(lambda: ingress_of(fake, "twice") == ["10.99.0.10"])
    only(fake, "twice", "IPAllocated")
    controller.stop()


def test_cluster_ips_without_an_ip_family_are_noclusteripsipfamily(fake: FakeKubeApi) -> None:
    seed(fake)
    fake.create(service("odd", clusterIP="bogus", clusterIPs=["bogus"]))
    set_ingress(fake, "odd", "10.99.0.12")
    fake.create(service("odd-new", clusterIP="bogus", clusterIPs=["bogus"]))
    controller = start_controller(fake)
    event = only(fake, "odd", "noclusterIPsIPFamily")
    assert event["type"] == "Warning"
    assert event["message"].startswith(
        'Failed to retrieve ClusterIPs IPFamily for ["bogus"] bogus: invalid ClusterIPs'
    )
    # A service holding an address keeps it (MetalLB stops converging it); one holding none
    # fails to allocate.
    failed = only(fake, "odd-new", "AllocationFailed")
    assert "can't determine family" in failed["message"]
    assert ingress_of(fake, "odd") == ["10.99.0.12"]
    assert ingress_of(fake, "odd-new") == []
    controller.stop()


def test_ipallocated_events_never_run_ahead_of_the_status_writes(
    fake: FakeKubeApi, caplog: pytest.LogCaptureFixture
) -> None:
    """Status first, Events after, end to end: at every point of the API server's request
    log there have been at least as many status PATCHes as IPAllocated Events (an Event never
    runs ahead of the status writes queued before it), and one Event per Service. The exact
    order within one update (all status writes, then the Events) is the gated fake's test in
    test_status_writes; here a burst can reach the controller over several refreshes."""
    seed(fake, "10.99.0.0/24")
    names = [f"s{i:02}" for i in range(40)]
    for name in names:
        fake.create(service(name))
    start_controller(fake)
    wait_until(lambda: all(events_for(fake, n, "IPAllocated") for n in names), what="Events")
    wait_until(lambda: all(ingress_of(fake, n) for n in names), what="every status")
    kinds = [
        "status" if path.endswith("/status") else "event"
        for method, path, _ in list(fake.store.requests)
        if (method == "PATCH" and "/services/" in path) or (method == "POST" and "/events" in path)
    ]
    assert kinds.count("event") == len(names)
    if "writing the status of" in caplog.text:
        return  # a write failed and waits for its retry: the Events did not wait for that
    assert kinds.count("status") == len(names)
    for seen in range(1, len(kinds) + 1):
        prefix = kinds[:seen]
        assert prefix.count("event") <= prefix.count("status"), kinds
    assert all(ingress_of(fake, n) for n in names)
    assert all(len(events_for(fake, n, "IPAllocated")) == 1 for n in names)
