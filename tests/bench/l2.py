"""Layer 2 benchmark: lbtui's responder against the kernel, and failover time.

Run as root: ``.venv/bin/python tests/bench/l2.py [--quick] [--kills N] [--no-failover]
[--baseline REF] [--rounds N]``. Prints tables (about 10 minutes with the default 20 kills per
profile). With ``--baseline main`` the replies table has a column for main's speaker beside
this checkout's and the kernel's, each round measuring all three one after the other.

Replies: a client namespace and one node namespace on a bridge; the node runs a real
``lbtui speaker`` announcing 10.99.0.100 and fd00:99::100, and its kernel owns 10.99.0.11 and
fd00:99::b. A Python client (the same for both sides, so its cost cancels out in the ratio)
asks who-has:

- ``serial``: one request in flight, round trip per request (p50, p99) and the rate that gives;
- ``flood``: a window of 32 requests in flight, answers per second;
- the speaker's CPU time per reply over both (all its threads, user and system): what it costs
  a busy machine, where the other processes' load moves the rates but not this.

Failover (needs membership, ``lbtui speaker --ml-join``): three speakers, the client holds a
neighbour entry for the address; SIGKILL the owner, time from the kill to the first
gratuitous ARP from another node seen by the client; N kills per membership profile.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from actors.l2 import arp, ndp

VIP4, VIP6 = "10.99.0.100", "fd00:99::100"


# -- the client side (runs inside the client namespace) ---------------------------------------


class Asker:
    def __init__(self, ifname: str, target: str, source: str) -> None:
        self.target = ipaddress.ip_address(target)
        with open(f"/sys/class/net/{ifname}/address") as f:
            self.mac = bytes.fromhex(f.read().strip().replace(":", ""))
        src = ipaddress.ip_address(source).packed
        if self.target.version == 4:
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
            self.frame = arp.request_frame(self.mac, src, self.target.packed)
        else:
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x86DD))
            self.frame = ndp.solicitation_frame(self.mac, src, self.target.packed)
        self.sock.bind((ifname, 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.setblocking(False)

    def is_answer(self, data: bytes) -> bool:
        if data[:6] != self.mac:
            return False
        if self.target.version == 4:
            return data[21:22] == b"\x02" and data[28:32] == self.target.packed
        return data[54:55] == bytes([ndp.ND_NEIGHBOR_ADVERT]) and data[62:78] == self.target.packed

    def drain(self) -> int:
        got = 0
        while True:
            try:
                data = self.sock.recv(2048)
            except BlockingIOError:
                return got
            if self.is_answer(data):
                got += 1

    def serial(self, count: int) -> list[float]:
        rtts = []
        self.drain()
        for _ in range(count):
            start = time.perf_counter_ns()
            self.sock.send(self.frame)
            while True:
                if not select.select([self.sock], [], [], 0.2)[0]:
                    break  # lost: not counted
                if self.drain():
                    rtts.append((time.perf_counter_ns() - start) / 1000)
                    break
        return rtts

    def flood(self, count: int, window: int) -> tuple[float, int]:
        self.drain()
        sent = got = 0
        start = time.perf_counter()
        while got < count and sent < count * 2:
            while sent - got < window and sent < count * 2:
                self.sock.send(self.frame)
                sent += 1
            if not select.select([self.sock], [], [], 0.2)[0]:
                got = sent  # give up on what is in flight (lost)
                continue
            got += self.drain()
        elapsed = time.perf_counter() - start
        return got / elapsed, sent - got


def client_main(args: argparse.Namespace) -> None:
    asker = Asker("eth0", args.target, args.source)
    rtts = asker.serial(args.count)
    rate, _lost = asker.flood(args.flood, args.window)
    print(
        json.dumps(
            {
                "answered": len(rtts),
                "asked": args.count,
                "p50": statistics.median(rtts) if rtts else None,
                "p99": statistics.quantiles(rtts, n=100)[98] if len(rtts) > 2 else None,
                "serial_rate": 1e6 / statistics.mean(rtts) if rtts else 0.0,
                "flood_rate": rate,
            }
        )
    )


# -- the orchestration (host side) -------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """CPU time (user and system) of every thread of process ``pid`` so far, in seconds, at
    nanosecond resolution (``/proc/PID/task/*/schedstat``; ``/proc/PID/stat`` counts ticks)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/schedstat") as f:
            total += int(f.read().split()[0])
    return total / 1e9


def measure(topo, target: str, source: str, count: int, flood: int) -> dict:  # type: ignore[no-untyped-def]
    out = topo.client.run(
        sys.executable,
        __file__,
        "--client",
        "--target",
        target,
        "--source",
        source,
        "--count",
        str(count),
        "--flood",
        str(flood),
        timeout=600,
    )
    return json.loads(out)


def export(ref: str, into: Path) -> str:
    """``ref``'s tree under ``into`` (``git archive``); returns its short hash."""
    repo = Path(__file__).resolve().parents[2]
    commit = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--short", ref],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", ref], check=True, capture_output=True
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return commit


def start_speaker(topo, tree: Path | None, cluster: Path, logs: Path):  # type: ignore[no-untyped-def]
    """A speaker on node-a from this checkout (``tree`` None) or from another tree."""
    from tests.net.speakers import Speaker, start_speakers

    if tree is None:
        return start_speakers(topo, cluster, logs)["node-a"]

    class Baseline(Speaker):
        def __init__(self) -> None:
            self.node = "node-a"
            self.out_path = logs / "node-a.jsonl"
            self.err_path = logs / "node-a.err"
            command = (
                f"cd {tree} && PYTHONPATH={tree} exec {sys.executable} -m lbtui speaker "
                f"--node-name node-a --cluster {cluster} --poll 0.2"
            )
            self.proc = topo.spawn(
                "node-a",
                ["sh", "-c", command],
                stdout=self.out_path.open("w"),
                stderr=self.err_path.open("w"),
            )

    speaker = Baseline()
    speaker.wait_for(lambda ev: any(e["event"] == "RuntimeReady" for e in ev))
    return speaker


def replies(quick: bool, baseline: str | None, rounds: int) -> None:
    """Each round: the kernel, then (with ``baseline``) that tree's speaker, then this
    checkout's, one after the other on the same topology, so the machine's load moves them
    alike; medians over the rounds."""
    from tests.net.cluster import Svc, cluster_yaml
    from tests.net.speakers import wait_until
    from tests.net.topology import Topology

    count, flood = (500, 5000) if quick else (3000, 30000)
    families = (("ARP", VIP4, "ipv4"), ("NDP", VIP6, "ipv6"))
    with (
        tempfile.TemporaryDirectory() as tmp,
        Topology(node_names=["node-a"], service_addresses=[VIP4, VIP6], prefix="lbl2b") as topo,
    ):
        variants: list[tuple[str, Path | None]] = []
        if baseline:
            base = Path(tmp) / "baseline"
            base.mkdir()
            variants.append((f"{baseline} ({export(baseline, base)})", base))
        variants.append(("lbtui", None))
        cluster = Path(tmp) / "cluster.yaml"
        cluster.write_text(
            cluster_yaml(
                ["node-a"], [Svc("web4", VIP4, ("node-a",)), Svc("web6", VIP6, ("node-a",))]
            )
        )
        node, client = topo.node("node-a"), topo.client
        results: dict[tuple[str, str], list[dict]] = {}
        for n in range(rounds):
            for family, _vip, attr in families:
                own, src = getattr(node, attr), getattr(client, attr)
                results.setdefault((family, "kernel"), []).append(
                    {**measure(topo, own, src, count, flood), "cpu": 0.0}
                )
            for name, tree in variants:
                logs = Path(tmp) / f"logs-{n}-{len(name)}"
                logs.mkdir()
                speaker = start_speaker(topo, tree, cluster, logs)
                wait_until(lambda s=speaker: {VIP4, VIP6} <= set(s.answering()), what="announced")
                time.sleep(5.5)  # let the takeover burst end: measure the steady state
                for family, vip, attr in families:
                    src = getattr(client, attr)
                    before = cpu_seconds(speaker.proc.pid)
                    result = measure(topo, vip, src, count, flood)
                    cpu = (cpu_seconds(speaker.proc.pid) - before) * 1e6 / (count + flood)
                    results.setdefault((family, name), []).append({**result, "cpu": cpu})
                speaker.terminate()
    names = ["kernel", *(name for name, _ in variants)]
    print(
        f"\nL2 replies: lbtui responder vs the kernel, {count} serial + {flood} flood each, "
        f"medians of {rounds} round(s)"
    )
    header = "".join(f"{name[:16]:>17}" for name in names)
    ratios = "".join(f"{name[:12] + '/kernel':>20}" for name in names[1:])
    print(f"{'':6} {'measure':24}{header}{ratios}")
    for family, _vip, _attr in families:
        for key, label in (
            ("p50", "serial latency p50 (us)"),
            ("p99", "serial latency p99 (us)"),
            ("serial_rate", "serial replies/s"),
            ("flood_rate", "flood replies/s (w=32)"),
            ("cpu", "speaker CPU us/reply"),
        ):
            values = []
            for name in names:
                got = [r[key] for r in results[(family, name)] if r[key] is not None]
                values.append(statistics.median(got) if got else 0.0)
            cells = "".join(f"{v:>17.1f}" for v in values)
            kernel = values[0]
            rel = "".join(f"{(v / kernel if kernel else 0):>20.2f}" for v in values[1:])
            print(f"{family:6} {label:24}{cells}{rel}")
        lost = "".join(
            f"{sum(r['asked'] - r['answered'] for r in results[(family, name)]):>17}"
            for name in names
        )
        print(f"{family:6} {'serial unanswered':24}{lost}")


def failover(kills: int, profiles: tuple[str, ...] = ("fast", "lan")) -> None:
    """Kill the owner ``kills`` times per profile; kill -> first GARP from the successor."""
    from tests.net.failover_rig import NODES, V4, Watcher, moved_to, start_cluster
    from tests.net.topology import Topology

    results: dict[str, list[float]] = {}
    for profile in profiles:
        times: list[float] = []
        for _ in range(kills):
            with (
                tempfile.TemporaryDirectory() as tmp,
                Topology(node_names=NODES, service_addresses=[V4], prefix="lbl2b") as topo,
            ):
                cluster = start_cluster(topo, Path(tmp), profile)
                successor = cluster.successor(cluster.owner)
                watcher = Watcher(topo)
                killed = time.monotonic()
                cluster.speakers[cluster.owner].kill()
                times.append(watcher.first_from(cluster.mac(successor), timeout=60) - killed)
                moved_to(cluster, successor)
        results[profile] = times
    print(
        f"\nL2 failover: SIGKILL of the owner -> first gratuitous ARP at the client ({kills} kills)"
    )
    print(f"{'profile':8} {'p50 (s)':>9} {'p99 (s)':>9} {'min (s)':>9} {'max (s)':>9}")
    for profile, times in results.items():
        p99 = statistics.quantiles(times, n=100)[98] if len(times) > 2 else max(times)
        print(
            f"{profile:8} {statistics.median(times):>9.3f} {p99:>9.3f} "
            f"{min(times):>9.3f} {max(times):>9.3f}"
        )


def membership_available() -> bool:
    help_text = subprocess.run(
        [sys.executable, "-m", "lbtui", "speaker", "--help"], capture_output=True, text=True
    ).stdout
    return "--ml-join" in help_text


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--target")
    parser.add_argument("--source")
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--flood", type=int, default=30000)
    parser.add_argument("--window", type=int, default=32)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--no-failover", action="store_true", help="replies only")
    parser.add_argument("--baseline", help="also measure this git ref's speaker (e.g. main)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of replies (medians)")
    args = parser.parse_args()
    if args.client:
        client_main(args)
        return
    if os.geteuid() != 0:
        raise SystemExit("tests/bench/l2.py needs root (network namespaces)")
    replies(args.quick, args.baseline, args.rounds)
    if args.no_failover:
        return
    if membership_available():
        failover(args.kills)
    else:
        print("\nfailover: skipped, `lbtui speaker` has no membership (--ml-join) yet")


if __name__ == "__main__":
    main()
