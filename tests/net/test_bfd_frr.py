"""Our BFD against FRR's bfdd, on a real veth pair between two network namespaces (root).

    lbbfd-<pid>-node (10.99.7.1, our BfdActor) ── veth ── lbbfd-<pid>-router (10.99.7.2, bfdd)

The session comes Up with bfdd (which then reports our 100 ms timers, so the poll sequence
from the slow 1 s start to the profile's rate went through), cutting the link takes our side
Down with "control detection time expired", and it comes back when the link returns. bfdd
shutting its peer reaches us as admin-down (not a failure), and a multihop session (RFC 5883,
for ebgpMultiHop peers) comes up too.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.net

REPO = Path(__file__).resolve().parents[2]
BFDD = "/usr/lib/frr/bfdd"
NODE_IP, ROUTER_IP = "10.99.7.1", "10.99.7.2"

# Runs in the node namespace: one BfdActor, events as JSON lines on stdout.
NODE_SCRIPT = """
import ipaddress, json, sys
from types import MappingProxyType
from actors.bgp.bfd.actor import BfdActor
from actors.model.cluster import ClusterState, Node, ObjectMeta
from actors.model.config import BFDProfile, Config, Peer
from actors.events import ClusterUpdated, ConfigApplied
from actors.listener import Published

def emit(event):
    print(json.dumps(event.to_json()), flush=True)

profile = BFDProfile("fast", receive_interval=100, transmit_interval=100, detect_multiplier=3)
peer = Peer(name="router", my_asn=64501, peer_asn=64500,
            peer_address=ipaddress.ip_address(sys.argv[1]), bfd_profile="fast",
            ebgp_multihop=sys.argv[2] == "multihop")
config = Config(peers=(peer,), bfd_profiles=MappingProxyType({"fast": profile}))
cluster = ClusterState.of(nodes=[Node(metadata=ObjectMeta(name="n1"))])
actor = BfdActor.start("n1", publish=emit)
actor.tell(Published(ConfigApplied(0.0, config, "test")))
actor.tell(Published(ClusterUpdated(0.0, cluster, "test")))
sys.stdin.read()  # until the test closes our stdin
actor.stop()
"""


def sh(*args: str, check: bool = True) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


class Lines:
    """A process's stdout lines, read in a thread, with waiting on a condition."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.queue: queue.Queue[str] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.queue.put(line)

    def wait(self, predicate: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"not seen within {timeout}s; saw {self.seen[-10:]}")
            try:
                line = self.queue.get(timeout=left)
            except queue.Empty:
                continue
            with contextlib.suppress(json.JSONDecodeError):
                item = json.loads(line)
                self.seen.append(item)
                if predicate(item):
                    return item


def remove_leftovers() -> None:
    """Namespaces of an earlier run that was killed before it could clean up."""
    for line in sh("ip", "netns", "list").splitlines():
        name = line.split()[0] if line.strip() else ""
        parts = name.split("-")
        if len(parts) >= 3 and parts[0] == "lbbfd" and parts[1].isdigit():
            try:
                os.kill(int(parts[1]), 0)
            except ProcessLookupError:
                for pid in sh("ip", "netns", "pids", name, check=False).split():
                    with contextlib.suppress(ProcessLookupError, ValueError):
                        os.kill(int(pid), signal.SIGKILL)
                subprocess.run(["ip", "netns", "del", name], capture_output=True)


@pytest.fixture
def lab(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    multihop = getattr(request, "param", "") == "multihop"
    assert os.geteuid() == 0, "network namespace tests need root"
    assert Path(BFDD).exists(), f"{BFDD} missing: apt-get install frr"
    remove_leftovers()
    tag = f"lbbfd-{os.getpid()}"
    node, router = f"{tag}-node", f"{tag}-router"
    workdir = Path(tempfile.mkdtemp(prefix="lbbfd-"))
    procs: list[subprocess.Popen[str]] = []
    try:
        for ns in (node, router):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", node, "link", "add", "eth0", "type", "veth", "peer", "eth0", "netns", router)
        sh("ip", "-n", node, "addr", "add", f"{NODE_IP}/24", "dev", "eth0")
        sh("ip", "-n", router, "addr", "add", f"{ROUTER_IP}/24", "dev", "eth0")
        for ns in (node, router):
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
        (workdir / "bfdd.conf").write_text(
            "bfd\n"
            f" peer {NODE_IP}{' multihop' if multihop else ''} local-address {ROUTER_IP}\n"
            "  receive-interval 100\n"
            "  transmit-interval 100\n"
            "  detect-multiplier 3\n"
            " exit\n"
            "exit\n"
        )
        shutil.chown(workdir, "frr", "frr")  # bfdd drops to user frr
        bfdd = subprocess.Popen(
            [
                *("ip", "netns", "exec", router, BFDD),
                *("-f", str(workdir / "bfdd.conf"), "-i", str(workdir / "bfdd.pid")),
                *("--vty_socket", str(workdir), "--bfdctl", str(workdir / "bfdd.sock")),
                *("--log", "stdout"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        procs.append(bfdd)
        speaker = subprocess.Popen(
            [
                *("ip", "netns", "exec", node, sys.executable, "-c", NODE_SCRIPT, ROUTER_IP),
                "multihop" if multihop else "single-hop",
            ],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        procs.append(speaker)

        def vtysh(*args: str) -> str:
            return sh("ip", "netns", "exec", router, "vtysh", "--vty_socket", str(workdir), *args)

        def frr_peer() -> dict[str, Any]:
            peers = json.loads(vtysh("-c", "show bfd peers json"))
            return next(p for p in peers if p["peer"] == NODE_IP)

        yield {
            "node": node,
            "router": router,
            "events": Lines(speaker),
            "frr_peer": frr_peer,
            "vtysh": vtysh,
        }
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        for ns in (node, router):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(workdir, ignore_errors=True)


def bfd_event(state: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e.get("event") == "BfdSessionChanged" and e.get("state") == state


def wait_frr(lab: dict[str, Any], predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        with contextlib.suppress(RuntimeError, StopIteration, json.JSONDecodeError):
            peer = lab["frr_peer"]()
            if predicate(peer):
                return peer
        if time.monotonic() > deadline:
            raise AssertionError(f"FRR's bfdd never got there; last: {lab['frr_peer']()}")
        time.sleep(0.1)


def test_session_with_frr_bfdd_comes_up_and_a_cut_link_takes_it_down(lab: dict[str, Any]) -> None:
    events: Lines = lab["events"]
    up = events.wait(bfd_event("up"), timeout=15)
    assert up["peer"] == "router" and up["node"] == "n1"
    # bfdd agrees, and runs at our 100 ms: the poll sequence from 1 s went through.
    peer = wait_frr(lab, lambda p: p["status"] == "up" and p["remote-transmit-interval"] == 100)
    assert peer["remote-receive-interval"] == 100
    assert peer["remote-detect-multiplier"] == 3

    sh("ip", "-n", lab["node"], "link", "set", "eth0", "down")
    down = events.wait(bfd_event("down"), timeout=5)
    assert down["diagnostic"] == "control detection time expired"

    sh("ip", "-n", lab["node"], "link", "set", "eth0", "up")
    events.wait(bfd_event("up"), timeout=15)
    wait_frr(lab, lambda p: p["status"] == "up")


def test_frr_shutting_its_peer_down_is_admin_down_not_a_failure(lab: dict[str, Any]) -> None:
    events: Lines = lab["events"]
    events.wait(bfd_event("up"), timeout=15)
    peer_node = (
        "-c",
        "configure terminal",
        "-c",
        "bfd",
        "-c",
        f"peer {NODE_IP} local-address {ROUTER_IP}",
    )
    lab["vtysh"](*peer_node, "-c", "shutdown")
    changed = events.wait(lambda e: e.get("event") == "BfdSessionChanged", timeout=5)
    assert (changed["state"], changed["diagnostic"]) == (
        "admin-down",
        "neighbor signaled session down",
    )
    lab["vtysh"](*peer_node, "-c", "no shutdown")
    events.wait(bfd_event("up"), timeout=15)


@pytest.mark.parametrize("lab", ["multihop"], indirect=True)
def test_multihop_session_with_frr_bfdd(lab: dict[str, Any]) -> None:
    """An ebgpMultiHop peer gets an RFC 5883 session (port 4784), which bfdd accepts."""
    events: Lines = lab["events"]
    events.wait(bfd_event("up"), timeout=15)
    peer = wait_frr(lab, lambda p: p["status"] == "up" and p["remote-transmit-interval"] == 100)
    assert peer["multihop"] is True
