"""Two controller replicas with --leader-elect: one Lease, one writer, a clean handover."""

from __future__ import annotations

from actors.clock import ManualClock
from actors.events import IpAssigned, LeadershipChanged
from actors.kube.leader import LeaseView, held_by_other, lease_spec
from actors.kube.resources import CONTROLLER_RESOURCES
from actors.roles.controller import controller_specs
from tests.kube.fakeapi import FakeKubeApi
from tests.kube.harness import (
    NS,
    Role,
    advance_until,
    ingress_of,
    kube_cluster,
    service,
    wait_until,
)
from tests.kube.test_controller import seed


def replica(fake: FakeKubeApi, identity: str) -> Role:
    kube = kube_cluster(fake, CONTROLLER_RESOURCES)
    specs = controller_specs(
        kube, leader_elect=True, identity=identity, lease_timing=(15.0, 10.0, 2.0)
    )
    return Role(f"controller-{identity}", specs, kube, ManualClock())


def leading(role: Role) -> bool | None:
    changes = role.of(LeadershipChanged)
    return changes[-1].leader if changes else None


def test_only_the_lease_holder_allocates_and_a_standby_takes_over(fake: FakeKubeApi) -> None:
    seed(fake)
    a = replica(fake, "a")
    assert wait_until(lambda: leading(a)) is True
    b = replica(fake, "b")
    wait_until(lambda: leading(b) is False)
    assert b.of(LeadershipChanged)[-1].holder == "a"
    lease = fake.get("Lease", "lbtui-controller", NS)
    assert lease["spec"]["holderIdentity"] == "a"
    assert lease["spec"]["leaseDurationSeconds"] == 15

    fake.create(service("web"))
    assert wait_until(lambda: ingress_of(fake, "web")) == ["10.99.0.10"]
    b.clock.advance(6)  # B keeps trying; the lease stays A's, renewed by A
    a.clock.advance(6)
    assert leading(b) is False
    assert b.proxy("status").writes.get() == 0
    assert not b.of(IpAssigned)

    # A stops and releases the lease: B takes it at its next try, not a lease duration later.
    a.stop()
    assert fake.get("Lease", "lbtui-controller", NS)["spec"]["holderIdentity"] == ""
    advance_until(b.clock, lambda: leading(b))
    assert fake.get("Lease", "lbtui-controller", NS)["spec"]["holderIdentity"] == "b"
    assert fake.get("Lease", "lbtui-controller", NS)["spec"]["leaseTransitions"] == 1
    fake.create(service("api"))
    assert wait_until(lambda: ingress_of(fake, "api")) == ["10.99.0.11"]
    assert ingress_of(fake, "web") == ["10.99.0.10"]  # re-learned, not reallocated
    assert [e.service for e in b.of(IpAssigned) if e.service == "default/web"] == ["default/web"]


def test_a_leader_that_cannot_renew_steps_down(fake: FakeKubeApi) -> None:
    seed(fake)
    a = replica(fake, "a")
    wait_until(lambda: leading(a))
    fake.fail("PUT", "/leases/", code=500, times=100)
    for _ in range(4):
        a.clock.advance(2)
    assert leading(a) is True  # 8 s without renewal: still within the 10 s deadline
    advance_until(a.clock, lambda: leading(a) is False, step=2)
    fake.create(service("web"))
    a.clock.advance(0.5)
    wait_until(lambda: a.kube.caches["services"].get("default/web"))
    assert ingress_of(fake, "web") == []  # no longer the leader: writes nothing


def test_lease_rules_are_client_gos() -> None:
    view = LeaseView("a", 15, "t0", 3, "t-1", "7")
    # Held by another and seen changing 10 s ago on our clock: not expired.
    assert held_by_other(view, "b", observed_at=100.0, now=110.0, default=15)
    assert not held_by_other(view, "b", observed_at=100.0, now=115.0, default=15)
    assert not held_by_other(view, "a", observed_at=100.0, now=101.0, default=15)
    assert not held_by_other(LeaseView("", 15, "", 0, "", "1"), "b", 100.0, 101.0, 15)
    renew = lease_spec(view, "a", 15, 1_800_000_000.0)
    assert renew["acquireTime"] == "t-1" and renew["leaseTransitions"] == 3
    take = lease_spec(view, "b", 15, 1_800_000_000.0)
    assert take["leaseTransitions"] == 4 and take["holderIdentity"] == "b"
    assert take["renewTime"] == "2027-01-15T08:00:00.000000Z"


def test_a_crashed_leader_is_replaced_once_its_lease_expires(fake: FakeKubeApi) -> None:
    seed(fake)
    a = replica(fake, "a")
    wait_until(lambda: leading(a))
    b = replica(fake, "b")
    wait_until(lambda: leading(b) is False)
    fake.fail("PUT", "/leases/", code=500, times=1)  # the release on the way out is lost
    a.stop()
    assert fake.get("Lease", "lbtui-controller", NS)["spec"]["holderIdentity"] == "a"
    start = b.clock.now()
    advance_until(b.clock, lambda: leading(b))
    waited = b.clock.now() - start
    # Not before the lease duration (15 s) on B's own clock, and within one retry after it.
    assert 15.0 <= waited <= 15.0 + 2.0 + 2.0
    fake.create(service("web"))
    assert wait_until(lambda: ingress_of(fake, "web")) == ["10.99.0.10"]
