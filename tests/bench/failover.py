"""Failover benchmark on the lab: how long a node failure takes to be repaired, per way of
failing, in layer 2 and BGP mode, beside MetalLB's documented figures.

Run as root: ``.venv/bin/python tests/bench/failover.py [--rounds 20] [--quick]``.

Each mode gets its own ``lbtui lab`` (three nodes, BIRD router, gossip with the default fast
profile). For every round a node fails, the time is taken from just before the failure:

- layer 2: until the client sees the first gratuitous ARP from the node the election
  predicts as the successor (a watcher in the client's namespace; CLOCK_MONOTONIC is shared);
  beside it, what the successor's speaker measured itself (FailoverMeasured: from the first
  membership sign of the loss to its first gratuitous packet);
- BGP: until the router's kernel route no longer has the node as a next hop (netlink, polled
  every millisecond from inside the router's namespace). The lab's BGPPeer has a BFDProfile
  (100 ms x 3), so a cut cable is noticed by BFD rather than the 3 s hold time.

Ways of failing: ``kill`` SIGKILLs the speaker (a crash), ``stop`` SIGTERMs it (a drain: it
withdraws and leaves first), ``link`` takes its cable out (silence). Then the node is healed
and the lab left to settle before the next round.
"""

from __future__ import annotations

import argparse
import math
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from lbtui.lab.lab import Lab
from lbtui.lab.netns import entered
from lbtui.lab.topology import LabPlan
from tests.net.lab_rig import BGP_VIP, L2_VIP, GarpWatcher, wait_until

HOWS = ("kill", "stop", "link")

# What MetalLB documents or implies for each (reference/metallb-semantics.md §4.3-4.4, §5.2;
# memberlist LAN defaults for N = 3: suspicion 4 s minimum, 24 s maximum).
METALLB = {
    ("layer2", "kill"): "~5.5 s (memberlist LAN: probe + suspicion >= 4 s); docs: 'a few s'",
    ("layer2", "link"): "~5.5 s (same: a silent node); > ~10 s is a bug per MetalLB docs",
    ("layer2", "stop"): "Leave broadcast (<= 1 s Leave timeout), then GARP",
    ("bgp", "kill"): "TCP session closes at once (~0.1 s at the router)",
    ("bgp", "link"): "hold time, 90 s default, >= 3 s (BFD in FRR mode only)",
    ("bgp", "stop"): "sessions closed on shutdown (~0.1 s at the router)",
}
GOALS = {"kill": "p50 < 1 s", "stop": "p50 < 100 ms", "link": "-"}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


class RouterWatcher:
    """The router's next hops for one address, read over netlink inside its namespace."""

    def __init__(self, plan: LabPlan, address: str) -> None:
        self.by_ip = {plan.host(n).ip: n for n in plan.nodes}
        self.address = address
        self.history: list[tuple[float, frozenset[str]]] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._netns = plan.host("router").netns
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(5)

    def _hops(self, ipr) -> frozenset[str]:  # type: ignore[no-untyped-def]
        hops: set[str] = set()
        for route in ipr.route("dump", family=socket.AF_INET):
            if route.get_attr("RTA_DST") != self.address or route["dst_len"] != 32:
                continue
            gateway = route.get_attr("RTA_GATEWAY")
            if gateway:
                hops.add(gateway)
            for hop in route.get_attr("RTA_MULTIPATH") or ():
                gateway = hop.get_attr("RTA_GATEWAY")
                if gateway:
                    hops.add(gateway)
        return frozenset(self.by_ip.get(h, h) for h in hops)

    def _run(self) -> None:
        from pyroute2 import IPRoute

        with entered(self._netns), IPRoute() as ipr:
            last = None
            self._ready.set()
            while not self._stop.is_set():
                hops = self._hops(ipr)
                if hops != last:
                    self.history.append((time.monotonic(), hops))
                    last = hops
                time.sleep(0.001)

    def first_without(self, node: str, after: float, timeout: float = 30.0) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for t, hops in list(self.history):
                if t >= after and node not in hops:
                    return t
            time.sleep(0.005)
        raise AssertionError(f"{node} still a next hop after {timeout} s")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def settle(lab: Lab) -> None:
    wait_until(lambda: not lab.not_ready(), 60, "the lab to serve again", step=0.1)


def l2_rounds(lab: Lab, how: str, rounds: int) -> tuple[list[float], list[float]]:
    plan = lab.plan()
    watcher = GarpWatcher(plan, L2_VIP)
    external: list[float] = []
    internal: list[float] = []
    try:
        for _ in range(rounds):
            owner = lab.expected_owners()[L2_VIP]
            assert owner is not None
            successor = lab.expected_owners(down=[owner])[L2_VIP]
            assert successor is not None
            seen = len(lab.fetch(successor, "/history?action=failover")["entries"])
            t0 = time.monotonic()
            lab.fail(owner, how)
            external.append(watcher.first_from(successor, after=t0, timeout=30) - t0)
            entries = wait_until(
                lambda s=successor, n=seen: lab.fetch(s, "/history?action=failover")["entries"][n:],
                10,
                "the successor's own measurement",
            )
            internal.append(float(entries[-1]["seconds"]))
            lab.heal(owner)
            settle(lab)
    finally:
        watcher.close()
    return external, internal


def bgp_rounds(lab: Lab, how: str, rounds: int) -> list[float]:
    plan = lab.plan()
    watcher = RouterWatcher(plan, BGP_VIP)
    times: list[float] = []
    try:
        for i in range(rounds):
            victim = plan.nodes[i % len(plan.nodes)]
            t0 = time.monotonic()
            lab.fail(victim, how)
            times.append(watcher.first_without(victim, after=t0) - t0)
            lab.heal(victim)
            settle(lab)
    finally:
        watcher.close()
    return times


def row(mode: str, how: str, times: list[float], extra: str = "") -> str:
    p50, p99 = statistics.median(times), percentile(times, 0.99)
    return (
        f"  {mode:<7} {how:<5} {len(times):>3}  {p50 * 1000:8.0f} {p99 * 1000:8.0f} "
        f"{max(times) * 1000:8.0f}  {extra:<13} {GOALS[how]:<13} {METALLB[(mode, how)]}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="3 rounds each")
    parser.add_argument("--modes", default="l2,bgp")
    args = parser.parse_args()
    rounds = 3 if args.quick else args.rounds
    lines = []
    started = time.monotonic()
    for mode in args.modes.split(","):
        with tempfile.TemporaryDirectory(prefix="lbtui-bench-") as directory:
            lab = Lab("lblabbench", Path(directory))
            lab.down()
            lab.up(nodes=3, mode=mode, router="bird")
            try:
                for how in HOWS:
                    if mode == "l2":
                        external, internal = l2_rounds(lab, how, rounds)
                        speaker = f"{statistics.median(internal) * 1000:.0f} ms"
                        lines.append(row("layer2", how, external, speaker))
                    else:
                        lines.append(row("bgp", how, bgp_rounds(lab, how, rounds)))
                    print(lines[-1], flush=True)
            finally:
                lab.down()
    print(
        f"\nFailover on the lab: 3 nodes, BIRD router, gossip profile fast, {rounds} failures "
        f"each ({time.monotonic() - started:.0f} s)\n"
        "  layer 2: failure -> first gratuitous ARP from the successor at the client; "
        "speaker = its own FailoverMeasured p50\n"
        "  bgp: failure -> the router's kernel route drops the node's next hop\n"
    )
    print(
        f"  {'mode':<7} {'how':<5} {'n':>3}  {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  "
        f"{'speaker p50':<13} {'goal':<13} MetalLB (documented)"
    )
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
