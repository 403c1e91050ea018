"""Kubernetes adapter benchmark: the controller against the fake API server, and the cost of
turning the watch caches into a ClusterState.

Run: ``.venv/bin/python tests/bench/kube.py [--quick]``. Prints two tables.

1. ``burst``: N LoadBalancer Services created at once through the API; the real controller
   (watch, coalesced loads, stateful allocator, status PATCHes through the official client)
   runs until every Service shows its address, loading the cluster on every change or at
   most once per 100 ms, side by side. Columns: wall time, Service status writes,
   ClusterUpdated events (how many loads the watch events were coalesced into).
2. ``load``: ``KubeClusterSource.load()`` over N cached Services: ``cold`` parses every object
   (the first load), ``one change`` re-parses only the Service whose resourceVersion moved
   (every later load), side by side.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from actors.clock import RealClock
from actors.events import ClusterUpdated
from actors.kube.cluster import KubeCluster
from actors.kube.cluster_source import KubeClusterSource
from actors.kube.resources import CONTROLLER_RESOURCES, SERVICES
from actors.roles.controller import controller_specs
from tests.kube.fakeapi import FakeKubeApi
from tests.kube.harness import RUNNING, Role, kube_cluster, service
from tests.kube.test_controller import seed


def burst(n: int, refresh_interval: float) -> tuple[float, int, int]:
    fake = FakeKubeApi(bookmark_interval=5.0).start()
    seed(fake, "10.0.0.0/16")
    kube = kube_cluster(fake, CONTROLLER_RESOURCES)
    specs = controller_specs(kube, refresh_interval=refresh_interval)
    controller = Role("controller", specs, kube, RealClock())
    started = time.perf_counter()
    for i in range(n):
        fake.create(service(f"svc-{i:05d}"))
    while True:
        # Read the store in place: copying 1000 objects every poll would steal the GIL from
        # the controller this process also runs.
        with fake.store.lock:
            done = sum(
                1
                for s in fake.store.objects[("", "services")].values()
                if ((s.get("status") or {}).get("loadBalancer") or {}).get("ingress")
            )
        if done == n:
            break
        time.sleep(0.1)
    elapsed = time.perf_counter() - started
    patches = sum(1 for m, p, _ in fake.store.requests if m == "PATCH" and "/services/" in p)
    loads = len(controller.of(ClusterUpdated))
    controller.stop()
    RUNNING.clear()
    fake.down()
    return elapsed, patches, loads


def raw_service(i: int, rv: int) -> dict[str, Any]:
    doc = service(f"svc-{i:05d}")
    doc["metadata"].update(resourceVersion=str(rv), uid=f"u{i}")
    doc["status"] = {"loadBalancer": {"ingress": [{"ip": f"10.1.{i // 250}.{i % 250}"}]}}
    return doc


def load_costs(n: int) -> tuple[float, float]:
    kube = KubeCluster(api=_NoApi(), resources=(SERVICES,))  # type: ignore[arg-type]
    kube.caches["services"].replace([raw_service(i, i + 1) for i in range(n)], str(n))
    source = KubeClusterSource(kube)
    started = time.perf_counter()
    source.load()
    cold = time.perf_counter() - started
    kube.caches["services"].apply("MODIFIED", raw_service(0, n + 10))
    started = time.perf_counter()
    state = source.load()
    warm = time.perf_counter() - started
    assert len(state.services) == n
    return cold, warm


class _NoApi:
    host = "bench"


def main() -> None:
    quick = "--quick" in sys.argv
    sizes = (10, 100) if quick else (10, 100, 500, 1000)
    print("burst: N Services created at once, until every one shows its address;")
    print("cluster loads on every change (0 ms) or at most one per 100 ms (lbtui's default)")
    print(
        f"{'N':>6} | {'interval':>8} | {'wall s':>7} | {'per svc ms':>10} | "
        f"{'status PATCHes':>14} | {'loads':>5}"
    )
    for n in sizes:
        for interval in (0.0, 0.1):
            elapsed, patches, loads = burst(n, interval)
            print(
                f"{n:>6} | {int(interval * 1000):>5} ms | {elapsed:>7.2f} | "
                f"{1000 * elapsed / n:>10.2f} | {patches:>14} | {loads:>5}"
            )
    print()
    print("load: KubeClusterSource.load() with N cached Services")
    print(f"{'N':>6} | {'cold ms':>8} | {'one change ms':>13} | {'speed-up':>8}")
    for n in (1000, 10000) if quick else (1000, 10000, 50000):
        cold, warm = load_costs(n)
        print(f"{n:>6} | {1000 * cold:>8.1f} | {1000 * warm:>13.1f} | {cold / warm:>7.1f}x")


if __name__ == "__main__":
    main()
