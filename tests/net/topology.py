"""A real L2 segment in network namespaces: a bridge, N nodes and a client (root only).

    client (10.99.0.2, fd00:99::2) ─┐
    node 1 (10.99.0.11, fd00:99::11)├─ br0 in its own namespace
    node N (10.99.0.1N, ...)        ┘

Every namespace is named ``<prefix>-<pid>-<n>-<role>`` so parallel runs never collide and leftovers
of a dead run are recognised and removed. Nodes get fixed MACs (02:99:00:00:00:0i), carry
every service address on ``lo`` (so a TCP server there accepts connections to it, as
kube-proxy's IPVS dummy interface does) and set ``arp_ignore=1``/``arp_announce=2`` (what
kube-proxy's strictARP asks for), so the node kernels never answer ARP for those addresses:
only lbtui does. IPv6 addresses are added with ``nodad``. ``close()`` kills every process
started here and deletes every namespace, whatever state the test left them in.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lbtui.lab.netns import NetnsError, kill_namespace, remove_leftovers, run

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
SUBNET4, SUBNET6 = "10.99.0.", "fd00:99::"
MANAGEMENT4 = "10.98.0."
CLIENT_MAC = "02:99:00:00:00:fe"


_serial = itertools.count(1)


# The namespace helpers live in lbtui/lab/netns.py (``lbtui lab`` uses them too).
TopologyError = NetnsError


@dataclass
class Host:
    """One namespace on the segment, with its single interface ``eth0``."""

    role: str
    netns: str
    ipv4: str
    ipv6: str
    mac: str
    management: str = ""  # the mgmt0 address, with Topology(management=True)

    def cmd(self, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.netns, *args]

    def run(self, *args: str, check: bool = True, timeout: float = 30) -> str:
        return run(self.cmd(*args), check=check, timeout=timeout)

    def ip(self, *args: str, check: bool = True) -> str:
        return run(["ip", "-n", self.netns, *args], check=check)

    def neighbour(self, address: str) -> dict | None:
        """The kernel's neighbour entry for ``address`` (``ip -j neigh``), if any."""
        family = "-6" if ":" in address else "-4"
        entries = json.loads(self.ip("-j", family, "neigh", "show", address, "dev", "eth0") or "[]")
        return entries[0] if entries else None


@dataclass
class Topology:
    nodes: int = 3
    prefix: str = "lbl2"
    node_names: Sequence[str] = ()
    #: Addresses every node carries on lo (the services' addresses).
    service_addresses: Sequence[str] = ()
    #: Also give every node ``mgmt0`` on a second bridge (10.98.0.0/24), e.g. for gossip.
    management: bool = False
    hosts: dict[str, Host] = field(default_factory=dict)
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tag = f"{self.prefix}-{os.getpid()}-{next(_serial)}"
        if not self.node_names:
            self.node_names = [f"node-{chr(ord('a') + i)}" for i in range(self.nodes)]
        self.bridge = f"{self.tag}-br"

    # -- building ----------------------------------------------------------------------------
    def up(self) -> Topology:
        if os.geteuid() != 0:
            raise TopologyError("network namespace tests need root")
        remove_leftovers(self.prefix)
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def _build(self) -> None:
        run(["ip", "netns", "add", self.bridge])
        br = ["ip", "-n", self.bridge]
        run([*br, "link", "add", "br0", "type", "bridge"])
        run([*br, "link", "set", "br0", "up"])
        if self.management:
            run([*br, "link", "add", "br1", "type", "bridge"])
            run([*br, "link", "set", "br1", "up"])
        hosts = [("client", 2, CLIENT_MAC)]
        hosts += [(n, 11 + i, f"02:99:00:00:00:{i + 1:02x}") for i, n in enumerate(self.node_names)]
        for port, (role, last, mac) in enumerate(hosts):
            netns = f"{self.tag}-{role}"
            run(["ip", "netns", "add", netns])
            host = Host(role, netns, f"{SUBNET4}{last}", f"{SUBNET6}{last:x}", mac)
            self.hosts[role] = host
            run(
                [
                    *br,
                    "link",
                    "add",
                    f"p{port}",
                    "type",
                    "veth",
                    "peer",
                    "name",
                    "eth0",
                    "netns",
                    netns,
                ]
            )
            run([*br, "link", "set", f"p{port}", "master", "br0", "mtu", "9000", "up"])
            host.ip("link", "set", "eth0", "address", mac, "mtu", "9000")
            for key, value in (
                ("net.ipv4.conf.all.arp_ignore", "1"),
                ("net.ipv4.conf.all.arp_announce", "2"),
                ("net.ipv6.conf.all.accept_dad", "0"),
                ("net.ipv6.conf.default.accept_dad", "0"),
            ):
                host.run("sysctl", "-qw", f"{key}={value}")
            host.ip("link", "set", "lo", "up")
            host.ip("link", "set", "eth0", "up")
            host.ip("addr", "add", f"{host.ipv4}/24", "dev", "eth0")
            host.ip("-6", "addr", "add", f"{host.ipv6}/64", "dev", "eth0", "nodad")
            if self.management and role != "client":
                # A second segment (br1) for gossip only, so a node can lose its service
                # link and stay reachable: what link awareness is about.
                host.management = f"{MANAGEMENT4}{last}"
                mgmt_port = f"m{port}"
                run(
                    [
                        *br,
                        "link",
                        "add",
                        mgmt_port,
                        "type",
                        "veth",
                        "peer",
                        "name",
                        "mgmt0",
                        "netns",
                        netns,
                    ]
                )
                run([*br, "link", "set", mgmt_port, "master", "br1", "up"])
                host.ip("link", "set", "mgmt0", "up")
                host.ip("addr", "add", f"{host.management}/24", "dev", "mgmt0")
            if role != "client":
                for address in self.service_addresses:
                    plen = 128 if ":" in address else 32
                    extra = ["nodad"] if ":" in address else []
                    host.ip("addr", "add", f"{address}/{plen}", "dev", "lo", *extra)
        self.wait_link_local()

    def wait_link_local(self, timeout: float = 5.0) -> None:
        """Link-local addresses appear a moment after the link is up; NAs are sent from them."""
        deadline = time.monotonic() + timeout
        for host in self.hosts.values():
            while "fe80" not in host.ip("-6", "addr", "show", "dev", "eth0", "scope", "link"):
                if time.monotonic() > deadline:
                    raise TopologyError(f"{host.role}: no link-local address")
                time.sleep(0.05)

    # -- access ------------------------------------------------------------------------------
    @property
    def client(self) -> Host:
        return self.hosts["client"]

    def node(self, name: str) -> Host:
        return self.hosts[name]

    def node_by_mac(self, mac: str) -> str | None:
        for name in self.node_names:
            if self.hosts[name].mac == mac.lower():
                return name
        return None

    def bridge_port(self, name: str) -> str:
        return f"p{list(self.hosts).index(name)}"

    def set_carrier(self, name: str, up: bool) -> None:
        """Take ``name``'s cable out (or put it back): its eth0 keeps IFF_UP but loses carrier."""
        run(
            ["ip", "-n", self.bridge, "link", "set", self.bridge_port(name), "up" if up else "down"]
        )

    # -- processes ---------------------------------------------------------------------------
    def spawn(self, role: str, args: Sequence[str], **popen: object) -> subprocess.Popen[str]:
        """Start ``args`` inside ``role``'s namespace; it is killed by :meth:`close`."""
        proc = subprocess.Popen(  # type: ignore[call-overload]
            self.hosts[role].cmd(*args),
            cwd=REPO,
            text=True,
            start_new_session=True,
            **popen,
        )
        self.procs.append(proc)
        return proc

    # -- teardown ----------------------------------------------------------------------------
    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        for proc in self.procs:
            with contextlib.suppress(Exception):
                proc.wait(timeout=5)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    with contextlib.suppress(Exception):
                        stream.close()
        for netns in [*(h.netns for h in self.hosts.values()), self.bridge]:
            kill_namespace(netns)

    def __enter__(self) -> Topology:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.close()
