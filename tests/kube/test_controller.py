"""``lbtui controller`` against the fake API server, driven by the official client.

Time is virtual (ManualClock) for every timer of the runtime, the reflectors' backoff
included; only the HTTP traffic is real. Assertions read the API server's objects, as
``kubectl`` would.
"""

from __future__ import annotations

import ipaddress

import pytest

from actors.clock import ManualClock
from actors.events import ApiConnectionChanged, ClusterUpdated, IpReleased, RuntimeReady
from actors.kube.resources import CONTROLLER_RESOURCES
from actors.model.annotations import ANNOTATION_IP_ALLOCATED_FROM_POOL
from actors.roles.controller import controller_specs
from tests.kube.fakeapi import FakeKubeApi
from tests.kube.harness import (
    NS,
    Role,
    advance_until,
    events_for,
    ingress_of,
    kube_cluster,
    l2_advertisement,
    namespace,
    outage_settled,
    pool,
    service,
    wait_until,
)


def start_controller(fake: FakeKubeApi, clock: ManualClock | None = None, **kw: object) -> Role:
    kube = kube_cluster(fake, CONTROLLER_RESOURCES)
    clock = clock or ManualClock()
    return Role("controller", controller_specs(kube, **kw), kube, clock)  # type: ignore[arg-type]


def seed(fake: FakeKubeApi, *addresses: str) -> None:
    fake.create(namespace(NS))
    fake.create(namespace("default"))
    fake.create(pool("lan", *(addresses or ("10.99.0.10-10.99.0.19",))))
    fake.create(l2_advertisement())


def test_a_new_load_balancer_service_gets_an_ip_in_its_status(fake: FakeKubeApi) -> None:
    seed(fake)
    controller = start_controller(fake)
    fake.create(service("web"))
    assert wait_until(lambda: ingress_of(fake, "web")) == ["10.99.0.10"]
    obj = fake.get("Service", "web", "default")
    assert obj["metadata"]["annotations"][ANNOTATION_IP_ALLOCATED_FROM_POOL] == "lan"
    # Written through the status subresource, with a strategic merge patch as MetalLB does.
    writes = [r for r in fake.store.requests if r[0] == "PATCH" and "/services/" in r[1]]
    assert writes and all(r[1].endswith("/web/status") for r in writes)
    assert {r[2] for r in writes} == {"application/strategic-merge-patch+json"}
    event = wait_until(lambda: events_for(fake, "web", "IPAllocated"))[0]
    assert event["message"] == 'Assigned IP ["10.99.0.10"]'
    assert event["type"] == "Normal"
    # A service that is not a LoadBalancer is left alone.
    fake.create(service("internal", type_="ClusterIP"))
    fake.create(service("second"))
    wait_until(lambda: ingress_of(fake, "second") == ["10.99.0.11"])
    assert ingress_of(fake, "internal") == []
    controller.stop()


def test_a_requested_ip_and_an_impossible_request(fake: FakeKubeApi) -> None:
    seed(fake)
    controller = start_controller(fake)
    fake.create(service("pinned", annotations={"metallb.io/loadBalancerIPs": "10.99.0.15"}))
    fake.create(service("legacy", loadBalancerIP="10.99.0.17"))
    fake.create(service("outside", annotations={"metallb.io/loadBalancerIPs": "192.0.2.1"}))
    assert wait_until(lambda: ingress_of(fake, "pinned")) == ["10.99.0.15"]
    assert wait_until(lambda: ingress_of(fake, "legacy")) == ["10.99.0.17"]
    failed = wait_until(lambda: events_for(fake, "outside", "AllocationFailed"))
    assert failed[0]["type"] == "Warning"
    assert failed[0]["message"].startswith('Failed to allocate IP for "default/outside": ')
    assert ingress_of(fake, "outside") == []
    controller.stop()


def test_a_pool_edit_reallocates(fake: FakeKubeApi) -> None:
    seed(fake)
    controller = start_controller(fake)
    fake.create(service("web"))
    fake.create(service("api"))
    wait_until(lambda: ingress_of(fake, "web") and ingress_of(fake, "api"))
    before = {ingress_of(fake, "web")[0], ingress_of(fake, "api")[0]}
    assert before == {"10.99.0.10", "10.99.0.11"}
    edited = fake.get("IPAddressPool", "lan", NS)
    edited["spec"]["addresses"] = ["10.99.1.0/28"]
    fake.update(edited)
    wait_until(
        lambda: {*ingress_of(fake, "web"), *ingress_of(fake, "api")} == {"10.99.1.0", "10.99.1.1"},
        what="both services moved into the new range",
    )
    released = controller.of(IpReleased)
    assert {e.service for e in released} == {"default/web", "default/api"}
    controller.stop()


def test_pool_status_and_configuration_state(fake: FakeKubeApi) -> None:
    seed(fake, "10.99.0.0/30", "fd00:99::/126")
    controller = start_controller(fake)
    fake.create(service("web"))
    wait_until(lambda: ingress_of(fake, "web"))
    status = wait_until(
        lambda: (
            (fake.get("IPAddressPool", "lan", NS).get("status") or {}).get("assignedIPv4")
            and fake.get("IPAddressPool", "lan", NS)["status"]
        )
    )
    assert status == {"assignedIPv4": 1, "assignedIPv6": 0, "availableIPv4": 3, "availableIPv6": 4}
    state = wait_until(lambda: fake.try_get("ConfigurationState", "controller", NS))
    state = wait_until(lambda: fake.get("ConfigurationState", "controller", NS).get("status"))
    assert state["result"] == "Valid"
    assert state["conditions"][0]["type"] == "poolReconcilerValid"
    labels = fake.get("ConfigurationState", "controller", NS)["metadata"]["labels"]
    assert labels == {"metallb.io/component-type": "controller"}
    # An invalid pool: the last good configuration stays, the state says why.
    bad = pool("broken", "10.99.0.2/31")  # overlaps lan
    fake.create(bad)
    state = wait_until(
        lambda: (
            (fake.get("ConfigurationState", "controller", NS).get("status") or {}).get("result")
            == "Invalid"
            and fake.get("ConfigurationState", "controller", NS)["status"]
        )
    )
    assert "overlap" in state["errorSummary"]
    assert ingress_of(fake, "web") == ["10.99.0.0"]
    controller.stop()


@pytest.mark.parametrize("order", ["pending-service-is-older"])
def test_a_restarted_controller_keeps_every_ip(fake: FakeKubeApi, order: str) -> None:
    seed(fake)
    first = start_controller(fake)
    for name in ("a", "b", "c"):
        fake.create(service(name))
    wait_until(lambda: all(ingress_of(fake, n) for n in "abc"))
    held = {n: ingress_of(fake, n) for n in "abc"}
    fake.delete("Service", "a", "default")  # frees the lowest address
    wait_until(lambda: len(first.proxy("allocator").snapshot().get()[0]) == 2)
    first.stop()
    # While no controller runs: a new service, older than every other (so rule 7 alone would
    # serve it first), and an edit that does not touch the addresses.
    fake.create(service("older", created="2020-01-01T00:00:00Z"))
    second = start_controller(fake)
    wait_until(lambda: ingress_of(fake, "older"))
    assert ingress_of(fake, "b") == held["b"]
    assert ingress_of(fake, "c") == held["c"]
    assert ingress_of(fake, "older") == held["a"]  # the freed one, not someone else's
    # Nothing was announced as newly allocated for b and c: they were re-learned.
    assert [e["message"] for e in events_for(fake, "b", "IPAllocated")] == [
        f'Assigned IP ["{held["b"][0]}"]'
    ]
    assert not second.of(IpReleased)
    second.stop()


def test_watch_expiry_410_recovers_without_a_missed_change(fake: FakeKubeApi) -> None:
    seed(fake)
    clock = ManualClock()
    controller = start_controller(fake, clock)
    for name in ("keep", "gone", "changed"):
        fake.create(service(name))
    wait_until(lambda: all(ingress_of(fake, n) for n in ("keep", "gone", "changed")))
    gone_ip = ingress_of(fake, "gone")
    changed_ip = ingress_of(fake, "changed")
    lists_before = sum(
        1 for m, p, _ in fake.store.requests if m == "GET" and p == "/api/v1/services"
    )
    # Cut the watches; the reflectors back off (virtual time stands still meanwhile).
    fake.down()
    wait_until(lambda: controller.of(ApiConnectionChanged), what="the outage is noticed")
    # Changes the controller cannot see yet, then the history is compacted: resuming the
    # watch from the old resourceVersion must now fail with 410 Gone.
    fake.delete("Service", "gone", "default")
    fake.create(service("new"))
    changed = fake.get("Service", "changed", "default")
    changed["metadata"]["annotations"] = {"metallb.io/loadBalancerIPs": "10.99.0.19"}
    fake.update(changed)
    fake.store.compact()
    fake.up()
    advance_until(clock, lambda: ingress_of(fake, "changed") == ["10.99.0.19"])
    # Two addresses are free now: the one "changed" let go of and the deleted service's. By
    # rule 7 the new service takes the lower, the next one the other: no change was missed.
    # (Which of the three first services got which address depends on whether their
    # creation timestamps, in whole seconds, tie, so compare with what they held.)
    freed = sorted([changed_ip, gone_ip], key=lambda ips: ipaddress.ip_address(ips[0]))
    assert wait_until(lambda: ingress_of(fake, "new")) == freed[0]
    fake.create(service("later"))
    assert wait_until(lambda: ingress_of(fake, "later")) == freed[1]
    lists_after = sum(
        1 for m, p, _ in fake.store.requests if m == "GET" and p == "/api/v1/services"
    )
    assert lists_after > lists_before  # it re-listed
    assert controller.kube.stats.relists_total >= 1
    controller.stop()


def test_thirty_seconds_without_the_api_lose_nothing(fake: FakeKubeApi) -> None:
    seed(fake)
    clock = ManualClock()
    controller = start_controller(fake, clock)
    for name in ("a", "b"):
        fake.create(service(name))
    wait_until(lambda: ingress_of(fake, "a") and ingress_of(fake, "b"))

    def status_seen() -> bool:
        """The controller's own view has loaded the status it wrote (the watch brings it back
        after a refresh interval): nothing from before the outage is still on its way."""
        services = controller.proxy("cluster").snapshot().get().services
        return all(services[f"default/{n}"].ingress_ips for n in ("a", "b"))

    advance_until(clock, status_seen)
    allocations_before = controller.proxy("allocator").snapshot().get()[0]
    cluster_before = controller.proxy("cluster").snapshot().get()
    fake.down()
    wait_until(
        lambda: [e for e in controller.of(ApiConnectionChanged) if not e.connected],
        what="the outage is noticed",
    )
    fake.create(service("during"))  # made while the controller cannot see
    errors_before = controller.kube.stats.update_errors_total
    outage_settled(controller.kube, clock)
    for _ in range(30):  # 30 s of virtual time: the reflectors keep retrying with backoff
        clock.advance(1)
        outage_settled(controller.kube, clock)
    attempts = controller.kube.stats.update_errors_total - errors_before
    assert controller.proxy("cluster").snapshot().get() is cluster_before
    assert controller.proxy("allocator").snapshot().get()[0] == allocations_before
    fake.up()
    assert advance_until(clock, lambda: ingress_of(fake, "during")) == ["10.99.0.12"]
    assert ingress_of(fake, "a") == ["10.99.0.10"]
    assert ingress_of(fake, "b") == ["10.99.0.11"]
    assert not controller.of(IpReleased)
    advance_until(clock, lambda: controller.kube.connected)
    wait_until(lambda: [e.connected for e in controller.of(ApiConnectionChanged)] == [False, True])
    # Backoff, not a busy loop: about 1+2+4+8+8+8 s of waiting in 30 s, per watched resource.
    resources = len(controller.kube.resources)
    assert resources * 3 <= attempts <= resources * 10
    controller.stop()


def journal_settled(role: Role) -> None:
    """Every event the cluster actor has published so far is in the journal: its mailbox, then
    the recorder's, are FIFO, so an ask to each returns after what was queued before it."""
    role.proxy("cluster").snapshot().get(timeout=5)
    role.proxy("recorder").ready().get(timeout=5)


def test_a_burst_of_changes_is_loaded_once_per_refresh_interval(fake: FakeKubeApi) -> None:
    seed(fake, "10.99.0.0/24")
    clock = ManualClock()
    controller = start_controller(fake, clock, refresh_interval=1.0)
    # Runtime.start returns once every actor has republished, but the recorder may not have
    # journaled the republished ClusterUpdated yet: counting before it is, that late arrival
    # looked like a load before the interval (the flake). RuntimeReady comes after it.
    controller.journal.wait_for(lambda events: any(isinstance(e, RuntimeReady) for e in events))
    journal_settled(controller)
    loads_before = len(controller.of(ClusterUpdated))
    for i in range(20):
        fake.create(service(f"s{i:02d}"))
    wait_until(lambda: len(controller.kube.caches["services"].snapshot()) == 20)
    journal_settled(controller)  # the change notices reached the cluster actor, and any load
    assert len(controller.of(ClusterUpdated)) == loads_before  # waiting for the interval
    clock.advance(1.0)
    wait_until(lambda: all(ingress_of(fake, f"s{i:02d}") for i in range(20)))
    # One load for the burst, then the status writes' echoes, coalesced the same way.
    advance_until(clock, lambda: len(controller.kube.caches["services"].snapshot()) == 20)
    assert len(controller.of(ClusterUpdated)) - loads_before <= 3


def test_a_controller_started_while_the_api_is_down_catches_up(fake: FakeKubeApi) -> None:
    seed(fake)
    fake.create(service("web"))
    fake.down()
    clock = ManualClock()
    controller = start_controller(fake, clock, sync_timeout=0.5)  # starts all the same
    assert controller.proxy("cluster").snapshot().get() is None
    fake.up()
    assert advance_until(clock, lambda: ingress_of(fake, "web")) == ["10.99.0.10"]


def test_deprecated_annotations_still_work_and_are_warned_about_once(fake: FakeKubeApi) -> None:
    seed(fake)
    controller = start_controller(fake)
    fake.create(service("old", annotations={"metallb.universe.tf/loadBalancerIPs": "10.99.0.18"}))
    assert wait_until(lambda: ingress_of(fake, "old")) == ["10.99.0.18"]
    (warning,) = wait_until(lambda: events_for(fake, "old", "deprecatedAnnotation"))
    assert warning["type"] == "Warning"
    assert warning["message"] == (
        'annotation "metallb.universe.tf/loadBalancerIPs" is deprecated, '
        'use "metallb.io/loadBalancerIPs" instead'
    )
    fake.merge("Service", "old", {"metadata": {"labels": {"touched": "yes"}}}, "default")
    wait_until(
        lambda: controller.kube.caches["services"].get("default/old")["metadata"].get("labels")
    )
    fake.create(service("after"))
    wait_until(lambda: ingress_of(fake, "after"))
    assert len(events_for(fake, "old", "deprecatedAnnotation")) == 1


def test_a_pool_that_no_longer_admits_a_service_clears_it(fake: FakeKubeApi) -> None:
    seed(fake)
    start_controller(fake)
    fake.create(service("web"))
    wait_until(lambda: ingress_of(fake, "web"))
    lan = fake.get("IPAddressPool", "lan", NS)
    lan["spec"]["serviceAllocation"] = {"namespaces": ["other"]}
    fake.update(lan)
    (cleared,) = wait_until(lambda: events_for(fake, "web", "ClearAssignment"))
    assert cleared["message"].startswith('current IP for "default/web" not allowed by config')
    wait_until(lambda: events_for(fake, "web", "AllocationFailed"))
    assert wait_until(lambda: ingress_of(fake, "web") == [] and "cleared")
    obj = fake.get("Service", "web", "default")
    assert ANNOTATION_IP_ALLOCATED_FROM_POOL not in (obj["metadata"].get("annotations") or {})
