"""Failover on a real segment, with real gossip: three speakers joined by membership.

The client holds a neighbour entry for the address; the judge is the client's kernel (its
entry moves to the new owner's MAC, moved only by the new owner's gratuitous ARP since the
client sends nothing) and a watcher in the client namespace that timestamps every gratuitous
packet. Times are printed, never asserted (tests/bench/l2.py measures them).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.net.failover_rig import NODES, V4, Watcher, moved_to, start_cluster
from tests.net.topology import Topology

pytestmark = pytest.mark.net


@pytest.fixture
def topo() -> Iterator[Topology]:
    with Topology(node_names=NODES, service_addresses=[V4]) as t:
        yield t


def test_sigkill_of_the_owner_moves_the_address_to_the_predicted_successor(
    topo: Topology, tmp_path: Path
) -> None:
    cluster = start_cluster(topo, tmp_path)
    successor = cluster.successor(cluster.owner)
    watcher = Watcher(topo)
    killed = time.monotonic()
    cluster.speakers[cluster.owner].kill()
    first_garp = watcher.first_from(cluster.mac(successor))
    moved_to(cluster, successor)
    print(f"\nSIGKILL -> first gratuitous ARP from {successor}: {first_garp - killed:.3f} s")


def test_sigterm_of_the_owner_hands_over_at_once(topo: Topology, tmp_path: Path) -> None:
    cluster = start_cluster(topo, tmp_path)
    successor = cluster.successor(cluster.owner)
    watcher = Watcher(topo)
    stopped = time.monotonic()
    cluster.speakers[cluster.owner].proc.send_signal(15)
    first_garp = watcher.first_from(cluster.mac(successor))
    moved_to(cluster, successor)
    assert cluster.speakers[cluster.owner].proc.wait(timeout=10) == 0
    print(f"\nSIGTERM -> first gratuitous ARP from {successor}: {first_garp - stopped:.3f} s")


def test_owner_link_down_moves_the_address(topo: Topology, tmp_path: Path) -> None:
    """One segment for everything: the owner's cable out makes it unreachable (dead to the
    others) and carrierless (no candidate to itself)."""
    cluster = start_cluster(topo, tmp_path)
    successor = cluster.successor(cluster.owner)
    watcher = Watcher(topo)
    cut = time.monotonic()
    topo.set_carrier(cluster.owner, False)
    first_garp = watcher.first_from(cluster.mac(successor))
    moved_to(cluster, successor)
    print(f"\nlink down -> first gratuitous ARP from {successor}: {first_garp - cut:.3f} s")


def test_link_awareness_a_live_node_without_carrier_hands_over(tmp_path: Path) -> None:
    """Gossip on a separate segment: the owner stays alive to membership, but every interface
    it would announce on lost carrier, so it stops being a candidate and the address moves;
    when carrier returns it is a candidate again (and, first by hash, takes the address back)."""
    with Topology(node_names=NODES, service_addresses=[V4], management=True) as topo:
        cluster = start_cluster(topo, tmp_path, l2_args=("--l2-exclude", "^mgmt"))
        owner, successor = cluster.owner, cluster.successor(cluster.owner)
        watcher = Watcher(topo)
        cut = time.monotonic()
        topo.set_carrier(owner, False)
        first_garp = watcher.first_from(cluster.mac(successor))
        moved_to(cluster, successor)
        for name in (successor, owner):
            cluster.speakers[name].wait_for(
                lambda ev: [
                    e
                    for e in ev
                    if e["event"] == "MembershipUpdated"
                    and owner in e.get("not_candidates", [])
                    and owner in e["alive"]
                ]
            )
        print(f"\ncarrier lost -> first gratuitous ARP from {successor}: {first_garp - cut:.3f} s")
        topo.set_carrier(owner, True)
        watcher.first_from(cluster.mac(owner))
        moved_to(cluster, owner)
