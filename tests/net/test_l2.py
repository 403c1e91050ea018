"""Layer 2 on a real segment: three speakers in namespaces, a client whose kernel is the judge.

No membership here (every node is a candidate, as MetalLB without memberlist): the owner of
each address is what the election core predicts, the client's own ARP/NDP resolves it to that
node's MAC, TCP reaches that node, and nobody else answers (the node kernels do not either).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.net.cluster import Svc, cluster_yaml, predicted_owners
from tests.net.speakers import (
    Speaker,
    client_probe,
    start_hello_servers,
    start_speakers,
    tcp_hello,
    wait_until,
)
from tests.net.topology import Topology

pytestmark = pytest.mark.net

NODES = ["node-a", "node-b", "node-c"]
V4, V6, LOCAL4 = "10.99.0.100", "fd00:99::100", "10.99.0.101"


def local_service() -> Svc:
    """An externalTrafficPolicy Local service whose only endpoint is NOT on the node the
    hash alone would pick: only the endpoint's node may answer."""
    hash_first = predicted_owners(NODES, [Svc("probe", LOCAL4, tuple(NODES))])[LOCAL4]
    endpoint = next(n for n in reversed(NODES) if n != hash_first)
    return Svc("local4", LOCAL4, (endpoint,), local=True)


@dataclass
class Segment:
    topo: Topology
    speakers: dict[str, Speaker]
    owners: dict[str, str | None]
    services: list[Svc]

    def owner_mac(self, ip: str) -> str:
        owner = self.owners[ip]
        assert owner is not None
        return self.topo.node(owner).mac


@pytest.fixture(scope="module")
def segment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Segment]:
    tmp = tmp_path_factory.mktemp("l2")
    services = [Svc("web4", V4, tuple(NODES)), Svc("web6", V6, tuple(NODES)), local_service()]
    cluster = tmp / "cluster.yaml"
    cluster.write_text(cluster_yaml(NODES, services))
    owners = predicted_owners(NODES, services)
    with Topology(node_names=NODES, service_addresses=[V4, V6, LOCAL4]) as topo:
        start_hello_servers(topo)
        speakers = start_speakers(topo, cluster, tmp)
        for ip, owner in owners.items():
            assert owner is not None
            speakers[owner].wait_for(lambda _e, ip=ip, o=owner: ip in speakers[o].answering())
        yield Segment(topo, speakers, owners, services)


def test_the_client_kernel_resolves_each_address_to_the_predicted_owner(segment: Segment) -> None:
    client = segment.topo.client
    for ip in (V4, V6):
        client.ip("neigh", "flush", "dev", "eth0")
        family = ["-6"] if ":" in ip else ["-4"]
        client.run("ping", *family, "-c", "1", "-W", "2", ip)
        entry = client.neighbour(ip)
        assert entry is not None and entry.get("lladdr") == segment.owner_mac(ip), entry
    arping = client.run("arping", "-c", "1", "-w", "2", "-I", "eth0", V4)
    assert segment.owner_mac(V4) in arping.lower()


def test_exactly_one_node_answers_and_node_kernels_stay_silent(segment: Segment) -> None:
    for ip in (V4, V6, LOCAL4):
        assert client_probe(segment.topo, "who-has", ip)["macs"] == [segment.owner_mac(ip)], ip
    # an address nobody announces: no node kernel answers it although every node has it on lo
    assert client_probe(segment.topo, "who-has", "10.99.0.102")["macs"] == []


def test_tcp_from_the_client_reaches_the_server_on_the_owner(segment: Segment) -> None:
    assert tcp_hello(segment.topo, V4) == segment.owners[V4]
    assert tcp_hello(segment.topo, V6) == segment.owners[V6]


def test_external_traffic_policy_local_answers_only_from_the_endpoint_node(
    segment: Segment,
) -> None:
    local = next(s for s in segment.services if s.local)
    assert segment.owners[LOCAL4] == local.endpoints[0]
    for name, speaker in segment.speakers.items():
        assert (LOCAL4 in speaker.answering()) == (name == local.endpoints[0])
    assert tcp_hello(segment.topo, LOCAL4) == local.endpoints[0]


def test_the_owner_joins_the_solicited_node_group_and_only_the_owner(segment: Segment) -> None:
    for name in NODES:
        groups = segment.topo.node(name).ip("-6", "maddr", "show", "dev", "eth0")
        assert ("ff02::1:ff00:100" in groups) == (name == segment.owners[V6]), (name, groups)


def test_malformed_truncated_and_oversized_frames_never_hurt(segment: Segment) -> None:
    for ip in (V4, V6):
        assert client_probe(segment.topo, "junk", ip, "--count", "900")["sent"] > 800
    for ip in (V4, V6):
        assert client_probe(segment.topo, "who-has", ip)["macs"] == [segment.owner_mac(ip)]
    for speaker in segment.speakers.values():
        assert speaker.proc.poll() is None
        assert "Traceback" not in speaker.stderr() and "unexpected error" not in speaker.stderr()


@pytest.fixture
def one_node(tmp_path: Path) -> Iterator[tuple[Topology, Path]]:
    cluster = tmp_path / "cluster.yaml"
    cluster.write_text(
        cluster_yaml(["node-a"], [Svc("web4", V4, ("node-a",)), Svc("web6", V6, ("node-a",))])
    )
    with Topology(node_names=["node-a"], service_addresses=[V4, V6]) as topo:
        yield topo, cluster


def test_takeover_garps_move_a_stale_entry_carrier_is_watched_and_sigterm_withdraws(
    one_node: tuple[Topology, Path], tmp_path: Path
) -> None:
    topo, cluster = one_node
    client, mac = topo.client, topo.node("node-a").mac
    stale = "02:99:00:00:00:77"
    client.ip("neigh", "replace", V4, "lladdr", stale, "dev", "eth0", "nud", "stale")
    client.ip("-6", "neigh", "replace", V6, "lladdr", stale, "dev", "eth0", "nud", "stale")
    speaker = start_speakers(topo, cluster, tmp_path)["node-a"]
    # The client sends nothing: only the gratuitous ARP and the unsolicited NA can move these.
    for ip in (V4, V6):
        wait_until(lambda ip=ip: (client.neighbour(ip) or {}).get("lladdr") == mac, what=ip)
    rounds = speaker.wait_for(
        lambda ev: [e for e in ev if e["event"] == "GratuitousSent" and e["ip"] == V4]
    )
    assert rounds[0]["round"] == 1 and rounds[0]["packets"] == 2

    # Link awareness, node side: the kernel's carrier loss is seen through netlink.
    topo.set_carrier("node-a", False)
    lost = speaker.wait_for(
        lambda ev: [e for e in ev if e["event"] == "CandidacyChanged" and not e["candidate"]]
    )
    assert lost[-1]["reason"] == "no carrier on any of eth0"
    topo.set_carrier("node-a", True)
    speaker.wait_for(
        lambda ev: [e for e in ev if e["event"] == "CandidacyChanged"][-1]["candidate"]
    )

    assert speaker.terminate() == 0
    events = speaker.events()
    stopped = [e for e in events if e["event"] == "AnnouncementStopped"]
    assert {e["ip"] for e in stopped} == {V4, V6}
    assert all(e["reason"] == "shutdown" for e in stopped)
    withdrawn = [e for e in events if e["event"] == "L2AnswersChanged" and not e["interfaces"]]
    assert {e["ip"] for e in withdrawn} == {V4, V6}
    assert client_probe(topo, "who-has", V4)["macs"] == []


def test_excluded_interfaces_are_never_answered_on(
    one_node: tuple[Topology, Path], tmp_path: Path
) -> None:
    topo, cluster = one_node
    speaker = start_speakers(topo, cluster, tmp_path, ["--l2-exclude", "^eth"])["node-a"]
    failed = speaker.wait_for(
        lambda ev: [e for e in ev if e["event"] == "L2AnswersChanged" and e["ip"] == V4]
    )
    assert failed[-1]["interfaces"] == [] and failed[-1]["reason"].startswith("announceFailed")
    assert client_probe(topo, "who-has", V4)["macs"] == []
