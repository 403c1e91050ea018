"""The split-brain alarm on a real segment: two speakers that each believe they alone own an
address (each reads a cluster in which it is the only node, so neither defers to the other)
hear each other's gratuitous ARPs and say so: SplitBrainDetected naming the other's MAC, and
``lbtui_l2_conflicts_total`` on /metrics. A speaker alone on the segment never raises it."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from lbtui.lab.netns import entered
from tests.net.cluster import Svc, cluster_yaml
from tests.net.speakers import start_speakers
from tests.net.topology import Topology

pytestmark = pytest.mark.net

VIP = "10.99.0.100"
NODES = ["node-a", "node-b"]


@pytest.fixture
def topo() -> Iterator[Topology]:
    with Topology(prefix="lblabsb", node_names=NODES, service_addresses=[VIP]) as t:
        yield t


def test_two_owners_of_one_address_each_report_the_other(topo: Topology, tmp_path: Path) -> None:
    speakers = {}
    for node in NODES:
        own = tmp_path / node
        own.mkdir()
        cluster = own / "cluster.yaml"
        cluster.write_text(cluster_yaml([node], [Svc("web", VIP, (node,))]))
        # Gratuitous ARPs every second after the takeover burst: node-a's burst may be over
        # before node-b has started on a loaded machine (seen once here, load average 15).
        args = ["--metrics-port", "7472", "--l2-refresh", "1"]
        speakers.update(start_speakers(topo, cluster, own, args, nodes=[node]))
    for node, speaker in speakers.items():
        other = next(n for n in NODES if n != node)
        found = speaker.wait_for(
            lambda ev: [e for e in ev if e["event"] == "SplitBrainDetected"], timeout=20
        )
        alarm = found[0]
        assert alarm["ip"] == VIP
        assert alarm["interface"] == "eth0"
        assert alarm["other_mac"] == topo.node(other).mac
        assert alarm["own_mac"] == topo.node(node).mac
        with entered(topo.node(node).netns):
            metrics = urllib.request.urlopen("http://127.0.0.1:7472/metrics", timeout=5).read()
        metrics = metrics.decode()
        line = next(
            (li for li in metrics.splitlines() if li.startswith("lbtui_l2_conflicts_total{")),
            "",
        )
        assert f'ip="{VIP}"' in line and float(line.split()[-1]) >= 1


def test_a_lone_owner_hears_no_conflict(topo: Topology, tmp_path: Path) -> None:
    cluster = tmp_path / "cluster.yaml"
    cluster.write_text(cluster_yaml(["node-a"], [Svc("web", VIP, ("node-a",))]))
    speakers = start_speakers(topo, cluster, tmp_path, nodes=["node-a"])
    speaker = speakers["node-a"]
    # Its own gratuitous rounds (first at once, then every 1.1 s) are not a conflict.
    speaker.wait_for(
        lambda ev: [e for e in ev if e["event"] == "GratuitousSent" and e["round"] >= 2],
        timeout=20,
    )
    time.sleep(0.2)
    assert not [e for e in speaker.events() if e["event"] == "SplitBrainDetected"]
