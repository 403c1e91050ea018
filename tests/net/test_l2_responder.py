"""The responder object itself on a real veth pair (inside a namespace made for the test)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from actors.l2.mmsg import VLEN
from tests.net.topology import PYTHON, REPO, kill_namespace, run

pytestmark = pytest.mark.net


@pytest.fixture
def veth_namespace() -> Iterator[str]:
    netns = f"lbl2-{os.getpid()}-0-veth"
    run(["ip", "netns", "add", netns])
    try:
        ns = ["ip", "-n", netns]
        run([*ns, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1"])
        for name, mac in (("veth0", "02:99:00:00:00:01"), ("veth1", "02:99:00:00:00:fe")):
            run([*ns, "link", "set", name, "address", mac, "up"])
        run([*ns, "link", "set", "lo", "up"])
        yield netns
    finally:
        kill_namespace(netns)


def check_in(netns: str, module: str, *args: str) -> dict[str, Any]:
    """Run a check module inside the namespace; its JSON verdict."""
    command = " ".join([f"cd {REPO} && {PYTHON} -m {module}", *args])
    return json.loads(run(["ip", "netns", "exec", netns, "sh", "-c", command], timeout=60))


@pytest.mark.parametrize("in_kernel", [False, True], ids=["readers", "xdp"])
def test_answers_only_while_announced_and_withdraw_is_immediate(
    veth_namespace: str, in_kernel: bool
) -> None:
    """The same guarantees whether ARP is answered by the readers or in the kernel (XDP)."""
    out = check_in(veth_namespace, "tests.net.responder_check", *["--in-kernel"] * in_kernel)
    assert out["errors"] == []
    assert out["before"] == [0, 0]
    assert out["announced"] == [1, 1]
    assert set(out["reply_macs"]) == {out["server_mac"]}
    assert out["responses_at_withdraw"] > 100  # the flood was being answered ...
    # ... and then not at all: at most the round being handed to the kernel at that instant
    assert out["responses_later"] - out["responses_at_withdraw"] <= VLEN
    assert out["withdrawn"] == [0, 0]
    assert out["requests"] == out["responses"]
    assert out["dropped"].get("malformed", 0) == 0  # garbage shorter than ARP never passed BPF
    assert out["gratuitous"] == 2
    assert out["ports_after_removal"] == []
    if in_kernel:  # every ARP request was answered before it reached a reader
        assert out["python_arp_requests"] == 0
    else:
        assert out["python_arp_requests"] == out["requests"]["10.99.0.100"]


def test_the_kernels_duplicate_address_detection_sees_an_announced_ipv6_vip_in_use(
    veth_namespace: str,
) -> None:
    """The judge is the Linux kernel: a host that adds an address we announce runs DAD, gets
    our defence (an NA to all nodes) and marks the address dadfailed; once we withdraw it,
    the same address passes its DAD."""
    out = check_in(veth_namespace, "tests.net.dad_check")
    assert out["link_local"] and out["errors"] == []
    assert out["announced"] == "dadfailed"
    assert out["withdrawn"] == "ok"


def test_the_filter_keeps_from_python_what_must_not_be_answered(veth_namespace: str) -> None:
    """The kernel's BPF filter: other targets, ARP replies, short frames, low hop limits,
    DAD probes for addresses we do not announce and requests tagged for another VLAN never
    wake the reader; a VLAN-less ARP request, an NS to the solicited-node group, a DAD probe
    for the VIP6 and a priority-tagged request do, and are answered byte for byte as scapy
    builds the answer; bursts of requests are all answered."""
    out = check_in(veth_namespace, "tests.net.filter_check")
    assert out["errors"] == []
    assert out["reached_after_filtered"] == 0
    assert out["answers_to_filtered"] == 0
    # the ARP request, the NS, the DAD probe, the priority-tagged request
    assert out["reached_after_passed"] == 4
    assert out["scapy_equal"] == {"arp": True, "na": True, "dad": True, "priority": True}
    assert out["answered"] == out["answered_equal"] == out["asked"]


def test_bursts_from_several_askers_are_answered_byte_for_byte_many_frames_per_call(
    veth_namespace: str,
) -> None:
    """A lone request is read by a receive call that takes one frame; bursts of 60 ARP and
    NDP requests from six askers are all answered once, byte for byte as scapy answers each
    asker, partly by receive calls that took several frames (recvmmsg, then sendmmsg)."""
    out = check_in(veth_namespace, "tests.net.burst_check")
    assert out["errors"] == []
    assert out["serial_equal"] == [True, True]
    assert out["serial_receives"] == {}  # no receive call took several frames
    assert out["send_refused"] == []
    assert out["answered"] == out["answered_equal"] == out["asked"] == 420
    assert out["responses_sent"] == 2 + 420
    assert out["batched_calls"] > 0, out["receives"]


def test_arp_answered_in_the_kernel_is_the_readers_answer_and_ends_with_its_process(
    veth_namespace: str,
) -> None:
    """XDP answers ARP with the bytes the readers would send (padded requests too, scapy
    agreeing), before any reader sees the request; NDP and gratuitous ARP still reach the
    readers. The program is on the link only while its responder lives: closed, frozen past
    its lease, or killed, the kernel answers nothing more; an expired lease hands every
    request to user space."""
    out = check_in(veth_namespace, "tests.net.kernel_arp_check")
    assert out["errors"] == [] and out["settled"] and out["xdp_on"] is True
    assert out["replies"] == 2 and out["replies_equal"] is True and out["scapy_equal"] is True
    assert out["requests_by_readers"] == 0  # the kernel answered both ...
    assert out["requests_counted"] == 2  # ... and the metrics count them
    assert out["ndp_answered"] == 1
    assert out["conflicts"] == {"10.99.0.100": 1}
    assert out["xdp_after_close"] is False
    # lease: the kernel answers while it holds, user space once it has run out
    assert out["leased"] == 1 and out["readers_while_leased"] == 0
    assert out["expired"] == 1 and out["readers_after_expiry"] == 1
    assert out["kernel_replies"] == {"10.99.0.100": 1}
    # a full map: what it refused is answered from user space, nothing is lost
    assert out["refused"] == ["10.99.0.101"] and out["full_answers"] == [1, 1]
    assert out["full_readers"] == {"10.99.0.100": 0, "10.99.0.101": 1}
    # a responder process: frozen, nobody answers (its program is still attached); thawed,
    # it answers again; killed, its program is gone with it
    assert out["child_errors"] == "[]" and out["child_running"] == 1
    assert out["child_frozen"] == 0 and out["xdp_while_frozen"] is True
    assert out["child_thawed"] is True
    assert out["child_killed"] == 0 and out["xdp_after_kill"] is False


def test_ndp_answered_in_the_kernel_is_the_readers_answer_and_ends_with_its_process(
    veth_namespace: str,
) -> None:
    """XDP answers a Neighbor Solicitation (to the solicited-node group, or unicast) with the
    NA the readers would send (scapy agreeing), before any reader sees it, and the metrics
    count it; a duplicate address detection probe for the VIP6 and an NS without a source
    link-layer option still reach the readers, which defend and answer. An expired lease
    hands NSs to user space; a killed responder's program is gone and nobody answers. The
    address maps hold kernel memory as addresses come, not for all they could hold."""
    out = check_in(veth_namespace, "tests.net.kernel_ndp_check")
    assert out["errors"] == [] and out["settled"] and out["xdp_on"] is True
    assert out["replies"] == 2 and out["replies_equal"] is True and out["scapy_equal"] is True
    assert out["requests_by_readers"] == 0  # the kernel answered both ...
    assert out["requests_counted"] == 2  # ... and the metrics count them
    assert out["dad_defended"] is True and out["dad_to_all_nodes"] == [True]
    assert out["bare_answered"] is True
    assert out["requests_by_readers_after"] == 2  # the probe and the bare NS
    assert out["requests_counted_after"] == 4
    assert out["xdp_after_close"] is False
    assert out["leased"] is True and out["readers_while_leased"] == 0
    assert out["expired"] is True and out["readers_after_expiry"] == 1
    assert out["kernel_replies"] == {"fd00:99::100": 1}
    # entries are made as addresses come: not 65536 of them up front (~5 MB per map)
    assert all(n < 2 << 20 for n in out["map_memlock"]), out["map_memlock"]
    assert out["child_errors"] == "[]" and out["child_running"] == 1
    assert out["child_killed"] == 0 and out["xdp_after_kill"] is False
