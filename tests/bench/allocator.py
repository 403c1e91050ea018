"""Allocator benchmark: lbtui's allocator against MetalLB's lowest-free linear scan.

Run: ``.venv/bin/python tests/bench/allocator.py [--quick]``. Prints one table.

Each row allocates N LoadBalancer services, one after another, from an empty pool. Services are
built beforehand (``model_construct``) and frozen out of the garbage collector's view, so the
times are the allocator's own work:

- ``converge``: ``Allocator.converge`` per service (what the controller does per event);
- ``cluster``: ``allocate_cluster`` over all of them (adds the rule-7 sort and the passes);
- ``again``: ``converge_all`` of the same cluster by an allocator that already holds it all
  (what the controller does on every cluster update);
- ``naive``: MetalLB's approach reduced to its core, a scan from the pool's first address for
  each service over a set of used addresses (plain ints, no Service parsing, so it flatters the
  baseline). Its cost is quadratic: above ``NAIVE_CAP`` services it is timed at ``NAIVE_CAP``
  and extrapolated by (N / NAIVE_CAP)^2, marked ``~``.
"""

from __future__ import annotations

import gc
import ipaddress
import sys
import time
from collections.abc import Callable
from types import MappingProxyType

from actors.allocator.converge import Allocator, allocate_cluster
from actors.model.allocation import Allocation
from actors.model.cluster import (
    ClusterState,
    LoadBalancerStatus,
    ObjectMeta,
    Service,
    ServicePort,
    ServiceSpec,
    ServiceStatus,
)
from actors.model.config import AddressRange, Config, Pool

NAIVE_CAP = 10_000


def address_range(cidr: str) -> AddressRange:
    net = ipaddress.ip_network(cidr)
    return AddressRange(net[0], net[-1], cidr)


def make_config(*cidrs: str) -> Config:
    pool = Pool("bench", tuple(address_range(c) for c in cidrs))
    return Config(pools=MappingProxyType({"bench": pool}))


def make_services(count: int, family: int) -> list[Service]:
    cluster_ip = "10.96.0.1" if family == 4 else "fd96::1"
    port = (ServicePort.model_construct(name="http", protocol="TCP", port=80),)
    status = ServiceStatus.model_construct(load_balancer=LoadBalancerStatus.model_construct())
    services = []
    for n in range(count):
        meta = ObjectMeta.model_construct(name=f"svc-{n}", namespace="bench")
        spec = ServiceSpec.model_construct(
            type="LoadBalancer",
            ports=port,
            selector={"app": f"app-{n}"},
            cluster_ip=cluster_ip,
            cluster_ips=(cluster_ip,),
        )
        services.append(Service.model_construct(metadata=meta, spec=spec, status=status))
    return services


def timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def run_converge(config: Config, services: list[Service]) -> float:
    allocator = Allocator(config)
    labels: dict[str, str] = {}

    def work() -> None:
        converge = allocator.converge
        for svc in services:
            converge(svc, labels)

    elapsed = timed(work)
    assert allocator.usage()["bench"].in_use == len(services)
    return elapsed


def run_cluster(config: Config, services: list[Service]) -> float:
    cluster = ClusterState(services=MappingProxyType({s.key: s for s in services}))
    result: list[int] = []
    elapsed = timed(lambda: result.append(allocate_cluster(config, cluster)[1]["bench"].in_use))
    assert result == [len(services)]
    return elapsed


def run_again(config: Config, services: list[Service]) -> float:
    cluster = ClusterState(services=MappingProxyType({s.key: s for s in services}))
    allocator = Allocator(config)
    first = allocator.converge_all(cluster)
    result: list[dict[str, Allocation]] = []
    elapsed = timed(lambda: result.append(allocator.converge_all(cluster)))
    assert result == [first]
    return elapsed


def run_naive(config: Config, count: int) -> float:
    """MetalLB's getIPFromCIDR: walk each range from its first address, take the first unused."""
    ranges = [(int(r.first), int(r.last)) for r in config.pools["bench"].ranges]
    used: set[int] = set()

    def work() -> None:
        for _ in range(count):
            for first, last in ranges:
                ip = first
                while ip <= last and ip in used:
                    ip += 1
                if ip <= last:
                    used.add(ip)
                    break

    elapsed = timed(work)
    assert len(used) == count
    return elapsed


SCENARIOS = (
    ("IPv4 /16", ("10.0.0.0/16",), 4, 10_000),
    ("IPv4 2x/16", ("10.0.0.0/16", "10.1.0.0/16"), 4, 100_000),
    ("IPv6 /64", ("fd00::/64",), 6, 10_000),
    ("IPv6 /64", ("fd00::/64",), 6, 100_000),
)


def main(argv: list[str]) -> None:
    quick = "--quick" in argv
    naive_cap = 2_000 if quick else NAIVE_CAP
    rows = []
    for name, cidrs, family, count in SCENARIOS:
        if quick:
            count //= 10
        config = make_config(*cidrs)
        services = make_services(count, family)
        gc.collect()
        gc.freeze()  # the prebuilt services are input, not allocator work
        ours = min(run_converge(config, services) for _ in range(3))
        cluster = min(run_cluster(config, services) for _ in range(2))
        again = min(run_again(config, services) for _ in range(2))
        measured = min(count, naive_cap)
        naive = run_naive(config, measured) * (count / measured) ** 2
        gc.unfreeze()
        estimate = "~" if measured < count else " "
        rows.append((name, count, ours, cluster, again, naive, estimate))

    print(
        f"{'pool':<12} {'services':>9} {'converge':>10} {'per svc':>9} {'cluster':>10} "
        f"{'again':>9} {'naive scan':>12} {'naive/ours':>11}"
    )
    for name, count, ours, cluster, again, naive, estimate in rows:
        print(
            f"{name:<12} {count:>9,} {ours:>9.3f}s {ours / count * 1e6:>7.1f}us "
            f"{cluster:>9.3f}s {again:>8.3f}s {estimate}{naive:>10.2f}s {naive / ours:>10,.0f}x"
        )
    print(
        f"(~ = naive timed at {naive_cap:,} services and scaled by (N/{naive_cap:,})^2;"
        f" best of 3 converge runs, 2 cluster and 2 again runs; Python {sys.version.split()[0]})"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
