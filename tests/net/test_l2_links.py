"""read_links (netlink in ``struct``) in a namespace with links of several kinds, against
pyroute2's reading of the same namespace: a bridge with an enslaved veth, a macvlan,
a link that is down, IPv6 link-local addresses."""

from __future__ import annotations

import os

from actors.l2.interfaces import read_links
from lbtui.lab.netns import entered, kill_namespace, run
from tests.netlink_oracle import pyroute2_links


def test_links_of_every_kind_read_as_pyroute2_reads_them() -> None:
    netns = f"lblinks-{os.getpid()}-1"
    run(["ip", "netns", "add", netns])
    try:
        for command in (
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
            run(["ip", "-n", netns, *command.split()])
        with entered(netns):
            ours, theirs = read_links(), pyroute2_links()
        assert ours == theirs
        by_name = {li.name: li for li in ours}
        assert set(by_name) == {"lo", "br0", "v0", "v1", "mv0"}
        assert by_name["v1"].enslaved and not by_name["v0"].enslaved
        assert by_name["v0"].link_local == bytes.fromhex("fe800000000000000000000000990001")
        assert by_name["v0"].up and not by_name["mv0"].up
        assert by_name["v0"].can_answer and not by_name["lo"].can_answer
    finally:
        kill_namespace(netns)
