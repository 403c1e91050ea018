"""The controller's Service status writes, counted and gated: a bounded number in flight, one
per Service at a time, every Service written once, the Events only once no status write is
left, and a refusing API met by at most a pool's worth of calls until the backoff has passed
(virtual time)."""

from __future__ import annotations

import threading
from types import MappingProxyType
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from actors.clock import ManualClock
from actors.events import AllocationsUpdated, ClusterUpdated
from actors.kube.service_status import ServiceStatusWriter
from actors.kube.writer import WritePool
from actors.model.allocation import Allocation
from actors.model.cluster import ClusterState, Service
from tests.kube.harness import service, wait_until

WRITERS = 4
SERVICES = 100


class GatedApi:
    """Answers every write once ``gate`` opens; counts calls and the most at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.gate = threading.Event()
        self.refuse = False
        self.now = 0
        self.peak = 0
        self.patches: list[str] = []
        self.events: list[str] = []
        self.calls: list[str] = []  # "patch" and "event", in the order they were made

    def patch_service_status(self, namespace: str, name: str, patch: dict[str, Any]) -> Any:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.patches.append(name)
            self.calls.append("patch")
        self.gate.wait(10)
        with self.lock:
            self.now -= 1
        if self.refuse:
            raise ApiException(status=429, reason="Too Many Requests")
        return {"metadata": {"resourceVersion": "1000"}}

    def create_event(self, namespace: str, body: dict[str, Any]) -> None:
        with self.lock:
            self.events.append(body["involvedObject"]["name"])
            self.calls.append("event")


@pytest.fixture
def world() -> Any:
    clock = ManualClock()
    api = GatedApi()
    ref = ServiceStatusWriter.start(api, writers=WRITERS, clock=clock, scheduler=clock)  # type: ignore[arg-type]
    writer: Any = ref.proxy()
    services = [Service.model_validate(service(f"s{i:03}")) for i in range(SERVICES)]
    cluster = ClusterState.of(services)
    allocations = MappingProxyType(
        {
            s.key: Allocation(s.key, (f"10.0.0.{i + 1}",), "lan")  # type: ignore[arg-type]
            for i, s in enumerate(services)
        }
    )
    yield clock, api, writer, cluster, allocations
    api.gate.set()
    ref.stop()


def test_writes_are_bounded_and_each_service_is_written_once(world: Any) -> None:
    _, api, writer, cluster, allocations = world
    writer.on_event(ClusterUpdated(0.0, cluster, "test")).get(timeout=5)
    writer.on_event(AllocationsUpdated(0.0, allocations, {})).get(timeout=5)
    wait_until(lambda: api.now == WRITERS)
    assert len(writer.in_flight.get(timeout=5)) == SERVICES  # queued behind the pool
    # Another update while every write is queued or in flight writes nothing twice.
    writer.on_event(ClusterUpdated(0.1, cluster, "test")).get(timeout=5)
    api.gate.set()
    wait_until(lambda: writer.writes.get(timeout=5) == SERVICES)
    wait_until(lambda: len(api.events) == SERVICES)
    assert api.peak == WRITERS
    assert sorted(api.patches) == sorted(s.metadata.name for s in cluster.services.values())
    assert sorted(api.events) == sorted(api.patches)  # one IPAllocated per Service
    assert writer.in_flight.get(timeout=5) == {}


def test_the_events_wait_until_every_status_write_is_made(world: Any) -> None:
    """A user waits for the address in status; the IPAllocated Event may trail: with every
    status write queued or in flight, no Event is posted; once they are made, every Event is,
    one per Service."""
    _, api, writer, cluster, allocations = world
    writer.on_event(ClusterUpdated(0.0, cluster, "test")).get(timeout=5)
    writer.on_event(AllocationsUpdated(0.0, allocations, {})).get(timeout=5)
    wait_until(lambda: api.now == WRITERS)
    event_pool = writer.event_pool.get(timeout=5)
    assert event_pool.held == SERVICES  # held, in order, while status writes are queued
    assert api.events == []
    api.gate.set()
    wait_until(lambda: len(api.events) == SERVICES)
    assert api.calls == ["patch"] * SERVICES + ["event"] * SERVICES
    assert sorted(api.events) == sorted(api.patches)
    assert event_pool.held == 0


def test_a_refusing_api_meets_a_pool_of_calls_then_the_backoff(world: Any) -> None:
    clock, api, writer, cluster, allocations = world
    api.refuse = True
    writer.on_event(ClusterUpdated(0.0, cluster, "test")).get(timeout=5)
    writer.on_event(AllocationsUpdated(0.0, allocations, {})).get(timeout=5)
    wait_until(lambda: api.now == WRITERS)
    api.gate.set()
    wait_until(lambda: writer.in_flight.get(timeout=5) == {})
    refused = len(api.patches)
    assert WRITERS <= refused <= 2 * WRITERS  # those in flight, and those already taken up
    # Nothing is written while backing off, whatever happens meanwhile.
    writer.on_event(ClusterUpdated(0.2, cluster, "test")).get(timeout=5)
    assert len(api.patches) == refused
    api.refuse = False
    clock.advance(1.0)  # the first backoff (0.5 s, with jitter)
    wait_until(lambda: writer.writes.get(timeout=5) == SERVICES)
    assert len(api.patches) == refused + SERVICES
    assert writer.failures.get(timeout=5) >= 1


def test_an_update_works_out_only_the_patches_of_what_changed(
    world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cost of one watch event in the writer: one patch worked out, not one per Service."""
    from actors.kube import service_status

    _, api, writer, cluster, allocations = world
    api.gate.set()
    writer.on_event(ClusterUpdated(0.0, cluster, "test")).get(timeout=5)
    writer.on_event(AllocationsUpdated(0.0, allocations, {})).get(timeout=5)
    wait_until(lambda: writer.writes.get(timeout=5) == SERVICES)
    worked_out: list[str] = []
    real = service_status.service_status_patch

    def counting(service: Service, allocation: Allocation | None) -> Any:
        worked_out.append(service.metadata.name)
        return real(service, allocation)

    monkeypatch.setattr(service_status, "service_status_patch", counting)
    services = dict(cluster.services)
    written = service("s007")
    written["status"] = {"loadBalancer": {"ingress": [{"ip": "10.0.0.8"}]}}
    written["metadata"]["annotations"] = {"metallb.io/ip-allocated-from-pool": "lan"}
    services["default/s007"] = Service.model_validate(written)
    changed = ClusterState(services=MappingProxyType(services))
    writer.on_event(ClusterUpdated(1.0, changed, "test")).get(timeout=5)
    assert worked_out == ["s007"]
    assert writer.in_flight.get(timeout=5) == {}  # its status is what it holds: no write


def test_a_pool_that_yields_holds_its_work_in_order_until_the_other_has_none() -> None:
    first_gate = threading.Event()
    first = WritePool(2)
    second = WritePool(2, yields_to=first)
    done: list[str] = []
    lock = threading.Lock()

    def note(what: str) -> Any:
        def work() -> None:
            with lock:
                done.append(what)

        return work

    try:
        for _ in range(3):  # two in flight, one queued
            first.run(first_gate.wait)
        second.run(note("a"))
        second.run(note("b"))
        assert (first.pending, second.held, done) == (3, 2, [])
        first_gate.set()
        wait_until(lambda: len(done) == 2)
        assert done == ["a", "b"] and first.pending == 0 and second.held == 0
        second.run(note("c"))  # nothing to yield to: at once
        wait_until(lambda: len(done) == 3)
        first_gate.clear()
        first.run(first_gate.wait)
        second.run(note("d"))
        second.shutdown()  # held work is dropped with the pool
        assert second.held == 0
    finally:
        first_gate.set()
        first.shutdown()
        second.shutdown()
