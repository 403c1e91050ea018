"""End to end: BFD on both sides takes a cut node out of the router's ECMP route at once (root).

    lbbfd-<pid>-router  10.99.9.1   FRR zebra + bgpd + bfdd, BFD profile 100 ms x 3  ─┐
    lbbfd-<pid>-n1      10.99.9.11  `lbtui speaker` (BGP + BFD, same profile)         ├─ br0
    lbbfd-<pid>-n2      10.99.9.12  `lbtui speaker`                                   ┘

Both nodes announce 10.99.10.1/32; the router's kernel route has both as next hops. Setting
n1's bridge port down (the router's own link stays up, so only BFD or the 30 s hold timer can
notice) removes n1 from the route: FRR says its BGP session was reset by BFD, and n1's speaker
saw its BFD session go down and dropped its BGP session for that reason. The time it took is
printed (``pytest -s``), not asserted; the hold time is 30 s, so a removal well before that can
only be BFD's doing. The link comes back and so does the next hop.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.net

REPO = Path(__file__).resolve().parents[2]
FRR = Path("/usr/lib/frr")
ROUTER = "10.99.9.1"
NODES = {"n1": "10.99.9.11", "n2": "10.99.9.12"}
VIP = "10.99.10.1"
HOLD = 30

BGPD_CONF = f"""\
frr defaults datacenter
hostname lbbfd-router
router bgp 64500
 bgp router-id {ROUTER}
 no bgp ebgp-requires-policy
 bgp bestpath as-path multipath-relax
 neighbor SPK peer-group
 neighbor SPK remote-as 64501
 neighbor SPK timers {HOLD // 3} {HOLD}
 neighbor SPK timers connect 1
 neighbor SPK bfd
 neighbor SPK bfd profile fast
{{neighbors}}
 address-family ipv4 unicast
  maximum-paths 8
 exit-address-family
exit
"""
# bfdd gets a file of its own: it would stop reading at the router block's `exit`.
BFDD_CONF = """\
bfd
 profile fast
  receive-interval 100
  transmit-interval 100
  detect-multiplier 3
 exit
exit
"""


def speaker_files() -> list[dict[str, Any]]:
    ns = {"namespace": "metallb-system"}
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": "vips", **ns},
            "spec": {"addresses": ["10.99.10.0/28"]},
        },
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "BGPAdvertisement",
            "metadata": {"name": "vips", **ns},
            "spec": {"ipAddressPools": ["vips"]},
        },
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "BFDProfile",
            "metadata": {"name": "fast", **ns},
            "spec": {"receiveInterval": 100, "transmitInterval": 100, "detectMultiplier": 3},
        },
        {
            "apiVersion": "metallb.io/v1beta2",
            "kind": "BGPPeer",
            "metadata": {"name": "router", **ns},
            "spec": {
                "myASN": 64501,
                "peerASN": 64500,
                "peerAddress": ROUTER,
                "holdTime": f"{HOLD}s",
                "bfdProfile": "fast",
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"type": "LoadBalancer", "loadBalancerIP": VIP, "ports": [{"port": 80}]},
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "addressType": "IPv4",
            "metadata": {
                "name": "web-1",
                "namespace": "default",
                "labels": {"kubernetes.io/service-name": "web"},
            },
            "endpoints": [
                {"addresses": [f"10.244.{i}.1"], "nodeName": n, "conditions": {"ready": True}}
                for i, n in enumerate(NODES)
            ],
        },
    ]
    docs += [{"apiVersion": "v1", "kind": "Node", "metadata": {"name": n}} for n in NODES]
    return docs


def sh(*args: str, check: bool = True) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(RuntimeError, json.JSONDecodeError, KeyError):
            found = check()
            if found:
                return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


class Lab:
    def __init__(self) -> None:
        self.tag = f"lbbfd-{os.getpid()}"
        self.bridge = f"{self.tag}-br"
        self.router = f"{self.tag}-router"
        self.nodes = {n: f"{self.tag}-{n}" for n in NODES}
        self.ports: dict[str, str] = {}
        self.dir = Path(tempfile.mkdtemp(prefix="lbbfd-"))
        self.procs: list[subprocess.Popen[str]] = []

    def up(self) -> Lab:
        sh("ip", "netns", "add", self.bridge)
        sh("ip", "-n", self.bridge, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.bridge, "link", "set", "br0", "up")
        hosts = [(self.router, ROUTER)] + [(self.nodes[n], a) for n, a in NODES.items()]
        for i, (ns, address) in enumerate(hosts):
            port = f"p{i}"
            self.ports[ns] = port
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", self.bridge, "link", "add", port, "type", "veth", "peer", "eth0",
               "netns", ns)  # fmt: skip
            sh("ip", "-n", self.bridge, "link", "set", port, "master", "br0", "up")
            sh("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
        return self

    def spawn(self, ns: str, args: list[str], log: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, *args],
            cwd=REPO,
            stdout=(self.dir / log).open("w"),
            stderr=subprocess.STDOUT if not log.endswith(".jsonl") else subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def start_router(self) -> None:
        neighbors = "\n".join(f" neighbor {a} peer-group SPK" for a in NODES.values())
        (self.dir / "bgpd.conf").write_text(BGPD_CONF.format(neighbors=neighbors))
        (self.dir / "bfdd.conf").write_text(BFDD_CONF)
        shutil.chown(self.dir, "frr", "frr")  # zebra and bfdd drop to user frr
        zserv = str(self.dir / "zserv.api")
        vty = ("--vty_socket", str(self.dir), "--log", "stdout")
        self.spawn(
            self.router,
            [str(FRR / "zebra"), "-z", zserv, "-i", str(self.dir / "zebra.pid"), "-P", "0", *vty],
            "zebra.log",
        )
        wait_until(lambda: Path(zserv).exists(), 10, "zebra's socket")
        self.spawn(
            self.router,
            [
                *(str(FRR / "bfdd"), "-z", zserv, "-f", str(self.dir / "bfdd.conf")),
                *("-i", str(self.dir / "bfdd.pid"), "--bfdctl", str(self.dir / "bfdd.sock")),
                *vty,
            ],
            "bfdd.log",
        )
        self.spawn(
            self.router,
            [
                *(str(FRR / "bgpd"), "-S", "-z", zserv, "-f", str(self.dir / "bgpd.conf")),
                *("-i", str(self.dir / "bgpd.pid"), "-A", "127.0.0.1", *vty),
            ],
            "bgpd.log",
        )

    def start_speakers(self) -> None:
        files = self.dir / "cluster.yaml"
        files.write_text(yaml.safe_dump_all(speaker_files()))
        for node, ns in self.nodes.items():
            self.spawn(
                ns,
                [
                    *(sys.executable, "-m", "lbtui", "speaker", "--node-name", node),
                    *("--cluster", str(files), "--no-l2", "--poll", "0.5"),
                ],
                f"{node}.jsonl",
            )

    def vtysh(self, command: str) -> Any:
        out = sh("ip", "netns", "exec", self.router, "vtysh", "--vty_socket", str(self.dir),
                 "-c", command)  # fmt: skip
        return json.loads(out)

    def next_hops(self) -> set[str]:
        routes = json.loads(sh("ip", "-n", self.router, "-j", "route", "show", VIP) or "[]")
        hops: set[str] = set()
        for route in routes:
            hops |= {h["gateway"] for h in route.get("nexthops", []) if "gateway" in h}
            if "gateway" in route:
                hops.add(route["gateway"])
        return hops

    def events(self, node: str, kind: str) -> list[dict[str, Any]]:
        out = []
        for line in (self.dir / f"{node}.jsonl").read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                event = json.loads(line)
                if event.get("event") == kind:
                    out.append(event)
        return out

    def set_link(self, node: str, up: bool) -> None:
        port = self.ports[self.nodes[node]]
        sh("ip", "-n", self.bridge, "link", "set", port, "up" if up else "down")

    def close(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        for ns in [self.router, *self.nodes.values(), self.bridge]:
            for pid in sh("ip", "netns", "pids", ns, check=False).split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def lab() -> Iterator[Lab]:
    for binary in ("zebra", "bgpd", "bfdd"):
        assert (FRR / binary).exists(), f"{FRR / binary} missing: apt-get install frr"
    from tests.net.test_bfd_frr import remove_leftovers

    remove_leftovers()
    lab = Lab()
    try:
        lab.up()
        lab.start_router()
        lab.start_speakers()
        yield lab
    finally:
        lab.close()


def test_cut_link_leaves_the_ecmp_route_at_once_with_bfd(lab: Lab) -> None:
    both = set(NODES.values())
    wait_until(lambda: lab.next_hops() == both, 30, f"{VIP} via both nodes")

    def bfd_up() -> bool:
        peers = {p["peer"]: p["status"] for p in lab.vtysh("show bfd peers json")}
        ours = all(
            lab.events(n, "BfdSessionChanged")[-1]["state"] == "up"
            for n in NODES
            if lab.events(n, "BfdSessionChanged")
        )
        return ours and all(peers.get(a) == "up" for a in NODES.values())

    wait_until(bfd_up, 15, "BFD up on both sides")

    lab.set_link("n1", up=False)
    cut = time.monotonic()
    wait_until(lambda: lab.next_hops() == {NODES["n2"]}, HOLD, "n1 leaving the route")
    elapsed = time.monotonic() - cut
    print(f"\nnext hop removed {elapsed * 1000:.0f} ms after the cut (BGP hold time {HOLD} s)")

    # It was BFD: FRR says so, and so does n1's speaker.
    neighbor = lab.vtysh(f"show bgp neighbors {NODES['n1']} json")[NODES["n1"]]
    assert neighbor["lastNotificationReason"] == "Cease/BFD Down", neighbor
    assert neighbor["peerBfdInfo"]["status"] == "Down"
    assert elapsed < HOLD / 2
    down = wait_until(
        lambda: [e for e in lab.events("n1", "BfdSessionChanged") if e["state"] == "down"],
        5,
        "n1's BFD down",
    )
    assert down[0]["diagnostic"] == "control detection time expired"
    dropped = wait_until(
        lambda: [
            e for e in lab.events("n1", "PeerSessionChanged") if "BFD down" in e.get("reason", "")
        ],
        5,
        "n1 dropping its BGP session for BFD",
    )
    assert dropped[0]["peer"] == "router"
    # n2 never noticed anything.
    assert [e["state"] for e in lab.events("n2", "BfdSessionChanged")][-1] == "up"

    lab.set_link("n1", up=True)
    wait_until(lambda: lab.next_hops() == both, 30, "n1 back in the route")
