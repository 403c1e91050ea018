"""read_links (netlink in ``struct``) in a namespace with links of several kinds, against
pyroute2's reading of the same namespace: a bridge with an enslaved veth, a macvlan,
a link that is down, IPv6 link-local addresses."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from actors.l2.interfaces import read_links
from lbtui.lab.netns import entered, kill_namespace, run
from tests.netlink_oracle import pyroute2_links


@contextmanager
def namespace(prefix: str, *commands: str) -> Iterator[None]:
    """A namespace made by ``ip -n NS <command>`` each, entered; removed afterwards."""
    netns = f"{prefix}-{os.getpid()}-1"
    run(["ip", "netns", "add", netns])
    try:
        for command in commands:
            run(["ip", "-n", netns, *command.split()])
        with entered(netns):
            yield
    finally:
        kill_namespace(netns)


def test_links_of_every_kind_read_as_pyroute2_reads_them() -> None:
    with namespace(
        "lblinks",
        "link set lo up",
        "link add br0 type bridge",
        "link add v0 type veth peer name v1",
        "link set v1 master br0",
        "link add mv0 link v0 type macvlan",
        "link set br0 up",
        "link set v0 up",
        "link set v1 up",
        "addr add fe80::99:1/64 dev v0 nodad",
        "addr add fd00:99::1/64 dev v0 nodad",
        "addr add fe80::99:2/64 dev br0 nodad",
    ):
        ours, theirs = read_links(), pyroute2_links()
    assert ours == theirs
    by_name = {li.name: li for li in ours}
    assert set(by_name) == {"lo", "br0", "v0", "v1", "mv0"}
    assert by_name["v1"].enslaved and not by_name["v0"].enslaved
    assert by_name["v0"].link_local == bytes.fromhex("fe800000000000000000000000990001")
    assert by_name["v0"].up and not by_name["mv0"].up
    assert by_name["v0"].can_answer and not by_name["lo"].can_answer


def test_the_neighbour_table_gives_the_routers_the_kernel_knows_per_interface() -> None:
    """Unnumbered BGP's second source (actors/bgp/unnumbered/neighbours.py) on the real
    kernel: only IPv6 entries marked as routers, only those of the interface asked about."""
    from actors.bgp.unnumbered.neighbours import routers

    with namespace(
        "lbneigh",
        "link add v0 type veth peer name v1",
        "link set v0 up",
        "link set v1 up",
        "-6 neigh add fe80::1 lladdr 02:00:00:00:00:01 dev v0 router",
        "-6 neigh add fe80::2 lladdr 02:00:00:00:00:02 dev v0",  # a host, not a router
        "-6 neigh add fe80::3 lladdr 02:00:00:00:00:03 dev v1 router",
        "-4 neigh add 10.99.0.1 lladdr 02:00:00:00:00:04 dev v0",
    ):
        index = {li.name: li.index for li in read_links()}
        assert routers(index["v0"]) == ["fe80::1"]
        assert routers(index["v1"]) == ["fe80::3"]
        assert routers(999_999) == []
