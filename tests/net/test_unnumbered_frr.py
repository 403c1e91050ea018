"""Unnumbered BGP through the FRR backend, on a real veth pair between two namespaces (root).

    lbun-<pid>-node  eth1 ── veth ── eth1  lbun-<pid>-rtr
    FRR (zebra + bgpd) with the         FRR (``neighbor eth1 interface``), or BIRD 2
    frr.conf lbtui renders for node-a   (``neighbor fe80::2%eth1``, extended next hop)
    (golden/frr/unnumbered: BGPPeer
    spec.interface eth1, no address)

Neither side has an IPv4 address on the link: the session runs between the two IPv6
link-local addresses, and the router puts the node's IPv4 prefix (192.0.2.0/32) and its IPv6
prefix (2001:db8:42::/128) in its kernel with the node's link-local address as next hop
(RFC 8950 for IPv4). Against FRR the router finds the node from its router advertisements
(no address configured anywhere); BIRD is given the node's link-local address.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.bgp.frr.render import render_frr_config
from lbtui.lab.netns import kill_namespace, remove_leftovers, run
from tests.unit.test_frr import CASES, plan_case

pytestmark = pytest.mark.net

PREFIX = "lbun"
NODE_LL, ROUTER_LL = "fe80::2", "fe80::1"

ROUTER_FRR = """\
frr defaults traditional
hostname rtr
router bgp 64600
 bgp router-id 10.255.0.1
 no bgp ebgp-requires-policy
 neighbor eth1 interface remote-as external
 neighbor eth1 timers 3 9
 neighbor eth1 timers connect 1
 address-family ipv4 unicast
  neighbor eth1 activate
 exit-address-family
 address-family ipv6 unicast
  neighbor eth1 activate
 exit-address-family
exit
"""

ROUTER_BIRD = """\
router id 10.255.0.1;
protocol device { scan time 1; }
protocol kernel { ipv4 { export all; }; }
protocol kernel { ipv6 { export all; }; }
protocol radv { interface "eth1" { min ra interval 3; max ra interval 4; }; }
protocol bgp leaf {
  local as 64600;
  neighbor NODE_LL % 'eth1' external;
  hold time 9; keepalive time 3; connect retry time 1; error wait time 1, 5;
  ipv4 { import all; export none; extended next hop on; };
  ipv6 { import all; export none; };
}
""".replace("NODE_LL", NODE_LL)


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


class Link:
    """Two namespaces, one veth, link-local addresses only; FRR or BIRD in them."""

    def __init__(self) -> None:
        self.tag = f"{PREFIX}-{os.getpid()}"
        self.node, self.router = f"{self.tag}-node", f"{self.tag}-rtr"
        self.dir = Path(tempfile.mkdtemp(prefix=f"{self.tag}-"))
        self.dir.chmod(0o755)  # zebra and bgpd drop to user frr
        run(["chown", "frr:frr", str(self.dir)])
        self.procs: list[subprocess.Popen[str]] = []

    def up(self) -> Link:
        remove_leftovers(PREFIX)
        for netns in (self.node, self.router):
            run(["ip", "netns", "add", netns])
            run(["ip", "netns", "exec", netns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0"])
            run(
                [
                    "ip",
                    "netns",
                    "exec",
                    netns,
                    "sysctl",
                    "-qw",
                    "net.ipv6.conf.default.accept_dad=0",
                ]
            )
            run(["ip", "-n", netns, "link", "set", "lo", "up"])
        run(
            [
                "ip",
                "link",
                "add",
                "lbun-n",
                "netns",
                self.node,
                "type",
                "veth",
                "peer",
                "name",
                "lbun-r",
                "netns",
                self.router,
            ]
        )
        for netns, old, address in (
            (self.node, "lbun-n", NODE_LL),
            (self.router, "lbun-r", ROUTER_LL),
        ):
            run(["ip", "-n", netns, "link", "set", old, "name", "eth1"])
            # A known link-local address (BIRD is told the node's), nothing else on the link.
            run(["ip", "-n", netns, "link", "set", "eth1", "addrgenmode", "none"])
            run(["ip", "-n", netns, "link", "set", "eth1", "up"])
            run(["ip", "-n", netns, "addr", "add", f"{address}/64", "dev", "eth1", "nodad"])
        # Router IDs come from loopback addresses, as on a fabric's unnumbered nodes.
        run(["ip", "-n", self.node, "addr", "add", "10.255.0.2/32", "dev", "lo"])
        run(["ip", "-n", self.router, "addr", "add", "10.255.0.1/32", "dev", "lo"])
        return self

    def spawn(self, netns: str, args: list[str], log: str) -> None:
        self.procs.append(
            subprocess.Popen(
                ["ip", "netns", "exec", netns, *args],
                stdout=(self.dir / log).open("w"),
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        )

    def frr(self, netns: str, name: str, conf: str, bfdd: str = "") -> Path:
        """zebra + bgpd in ``netns`` with ``conf`` (and bfdd with ``bfdd``, a file of its
        own); returns its vty socket directory."""
        where = self.dir / name
        where.mkdir()
        shutil.chown(where, "frr", "frr")
        (where / "frr.conf").write_text(conf)
        zserv = str(where / "zserv.api")
        common = ["--vty_socket", str(where), "--log", "stdout"]
        self.spawn(
            netns,
            ["/usr/lib/frr/zebra", "-z", zserv, "-i", str(where / "zebra.pid"), *common, "-P", "0"],
            f"{name}-zebra.log",
        )
        wait_until(lambda: Path(zserv).exists(), 10, f"{name}: zebra's zserv socket")
        if bfdd:
            (where / "bfdd.conf").write_text(bfdd)
            self.spawn(
                netns,
                [
                    *("/usr/lib/frr/bfdd", "-z", zserv, "-f", str(where / "bfdd.conf")),
                    *("-i", str(where / "bfdd.pid"), "--bfdctl", str(where / "bfdd.sock")),
                    *common,
                ],
                f"{name}-bfdd.log",
            )
        self.spawn(
            netns,
            [
                "/usr/lib/frr/bgpd",
                "-S",
                "-z",
                zserv,
                "-f",
                str(where / "frr.conf"),
                "-i",
                str(where / "bgpd.pid"),
                *common,
                "-A",
                "127.0.0.1",
            ],
            f"{name}-bgpd.log",
        )
        return where

    def bird(self, netns: str, conf: str) -> Path:
        (self.dir / "bird.conf").write_text(conf)
        control = self.dir / "bird.ctl"
        self.spawn(
            netns, ["bird", "-f", "-c", str(self.dir / "bird.conf"), "-s", str(control)], "bird.log"
        )
        wait_until(control.exists, 10, "BIRD's control socket")
        return control

    def vtysh(self, netns: str, vty: Path, command: str) -> Any:
        out = run(
            ["ip", "netns", "exec", netns, "vtysh", "--vty_socket", str(vty), "-c", command],
            check=False,
        )
        return json.loads(out or "{}") if command.endswith("json") else out

    def kernel_route(self, netns: str, prefix: str) -> list[dict[str, Any]]:
        family = "-6" if ":" in prefix else "-4"
        return json.loads(run(["ip", "-n", netns, "-j", family, "route", "show", prefix]) or "[]")

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        for netns in (self.node, self.router):
            kill_namespace(netns)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def link() -> Iterator[Link]:
    for tool in ("/usr/lib/frr/zebra", "/usr/lib/frr/bgpd", "vtysh", "bird"):
        assert shutil.which(tool) or Path(tool).exists(), (
            f"{tool} missing: apt-get install frr bird2"
        )
    lab = Link().up()
    try:
        yield lab
    finally:
        lab.close()


def node_frr_conf() -> str:
    """What ``lbtui speaker --bgp-backend frr`` writes for node-a of golden/frr/unnumbered."""
    config, cluster, plan = plan_case("unnumbered")
    node = CASES["unnumbered"]
    labels = cluster.nodes[node].metadata.labels
    return render_frr_config(config, node, plan.bgp.get(node, ()), node_labels=labels)


def via(route: dict[str, Any]) -> tuple[str, str]:
    """(family, address) of a kernel route's gateway: RFC 8950 routes carry ``via inet6``."""
    if "via" in route:
        return route["via"]["family"], route["via"]["host"]
    return ("inet6" if ":" in route.get("gateway", "") else "inet", route.get("gateway", ""))


def test_unnumbered_session_with_frr_carries_ipv4_over_an_ipv6_next_hop(link: Link) -> None:
    node_vty = link.frr(link.node, "node", node_frr_conf())
    router_vty = link.frr(link.router, "rtr", ROUTER_FRR)

    def established() -> bool:
        summary = link.vtysh(link.router, router_vty, "show bgp neighbors eth1 json")
        return summary.get("eth1", {}).get("bgpState") == "Established"

    wait_until(established, 60, "the unnumbered session (FRR router)")
    neighbor = link.vtysh(link.router, router_vty, "show bgp neighbors eth1 json")["eth1"]
    # The router found the node on its link-local address, with no address configured.
    assert neighbor.get("hostname") == "node-a" or neighbor.get("remoteRouterId") == "10.255.0.2"
    routes = wait_until(
        lambda: (r := link.kernel_route(link.router, "192.0.2.0/32")) and r,
        30,
        "192.0.2.0/32 in the router's kernel",
    )
    assert via(routes[0]) == ("inet6", NODE_LL) and routes[0]["dev"] == "eth1"
    routes6 = wait_until(
        lambda: (r := link.kernel_route(link.router, "2001:db8:42::/128")) and r,
        30,
        "2001:db8:42::/128 in the router's kernel",
    )
    assert routes6[0]["gateway"] == NODE_LL and routes6[0]["dev"] == "eth1"
    # The community the BGPAdvertisement sets went along.
    detail = link.vtysh(link.router, router_vty, "show bgp ipv4 unicast 192.0.2.0/32 json")
    assert "64512:7" in json.dumps(detail)
    assert node_vty.exists()


def test_unnumbered_session_with_bird(link: Link) -> None:
    link.frr(link.node, "node", node_frr_conf())
    control = link.bird(link.router, ROUTER_BIRD)

    def birdc(*command: str) -> str:
        return run(["birdc", "-s", str(control), *command], check=False)

    wait_until(
        lambda: "Established" in birdc("show", "protocols", "leaf"),
        60,
        "the unnumbered session (BIRD router)",
    )
    routes = wait_until(
        lambda: (r := link.kernel_route(link.router, "192.0.2.0/32")) and r,
        30,
        "192.0.2.0/32 in the router's kernel (BIRD)",
    )
    assert via(routes[0]) == ("inet6", NODE_LL) and routes[0]["dev"] == "eth1"
    routes6 = wait_until(
        lambda: (r := link.kernel_route(link.router, "2001:db8:42::/128")) and r,
        30,
        "2001:db8:42::/128 in the router's kernel (BIRD)",
    )
    assert routes6[0]["gateway"] == NODE_LL
