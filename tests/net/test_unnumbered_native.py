"""Unnumbered BGP in lbtui's own speaker (``--bgp-backend native``, the default), on a real
veth pair between two namespaces (root), against FRR and BIRD 2 as the router.

    lbun-<pid>-node  eth1 ── veth ── eth1  lbun-<pid>-rtr
    lbtui speaker: BGPPeer with          FRR (``neighbor eth1 interface``), or BIRD 2
    spec.interface eth1, no address      (``neighbor fe80::2%eth1``, extended next hop)

No IPv4 address on the link: the speaker finds the router's link-local address from its
router advertisements (FRR) or from the router's own connection (BIRD, which we accept on
port 179), advertises itself (lifetime 0) so FRR finds it, and sends the IPv4 VIP in
MP_REACH_NLRI with its link-local next hop (RFC 8950) and the IPv6 VIP with the same next
hop. The judge is the router's kernel: ``192.0.2.0/32 via inet6 fe80::2 dev eth1`` and
``2001:db8:42::/128 via fe80::2 dev eth1``; removing the Service removes both. The namespaces,
FRR and BIRD come from ``test_unnumbered_frr`` (its ``Link``).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import subprocess
from pathlib import Path

import pytest

from lbtui.lab.netns import run
from tests.net import test_unnumbered_frr
from tests.net.test_bfd_bgp import BFDD_CONF  # the same fast profile
from tests.net.test_unnumbered_frr import (
    NODE_LL,
    ROUTER_BIRD,
    ROUTER_FRR,
    ROUTER_LL,
    Link,
    via,
    wait_until,
)
from tests.net.topology import PYTHON

link = test_unnumbered_frr.link  # the fixture: two namespaces, one veth, FRR or BIRD in them

pytestmark = pytest.mark.net

CONFIG = """\
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: fabric, namespace: metallb-system}
spec:
  addresses: [192.0.2.0/24, 2001:db8:42::/120]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: fabric, namespace: metallb-system}
spec:
  ipAddressPools: [fabric]
  communities: ["64512:7"]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: leaf, namespace: metallb-system}
spec:
  myASN: 64601
  peerASN: 64600
  interface: eth1
  holdTime: 9s
  keepaliveTime: 3s
---
apiVersion: v1
kind: Node
metadata: {name: node-a}
"""

SERVICE = """\
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default, creationTimestamp: "2026-01-01T00:01:00Z"}
spec:
  type: LoadBalancer
  ipFamilyPolicy: RequireDualStack
  ipFamilies: [IPv4, IPv6]
  clusterIPs: [10.96.0.10, "fd00::10"]
  ports: [{port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: default
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
endpoints:
  - addresses: [10.244.0.5]
    nodeName: node-a
    conditions: {ready: true}
"""

V4, V6 = "192.0.2.0/32", "2001:db8:42::/128"


def start_speaker(link: Link, *extra: str, config: str = CONFIG) -> Path:
    """``lbtui speaker`` for node-a in the node namespace, the Service in its cluster file."""
    cluster = link.dir / "cluster.yaml"
    cluster.write_text(config + SERVICE)
    link.spawn(
        link.node,
        [
            PYTHON,
            "-m",
            "lbtui",
            "speaker",
            "--node-name",
            "node-a",
            "--cluster",
            str(cluster),
            "--poll",
            "0.2",
            "--no-l2",
            "--bgp-router-id",
            "10.255.0.2",
            "--log-level",
            "info",
            *extra,
        ],
        "speaker.log",
    )
    return cluster


def speaker_log(link: Link) -> str:
    path = link.dir / "speaker.log"
    return path.read_text() if path.exists() else ""


def speaker_events(link: Link) -> list[dict]:
    out = []
    for line in speaker_log(link).splitlines():
        if line.startswith("{"):
            with contextlib.suppress(json.JSONDecodeError):  # a line being written
                out.append(json.loads(line))
    return out


def assert_routes_arrive_then_go(
    link: Link, cluster: Path, router: str, config: str = CONFIG
) -> None:
    def route(prefix: str) -> list:
        return link.kernel_route(link.router, prefix)

    try:
        routes = wait_until(lambda: route(V4), 60, f"{V4} in the router's kernel ({router})")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nspeaker log:\n{speaker_log(link)[-3000:]}") from exc
    assert via(routes[0]) == ("inet6", NODE_LL) and routes[0]["dev"] == "eth1"
    routes6 = wait_until(lambda: route(V6), 30, f"{V6} in the router's kernel ({router})")
    assert routes6[0]["gateway"] == NODE_LL and routes6[0]["dev"] == "eth1"
    # The Service goes: both routes leave the router's kernel (the session stays up).
    cluster.write_text(config)
    wait_until(lambda: not route(V4) and not route(V6), 30, f"the routes withdrawn ({router})")


def test_native_unnumbered_session_with_frr(link: Link) -> None:
    # The speaker starts first and looks in its kernel's neighbour table (empty) at once:
    # FRR, started next, is found by the speaker's own ICMPv6 socket hearing its first
    # router advertisement (the table is read again only 4 s later). We dial only.
    cluster = start_speaker(link)
    wait_until(lambda: "waiting for the router" in speaker_log(link), 30, "the speaker")
    router_vty = link.frr(link.router, "rtr", ROUTER_FRR)

    def neighbor() -> dict:
        found = link.vtysh(link.router, router_vty, "show bgp neighbors eth1 json")
        return found.get("eth1", {})

    try:
        wait_until(lambda: neighbor().get("bgpState") == "Established", 60, "the session")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nspeaker log:\n{speaker_log(link)[-3000:]}") from exc
    assert f"router {ROUTER_LL}, from its router advertisement" in speaker_log(link)
    capabilities = neighbor()["neighborCapabilities"]
    # Both sides offered RFC 8950: IPv4 over the link-local session.
    assert capabilities["extendedNexthop"] == "advertisedAndReceived"
    assert neighbor()["remoteRouterId"] == "10.255.0.2"
    wait_until(
        lambda: (
            "64512:7"
            in json.dumps(link.vtysh(link.router, router_vty, f"show bgp ipv4 unicast {V4} json"))
        ),
        30,
        "the community on the IPv4 route",
    )
    assert_routes_arrive_then_go(link, cluster, "FRR")


def test_a_router_that_comes_back_with_another_address_is_found_again(link: Link) -> None:
    """FRR stops, its interface gets a new link-local address, FRR starts again: once the
    old address has been silent for 30 s (and its session is down), the speaker takes the
    new one from its advertisements and the routes come back."""
    cluster = start_speaker(link)
    link.frr(link.router, "rtr", ROUTER_FRR)
    wait_until(lambda: link.kernel_route(link.router, V4), 60, "the routes, first router")
    for proc in link.procs[-2:]:  # the router's zebra and bgpd
        proc.terminate()
        proc.wait(timeout=10)
    wait_until(lambda: not link.kernel_route(link.router, V4), 30, "zebra to remove the routes")
    run(["ip", "-n", link.router, "addr", "del", f"{ROUTER_LL}/64", "dev", "eth1"])
    run(["ip", "-n", link.router, "addr", "add", "fe80::3/64", "dev", "eth1", "nodad"])
    link.frr(link.router, "rtr2", ROUTER_FRR)
    try:
        routes = wait_until(
            lambda: link.kernel_route(link.router, V4), 90, "the routes, the router's new address"
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nspeaker log:\n{speaker_log(link)[-3000:]}") from exc
    assert via(routes[0]) == ("inet6", NODE_LL)
    assert "router fe80::3, from" in speaker_log(link)
    assert cluster.exists()


def test_native_unnumbered_session_with_tcp_md5(link: Link) -> None:
    """``password`` on an unnumbered peer: TCP-MD5 keyed on the router's link-local address."""
    config = CONFIG.replace("  interface: eth1\n", "  interface: eth1\n  password: s3cret\n")
    router = ROUTER_FRR.replace(
        " neighbor eth1 timers 3 9\n", " neighbor eth1 timers 3 9\n neighbor eth1 password s3cret\n"
    )
    router_vty = link.frr(link.router, "rtr", router)
    cluster = start_speaker(link, config=config)

    def state() -> str:
        found = link.vtysh(link.router, router_vty, "show bgp neighbors eth1 json")
        return found.get("eth1", {}).get("bgpState", "")

    try:
        wait_until(lambda: state() == "Established", 60, "the session with TCP-MD5")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nspeaker log:\n{speaker_log(link)[-3000:]}") from exc
    assert_routes_arrive_then_go(link, cluster, "FRR", config)


def test_bfd_over_link_local_with_frr(link: Link) -> None:
    """A bfdProfile on an unnumbered peer: lbtui's BFD runs over the link-local addresses
    (RFC 5881 single hop) to the router the speaker found, and FRR's bfdd sees it up."""
    config = CONFIG.replace("  interface: eth1\n", "  interface: eth1\n  bfdProfile: fast\n")
    config += """\
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: fast, namespace: metallb-system}
spec: {receiveInterval: 100, transmitInterval: 100}
"""
    timers = " neighbor eth1 timers 3 9\n"
    router = ROUTER_FRR.replace(timers, timers + " neighbor eth1 bfd profile fast\n")
    router_vty = link.frr(link.router, "rtr", router, bfdd=BFDD_CONF)
    cluster = start_speaker(link, config=config)

    def bfd_peer() -> dict:
        peers = link.vtysh(link.router, router_vty, "show bfd peers json") or []
        return next((p for p in peers if p.get("peer") == NODE_LL), {})

    try:
        wait_until(lambda: bfd_peer().get("status") == "up", 60, "FRR's BFD session up")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nspeaker log:\n{speaker_log(link)[-3000:]}") from exc
    assert bfd_peer().get("interface") == "eth1"
    assert '"event":"BfdSessionChanged"' in speaker_log(link)
    assert_routes_arrive_then_go(link, cluster, "FRR", config)
    # FRR's bfdd dies: our BFD session times out (3 x 100 ms) and takes the BGP session down.
    [bfdd] = [p for p in link.procs if "/usr/lib/frr/bfdd" in p.args]
    bfdd.kill()
    wait_until(
        lambda: any(
            e.get("event") == "PeerSessionChanged" and "BFD down" in e.get("reason", "")
            for e in speaker_events(link)
        ),
        30,
        "the BGP session dropped by BFD",
    )


RADV = 'protocol radv { interface "eth1" { min ra interval 3; max ra interval 4; }; }\n'
assert RADV in ROUTER_BIRD


# BIRD told no address at all: dynamic BGP accepts any link-local neighbour on eth1.
ROUTER_BIRD_RANGE = ROUTER_BIRD.replace(
    f"  neighbor {NODE_LL} % 'eth1' external;\n",
    '  interface "eth1"; neighbor range fe80::/10 external; dynamic name "leaf";\n',
)
assert ROUTER_BIRD_RANGE != ROUTER_BIRD


@pytest.mark.parametrize(
    "how",
    [
        # BIRD advertises itself and dials us; we listen too: whichever comes first.
        "advertisements",
        # BIRD knows no address (neighbor range): it advertises itself, we dial it.
        "range",
        # No advertisements, BIRD dials us: only its inbound connection names it.
        "inbound",
        # No advertisements, we do not listen; BIRD forwards (its neighbour advertisements
        # carry the R flag), so our kernel's neighbour table knows it as a router.
        "neighbour-table",
    ],
)
def test_native_unnumbered_session_with_bird(link: Link, how: str) -> None:
    conf = {"advertisements": ROUTER_BIRD, "range": ROUTER_BIRD_RANGE}.get(
        how, ROUTER_BIRD.replace(RADV, "")
    )
    if how == "neighbour-table":
        run(["ip", "netns", "exec", link.router, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"])
    control = link.bird(link.router, conf)
    listen = [] if how in ("neighbour-table", "range") else ["--bgp-listen-port", "179"]
    cluster = start_speaker(link, *listen)

    def birdc(*command: str) -> str:
        return run(["birdc", "-s", str(control), *command], check=False)

    try:
        wait_until(lambda: "Established" in birdc("show", "protocols"), 60, "the session")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nspeaker log:\n{speaker_log(link)[-3000:]}") from exc
    source = {
        "advertisements": "from",  # its advertisement, its connection or the kernel's table
        "range": "from",  # its advertisement or the kernel's table (it advertised first)
        "inbound": "from its connection",
        "neighbour-table": "from the kernel's neighbour table",
    }[how]
    assert f"router {ROUTER_LL}, {source}" in speaker_log(link)
    assert_routes_arrive_then_go(link, cluster, "BIRD")


def test_router_advertisements_only_on_the_peers_interface_with_lifetime_0(link: Link) -> None:
    """What the node sends while it looks for its router (none answers here): router
    advertisements from fe80::2 with router lifetime 0 and hop limit 255 on eth1, the
    unnumbered peer's interface, 10 s apart; solicitations there too; nothing on eth2, an
    interface no peer names. Heard from the router namespace and decoded by scapy."""
    run(["ip", "link", "add", "lbun-n2", "netns", link.node, "type", "veth", "peer", "name",
         "lbun-r2", "netns", link.router])  # fmt: skip
    run(["ip", "-n", link.node, "link", "set", "lbun-n2", "name", "eth2"])
    run(["ip", "-n", link.router, "link", "set", "lbun-r2", "name", "eth2"])
    for netns in (link.node, link.router):
        run(["ip", "-n", netns, "link", "set", "eth2", "up"])
    sampler = subprocess.Popen(
        ["ip", "netns", "exec", link.router, PYTHON, "-m", "tests.net.ra_sampler", "25"],
        stdout=subprocess.PIPE,
        text=True,
    )
    link.procs.append(sampler)
    assert sampler.stdout is not None and "ready" in sampler.stdout.readline()
    start_speaker(link)
    out, _ = sampler.communicate(timeout=60)
    heard = [json.loads(line) for line in out.splitlines()]
    ours = [h for h in heard if h["source"] == NODE_LL]
    assert ours, f"nothing heard from the node; speaker log:\n{speaker_log(link)[-3000:]}"
    assert {h["interface"] for h in ours} == {"eth1"}
    ras = [h for h in ours if h["type"] == "ra"]
    assert all(h["lifetime"] == 0 and h["hop_limit"] == 255 and h["mac"] for h in ras)
    # 25 s from the speaker's start: the first at once, then every 10 s (never 3 s apart).
    assert 2 <= len(ras) <= 3, ras
    gaps = [b["t"] - a["t"] for a, b in itertools.pairwise(ras)]
    assert all(gap > 9 for gap in gaps), gaps
    assert [h["type"] for h in ours].count("rs") >= 1  # and it asked for the router's
