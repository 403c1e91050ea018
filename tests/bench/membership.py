"""Membership benchmark: how fast a crash is known everywhere, what it costs, and memberlist.

    .venv/bin/python tests/bench/membership.py [--quick]

For each profile (fast, lan):
- simulation (actors.membership.sim, virtual time, 0.3-0.7 ms links) at N = 5, 50, 100: many
  trials on one cluster (crash a random node, time until every other node has declared it
  dead, restart it, let it rejoin, again); false deaths counted; a 500 ms stall of a random
  node repeated (must never be declared dead); steady-state traffic and CPU per node measured
  with every datagram really encoded and AES-GCM sealed/opened (CPU: this process's CPU time
  over N nodes and the virtual seconds simulated: protocol + codec + crypto, not the kernel);
- real UDP/TCP at N = 5: MembershipActors on 127.0.0.x in this process (real sockets,
  threads and clock), crashed (silenced) and revived in turn; traffic from the transports'
  counters, CPU from this process over a quiet window (all five nodes' threads).
Beside them, memberlist's LAN figures from its formulas: suspicion timeout
min = 4 · max(1, log10 N) · 1 s (max 6 × min, shrinking to min with 2 confirmations), so a
crash is declared after about probe (1 s) + waiting for a probe (~0.5 s) + min.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from actors.clock import RealClock, ThreadScheduler
from actors.events import MembershipUpdated, NodeLeft
from actors.membership.actor import MembershipActor
from actors.membership.keyring import Keyring
from actors.membership.profile import FAST, LAN, Profile
from actors.membership.sim import SimNetwork
from actors.membership.transport import free_port


@dataclass
class Row:
    mode: str
    profile: str
    n: int
    trials: int
    p50: float
    p99: float
    worst: float
    false_deaths: int
    stalls: str
    pkts: float
    kbytes: float
    cpu: float


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def memberlist_lan(n: int) -> tuple[float, float, float]:
    low = 4 * max(1.0, math.log10(n)) * 1.0
    return low, 6 * low, 1.0 + 0.5 + low


# -- simulation -----------------------------------------------------------------------------------


def sim_detection(profile: Profile, n: int, trials: int, seed: int) -> tuple[list[float], int]:
    net = SimNetwork(seed=seed)
    names = net.cluster(n, profile=profile)
    assert net.run_until_true(net.converged, limit=60, step=0.5), "did not converge"
    rng = random.Random(seed)
    step = 0.01 if profile is FAST else 0.05
    times: list[float] = []
    false_deaths = 0
    for _ in range(trials):
        net.run_for(rng.uniform(0.5, 1.5))
        victim = rng.choice(names)
        mark = len(net.log)
        crashed = net.now
        net.crash(victim)
        others = [x for x in names if x != victim]
        ok = net.run_until_true(
            lambda v=victim, o=others: all(v not in net.view(x) for x in o), limit=120, step=step
        )
        assert ok, "crash never detected"
        new = net.log[mark:]
        times.append(
            max(o.t for o in new if o.change.node == victim and o.change.kind == "dead") - crashed
        )
        false_deaths += sum(1 for o in new if o.change.kind == "dead" and o.change.node != victim)
        seed_addr = net.nodes[others[0]].addr
        net.restart(victim, seeds=[seed_addr])
        assert net.run_until_true(net.converged, limit=60, step=0.1), "no rejoin"
    return times, false_deaths


def sim_stalls(profile: Profile, n: int, trials: int, seed: int) -> tuple[int, int]:
    """(stalls declared dead, stalls) for 500 ms stalls of random nodes with 1 % loss."""
    net = SimNetwork(seed=seed, loss=0.01)
    names = net.cluster(n, profile=profile)
    assert net.run_until_true(net.converged, limit=60, step=0.5)
    rng = random.Random(seed)
    died = 0
    for _ in range(trials):
        net.run_for(rng.uniform(0.5, 1.5))
        victim = rng.choice(names)
        mark = len(net.log)
        net.stall(victim, 0.5)
        net.run_for(2.5)
        if any(o.change.kind == "dead" for o in net.log[mark:]):
            died += 1
            net.run_until_true(net.converged, limit=30, step=0.1)
    return died, trials


def sim_cost(profile: Profile, n: int, seconds: float, seed: int) -> tuple[float, float, float]:
    """Steady state through the real codec and AES-GCM: (packets/s, kB/s, CPU %) per node."""
    net = SimNetwork(seed=seed, wire=True)
    net.cluster(n, profile=profile)
    assert net.run_until_true(net.converged, limit=60, step=0.5)
    net.run_for(2.0)
    before = {
        name: (node.traffic.packets_out, node.traffic.bytes_out) for name, node in net.nodes.items()
    }
    cpu = time.process_time()
    net.run_for(seconds)
    cpu = time.process_time() - cpu
    pkts = sum(node.traffic.packets_out - before[name][0] for name, node in net.nodes.items())
    data = sum(node.traffic.bytes_out - before[name][1] for name, node in net.nodes.items())
    return pkts / n / seconds, data / n / seconds / 1000, 100 * cpu / n / seconds


# -- real UDP -------------------------------------------------------------------------------


class Watch:
    """What the bench needs from the events, kept incrementally (100 nodes publish a lot)."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.latest: dict[str, frozenset[str]] = {}
        self.deaths: list[NodeLeft] = []

    def publish(self, event: object) -> None:
        with self.cond:
            if isinstance(event, MembershipUpdated):
                self.latest[event.observer] = event.alive
            elif isinstance(event, NodeLeft):
                self.deaths.append(event)
            else:
                return
            self.cond.notify_all()

    def wait(self, predicate: Callable[[], object], timeout: float) -> object:
        with self.cond:
            if not self.cond.wait_for(predicate, timeout):
                raise AssertionError("benchmark condition not met in time")
            return predicate()


def real_udp(
    profile: Profile, n: int, trials: int, quiet: float
) -> tuple[list[float], int, float, float, float]:
    watch = Watch()
    clock = RealClock()
    scheduler = ThreadScheduler(clock, name="bench-timers")
    sealer = Keyring.generate()
    hosts = [f"127.0.{1 + i // 200}.{20 + i % 200}" for i in range(n)]
    binds = [(h, free_port(h)) for h in hosts]
    names = [f"b{i}" for i in range(n)]
    refs = {}
    for i, name in enumerate(names):
        refs[name] = MembershipActor.start(
            node=name,
            bind=binds[i],
            join=[binds[0]] if i else [binds[1]],
            profile=profile,
            sealer=sealer,
            clock=clock,
            scheduler=scheduler,
            publish=watch.publish,
        )
    everyone = frozenset(names)

    def converged() -> bool:
        return all(watch.latest.get(x) == everyone for x in names)

    try:
        watch.wait(converged, timeout=120)
        time.sleep(2.0)
        stats0 = {x: refs[x].proxy().stats().get(timeout=5) for x in names}
        cpu = time.process_time()
        time.sleep(quiet)
        cpu = time.process_time() - cpu
        stats1 = {x: refs[x].proxy().stats().get(timeout=5) for x in names}
        pkts = sum(stats1[x]["datagrams_out"] - stats0[x]["datagrams_out"] for x in names)
        data = sum(stats1[x]["bytes_out"] - stats0[x]["bytes_out"] for x in names)
        rng = random.Random(1)
        times: list[float] = []
        false_deaths = 0
        for _ in range(trials):
            time.sleep(rng.uniform(0.5, 1.5))
            victim = rng.choice(names)
            mark = len(watch.deaths)
            crashed = clock.now()
            refs[victim].proxy().crash().get(timeout=5)
            others = set(names) - {victim}

            def detected(v: str = victim, o: set[str] = others, m: int = mark) -> list[NodeLeft]:
                found = [e for e in watch.deaths[m:] if e.node == v and e.reason == "dead"]
                return found if {e.observer for e in found} >= o else []

            found = watch.wait(detected, timeout=120)
            assert isinstance(found, list)
            times.append(max(e.t for e in found) - crashed)
            false_deaths += sum(1 for e in watch.deaths[mark:] if e.node != victim)
            refs[victim].proxy().revive().get(timeout=5)
            watch.wait(converged, timeout=60)
        return times, false_deaths, pkts / n / quiet, data / n / quiet / 1000, 100 * cpu / n / quiet
    finally:
        for ref in refs.values():
            ref.stop(block=True, timeout=5)
        scheduler.stop()


# -- the table -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer trials (a smoke run)")
    args = parser.parse_args()
    scale = 0.2 if args.quick else 1.0
    plan = {
        FAST: {5: 100, 50: 40, 100: 30},
        LAN: {5: 30, 50: 15, 100: 12},
    }
    rows: list[Row] = []
    for profile, sizes in plan.items():
        for n, trials in sizes.items():
            trials = max(3, int(trials * scale))
            started = time.monotonic()
            times, false_deaths = sim_detection(profile, n, trials, seed=n)
            stalls = "-"
            if n <= 50:
                died, total = sim_stalls(profile, n, max(3, int(20 * scale)), seed=n + 1)
                stalls = f"{died}/{total}"
            pkts, kbytes, cpu = sim_cost(profile, n, 10.0 if profile is FAST else 20.0, seed=n + 2)
            rows.append(
                Row(
                    "sim",
                    profile.name,
                    n,
                    trials,
                    statistics.median(times),
                    percentile(times, 0.99),
                    max(times),
                    false_deaths,
                    stalls,
                    pkts,
                    kbytes,
                    cpu,
                )
            )
            print(
                f"  sim {profile.name} N={n}: {time.monotonic() - started:.0f} s", file=sys.stderr
            )
        trials = max(3, int((30 if profile is FAST else 10) * scale))
        started = time.monotonic()
        times, false_deaths, pkts, kbytes, cpu = real_udp(profile, 5, trials, quiet=10.0)
        rows.append(
            Row(
                "udp",
                profile.name,
                5,
                trials,
                statistics.median(times),
                percentile(times, 0.99),
                max(times),
                false_deaths,
                "-",
                pkts,
                kbytes,
                cpu,
            )
        )
        print(f"  udp {profile.name} N=5: {time.monotonic() - started:.0f} s", file=sys.stderr)

    head = (
        f"{'mode':<5} {'profile':<7} {'N':>4} {'trials':>6} {'p50 s':>7} {'p99 s':>7} "
        f"{'max s':>7} {'false':>5} {'stall':>6} {'pkt/s':>7} {'kB/s':>6} {'CPU %':>6}  "
        f"{'memberlist LAN (formula): suspicion min..max, detection ~'}"
    )
    print("crash -> declared dead by every other node; per-node traffic sent and CPU of one core")
    print(head)
    print("-" * len(head))
    for r in rows:
        low, high, est = memberlist_lan(r.n)
        print(
            f"{r.mode:<5} {r.profile:<7} {r.n:>4} {r.trials:>6} {r.p50:>7.3f} {r.p99:>7.3f} "
            f"{r.worst:>7.3f} {r.false_deaths:>5} {r.stalls:>6} {r.pkts:>7.1f} {r.kbytes:>6.2f} "
            f"{r.cpu:>6.2f}  {low:.1f}..{high:.0f} s, ~{est:.1f} s"
        )
    print(
        "Per-node traffic does not grow with N (one probe per interval per node); 100 nodes "
        "in one Python process share one GIL, so N = 100 is measured in simulation only. "
        "false: nodes other than the crashed one declared dead during the trials; stall: 500 ms "
        "stalls (1 % loss) that ended in a false death; sim CPU: protocol + codec + AES-GCM."
    )


if __name__ == "__main__":
    main()
