"""The BPF programs, run by a small classic-BPF interpreter here and by the kernel itself."""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
import time

import pytest

from actors.l2 import arp, bpf, ndp

MAC = bytes.fromhex("0299000000fe")


def v4(text: str) -> bytes:
    return ipaddress.IPv4Address(text).packed


def v6(text: str) -> bytes:
    return ipaddress.IPv6Address(text).packed


def run_bpf(program: bpf.Program, frame: bytes, pkttype: int = 0) -> int:
    """What the kernel would return for ``frame``: 0 drops, anything else accepts."""
    pc, acc = 0, 0
    while True:
        insn = program[pc]
        if insn.code & 0x07 == bpf.BPF_RET:
            return insn.k
        if insn.code & 0x07 == bpf.BPF_LD:
            if insn.k == bpf.SKF_AD_PKTTYPE:
                acc = pkttype
            else:
                size = {bpf.BPF_W: 4, bpf.BPF_H: 2, bpf.BPF_B: 1}[insn.code & 0x18]
                if insn.k + size > len(frame):
                    return 0  # the kernel aborts with 0 on an out-of-bounds load
                acc = int.from_bytes(frame[insn.k : insn.k + size], "big")
            pc += 1
        elif insn.code == bpf.BPF_JMP | bpf.BPF_JA:
            pc += 1 + insn.k
        elif insn.code == bpf.BPF_JMP | bpf.BPF_JEQ | bpf.BPF_K:
            pc += 1 + (insn.jt if acc == insn.k else insn.jf)
        else:
            raise AssertionError(f"unexpected instruction {insn}")


def test_arp_program_accepts_requests_for_announced_targets_only() -> None:
    program = bpf.arp_program([v4("10.99.0.100"), v4("10.99.0.101")])
    ask = arp.request_frame(MAC, v4("10.99.0.2"), v4("10.99.0.100"))
    assert run_bpf(program, ask)
    assert run_bpf(program, arp.request_frame(MAC, v4("10.99.0.2"), v4("10.99.0.101")))
    assert not run_bpf(program, arp.request_frame(MAC, v4("10.99.0.2"), v4("10.99.0.102")))
    assert not run_bpf(program, ask, pkttype=bpf.PACKET_OUTGOING)
    reply = bytearray(ask)
    reply[21] = 2
    assert not run_bpf(program, bytes(reply))
    assert not run_bpf(program, ask[:40])
    assert not run_bpf(program, ndp.solicitation_frame(MAC, v6("fd00:99::2"), v6("fd00:99::100")))


def test_ndp_program_accepts_solicitations_for_announced_targets_only() -> None:
    targets = [v6("fd00:99::100"), v6("fd00:99::101")]
    program = bpf.ndp_program(targets)
    src = v6("fd00:99::2")
    for target in targets:
        assert run_bpf(program, ndp.solicitation_frame(MAC, src, target))
    # differs only in the last word, or only in the first
    assert not run_bpf(program, ndp.solicitation_frame(MAC, src, v6("fd00:99::102")))
    assert not run_bpf(program, ndp.solicitation_frame(MAC, src, v6("fd01:99::100")))
    assert not run_bpf(program, ndp.solicitation_frame(MAC, src, targets[0], hop_limit=64))
    frame = ndp.solicitation_frame(MAC, src, targets[0])
    assert not run_bpf(program, frame, pkttype=bpf.PACKET_OUTGOING)
    assert not run_bpf(program, arp.request_frame(MAC, v4("10.99.0.2"), v4("10.99.0.100")))


def test_frames_for_another_host_or_another_vlan_are_dropped() -> None:
    """PACKET_OTHERHOST: unicast to another MAC, or (the kernel strips the 802.1Q tag before
    a packet socket sees the frame and marks it so) asked on a VLAN this interface is not:
    a request asked on VLAN 100 must not be answered on the untagged network."""
    ask4 = arp.request_frame(MAC, v4("10.99.0.2"), v4("10.99.0.100"))
    ask6 = ndp.solicitation_frame(MAC, v6("fd00:99::2"), v6("fd00:99::100"))
    for program, frame in (
        (bpf.arp_program([v4("10.99.0.100")]), ask4),
        (bpf.ndp_program([v6("fd00:99::100")]), ask6),
        (bpf.arp_program([v4("10.99.0.100")], any_target=True), ask4),
        (bpf.ndp_program([v6("fd00:99::100")], any_target=True), ask6),
    ):
        for pkttype in (0, 1, 2):  # PACKET_HOST, _BROADCAST, _MULTICAST
            assert run_bpf(program, frame, pkttype=pkttype)
        assert not run_bpf(program, frame, pkttype=bpf.PACKET_OTHERHOST)
        assert not run_bpf(program, frame, pkttype=bpf.PACKET_OUTGOING)


def test_no_address_means_drop_everything() -> None:
    assert bpf.arp_program([]) == bpf.DROP_ALL == bpf.ndp_program([])


def test_large_sets_stay_within_the_kernel_limit_with_short_jumps() -> None:
    many4 = [struct.pack("!I", 0x0A000000 + i) for i in range(1000)]
    program = bpf.arp_program(many4)
    assert len(program) <= bpf.MAX_INSTRUCTIONS
    assert run_bpf(program, arp.request_frame(MAC, v4("10.99.0.2"), many4[-1]))
    assert not run_bpf(program, arp.request_frame(MAC, v4("10.99.0.2"), v4("11.0.0.1")))
    too_many = [struct.pack("!I", 0x0A000000 + i) for i in range(3000)]
    fallback = bpf.arp_program(too_many)
    assert len(fallback) < 25  # type and VLAN checks only: Python filters by target
    assert run_bpf(fallback, arp.request_frame(MAC, v4("10.99.0.2"), v4("11.0.0.1")))
    many6 = [v6(f"fd00:99::{i:x}") for i in range(200)]
    program6 = bpf.ndp_program(many6)
    assert len(program6) <= bpf.MAX_INSTRUCTIONS
    assert run_bpf(program6, ndp.solicitation_frame(MAC, v6("fd00:99::ffff"), many6[-1]))


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="packet sockets need CAP_NET_RAW")


@needs_root
def test_the_kernel_accepts_and_runs_the_programs_on_loopback() -> None:
    """The kernel's verifier takes our programs; on lo, only the matching frame gets through."""
    rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        bpf.attach(rx, bpf.arp_program([v4("10.99.0.100")]))
        rx.bind(("lo", arp.ETH_P_ARP))
        rx.settimeout(2)
        tx.bind(("lo", 0))
        miss = arp.request_frame(MAC, v4("10.99.0.2"), v4("10.99.0.101"))
        hit = arp.request_frame(MAC, v4("10.99.0.2"), v4("10.99.0.100"))
        tx.send(miss)
        tx.send(hit)
        seen = rx.recv(2048)
        assert seen[:42] == hit
        rx.setblocking(False)
        time.sleep(0.05)
        with pytest.raises(BlockingIOError):
            rx.recv(2048)  # the miss and the outgoing copy were filtered out
        for n in (1, 200, 5000):  # the largest programs we build are accepted as well
            bpf.attach(rx, bpf.ndp_program([v6(f"fd00:99::{i:x}") for i in range(n)]))
            bpf.attach(rx, bpf.arp_program([struct.pack("!I", i) for i in range(n)]))
    finally:
        rx.close()
        tx.close()
