"""Proof 5: three speakers, each in a network namespace named after a kwok Node, on the real API
server; EndpointSlices come from the real endpointslice controller and kwok's Pods.

    kube0 (the control plane's bridge, 10.97.0.0/24): the API server and the layer 2 client
        (10.97.0.1), the speakers n1..n3 (10.97.0.11-13, their Nodes' InternalIPs and so their
        hostNetwork speaker Pods' IPs), the router (10.97.0.2, BIRD 2)
    router -- client (10.97.1.0/24): the client reaches BGP VIPs only through BIRD's routes

Each node carries the BGP range on ``lo`` and serves HTTP on 8080 with its name, as kube-proxy's
IPVS interface and a backend would.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from controlplane import PREFIX, SUBNET
from deployment import NODES, NS, Deployment, LbtuiProcess, wait_for

from lbtui.lab.netns import kill_namespace, run
from tests.kube.test_e2e_netns import BIRD_CONF  # the same iBGP router, one config

ROUTER, ROUTER_CLIENT, CLIENT = f"{SUBNET}2", "10.97.1.1", "10.97.1.2"
BGP_VIPS = "10.97.8.0/28"
L2_VIPS = "10.97.0.100-10.97.0.110"
PASSWORD = "realkube-md5"

CONFIG = f"""
apiVersion: v1
kind: Secret
metadata: {{name: router-md5, namespace: {NS}}}
type: kubernetes.io/basic-auth
data: {{password: {base64.b64encode(PASSWORD.encode()).decode()}}}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: real-bgp, namespace: {NS}}}
spec: {{addresses: [{BGP_VIPS}], autoAssign: false}}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: real-l2, namespace: {NS}}}
spec: {{addresses: ["{L2_VIPS}"], autoAssign: false}}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{name: real-bgp, namespace: {NS}}}
spec: {{ipAddressPools: [real-bgp]}}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {{name: real-l2, namespace: {NS}}}
spec: {{ipAddressPools: [real-l2]}}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{name: real-router, namespace: {NS}}}
spec:
  myASN: 64500
  peerASN: 64500
  peerAddress: {ROUTER}
  passwordSecret: {{name: router-md5, namespace: {NS}}}
"""


def backends(app: str, nodes: list[str]) -> str:
    """One kwok Pod of ``app`` on each of ``nodes`` (Running and Ready, by kwok)."""
    docs = [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"{app}-{node}", "namespace": "default", "labels": {"app": app}},
            "spec": {
                "nodeName": node,
                "containers": [{"name": "web", "image": "web:fake"}],
                "tolerations": [{"operator": "Exists"}],
            },
        }
        for node in nodes
    ]
    return "\n---\n".join(yaml.safe_dump(d) for d in docs)


def lb_service(name: str, pool: str, local: bool = False) -> str:
    spec: dict[str, Any] = {
        "type": "LoadBalancer",
        "selector": {"app": name},
        "ports": [{"port": 8080, "targetPort": 8080, "protocol": "TCP"}],
    }
    if local:
        spec["externalTrafficPolicy"] = "Local"
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": name,
                "namespace": "default",
                "annotations": {"metallb.io/address-pool": pool},
            },
            "spec": spec,
        }
    )


class Network:
    """The router, the client and the node namespaces around the control plane's bridge."""

    def __init__(self, deployed: Deployment, work: Path) -> None:
        self.deployed, self.work = deployed, work
        tag = f"{PREFIX}-{os.getpid()}"
        self.ns = {
            "router": f"{tag}-router",
            "client": f"{tag}-client",
            **{n: f"{tag}-{n}" for n in NODES},
        }
        self.procs: list[subprocess.Popen[bytes]] = []
        self.speakers: dict[str, LbtuiProcess] = {}

    def ip(self, role: str, *args: str) -> str:
        return run(["ip", "-n", self.ns[role], *args])

    def exec(self, role: str, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns[role], *args]

    def up(self) -> Network:
        plane = self.deployed.plane
        for netns in self.ns.values():
            kill_namespace(netns)
            run(["ip", "netns", "add", netns])
            run(["ip", "-n", netns, "link", "set", "lo", "up"])
        plane.attach(self.ns["router"], ROUTER, "eth0")
        for node, address in NODES.items():
            plane.attach(self.ns[node], address, "eth0")
            self.ip(node, "route", "add", "default", "via", ROUTER)
            self.ip(node, "addr", "add", BGP_VIPS, "dev", "lo")
            web = self.work / f"www-{node}"
            web.mkdir(exist_ok=True)
            (web / "index.html").write_text(f"served by {node}\n")
            self.spawn(node, [sys.executable, "-m", "http.server", "8080", "-d", str(web)])
        self.ip("router", "link", "add", "eth1", "type", "veth", "peer", "name", "cl0")
        self.ip("router", "link", "set", "cl0", "netns", self.ns["client"])
        self.ip("client", "link", "set", "cl0", "name", "eth0")
        self.ip("router", "addr", "add", f"{ROUTER_CLIENT}/24", "dev", "eth1")
        self.ip("router", "link", "set", "eth1", "up")
        self.ip("client", "addr", "add", f"{CLIENT}/24", "dev", "eth0")
        self.ip("client", "link", "set", "eth0", "up")
        self.ip("client", "route", "add", "default", "via", ROUTER_CLIENT)
        run(self.exec("router", "sysctl", "-qw", "net.ipv4.ip_forward=1"))
        self.start_bird()
        return self

    def spawn(self, role: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.work / f"{role}-{Path(args[0]).name}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            self.exec(role, *args), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.procs.append(proc)
        return proc

    def start_bird(self) -> None:
        protocols = "\n".join(
            f"protocol bgp {n} from speakers {{ neighbor {a} as 64500; }}" for n, a in NODES.items()
        )
        conf = self.work / "bird.conf"
        conf.write_text(
            BIRD_CONF.format(router=ROUTER, dir=self.work, protocols=protocols, password=PASSWORD)
        )
        self.spawn("router", ["bird", "-f", "-c", str(conf), "-s", str(self.work / "bird.ctl")])
        wait_for("BIRD's control socket", lambda: (self.work / "bird.ctl").exists(), 10)

    def start_speaker(self, node: str) -> LbtuiProcess:
        pod = self.deployed.pod("speaker", node)
        args = [
            "speaker",
            f"--node-name={node}",
            f"--kubeconfig={self.deployed.kubeconfig('speaker')}",
            f"--namespace={NS}",
            f"--pod-name={pod['metadata']['name']}",
            "--ml-labels=app=metallb,component=speaker",
            f"--ml-bind={NODES[node]}:7946",
        ]
        process = self.deployed.start(
            f"speaker-{node}", self.ns[node], args, {"POD_NAME": pod["metadata"]["name"]}
        )
        self.speakers[node] = process
        return process

    def next_hops(self, prefix: str) -> set[str]:
        out = run(["ip", "-n", self.ns["router"], "-4", "route", "show", prefix])
        return {w for line in out.splitlines() for w in line.split() if w.startswith(SUBNET)}

    def fetch(self, ip: str) -> str:
        code = (
            "import urllib.request;"
            f"print(urllib.request.urlopen('http://{ip}:8080/', timeout=2).read().decode().strip())"
        )
        out = subprocess.run(
            self.exec("client", sys.executable, "-c", code),
            capture_output=True,
            text=True,
            timeout=15,
        )
        return out.stdout.strip()

    def resolve(self, ip: str) -> str | None:
        """The MAC the segment (the control plane's namespace) resolves ``ip`` to, afresh."""
        cp = self.deployed.plane.netns
        run(["ip", "-n", cp, "neigh", "flush", "to", ip], check=False)
        run(["ip", "netns", "exec", cp, "ping", "-c", "1", "-W", "1", ip], check=False)
        entries = json.loads(run(["ip", "-n", cp, "-j", "neigh", "show", ip]) or "[]")
        usable = [e for e in entries if e.get("lladdr") and "FAILED" not in e.get("state", [])]
        return usable[0]["lladdr"] if usable else None

    def mac(self, node: str) -> str:
        return json.loads(self.ip(node, "-j", "link", "show", "eth0"))[0]["address"]

    def logs(self) -> str:
        return "\n".join(f"== {n}\n{p.output()[-2000:]}" for n, p in self.speakers.items())

    def close(self) -> None:
        for process in self.speakers.values():
            process.stop(signal.SIGKILL)
            if process in self.deployed.processes:
                self.deployed.processes.remove(process)
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        for netns in self.ns.values():
            kill_namespace(netns)


@pytest.fixture
def network(deployed: Deployment, tmp_path: Path) -> Iterator[Network]:
    missing = [t for t in ("bird", "birdc") if shutil.which(t) is None]
    if missing:
        pytest.fail(f"this test needs {', '.join(missing)} (apt-get install bird2)")
    net = Network(deployed, tmp_path).up()
    try:
        yield net
    finally:
        net.close()


def status_objects(deployed: Deployment, plural: str) -> list[dict[str, Any]]:
    return deployed.get(f"{plural}.metallb.io", "-n", NS)["items"]


def test_speakers_announce_what_the_real_cluster_says(
    network: Network, deployed: Deployment
) -> None:
    plane = deployed.plane
    plane.kubectl("apply", "-f", "-", stdin=CONFIG)
    plane.kubectl("apply", "-f", "-", stdin=backends("web", list(NODES)))
    plane.kubectl("apply", "-f", "-", stdin=backends("lan", list(NODES)))
    plane.kubectl("apply", "-f", "-", stdin=backends("local", ["n2"]))
    plane.kubectl("apply", "-f", "-", stdin=lb_service("web", "real-bgp"))
    plane.kubectl("apply", "-f", "-", stdin=lb_service("lan", "real-l2"))
    plane.kubectl("apply", "-f", "-", stdin=lb_service("local", "real-bgp", local=True))
    for node in NODES:
        network.start_speaker(node)

    def ingress(name: str) -> str | None:
        svc = deployed.get("service", name, "-n", "default")
        points = (svc.get("status", {}).get("loadBalancer") or {}).get("ingress") or []
        return points[0]["ip"] if points else None

    try:
        vip = wait_for("the BGP service's address", lambda: ingress("web"))
        addresses = set(NODES.values())
        wait_for(
            "BIRD's ECMP route through every node",
            lambda: network.next_hops(vip) == addresses,
            timeout=90,
        )
        answer = wait_for("an HTTP answer from the VIP", lambda: network.fetch(vip), timeout=30)
        assert answer in {f"served by {n}" for n in NODES}

        # externalTrafficPolicy: Local announces only from nodes with a ready endpoint: the
        # EndpointSlice the real controller made from kwok's Pod on n2.
        local_vip = wait_for("the Local service's address", lambda: ingress("local"))
        wait_for(
            "a route only through n2",
            lambda: network.next_hops(local_vip) == {NODES["n2"]},
            timeout=60,
        )
        plane.kubectl("delete", "pod", "local-n2", "-n", "default", "--wait=false")
        plane.kubectl("apply", "-f", "-", stdin=backends("local", ["n3"]))
        wait_for(
            "the route to follow the Pod to n3",
            lambda: network.next_hops(local_vip) == {NODES["n3"]},
            timeout=60,
        )

        # Layer 2: one owner; the segment resolves the VIP to that node's MAC, and the API
        # shows the same node in a ServiceL2Status owned by that node's speaker Pod.
        l2_vip = wait_for("the layer 2 address", lambda: ingress("lan"))

        def l2_owner() -> str | None:
            found = [
                o
                for o in status_objects(deployed, "servicel2statuses")
                if (o.get("status") or {}).get("serviceName") == "lan"
            ]
            return found[0]["status"]["node"] if len(found) == 1 else None

        owner = wait_for("a ServiceL2Status", l2_owner, timeout=60)
        assert wait_for("an ARP answer", lambda: network.resolve(l2_vip), 20) == network.mac(owner)
    except AssertionError:
        raise AssertionError(network.logs()) from None

    # ownerReferences: every status object belongs to its node's speaker Pod...
    pods = {
        p["spec"]["nodeName"]: p
        for p in deployed.get("pods", "-n", NS, "-l", "app=metallb,component=speaker")["items"]
    }
    statuses = status_objects(deployed, "servicel2statuses") + status_objects(
        deployed, "servicebgpstatuses"
    )
    assert statuses
    for obj in statuses:
        node = obj["status"]["node"]
        refs = obj["metadata"].get("ownerReferences") or []
        assert [(r["kind"], r["uid"]) for r in refs] == [("Pod", pods[node]["metadata"]["uid"])]

    # ... so when a node's speaker dies without cleaning up and its Pod is deleted, the garbage
    # collector (the real one) removes that node's status objects.
    victim = owner
    network.speakers[victim].stop(signal.SIGKILL)
    uid = pods[victim]["metadata"]["uid"]
    plane.kubectl("delete", "pod", pods[victim]["metadata"]["name"], "-n", NS, "--wait=false")

    def owned_by_victim() -> list[str]:
        objs = status_objects(deployed, "servicel2statuses") + status_objects(
            deployed, "servicebgpstatuses"
        )
        return [
            o["metadata"]["name"]
            for o in objs
            if any(r["uid"] == uid for r in o["metadata"].get("ownerReferences") or [])
        ]

    wait_for(
        "the garbage collector to remove the dead Pod's status objects",
        lambda: not owned_by_victim(),
        timeout=60,
    )
    # The others take over layer 2 and keep the BGP VIP reachable.
    others = {NODES[n] for n in NODES if n != victim}
    wait_for(
        "the route without the dead node",
        lambda: network.next_hops(vip) <= others and network.next_hops(vip),
        timeout=60,
    )
    new_owner = wait_for(
        "a new layer 2 owner", lambda: (o := l2_owner()) not in (None, victim) and o, timeout=60
    )
    assert wait_for("an ARP answer", lambda: network.resolve(l2_vip), 20) == network.mac(new_owner)


def test_an_api_outage_withdraws_nothing_and_the_controller_catches_up(
    network: Network, deployed: Deployment
) -> None:
    """kube-apiserver stopped for 30 s: the speakers keep announcing what they announced (BIRD
    keeps every route, the segment still resolves the layer 2 address), and afterwards the
    controller assigns a Service created as soon as the server is back."""
    plane = deployed.plane
    plane.kubectl("apply", "-f", "-", stdin=CONFIG)
    plane.kubectl("apply", "-f", "-", stdin=backends("web", list(NODES)))
    plane.kubectl("apply", "-f", "-", stdin=lb_service("web", "real-bgp"))
    plane.kubectl("apply", "-f", "-", stdin=backends("lan", list(NODES)))
    plane.kubectl("apply", "-f", "-", stdin=lb_service("lan", "real-l2"))
    for node in NODES:
        network.start_speaker(node)
    svc = lambda name: deployed.get("service", name, "-n", "default")  # noqa: E731
    vip = wait_for(
        "the BGP address", lambda: svc("web")["status"]["loadBalancer"]["ingress"][0]["ip"]
    )
    l2_vip = wait_for(
        "the L2 address", lambda: svc("lan")["status"]["loadBalancer"]["ingress"][0]["ip"]
    )
    everyone = set(NODES.values())
    try:
        wait_for("routes through every node", lambda: network.next_hops(vip) == everyone, 90)
        owner_mac = wait_for("an ARP answer", lambda: network.resolve(l2_vip), 30)
    except AssertionError:
        raise AssertionError(network.logs()) from None

    plane.stop_apiserver()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert network.next_hops(vip) == everyone, network.logs()
            assert network.resolve(l2_vip) == owner_mac
            time.sleep(2)
    finally:
        plane.start_apiserver()
        plane.wait_ready()
    plane.kubectl("apply", "-f", "-", stdin=lb_service("after", "real-bgp"))
    wait_for(
        "the controller to assign after the outage",
        lambda: svc("after")["status"]["loadBalancer"]["ingress"][0]["ip"],
        timeout=90,
    )
    assert all(p.alive() for p in network.speakers.values()), network.logs()
    assert network.next_hops(vip) == everyone
    plane.kubectl("delete", "service", "after", "-n", "default")
