"""What tests/net/test_lab.py and tests/bench/failover.py share: a lab in a temporary state
directory, what was made (to prove it is gone), who answers ARP for an address as the client
sees it, gratuitous packets timestamped at the client, and traffic in the background."""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from actors.l2 import arp
from lbtui.lab.lab import Lab
from lbtui.lab.netns import alive, entered, namespaces
from lbtui.lab.state import LabState
from lbtui.lab.topology import CLIENT_IP, LabPlan

LBTUI = [sys.executable, "-m", "lbtui"]
REPO = Path(__file__).resolve().parents[2]
L2_VIP, BGP_VIP = "10.99.90.100", "10.99.91.10"
ETH_P_ALL = 0x0003


def lab_cli(directory: Path, name: str, *args: str, timeout: float = 120) -> Any:
    return subprocess.run(
        [*LBTUI, "lab", *args, "--name", name, "--dir", str(directory)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


def wait_until(check: Callable[[], Any], timeout: float, what: str, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(step)


# -- what a lab made, and whether it is gone ---------------------------------------------------


@dataclass
class Footprint:
    """Everything a lab made that could outlive it."""

    name: str
    namespaces: set[str]
    netns_inodes: set[int]
    processes: list[tuple[int, int | None]]
    paths: list[str]

    @classmethod
    def of(cls, lab: Lab, state: LabState) -> Footprint:
        inodes = set()
        for netns in state.namespaces:
            with contextlib.suppress(OSError):
                inodes.add(os.stat(f"/run/netns/{netns}").st_ino)
        paths = [state.workdir, *state.paths, str(lab.store.path)]
        procs = [(p.pid, p.start) for p in state.processes]
        return cls(lab.name, set(state.namespaces), inodes, procs, paths)

    def left(self) -> list[str]:
        """What is still there (empty: nothing)."""
        out = [f"namespace {n}" for n in sorted(self.namespaces & set(namespaces()))]
        out += [f"namespace {n}" for n in namespaces() if n.startswith(f"{self.name}-")]
        out += [f"process {pid}" for pid, start in self.processes if alive(pid, start)]
        for pid in _pids_in(self.netns_inodes):
            out.append(f"process {pid} in a lab namespace")
        out += [f"path {p}" for p in self.paths if Path(p).exists()]
        return sorted(set(out))


def _pids_in(inodes: set[int]) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}/ns/net").st_ino in inodes:
                found.append(int(entry))
        except OSError:
            continue
    return found


# -- who answers, as the client sees it ------------------------------------------------------


class Asker:
    """ARP requests from the client's eth0 (a raw socket opened inside its namespace)."""

    def __init__(self, plan: LabPlan) -> None:
        self.plan = plan
        self.by_mac = {plan.host(n).mac: n for n in plan.nodes}
        with entered(plan.host("client").netns):
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            self.sock.bind(("eth0", 0))
        self.mac = bytes.fromhex(plan.host("client").mac.replace(":", ""))
        self.src = ipaddress.ip_address(CLIENT_IP).packed

    def who_has(self, ip: str, wait: float = 0.1) -> set[str]:
        """The nodes whose ARP reply for ``ip`` arrives within ``wait`` seconds."""
        target = ipaddress.ip_address(ip).packed
        while select.select([self.sock], [], [], 0)[0]:
            self.sock.recv(2048)  # drop what queued up since last time
        self.sock.send(arp.request_frame(self.mac, self.src, target))
        found: set[str] = set()
        deadline = time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([self.sock], [], [], left)[0]:
                break
            data = self.sock.recv(2048)
            is_reply = data[12:14] == b"\x08\x06" and data[20:22] == b"\x00\x02"
            if is_reply and data[:6] == self.mac and data[28:32] == target:
                mac = data[22:28].hex(":")
                found.add(self.by_mac.get(mac, mac))
        return found

    def close(self) -> None:
        self.sock.close()


@dataclass
class Sampler:
    """Asks who has ``ip`` every ``period`` seconds in a thread; keeps (time, answerers)."""

    asker: Asker
    ip: str
    period: float = 0.2
    samples: list[tuple[float, frozenset[str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            t = time.monotonic()
            wait = min(0.08, 0.75 * self.period)  # answers come in well under a millisecond
            self.samples.append((t, frozenset(self.asker.who_has(self.ip, wait))))
            self._stop.wait(max(0.0, self.period - (time.monotonic() - t)))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def double_answers(self) -> list[tuple[float, float, frozenset[str]]]:
        """Runs of consecutive samples where two or more nodes answered: (start, end, who).
        ``end`` is the first sample after the run, or one period after the run's last sample
        if the sampler itself was late to take the next (a loaded machine can pause this
        thread for 100 ms: that pause is not an overlap the wire showed). So a run lasts at
        most ``end - start`` to within one sample."""
        runs: list[tuple[float, float, frozenset[str]]] = []
        start: float | None = None
        last = 0.0
        who: frozenset[str] = frozenset()
        for t, nodes in self.samples:
            if len(nodes) > 1:
                if start is None:
                    start, who = t, nodes
                else:
                    who |= nodes
                last = t
            elif start is not None:
                runs.append((start, min(t, last + self.period), who))
                start = None
        if start is not None:
            runs.append((start, self.samples[-1][0], who))
        return runs

    def longest_gap(self) -> float:
        """The longest time between two samples (the sampler's own lateness)."""
        times = [t for t, _ in self.samples]
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


class GarpWatcher:
    """Gratuitous ARPs for ``ip`` seen by the client, with CLOCK_MONOTONIC times."""

    def __init__(self, plan: LabPlan, ip: str) -> None:
        self.by_mac = {plan.host(n).mac: n for n in plan.nodes}
        self.proc = subprocess.Popen(
            [
                *("ip", "netns", "exec", plan.host("client").netns),
                *(sys.executable, "-m", "tests.net.probe", "watch", ip),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=REPO,
        )
        assert self.proc.stdout is not None
        assert "ready" in json.loads(self.proc.stdout.readline())

    def first_from(self, node: str, after: float, timeout: float = 20.0) -> float:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not select.select([self.proc.stdout], [], [], 0.2)[0]:
                continue
            line = self.proc.stdout.readline()
            if not line:
                break
            seen = json.loads(line)
            if self.by_mac.get(seen["mac"]) == node and seen["t"] >= after:
                return float(seen["t"])
        raise AssertionError(f"no gratuitous ARP from {node}")

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@contextlib.contextmanager
def traffic(
    directory: Path, name: str, seconds: float, *targets: str, connections: int = 20
) -> Iterator[dict[str, Any]]:
    """``lbtui lab traffic --json`` in the background; the dict fills with its report when
    the block ends (it waits for the run to finish)."""
    args = ["traffic", "--seconds", str(seconds), "--connections", str(connections), "--json"]
    for target in targets:
        args += ["--target", target]
    proc = subprocess.Popen(
        [*LBTUI, "lab", *args, "--name", name, "--dir", str(directory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    report: dict[str, Any] = {}
    try:
        yield report
        out, err = proc.communicate(timeout=seconds + 30)
        assert proc.returncode == 0, err
        report.update(json.loads(out))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


#: The speakers' events that tell how an address changed hands.
HANDOVER_EVENTS = frozenset(
    {
        "AnnouncementStarted",
        "AnnouncementStopped",
        "L2AnswersChanged",
        "CandidacyChanged",
        "NodeJoined",
        "NodeSuspected",
        "NodeRecovered",
        "NodeLeft",
        "SplitBrainDetected",
    }
)


def handover_events(workdir: Path, ip: str, start: float, end: float) -> list[str]:
    """What every speaker of a lab logged (its ``*.events.jsonl``) between ``start`` and
    ``end`` (this process's monotonic seconds, as the Sampler's) about ``ip`` or membership,
    in time order, stamped on the same clock: why two nodes answered for ``ip`` at once.
    Events are matched by their wall-clock ``time`` (a restarted speaker's ``t`` starts
    again from 0), to the millisecond."""
    to_wall = time.time() - time.monotonic()
    lines: list[tuple[float, str]] = []
    for path in sorted(workdir.glob("*.events.jsonl")):
        for text in path.read_text(errors="replace").splitlines():
            try:
                event = json.loads(text)
                at = datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp()
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
            t = at - to_wall
            if event.get("event") not in HANDOVER_EVENTS or not start <= t <= end:
                continue
            if event.get("ip", ip) == ip:
                detail = {k: v for k, v in event.items() if k not in ("t", "time", "event")}
                lines.append((t, f"{t:.3f} {path.name.split('.')[0]} {event['event']} {detail}"))
    return [line for _t, line in sorted(lines)]
