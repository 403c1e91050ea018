"""lbtui's BGP speaker on the wire: three `lbtui speaker` processes in node namespaces,
BIRD 2 and FRR (zebra + bgpd) as routers, the routers' tables and kernels as judges.

One lab serves the module (namespaces, routers and speakers start once); tests that change
something (cluster files, links, processes) put it back before they return.
"""

from __future__ import annotations

import copy
import shutil
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.net.bgp_lab import (
    BIRD_MD5,
    FRR_V4,
    MD5_PASSWORD,
    NODES,
    BgpLab,
    node_v4,
    node_v6,
    wait_until,
)

pytestmark = pytest.mark.net

WEB, LOCAL, GONE = "10.99.61.10", "10.99.61.20", "10.99.61.30"
WEB6, MP6 = "fd00:99:61::10", "fd00:99:62::10"

CONFIG = f"""\
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: v4, namespace: metallb-system}}
spec: {{addresses: [10.99.61.0/24]}}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: v6, namespace: metallb-system}}
spec: {{addresses: ["fd00:99:61::/120"]}}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: v6mp, namespace: metallb-system}}
spec: {{addresses: ["fd00:99:62::/120"]}}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{name: v4, namespace: metallb-system}}
spec:
  ipAddressPools: [v4]
  localPref: 150
  communities: ["64512:100", "large:64512:1:1"]
  peers: [bird-v4, frr, md5-good, md5-bad]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{name: v6, namespace: metallb-system}}
spec: {{ipAddressPools: [v6], communities: ["64512:600"], peers: [bird-v6]}}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{name: v6mp, namespace: metallb-system}}
spec: {{ipAddressPools: [v6mp], peers: [bird-v4]}}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{name: bird-v4, namespace: metallb-system}}
spec: {{myASN: 64500, peerASN: 64500, peerAddress: 10.99.60.1, holdTime: 3s}}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{name: bird-v6, namespace: metallb-system}}
spec:
  myASN: 64501
  peerASN: 64500
  peerAddress: "fd00:99:60::1"
  holdTime: 9s
  enableGracefulRestart: true
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{name: frr, namespace: metallb-system}}
spec: {{myASN: 64501, peerASN: 64502, peerAddress: {FRR_V4}, holdTime: 9s}}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{name: md5-good, namespace: metallb-system}}
spec:
  ebgpMultiHop: true
  myASN: 64501
  peerASN: 64500
  peerAddress: {BIRD_MD5}
  password: {MD5_PASSWORD}
  nodeSelectors: [{{matchLabels: {{lbb/md5: good}}}}]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{name: md5-bad, namespace: metallb-system}}
spec:
  ebgpMultiHop: true
  myASN: 64501
  peerASN: 64500
  peerAddress: {BIRD_MD5}
  passwordSecret: {{name: md5-wrong, namespace: metallb-system}}
  nodeSelectors: [{{matchLabels: {{lbb/md5: bad}}}}]
---
apiVersion: v1
kind: Secret
type: kubernetes.io/basic-auth
metadata: {{name: md5-wrong, namespace: metallb-system}}
stringData: {{password: not-the-password}}
"""

NODE_LABELS = {"n1": {"lbb/md5": "good"}, "n2": {"lbb/md5": "bad"}, "n3": {}}


def service(name: str, ip: str, endpoints: tuple[str, ...], policy: str = "Cluster") -> list[dict]:
    v6 = ":" in ip
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": name,
                "namespace": "default",
                "creationTimestamp": "2026-01-01T00:00:00Z",
                "annotations": {"metallb.io/loadBalancerIPs": ip},
            },
            "spec": {
                "type": "LoadBalancer",
                "ports": [{"port": 80, "protocol": "TCP"}],
                "externalTrafficPolicy": policy,
                "clusterIPs": ["fd00:96::1" if v6 else "10.96.0.1"],
                "ipFamilies": ["IPv6" if v6 else "IPv4"],
                "ipFamilyPolicy": "SingleStack",
            },
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "addressType": "IPv6" if v6 else "IPv4",
            "metadata": {
                "name": f"{name}-1",
                "namespace": "default",
                "labels": {"kubernetes.io/service-name": name},
            },
            "endpoints": [
                {
                    "addresses": [f"fd00:244::{i + 1}" if v6 else f"10.244.{i}.1"],
                    "nodeName": node,
                    "conditions": {"ready": True},
                }
                for i, node in enumerate(endpoints)
            ],
        },
    ]


def cluster_docs(**changes: Any) -> list[dict]:
    docs: list[dict] = [
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": n, "labels": NODE_LABELS[n]}}
        for n in NODES
    ]
    services = {
        "web": (WEB, NODES, "Cluster"),
        "local": (LOCAL, ("n1", "n2"), "Local"),
        "gone": (GONE, NODES, "Cluster"),
        "web6": (WEB6, NODES, "Cluster"),
        "mp6": (MP6, NODES, "Cluster"),
    }
    for name, override in changes.items():
        if override is None:
            services.pop(name)
        else:
            services[name] = override
    for name, (ip, endpoints, policy) in services.items():
        docs += service(name, ip, endpoints, policy)
    return docs


class Lab:
    def __init__(self, lab: BgpLab) -> None:
        self.lab = lab
        self.cluster = lab.dir / "cluster.yaml"
        self.config = lab.dir / "config.yaml"

    def write_cluster(self, **changes: Any) -> None:
        tmp = self.cluster.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump_all(copy.deepcopy(cluster_docs(**changes))))
        tmp.replace(self.cluster)

    def start(self, node: str) -> None:
        self.lab.start_speaker(node, self.cluster, self.config)

    def bird_hops(self, prefix: str) -> set[str]:
        """Which nodes BIRD has a route from for ``prefix`` (any session)."""
        return self.lab.bird_next_hops(prefix)

    def wait_hops(
        self, prefix: str, want: set[str], timeout: float = 15.0, proto: str = "v4"
    ) -> None:
        def current() -> set[str]:
            return {
                r["from"] for r in self.lab.bird_routes(prefix) if r["protocol"].endswith(proto)
            }

        wait_until(lambda: current() == want, timeout, f"{prefix} from {sorted(want)} ({proto})")


ROUTERS = ("bird", "birdc", "vtysh", "/usr/lib/frr/zebra", "/usr/lib/frr/bgpd")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    missing = [tool for tool in ROUTERS if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"the BGP tests need {', '.join(missing)}: apt-get install bird2 frr")
    workdir = tmp_path_factory.mktemp("lbb")
    workdir.chmod(0o755)  # zebra drops to user frr
    bgp = BgpLab(workdir).up()
    try:
        lab = Lab(bgp)
        lab.config.write_text(CONFIG)
        lab.write_cluster()
        bgp.start_bird()
        bgp.start_frr()
        for node in NODES:
            lab.start(node)
        lab.wait_hops(f"{WEB}/32", set(NODES), timeout=30)
        yield lab
    finally:
        bgp.close()


def all_hops(lab: Lab) -> set[str]:
    return {node_v4(n) for n in NODES}


# -- announcement ---------------------------------------------------------------------------


def test_bird_has_each_prefix_from_the_three_nodes_with_communities_and_local_pref(
    lab: Lab,
) -> None:
    routes = [r for r in lab.lab.bird_routes(f"{WEB}/32") if r["protocol"].endswith("v4")]
    assert {r["from"] for r in routes} == set(NODES)
    for route in routes:
        attrs = route["attrs"]
        assert attrs["BGP.local_pref"] == "150"  # iBGP session: LOCAL_PREF sent
        assert attrs["BGP.community"] == "(64512,100)"
        assert attrs["BGP.large_community"] == "(64512, 1, 1)"
        assert attrs["BGP.as_path"] == ""  # iBGP: nothing prepended
        assert attrs["BGP.next_hop"] == node_v4(route["from"])
    # The kernel of the router got one route with three next hops (ECMP).
    wait_until(
        lambda: lab.lab.kernel_next_hops(lab.lab.bird_ns, f"{WEB}/32") == all_hops(lab),
        10,
        "three kernel next hops",
    )


def test_ipv6_over_an_ipv6_session_and_over_mp_bgp_on_the_ipv4_session(lab: Lab) -> None:
    lab.wait_hops(f"{WEB6}/128", set(NODES), proto="v6")
    lab.wait_hops(f"{MP6}/128", set(NODES), proto="v4")
    web6 = lab.lab.bird_routes(f"{WEB6}/128")
    assert {r["protocol"] for r in web6} == {f"{n}v6" for n in NODES}  # only the v6 sessions
    for route in web6:
        attrs = route["attrs"]
        assert attrs["BGP.as_path"] == "64501"  # eBGP: our AS prepended
        assert attrs["BGP.community"] == "(64512,600)"
        assert attrs["BGP.next_hop"].split()[0] == node_v6(route["from"])
    mp6 = lab.lab.bird_routes(f"{MP6}/128")
    assert {r["protocol"] for r in mp6} == {f"{n}v4" for n in NODES}  # MP-BGP over IPv4
    for route in mp6:  # the next hop is the node's IPv6 address on the same interface
        assert route["attrs"]["BGP.next_hop"].split()[0] == node_v6(route["from"])
    wait_until(
        lambda: (
            lab.lab.kernel_next_hops(lab.lab.bird_ns, f"{WEB6}/128") == {node_v6(n) for n in NODES}
        ),
        10,
        "three IPv6 kernel next hops",
    )


def test_frr_gets_the_ipv4_prefix_from_the_three_nodes_as_multipath(lab: Lab) -> None:
    def frr_hops() -> set[str]:
        found = lab.lab.vtysh(f"show ip route {WEB}/32 json").get(f"{WEB}/32", [])
        return {h["ip"] for r in found for h in r.get("nexthops", []) if h.get("active")}

    wait_until(lambda: frr_hops() == all_hops(lab), 20, "FRR multipath")
    detail = lab.lab.vtysh(f"show bgp ipv4 unicast {WEB}/32 json")
    paths = detail["paths"]
    assert len(paths) == 3
    for path in paths:
        assert path["aspath"]["string"] == "64501"
        assert path["community"]["string"] == "64512:100"
        assert path["largeCommunity"]["string"] == "64512:1:1"
    wait_until(
        lambda: lab.lab.kernel_next_hops(lab.lab.frr_ns, f"{WEB}/32") == all_hops(lab),
        10,
        "three kernel next hops in the FRR router",
    )


def test_tcp_md5_with_the_right_password_establishes_and_a_wrong_one_never(lab: Lab) -> None:
    wait_until(lambda: "Established" in lab.lab.birdc("show", "protocols", "n1md5"), 15, "md5")
    assert lab.lab.session_state("n1", "md5-good") == "Established"
    assert lab.bird_hops(f"{WEB}/32") >= {"n1"}
    # n2 has had as long, and keeps trying; the kernel drops its unsigned/badly signed SYNs.
    time.sleep(2.0)
    assert "Established" not in lab.lab.birdc("show", "protocols", "n2md5")
    states = {
        e["state"] for e in lab.lab.events("n2", "PeerSessionChanged") if e["peer"] == "md5-bad"
    }
    assert "Established" not in states and "OpenSent" not in states


# -- withdrawal -----------------------------------------------------------------------------


def test_deleting_a_service_withdraws_its_prefix(lab: Lab) -> None:
    lab.wait_hops(f"{GONE}/32", set(NODES))
    try:
        lab.write_cluster(gone=None)
        lab.wait_hops(f"{GONE}/32", set())
        assert lab.bird_hops(f"{WEB}/32") == set(NODES)  # nothing else moved
    finally:
        lab.write_cluster()
    lab.wait_hops(f"{GONE}/32", set(NODES))


def test_local_policy_follows_the_endpoints(lab: Lab) -> None:
    lab.wait_hops(f"{LOCAL}/32", {"n1", "n2"})
    try:
        lab.write_cluster(local=(LOCAL, ("n2",), "Local"))  # n1's last local endpoint goes
        lab.wait_hops(f"{LOCAL}/32", {"n2"})
        lab.write_cluster(local=(LOCAL, (), "Local"))
        lab.wait_hops(f"{LOCAL}/32", set())
    finally:
        lab.write_cluster()
    lab.wait_hops(f"{LOCAL}/32", {"n1", "n2"})


def test_killing_a_speaker_removes_its_next_hop_and_it_comes_back(lab: Lab) -> None:
    lab.lab.stop_speaker("n3", signal.SIGKILL)
    lab.wait_hops(f"{WEB}/32", {"n1", "n2"}, timeout=5)  # TCP closes: no hold timer needed
    lab.start("n3")
    lab.wait_hops(f"{WEB}/32", set(NODES), timeout=20)


def test_graceful_restart_keeps_the_route_while_the_speaker_restarts(lab: Lab) -> None:
    lab.wait_hops(f"{WEB6}/128", set(NODES), proto="v6")
    v6_hops = {node_v6(n) for n in NODES}
    bird_ns = lab.lab.bird_ns
    wait_until(lambda: lab.lab.kernel_next_hops(bird_ns, f"{WEB6}/128") == v6_hops, 10, "v6 ECMP")
    lab.lab.stop_speaker("n3", signal.SIGTERM)  # an upgrade: graceful stop
    # The IPv4 session has no graceful restart: its route goes at once (Cease) ...
    lab.wait_hops(f"{WEB}/32", {"n1", "n2"}, timeout=5)
    status = lab.lab.birdc("show", "protocols", "all", "n3v6")
    assert "Neighbor graceful restart active" in status  # the silent close was understood
    assert "Restart timer:    1" in status  # counting down from our 120 s
    assert lab.bird_hops(f"{WEB6}/128") == set(NODES)  # n3's route kept
    lab.start("n3")
    # ... while the IPv6 one (graceful restart) stays in the kernel the whole time.
    deadline = time.monotonic() + 20
    while lab.bird_hops(f"{WEB}/32") != set(NODES):
        assert lab.lab.kernel_next_hops(bird_ns, f"{WEB6}/128") == v6_hops
        assert time.monotonic() < deadline, "n3 did not come back"
        time.sleep(0.1)
    wait_until(lambda: lab.lab.session_state("n3", "bird-v6") == "Established", 10, "v6 back")
    lab.wait_hops(f"{WEB6}/128", set(NODES), proto="v6")
    assert lab.lab.kernel_next_hops(bird_ns, f"{WEB6}/128") == v6_hops


def test_cutting_a_link_removes_the_node_within_the_hold_time(lab: Lab) -> None:
    lab.wait_hops(f"{WEB}/32", set(NODES))
    before = len(lab.lab.events("n3", "PeerSessionChanged"))
    lab.lab.set_link("n3", False)
    try:
        cut = time.monotonic()
        lab.wait_hops(f"{WEB}/32", {"n1", "n2"}, timeout=10)
        # bird-v4's hold time is 3 s; BIRD noticed the silence within it (plus a poll).
        assert time.monotonic() - cut <= 3.0 + 1.0
        assert "Hold timer expired" in lab.lab.birdc("show", "protocols", "all", "n3v4")

        # Our side enforces the hold timer on receive as well (MetalLB's native one does not).
        def our_hold_expired() -> bool:
            return any(
                e["peer"] == "bird-v4"
                and e["reason"].startswith("sent NOTIFICATION: Hold Timer Expired")
                for e in lab.lab.events("n3", "PeerSessionChanged")[before:]
            )

        wait_until(our_hold_expired, 3.0 + 1.0, "n3's own hold timer")
    finally:
        lab.lab.set_link("n3", True)
    lab.wait_hops(f"{WEB}/32", set(NODES), timeout=20)
