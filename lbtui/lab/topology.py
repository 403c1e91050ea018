"""The lab's plan, pure: names, addresses and MACs for N nodes, and the effective files.

    <name>-sw       the bridge br0 (the LAN, 10.99.90.0/24); one veth port per host
    <name>-router   10.99.90.1, forwarding; BIRD or FRR peers with every node (AS 64500)
    <name>-client   10.99.90.2; the BGP pool is routed via the router
    <name>-n1..nN   10.99.90.11..; a speaker, an HTTP server; the pools delivered locally

Every link lives inside these namespaces (the bridge too), so deleting them removes every
interface the lab made; nothing is created in the host's own namespace.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# The lab's configuration and cluster: examples/lab in the source tree, reached through the
# link lbtui/lab/_examples, which a wheel holds as copies (pyproject's package-data).
EXAMPLES = Path(__file__).resolve().parent / "_examples"
MODES = ("l2", "bgp", "both")
ROUTERS = ("bird", "frr")
HOWS = ("kill", "link", "stop")  # lab fail --how
MODE_LABEL = "lab.lbtui.io/mode"
NAME = re.compile(r"^lblab[a-z0-9]{0,8}$")
MAX_NODES = 60

LAN = ipaddress.ip_network("10.99.90.0/24")
ROUTER_IP = "10.99.90.1"
CLIENT_IP = "10.99.90.2"
ROUTER_AS, NODE_AS = 64500, 64512
HTTP_PORT = 80
STATUS_PORT = 7473
METRICS_PORT = 7472
GOSSIP_PORT = 7946


class LabError(Exception):
    """Something the operator must fix (the message says what); nothing was left behind."""


@dataclass(frozen=True, slots=True)
class Host:
    role: str  # router | client | n1..nN
    netns: str
    ip: str
    mac: str
    port: str  # its veth port on the bridge (in the switch namespace)


@dataclass(frozen=True, slots=True)
class LabPlan:
    name: str
    nodes: tuple[str, ...]
    mode: str = "both"
    router: str = "bird"
    hosts: tuple[Host, ...] = field(default=())

    @property
    def switch(self) -> str:
        return f"{self.name}-sw"

    def host(self, role: str) -> Host:
        for host in self.hosts:
            if host.role == role:
                return host
        raise LabError(f"no node {role!r} in lab {self.name} (nodes: {', '.join(self.nodes)})")

    @property
    def namespaces(self) -> tuple[str, ...]:
        return (self.switch, *(h.netns for h in self.hosts))

    @property
    def l2(self) -> bool:
        return self.mode in ("l2", "both")

    @property
    def bgp(self) -> bool:
        return self.mode in ("bgp", "both")

    def status_url(self, node: str) -> str:
        return f"http://{self.host(node).ip}:{STATUS_PORT}"


def plan_lab(
    name: str = "lblab", nodes: int = 3, mode: str = "both", router: str = "bird"
) -> LabPlan:
    """The lab for these options (LabError for a bad one)."""
    if not NAME.match(name):
        raise LabError(f"lab name {name!r}: 'lblab' followed by at most 8 of a-z, 0-9")
    if not 1 <= nodes <= MAX_NODES:
        raise LabError(f"--nodes {nodes}: between 1 and {MAX_NODES}")
    if mode not in MODES:
        raise LabError(f"--mode {mode}: one of {', '.join(MODES)}")
    if router not in ROUTERS:
        raise LabError(f"--router {router}: one of {', '.join(ROUTERS)}")
    names = tuple(f"n{i + 1}" for i in range(nodes))
    hosts = [
        Host("router", f"{name}-router", ROUTER_IP, "02:99:90:00:00:01", "p0"),
        Host("client", f"{name}-client", CLIENT_IP, "02:99:90:00:00:02", "p1"),
    ]
    for i, node in enumerate(names):
        mac = f"02:99:90:00:01:{i + 1:02x}"
        hosts.append(Host(node, f"{name}-{node}", f"10.99.90.{11 + i}", mac, f"p{i + 2}"))
    return LabPlan(name, names, mode, router, tuple(hosts))


def in_lan(address: str) -> bool:
    """Whether ``address`` (or network) lies in the LAN: served by layer 2, not routed."""
    network = ipaddress.ip_network(address, strict=False)
    return network.version == 4 and network.subnet_of(LAN)  # type: ignore[arg-type]


# -- the effective configuration and cluster -------------------------------------------------


def _documents(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if isinstance(d, dict)]


def _in_mode(doc: dict[str, Any], mode: str) -> bool:
    wanted = (doc.get("metadata") or {}).get("labels", {}).get(MODE_LABEL)
    return wanted is None or mode == "both" or wanted == mode


def lab_config(plan: LabPlan, source: Path = EXAMPLES / "config.yaml") -> str:
    """examples/lab/config.yaml, keeping the objects of the plan's mode."""
    docs = [d for d in _documents(source) if _in_mode(d, plan.mode)]
    return yaml.safe_dump_all(docs, sort_keys=False)


def lab_cluster(plan: LabPlan, source: Path = EXAMPLES / "cluster.yaml") -> str:
    """examples/lab/cluster.yaml for the plan: its first Node copied for every lab node, and
    every EndpointSlice given one ready endpoint per node (modelled on its first one)."""
    docs = [d for d in _documents(source) if _in_mode(d, plan.mode)]
    template = next((d for d in docs if d.get("kind") == "Node"), None)
    if template is None:
        raise LabError(f"{source}: no Node to model the lab's nodes on")
    out: list[dict[str, Any]] = []
    for node in plan.nodes:
        doc = copy.deepcopy(template)
        doc["metadata"]["name"] = node
        doc["metadata"].setdefault("labels", {})["kubernetes.io/hostname"] = node
        doc.setdefault("status", {})["addresses"] = [
            {"type": "InternalIP", "address": plan.host(node).ip}
        ]
        out.append(doc)
    for doc in docs:
        kind = doc.get("kind")
        if kind == "Node":
            continue
        if kind == "EndpointSlice" and doc.get("endpoints"):
            first = doc["endpoints"][0]
            base = ipaddress.ip_address(first["addresses"][0])
            endpoints = []
            for i, node in enumerate(plan.nodes):
                ep = copy.deepcopy(first)
                ep["nodeName"] = node
                ep["addresses"] = [str(base + 256 * i)]
                endpoints.append(ep)
            doc = {**doc, "endpoints": endpoints}
        out.append(doc)
    return yaml.safe_dump_all(out, sort_keys=False)


def service_addresses(cluster_text: str) -> list[tuple[str, str, int]]:
    """(service, address, port) of every LoadBalancer service with a requested address."""
    out = []
    for doc in yaml.safe_load_all(cluster_text):
        if not isinstance(doc, dict) or doc.get("kind") != "Service":
            continue
        meta = doc.get("metadata") or {}
        spec = doc.get("spec") or {}
        if spec.get("type") != "LoadBalancer":
            continue
        notes = meta.get("annotations") or {}
        wanted = notes.get("metallb.io/loadBalancerIPs") or spec.get("loadBalancerIP") or ""
        port = int((spec.get("ports") or [{"port": HTTP_PORT}])[0]["port"])
        for ip in (a.strip() for a in str(wanted).split(",") if a.strip()):
            out.append((f"{meta.get('namespace', 'default')}/{meta.get('name')}", ip, port))
    return out


def pool_ranges(config_text: str) -> list[str]:
    """Every pool range as CIDRs (a node delivers them locally, like kube-proxy's IPVS)."""
    out: list[str] = []
    for doc in yaml.safe_load_all(config_text):
        if not isinstance(doc, dict) or doc.get("kind") != "IPAddressPool":
            continue
        for text in (doc.get("spec") or {}).get("addresses", []):
            out += [str(n) for n in _cidrs(str(text))]
    return out


def _cidrs(text: str) -> Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    if "-" in text:
        low, high = (ipaddress.ip_address(p.strip()) for p in text.split("-", 1))
        return ipaddress.summarize_address_range(low, high)  # type: ignore[arg-type]
    return [ipaddress.ip_network(text, strict=False)]


def speaker_args(plan: LabPlan, node: str, workdir: Path) -> list[str]:
    """``lbtui speaker`` for ``node`` (after ``python -m lbtui``)."""
    me = plan.host(node)
    seeds = ",".join(f"{plan.host(n).ip}:{GOSSIP_PORT}" for n in plan.nodes if n != node)
    args = [
        "speaker",
        "--node-name",
        node,
        "--cluster",
        str(workdir / "cluster.yaml"),
        "--config",
        str(workdir / "config.yaml"),
        "--poll",
        "0.5",
        "--ml-bind",
        f"{me.ip}:{GOSSIP_PORT}",
        "--ml-profile",
        "fast",
        "--status-addr",
        f"{me.ip}:{STATUS_PORT}",
        "--metrics-port",
        str(METRICS_PORT),
    ]
    if seeds:
        args += ["--ml-join", seeds]
    if not plan.l2:
        args.append("--no-l2")
    if not plan.bgp:
        args.append("--no-bgp")
    return args
