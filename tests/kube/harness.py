"""Running lbtui roles against the fake API server, several runtimes in one process.

Each runtime gets its own event bus (``Bus``), so a controller and three speakers in one test
do not hear each other's events: they only meet through the API, as they would on a cluster.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Callable
from typing import Any

import pykka

from actors.clock import ManualClock, ThreadScheduler
from actors.events import Event
from actors.kube.api import KubeApi
from actors.kube.cluster import KubeCluster
from actors.listener import Listener, Published
from actors.runtime import ActorSpec, Runtime
from tests.kube.fakeapi import FakeKubeApi
from tests.recorder import EventJournal, Recorder

NS = "metallb-system"
RUNNING: list[Role] = []  # stopped by the conftest fixture, also when a test fails


class Bus:
    """``publish`` for one runtime: tells only that runtime's listeners."""

    def __init__(self) -> None:
        self.runtime: Runtime | None = None

    def send(self, event: Event) -> None:
        runtime = self.runtime
        if runtime is None:
            return
        message = Published(event)
        for name in runtime.names():
            try:
                ref = runtime.ref(name)
            except KeyError:
                continue
            cls = ref.actor_class
            if not issubclass(cls, Listener):
                continue
            wanted = getattr(cls, "listens_to", None)
            if wanted is not None and not isinstance(event, wanted):
                continue
            with contextlib.suppress(pykka.ActorDeadError):
                ref.tell(message)


class Role:
    """One started runtime (controller or speaker) with its journal, clock and caches."""

    def __init__(self, name: str, specs: list[ActorSpec], kube: KubeCluster, clock: Any) -> None:
        self.journal = EventJournal()
        self.bus = Bus()
        self.kube = kube
        self.clock = clock
        specs = [ActorSpec("recorder", Recorder, {"journal": self.journal}), *specs]
        scheduler = clock if isinstance(clock, ManualClock) else ThreadScheduler(clock)
        self.runtime = Runtime(name, specs, clock=clock, scheduler=scheduler, publish=self.bus.send)
        self.bus.runtime = self.runtime
        RUNNING.append(self)
        self.runtime.start()

    def stop(self) -> None:
        self.runtime.stop("test done")

    def proxy(self, name: str) -> Any:
        return self.runtime.proxy(name)

    def of(self, kind: type[Event]) -> list[Any]:
        return self.journal.of(kind)


def kube_cluster(fake: FakeKubeApi, resources: Any, **kw: Any) -> KubeCluster:
    from kubernetes import client

    configuration = client.Configuration()
    configuration.host = fake.url
    configuration.connection_pool_maxsize = 32
    # Connection refused must fail at once in an outage: no urllib3 retries.
    configuration.retries = 0
    api = KubeApi(client.ApiClient(configuration), request_timeout=5.0)
    kw.setdefault("watch_timeout", 5)
    kw.setdefault("backoff_initial", 1.0)
    kw.setdefault("backoff_max", 8.0)
    return KubeCluster(api, namespace=NS, resources=resources, **kw)


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what or predicate}")
        time.sleep(0.02)


async def eventually(pilot: Any, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    """``wait_until`` inside a Textual pilot test: pauses the app, not the event loop."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await pilot.pause(0.1)
    raise AssertionError("not within the time allowed")


def outage_settled(kube: KubeCluster, clock: ManualClock) -> None:
    """Wait until every reflector waits out a backoff that ends in the (virtual) future, so
    that moving time on wakes exactly those whose time has come."""
    wait_until(
        lambda: kube.backing_off(after=clock.now()) == len(kube.resources),
        what="every reflector backing off",
    )


def advance_until(
    clock: ManualClock, predicate: Callable[[], Any], step: float = 1.0, timeout: float = 10.0
) -> Any:
    """Move virtual time on in steps until ``predicate`` holds (threads do the real work)."""

    def moved() -> Any:
        value = predicate()
        if not value:
            clock.advance(step)
        return value

    return wait_until(moved, timeout)


# -- objects ---------------------------------------------------------------------------------


def namespace(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": labels or {}},
    }


def pool(name: str, *addresses: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"addresses": list(addresses), **spec},
    }


def l2_advertisement(name: str = "l2", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "L2Advertisement",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


_cluster_ip = itertools.count(10)


def service(
    name: str,
    ns: str = "default",
    *,
    annotations: dict[str, str] | None = None,
    created: str | None = None,
    type_: str = "LoadBalancer",
    **spec: Any,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns, "annotations": annotations or {}}
    if created:
        meta["creationTimestamp"] = created
    n = next(_cluster_ip)
    ip = f"10.96.{n // 250}.{n % 250}"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "type": type_,
            "ports": [{"port": 80, "protocol": "TCP"}],
            "selector": {"app": name},
            "clusterIP": ip,
            "clusterIPs": [ip],
            "ipFamilies": ["IPv4"],
            **spec,
        },
    }


def node(name: str, address: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "addresses": [{"type": "InternalIP", "address": address}],
        },
    }


def endpoint_slice(service_name: str, nodes: list[str], ns: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{service_name}-abc",
            "namespace": ns,
            "labels": {"kubernetes.io/service-name": service_name},
        },
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": [f"10.244.{i}.5"], "nodeName": n, "conditions": {"ready": True}}
            for i, n in enumerate(nodes)
        ],
    }


def ingress_of(fake: FakeKubeApi, name: str, ns: str = "default") -> list[str]:
    obj = fake.try_get("Service", name, ns)
    if obj is None:
        return []
    return [
        i.get("ip")
        for i in ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    ]


def events_for(fake: FakeKubeApi, name: str, reason: str | None = None) -> list[dict[str, Any]]:
    return [
        e
        for e in fake.items("Event")
        if e["involvedObject"]["name"] == name and (reason is None or e["reason"] == reason)
    ]
