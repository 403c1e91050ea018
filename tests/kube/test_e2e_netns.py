"""End to end: Services created through the API become reachable from a client.

    api ns   10.99.70.254  the fake API server (a thread of this test, its socket in the ns)
                           and `lbtui controller`; also the segment's client for layer 2
    n1..n3   10.99.70.11-13  `lbtui speaker --kubeconfig --ml-bind`: BGP to the router
                           (TCP-MD5, password from a Secret), ARP for the layer 2 pool,
                           membership seeded with the other speaker pods' IPs from the API;
                           a web server answering its node's name, the BGP range on lo (what
                           kube-proxy's IPVS dummy interface does)
    router   10.99.70.1 / 10.99.71.1  BIRD 2: iBGP with every node, ECMP into its kernel
    client   10.99.71.2    default route via the router

Nothing is configured by hand for the addresses: the client reaches the BGP VIP only through
the route BIRD learned from the speakers, and the segment resolves the layer 2 VIP only
through the owner's ARP answers; both come from what the controller wrote into the Services'
status. When the owner stops, another node answers and the status objects in the API move.
Root and bird2 are required (on CI a missing one fails, never skips).
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.kube.fakeapi import FakeKubeApi, _Handler, _Server
from tests.kube.harness import (
    endpoint_slice,
    ingress_of,
    l2_advertisement,
    namespace,
    node,
    pool,
    service,
)
from tests.kube.harness import wait_until as wait
from tests.net.topology import kill_namespace, remove_leftovers, run

pytestmark = pytest.mark.net

PREFIX = "lbk"
NODES = ("n1", "n2", "n3")
API, ROUTER_NODES, ROUTER_CLIENT, CLIENT = "10.99.70.254", "10.99.70.1", "10.99.71.1", "10.99.71.2"
VIPS = "10.99.72.0/28"
L2_VIPS = "10.99.70.100-10.99.70.110"
NS = "metallb-system"
REPO = Path(__file__).resolve().parents[2]
PASSWORD = "lbk-s3cret"  # TCP-MD5, from a Secret the speakers read through the API
CLONE_NEWNET = 0x40000000


def node_ip(name: str) -> str:
    return f"10.99.70.1{name[1:]}"


BIRD_CONF = """\
router id {router};
log "{dir}/bird.log" all;
protocol device {{ scan time 1; }}
protocol kernel {{ ipv4 {{ import none; export all; }}; merge paths on; }}
template bgp speakers {{
  local {router} as 64500; direct; hold time 3; keepalive time 1; connect retry time 1;
  password "{password}";
  ipv4 {{ import all; export none; }};
}}
{protocols}
"""


def listen_in_namespace(netns: str, address: str, port: int) -> socket.socket:
    """A listening TCP socket created inside ``netns``: it keeps that namespace, so a server
    thread of this process serves clients there (setns affects only the calling thread)."""
    result: dict[str, Any] = {}

    def make() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        with open(f"/run/netns/{netns}") as f:
            if libc.setns(f.fileno(), CLONE_NEWNET) != 0:
                result["error"] = OSError(ctypes.get_errno(), "setns failed")
                return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(64)
        result["socket"] = sock

    thread = threading.Thread(target=make)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["socket"]


class Lab:
    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.tag = f"{PREFIX}-{os.getpid()}-{time.monotonic_ns() % 100000}"
        self.ns = {role: f"{self.tag}-{role}" for role in ("sw", "api", "router", "client", *NODES)}
        self.procs: list[subprocess.Popen[str]] = []
        self.fake = FakeKubeApi(bookmark_interval=1.0)

    def ip(self, role: str, *args: str) -> str:
        return run(["ip", "-n", self.ns[role], *args])

    def up(self) -> Lab:
        remove_leftovers(PREFIX)
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def _build(self) -> None:
        for netns in self.ns.values():
            run(["ip", "netns", "add", netns])
            run(["ip", "-n", netns, "link", "set", "lo", "up"])
        self.ip("sw", "link", "add", "br0", "type", "bridge")
        self.ip("sw", "link", "set", "br0", "up")
        segment = [("api", API), ("router", ROUTER_NODES), *((n, node_ip(n)) for n in NODES)]
        for index, (role, address) in enumerate(segment):
            port = f"p{index}"
            self.ip("sw", "link", "add", port, "type", "veth", "peer", "name", "eth0")
            self.ip("sw", "link", "set", "eth0", "netns", self.ns[role])
            self.ip("sw", "link", "set", port, "master", "br0", "up")
            self.ip(role, "addr", "add", f"{address}/24", "dev", "eth0")
            self.ip(role, "link", "set", "eth0", "up")
        # The client hangs off the router on its own link.
        self.ip("router", "link", "add", "eth1", "type", "veth", "peer", "name", "cl0")
        self.ip("router", "link", "set", "cl0", "netns", self.ns["client"])
        self.ip("client", "link", "set", "cl0", "name", "eth0")
        self.ip("router", "addr", "add", f"{ROUTER_CLIENT}/24", "dev", "eth1")
        self.ip("router", "link", "set", "eth1", "up")
        self.ip("client", "addr", "add", f"{CLIENT}/24", "dev", "eth0")
        self.ip("client", "link", "set", "eth0", "up")
        self.ip("client", "route", "add", "default", "via", ROUTER_CLIENT)
        run(["ip", "netns", "exec", self.ns["router"], "sysctl", "-qw", "net.ipv4.ip_forward=1"])
        for n in NODES:
            self.ip(n, "route", "add", "default", "via", ROUTER_NODES)
            self.ip(n, "addr", "add", VIPS, "dev", "lo")
            web = self.dir / f"www-{n}"
            web.mkdir()
            (web / "index.html").write_text(f"served by {n}\n")
            self.spawn(
                n,
                [sys.executable, "-m", "http.server", "8080", "--bind", "0.0.0.0", "-d", str(web)],
                "web",
            )
        # The API server: a thread here, listening inside the api namespace.
        sock = listen_in_namespace(self.ns["api"], API, 6443)
        server = _Server((API, 6443), _Handler, bind_and_activate=False)
        server.socket.close()
        server.socket = sock
        server.server_address = sock.getsockname()
        server.api = self.fake
        self.fake._server = server
        self.fake.port = 6443
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.kubeconfig = self.dir / "kubeconfig"
        self.kubeconfig.write_text(
            self.fake.write_kubeconfig(self.dir / "tmp") and self._kubeconfig_text()
        )

    def _kubeconfig_text(self) -> str:
        return (self.dir / "tmp").read_text().replace(self.fake.url, f"http://{API}:6443")

    def spawn(self, role: str, args: list[str], log: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns[role], *args],
            cwd=REPO,
            text=True,
            start_new_session=True,
            stdout=(self.dir / f"{role}-{log}.out").open("w"),
            stderr=(self.dir / f"{role}-{log}.err").open("w"),
        )
        self.procs.append(proc)
        return proc

    def start_bird(self) -> None:
        protocols = "\n".join(
            f"protocol bgp {n} from speakers {{ neighbor {node_ip(n)} as 64500; }}" for n in NODES
        )
        conf = self.dir / "bird.conf"
        conf.write_text(
            BIRD_CONF.format(
                router=ROUTER_NODES, dir=self.dir, protocols=protocols, password=PASSWORD
            )
        )
        run(["bird", "-p", "-c", str(conf)])
        self.spawn(
            "router", ["bird", "-f", "-c", str(conf), "-s", str(self.dir / "bird.ctl")], "bird"
        )
        wait(lambda: (self.dir / "bird.ctl").exists(), 10, "BIRD's control socket")

    def lbtui(self, role: str, *args: str) -> subprocess.Popen[str]:
        command = [sys.executable, "-m", "lbtui", *args, "--kubeconfig", str(self.kubeconfig)]
        return self.spawn(role, [*command, "--metrics-port", "-1"], args[0])

    def router_next_hops(self, prefix: str) -> set[str]:
        out = run(["ip", "-n", self.ns["router"], "-4", "route", "show", prefix])
        return {
            word
            for line in out.splitlines()
            for word in line.split()
            if word.startswith("10.99.70.")
        }

    def fetch(self, ip: str) -> str:
        code = (
            "import urllib.request,sys;"
            f"print(urllib.request.urlopen('http://{ip}:8080/', timeout=2).read().decode().strip())"
        )
        out = subprocess.run(
            ["ip", "netns", "exec", self.ns["client"], sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=15,
        )
        return out.stdout.strip()

    def mac(self, role: str) -> str:
        return json.loads(self.ip(role, "-j", "link", "show", "eth0"))[0]["address"]

    def resolve(self, ip: str) -> str | None:
        """The MAC the segment's kernel (the api namespace's) resolves ``ip`` to, afresh."""
        run(["ip", "-n", self.ns["api"], "neigh", "flush", "to", ip], check=False)
        run(
            ["ip", "netns", "exec", self.ns["api"], "ping", "-c", "1", "-W", "1", ip],
            check=False,
        )
        entries = json.loads(self.ip("api", "-j", "neigh", "show", ip) or "[]")
        usable = [e for e in entries if e.get("lladdr") and "FAILED" not in e.get("state", [])]
        return usable[0]["lladdr"] if usable else None

    def logs(self) -> str:
        return "\n".join(
            f"== {p.name}\n{p.read_text()[-1500:]}" for p in sorted(self.dir.glob("*.err"))
        )

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        for proc in self.procs:
            with contextlib.suppress(Exception):
                proc.wait(timeout=5)
        if self.fake._server is not None:
            self.fake.down()
        for netns in self.ns.values():
            kill_namespace(netns)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.fail("this test needs root (network namespaces)")
    missing = [t for t in ("ip", "bird", "birdc") if shutil.which(t) is None]
    if missing:
        pytest.fail(f"this test needs {', '.join(missing)} (apt-get install bird2 iproute2)")
    lab = Lab(tmp_path).up()
    try:
        yield lab
    finally:
        lab.close()


def seed_cluster(fake: FakeKubeApi) -> None:
    fake.create(namespace(NS))
    fake.create(namespace("default"))
    for n in NODES:
        fake.create(node(n, node_ip(n)))
        # The speaker pods: how each speaker finds the others' addresses for membership.
        fake.create(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"speaker-{n}",
                    "namespace": NS,
                    "labels": {"app": "metallb", "component": "speaker"},
                },
                "spec": {"nodeName": n},
                "status": {"phase": "Running", "podIP": node_ip(n)},
            }
        )
    fake.create(pool("vips", VIPS))
    fake.create(
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "BGPAdvertisement",
            "metadata": {"name": "vips", "namespace": NS},
            "spec": {"ipAddressPools": ["vips"]},
        }
    )
    fake.create(
        {
            "apiVersion": "metallb.io/v1beta2",
            "kind": "BGPPeer",
            "metadata": {"name": "router", "namespace": NS},
            "spec": {
                "myASN": 64500,
                "peerASN": 64500,
                "peerAddress": ROUTER_NODES,
                "passwordSecret": {"name": "router-md5", "namespace": NS},
            },
        }
    )
    fake.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "router-md5", "namespace": NS},
            "type": "kubernetes.io/basic-auth",
            "data": {"password": base64.b64encode(PASSWORD.encode()).decode()},
        }
    )
    # Layer 2 on the nodes' own segment.
    fake.create(pool("segment", L2_VIPS))
    fake.create(l2_advertisement("segment", ipAddressPools=["segment"]))


def test_a_service_created_through_the_api_becomes_reachable(lab: Lab) -> None:
    fake = lab.fake
    seed_cluster(fake)
    lab.start_bird()
    lab.lbtui("api", "controller")
    speakers = {
        n: lab.lbtui(n, "speaker", "--node-name", n, "--ml-bind", f"{node_ip(n)}:7946")
        for n in NODES
    }

    fake.create(
        service(
            "web",
            annotations={"metallb.io/address-pool": "vips"},
            ports=[{"port": 8080, "protocol": "TCP"}],
        )
    )
    fake.create(endpoint_slice("web", list(NODES)))
    fake.create(service("lan", annotations={"metallb.io/address-pool": "segment"}))
    fake.create(endpoint_slice("lan", list(NODES)))
    try:
        (vip,) = wait(lambda: ingress_of(fake, "web"), 60, "the controller's allocation")
        assert vip == "10.99.72.0"
        hops = wait(
            lambda: (
                lab.router_next_hops(vip) == {node_ip(n) for n in NODES}
                and lab.router_next_hops(vip)
            ),
            60,
            "BIRD's ECMP route to the VIP through every node",
        )
        answer = wait(lambda: lab.fetch(vip), 20, "an HTTP answer from the VIP")
        # Layer 2: one owner, elected by every speaker alike; the segment resolves the
        # address to that node's MAC, and the API shows the same node in ServiceL2Status.
        (l2_vip,) = wait(lambda: ingress_of(fake, "lan"), 30, "the layer 2 allocation")
        owner = wait(lambda: l2_owner(fake), 30, "a ServiceL2Status")
        assert wait(lambda: lab.resolve(l2_vip), 20, "an ARP answer") == lab.mac(owner)
    except AssertionError:
        raise AssertionError(lab.logs()) from None
    assert answer in {f"served by {n}" for n in NODES}
    assert hops == {node_ip(n) for n in NODES}
    # What the cluster shows: one ServiceBGPStatus per node, advertising to the router.
    statuses = wait(
        lambda: len(fake.items("ServiceBGPStatus", NS)) == 3 and fake.items("ServiceBGPStatus", NS),
        20,
    )
    assert {s["status"]["node"] for s in statuses if s.get("status")} <= set(NODES)

    # The layer 2 owner's speaker stops: it leaves membership, withdraws its route and
    # deletes its status objects; another node answers for the address, the VIP behind the
    # router stays reachable through the other two.
    others = tuple(n for n in NODES if n != owner)
    os.killpg(speakers[owner].pid, signal.SIGTERM)
    speakers[owner].wait(timeout=20)
    try:
        new_owner = wait(
            lambda: (o := l2_owner(fake)) not in (None, owner) and o, 30, "a new ServiceL2Status"
        )
        assert new_owner in others
        wait(lambda: len(fake.items("ServiceL2Status", NS)) == 1, 20, "the old one deleted")
        assert wait(lambda: lab.resolve(l2_vip), 20, "an ARP answer") == lab.mac(new_owner)
        wait(lambda: lab.router_next_hops(vip) == {node_ip(n) for n in others}, 30, "withdrawn")
        wait(
            lambda: (
                {s["status"]["node"] for s in fake.items("ServiceBGPStatus", NS)} == set(others)
            ),
            20,
            "the stopped node's ServiceBGPStatus deleted",
        )
    except AssertionError:
        raise AssertionError(lab.logs()) from None
    assert lab.fetch(vip) in {f"served by {n}" for n in others}

    # Deleting the Service through the API withdraws the route: the VIP is gone again.
    fake.delete("Service", "web", "default")
    wait(lambda: not lab.router_next_hops(vip), 30, "the route withdrawn")


def l2_owner(fake: FakeKubeApi) -> str | None:
    found = [o for o in fake.items("ServiceL2Status", NS) if o.get("status")]
    return found[0]["status"]["node"] if len(found) == 1 else None
