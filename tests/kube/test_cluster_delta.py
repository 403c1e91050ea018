"""A change to one Service of many costs each hop one Service: the cluster source says which
Services changed, ClusterUpdated carries them (``serial``, ``since``, ``changed``), and the
cluster actor, the allocator and the status writer look only at those. Counted (Services
looked at), never timed; and whatever is looked at, the answers are those of a full look."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

import pytest

from actors.allocator.actor import AllocatorActor
from actors.clock import ManualClock
from actors.cluster.actor import ClusterActor, service_changes
from actors.cluster.delta import ServiceDelta
from actors.config.store import ConfigStore
from actors.events import AllocationsUpdated, ClusterUpdated, ConfigApplied, Event, ServiceChanged
from actors.kube.cluster import KubeCluster
from actors.kube.cluster_source import KubeClusterSource
from actors.kube.resources import CONTROLLER_RESOURCES
from actors.kube.service_status import ServiceStatusWriter
from actors.model.cluster import ClusterState, Service
from tests.kube.harness import namespace, service, wait_until

SERVICES = 1000
POOL = """\
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: lan, namespace: metallb-system}
spec:
  addresses: [10.128.0.0/16]
"""


def config() -> Any:
    built = ConfigStore.from_text(POOL).build()[1].config
    assert built is not None
    return built


class World:
    """Caches filled as a watch fills them, the cluster source and actor over them (no
    threads: ``publish`` appends to a list)."""

    def __init__(self, count: int = SERVICES) -> None:
        self.kube = KubeCluster(SimpleNamespace(host="test"), resources=CONTROLLER_RESOURCES)  # type: ignore[arg-type]
        self.rv = 0
        self.docs: dict[str, dict[str, Any]] = {}
        for cache in self.kube.caches.values():
            objects = [namespace("default")] if cache.resource.kind == "Namespace" else []
            cache.replace(objects, "1")
        for i in range(count):
            doc = service(f"s{i:04}")
            self.docs[doc["metadata"]["name"]] = self._stamped(doc)
        self.kube.caches["services"].replace(list(self.docs.values()), str(self.rv))
        self.events: list[Event] = []
        self.actor = ClusterActor(
            KubeClusterSource(self.kube), clock=ManualClock(), publish=self.events.append
        )

    def _stamped(self, doc: dict[str, Any]) -> dict[str, Any]:
        self.rv += 1
        return {**doc, "metadata": {**doc["metadata"], "resourceVersion": str(self.rv)}}

    def modify(self, name: str, **spec: Any) -> None:
        doc = self.docs[name]
        doc = self._stamped({**doc, "spec": {**doc["spec"], **spec}})
        self.docs[name] = doc
        self.kube.caches["services"].apply("MODIFIED", doc)

    def add(self, name: str) -> None:
        self.docs[name] = doc = self._stamped(service(name))
        self.kube.caches["services"].apply("ADDED", doc)

    def delete(self, name: str) -> None:
        self.kube.caches["services"].apply("DELETED", self.docs.pop(name))

    def load(self) -> ClusterUpdated:
        self.events.clear()
        self.actor.refresh()
        updated = [e for e in self.events if isinstance(e, ClusterUpdated)]
        assert len(updated) == 1
        return updated[0]


def test_cluster_updated_says_which_services_changed_since_the_last_state() -> None:
    world = World()
    first = world.load()
    assert first.changed is None and first.serial > 0  # the first state: everything is new
    assert len([e for e in world.events if isinstance(e, ServiceChanged)]) == SERVICES
    world.modify("s0007", loadBalancerIP="10.128.0.7")
    world.delete("s0009")
    world.add("new")
    second = world.load()
    assert second.since == first.serial and second.serial > first.serial
    assert second.changed == {"default/s0007", "default/s0009", "default/new"}
    assert [(e.service, e.change) for e in world.events if isinstance(e, ServiceChanged)] == [
        ("default/new", "added"),
        ("default/s0007", "updated"),
        ("default/s0009", "deleted"),
    ]
    source = world.actor.source
    assert source.services_changed_since(first.cluster) == second.changed
    assert source.services_changed_since(second.cluster) == frozenset()
    assert source.services_changed_since(ClusterState()) is None  # a state it never returned
    third = world.load()  # nothing changed
    assert third.changed == frozenset() and third.since == second.serial
    world.events.clear()
    world.actor.republish()
    (again,) = world.events
    assert isinstance(again, ClusterUpdated)
    assert (again.serial, again.changed, again.cluster) == (
        third.serial,
        frozenset(),
        third.cluster,
    )


class CountingMapping(dict[str, Any]):
    """A services mapping that counts how many of its entries are read."""

    reads = 0

    def get(self, key: str, default: Any = None) -> Any:
        CountingMapping.reads += 1
        return super().get(key, default)

    def items(self) -> Any:
        CountingMapping.reads += len(self)
        return super().items()

    def __iter__(self) -> Any:
        CountingMapping.reads += len(self)
        return super().__iter__()


def test_service_changes_with_keys_reads_only_those() -> None:
    services = [Service.model_validate(service(f"c{i:04}")) for i in range(SERVICES)]
    before = ClusterState(services=CountingMapping({s.key: s for s in services}))
    changed = Service.model_validate(service("c0003", loadBalancerIP="10.0.0.3"))
    after = ClusterState(services=CountingMapping({**before.services, changed.key: changed}))
    CountingMapping.reads = 0
    out = service_changes(0.0, before, after, {changed.key, "default/c0004"})
    assert [(c.service, c.change) for c in out] == [("default/c0003", "updated")]
    assert CountingMapping.reads <= 6
    assert service_changes(0.0, before, after) == out  # the full look finds the same


def test_the_allocator_and_status_writer_look_at_the_one_service_that_changed() -> None:
    world = World()
    published: list[Event] = []
    allocator = AllocatorActor(clock=ManualClock(), publish=published.append)
    allocator.on_event(ConfigApplied(0.0, config(), "test"))
    allocator.on_event(world.load())
    assert allocator.allocator is not None
    assert allocator.allocator.examined == SERVICES
    assert len(allocator.allocations) == SERVICES
    examined = allocator.allocator.examined
    world.modify("s0005", loadBalancerIP="10.128.200.5")
    allocator.on_event(world.load())
    assert allocator.allocator.examined == examined + 1
    assert [str(ip) for ip in allocator.allocations["default/s0005"].ips] == ["10.128.200.5"]
    # A state it did not see (an event lost, or unnumbered): it looks at every Service again.
    world.modify("s0006", loadBalancerIP="10.128.200.6")
    world.load()
    world.modify("s0008", loadBalancerIP="10.128.200.8")
    allocator.on_event(world.load())
    assert allocator.allocator.examined == examined + 1 + SERVICES
    assert [str(ip) for ip in allocator.allocations["default/s0006"].ips] == ["10.128.200.6"]


class QuickApi:
    """Answers every status write at once, with a resourceVersion; counts the writes."""

    def __init__(self) -> None:
        self.patches: list[str] = []

    def patch_service_status(self, namespace: str, name: str, patch: dict[str, Any]) -> Any:
        self.patches.append(name)
        # Newer than any the world's Services carry: no write is made again before the
        # watch shows it (this world has no watch).
        return {"metadata": {"resourceVersion": "999999999"}}

    def create_event(self, namespace: str, body: dict[str, Any]) -> None:
        pass


@pytest.fixture
def writer() -> Any:
    clock = ManualClock()
    api = QuickApi()
    ref = ServiceStatusWriter.start(api, clock=clock, scheduler=clock)  # type: ignore[arg-type]
    yield api, ref.proxy()
    ref.stop()


def test_the_status_writer_looks_at_the_one_service_that_changed(writer: Any) -> None:
    api, proxy = writer
    world = World()
    allocator = AllocatorActor(clock=ManualClock(), publish=lambda e: None)
    allocator.on_event(ConfigApplied(0.0, config(), "test"))
    update = world.load()
    allocator.on_event(update)
    proxy.on_event(update).get(timeout=5)
    proxy.on_event(AllocationsUpdated(0.0, allocator.allocations, allocator.usage)).get(timeout=5)
    wait_until(lambda: len(api.patches) == SERVICES)
    examined = proxy.examined.get(timeout=5)
    assert examined == SERVICES  # the first allocations: every Service read
    # Every write is back, none shown by the watch yet: the next update looks at each once
    # (its write came back), and not again.
    proxy.on_event(world.load()).get(timeout=5)
    considered = proxy.considered.get(timeout=5)
    world.modify("s0003", loadBalancerIP="10.128.200.3")
    update = world.load()
    allocator.on_event(update)
    proxy.on_event(update).get(timeout=5)
    assert proxy.examined.get(timeout=5) == examined + 1
    assert proxy.considered.get(timeout=5) == considered + 1
    proxy.on_event(AllocationsUpdated(1.0, allocator.allocations, allocator.usage)).get(timeout=5)
    wait_until(lambda: len(api.patches) == SERVICES + 1)
    assert api.patches[-1] == "s0003"
    # A deleted Service is forgotten (nothing kept of it to write again).
    world.delete("s0004")
    proxy.on_event(world.load()).get(timeout=5)
    assert "default/s0004" not in proxy.written.get(timeout=5)


def test_a_delta_driven_allocator_answers_as_a_full_one() -> None:
    """Random adds, deletes and edits: an allocator fed the changed keys and one fed
    unnumbered events (a full look every time) publish the same allocations at every step."""
    rng = random.Random(14)
    world = World(200)
    fed = [AllocatorActor(clock=ManualClock(), publish=lambda e: None) for _ in range(2)]
    for actor in fed:
        actor.on_event(ConfigApplied(0.0, config(), "test"))
    added = 0
    for step in range(60):
        for _ in range(rng.randint(0, 4)):
            roll = rng.random()
            names = sorted(world.docs)
            if roll < 0.3 and names:
                world.delete(rng.choice(names))
            elif roll < 0.6:
                added += 1
                world.add(f"n{added:03}")
            elif names:
                ip = f"10.128.{rng.randint(0, 3)}.{rng.randint(1, 254)}"
                world.modify(rng.choice(names), loadBalancerIP=ip)
        update = world.load()
        fed[0].on_event(update)
        fed[1].on_event(ClusterUpdated(update.t, update.cluster, update.source))
        assert dict(fed[0].allocations) == dict(fed[1].allocations), step
    assert fed[0].allocator is not None and fed[1].allocator is not None
    assert fed[0].allocator.examined < fed[1].allocator.examined / 5


def test_service_delta_counts_from_the_last_take() -> None:
    def updated(serial: int, since: int, changed: set[str] | None) -> ClusterUpdated:
        keys = None if changed is None else frozenset(changed)
        return ClusterUpdated(0.0, ClusterState(), "t", serial, since, keys)

    delta = ServiceDelta()
    delta.note(updated(5, 4, {"a"}))
    assert delta.take() is None  # never looked: everything
    delta.note(updated(6, 5, {"a"}))
    delta.note(updated(7, 6, {"b"}))
    delta.note(updated(7, 6, {"b"}))  # the same state again
    assert delta.take() == {"a", "b"}
    assert delta.take() == set()
    delta.note(updated(9, 8, {"c"}))  # state 8 was never seen
    assert delta.take() is None
    delta.note(updated(10, 9, None))  # the source did not say
    assert delta.take() is None
    delta.note(updated(11, 10, {"d"}))
    delta.forget()
    assert delta.take() is None
    delta.note(updated(12, 11, {"e"}))
    delta.note(ClusterUpdated(0.0, ClusterState(), "t"))  # unnumbered
    assert delta.take() is None
