"""Three speakers joined by real gossip on a Topology, a client holding a neighbour entry for
the address, and a watcher timestamping gratuitous packets: what the failover tests and
tests/bench/l2.py share."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.net.cluster import Svc, cluster_yaml, predicted_owners
from tests.net.speakers import Speaker, start_speakers, wait_until
from tests.net.topology import PYTHON, Topology

NODES = ["node-a", "node-b", "node-c"]
V4 = "10.99.0.100"
SERVICES = [Svc("web4", V4, tuple(NODES))]
PORT = 7946


def membership_args(topo: Topology, node: str, profile: str) -> list[str]:
    def address(name: str) -> str:
        host = topo.node(name)
        return host.management or host.ipv4

    seeds = ",".join(f"{address(n)}:{PORT}" for n in topo.node_names if n != node)
    return [
        "--ml-bind",
        f"{address(node)}:{PORT}",
        "--ml-join",
        seeds,
        "--ml-profile",
        profile,
    ]


@dataclass
class Cluster:
    topo: Topology
    speakers: dict[str, Speaker]
    owner: str

    def mac(self, node: str) -> str:
        return self.topo.node(node).mac

    def successor(self, gone: str) -> str:
        after = predicted_owners(NODES, SERVICES, down=frozenset({gone}))[V4]
        assert after is not None and after != gone
        return after


def start_cluster(
    topo: Topology, tmp: Path, profile: str = "fast", l2_args: tuple[str, ...] = ()
) -> Cluster:
    cluster = tmp / "cluster.yaml"
    cluster.write_text(cluster_yaml(NODES, SERVICES))
    speakers = {
        node: start_speakers(
            topo,
            cluster,
            tmp,
            [*membership_args(topo, node, profile), *l2_args],
            nodes=[node],
        )[node]
        for node in NODES
    }
    for speaker in speakers.values():
        speaker.wait_for(
            lambda ev: any(
                e["event"] == "MembershipUpdated" and sorted(e["alive"]) == NODES for e in ev
            ),
            timeout=30,
        )
    owner = predicted_owners(NODES, SERVICES)[V4]
    assert owner is not None
    speakers[owner].wait_for(lambda _e: V4 in speakers[owner].answering())
    topo.client.run("ping", "-c", "1", "-W", "2", V4)
    assert (topo.client.neighbour(V4) or {}).get("lladdr") == topo.node(owner).mac
    return Cluster(topo, speakers, owner)


class Watcher:
    """Gratuitous packets for V4 as the client sees them, with CLOCK_MONOTONIC times."""

    def __init__(self, topo: Topology) -> None:
        self.proc = topo.spawn(
            "client",
            [PYTHON, "-m", "tests.net.probe", "watch", V4],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert self.proc.stdout is not None
        assert "ready" in json.loads(self.proc.stdout.readline())

    def first_from(self, mac: str, timeout: float = 20.0) -> float:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            seen = json.loads(line)
            if seen["mac"] == mac:
                return float(seen["t"])
        raise AssertionError(f"no gratuitous packet from {mac}")


def moved_to(cluster: Cluster, node: str) -> None:
    client = cluster.topo.client
    wait_until(
        lambda: (client.neighbour(V4) or {}).get("lladdr") == cluster.mac(node),
        timeout=20,
        what=f"client's entry for {V4} moves to {node}",
    )
