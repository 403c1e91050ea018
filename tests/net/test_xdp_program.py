"""The kernel ARP program run by the kernel itself on test frames (BPF_PROG_TEST_RUN): whatever
the frame, it answers exactly when the readers' ArpReplier answers, with the same bytes, and
passes everything else untouched. Also the assembler's encoding, checked without the kernel."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.l2 import arp, ebpf, xdp

pytestmark = pytest.mark.net

MAC = bytes.fromhex("029900000001")
ASKER = bytes.fromhex("0299000000fe")
VIP = socket.inet_aton("10.99.0.100")
OTHER = socket.inet_aton("10.99.0.101")
ANNOUNCED = {VIP: "10.99.0.100"}
#: The kernel runs a test frame only from an Ethernet header up (no shorter frame is on a link).
ETH_HLEN = 14


class Loaded:
    def __init__(self) -> None:
        self.addresses = ebpf.Map(ebpf.MAP_TYPE_HASH, 4, 8, 16)
        self.lease = ebpf.Map(ebpf.MAP_TYPE_ARRAY, 4, 8, 1)
        self.addresses.update(VIP, bytes(8))
        self.renew()
        self.fd = ebpf.load_xdp(
            xdp.arp_program(MAC, self.addresses.fd, self.lease.fd), "lbtui_arp_test"
        )

    def renew(self) -> None:
        self.lease.update(bytes(4), struct.pack("=Q", time.monotonic_ns() + 60 * 10**9))

    def run(self, frame: bytes) -> tuple[int, bytes]:
        return ebpf.test_run(self.fd, frame)

    def count(self) -> int:
        return struct.unpack("=Q", self.addresses.get(VIP) or bytes(8))[0]


@pytest.fixture(scope="module")
def program() -> Iterator[Loaded]:
    loaded = Loaded()
    yield loaded
    import os

    os.close(loaded.fd)
    loaded.addresses.close()
    loaded.lease.close()


REQUEST = arp.request_frame(ASKER, socket.inet_aton("10.99.0.2"), VIP)
REPLIER = arp.ArpReplier(MAC)


def verdict_matches_the_readers(program: Loaded, frame: bytes) -> None:
    reply, _ = REPLIER.answer(frame, ANNOUNCED)
    before = program.count()
    verdict, out = program.run(frame)
    if reply is None:
        assert (verdict, out) == (ebpf.XDP_PASS, frame)
        assert program.count() == before
    else:
        assert (verdict, out) == (ebpf.XDP_TX, reply)
        assert program.count() == before + 1


def test_a_request_for_an_announced_address_is_answered_as_the_readers_answer(
    program: Loaded,
) -> None:
    verdict_matches_the_readers(program, REQUEST)
    verdict, out = program.run(REQUEST + bytes(18))  # padded to Ethernet's 60 bytes
    assert (verdict, out) == (ebpf.XDP_TX, REPLIER.answer(REQUEST, ANNOUNCED)[0])


@pytest.mark.parametrize(
    "frame",
    [
        REQUEST[:41],  # short
        arp.request_frame(ASKER, socket.inet_aton("10.99.0.2"), OTHER),  # not announced
        arp.request_frame(ASKER, VIP, VIP),  # gratuitous
        bytes.fromhex("0300000000ff") + REQUEST[6:],  # to another host's MAC
        REQUEST[:6] + bytes.fromhex("0100000000fe") + REQUEST[12:],  # multicast source
        REQUEST[:22] + bytes.fromhex("0100000000fe") + REQUEST[28:],  # multicast sender
        REQUEST[:21] + b"\x02" + REQUEST[22:],  # a reply, not a request
        REQUEST[:12] + b"\x81\x00\x00\x64" + REQUEST[12:],  # tagged for VLAN 100
        MAC + REQUEST[6:],  # unicast to us: answered
    ],
    ids=[
        "short", "other", "gratuitous", "other-host", "multicast-src", "multicast-sender",
        "reply", "vlan", "unicast-to-us",
    ],
)  # fmt: skip
def test_each_case_is_decided_as_the_readers_decide_it(program: Loaded, frame: bytes) -> None:
    verdict_matches_the_readers(program, frame)


def test_past_its_lease_the_program_answers_nothing(program: Loaded) -> None:
    program.lease.update(bytes(4), struct.pack("=Q", time.monotonic_ns() - 1))
    try:
        assert program.run(REQUEST) == (ebpf.XDP_PASS, REQUEST)
    finally:
        program.renew()
    assert program.run(REQUEST)[0] == ebpf.XDP_TX


def _mutated(data: st.DataObject) -> bytes:
    frame = bytearray(data.draw(st.sampled_from([REQUEST, REQUEST + bytes(18), MAC + REQUEST[6:]])))
    for _ in range(data.draw(st.integers(0, 3))):
        at = data.draw(st.integers(0, len(frame) - 1))
        frame[at] = data.draw(st.sampled_from([0, 1, 2, 0xFF, frame[at] ^ 1, frame[at]]))
    if data.draw(st.booleans()):
        frame[38:42] = data.draw(st.sampled_from([VIP, OTHER, bytes(frame[28:32])]))
    return bytes(
        frame[: data.draw(st.integers(ETH_HLEN, len(frame)))] if data.draw(st.booleans()) else frame
    )


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_fuzz_near_requests_are_decided_as_the_readers_decide_them(
    program: Loaded, data: st.DataObject
) -> None:
    """Requests with a few bytes changed or cut short, among them every field checked."""
    verdict_matches_the_readers(program, _mutated(data))


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=ETH_HLEN, max_size=128))
def test_fuzz_any_bytes_are_decided_as_the_readers_decide_them(
    program: Loaded, frame: bytes
) -> None:
    verdict_matches_the_readers(program, frame)


# -- the assembler, without the kernel -------------------------------------------------------


def test_jumps_are_resolved_to_relative_offsets() -> None:
    a = ebpf.Asm()
    a.jump32(ebpf.JNE, ebpf.R2, 0xFFFFFFFF, "out")  # 0
    a.mov(ebpf.R0, 1)  # 1
    a.label("out")
    a.exit()  # 2
    code = a.assemble()
    assert len(code) == 24
    op, regs, off, imm = struct.unpack_from("<BBhi", code, 0)
    assert (op, regs, off, imm) == (ebpf.JMP32 | ebpf.JNE, ebpf.R2, 1, -1)


def test_a_64_bit_compare_refuses_a_constant_that_would_be_sign_extended() -> None:
    with pytest.raises(ValueError, match="jump32"):
        ebpf.Asm().jump(ebpf.JNE, ebpf.R2, 0xFFFFFFFF, "x")


def test_a_label_defined_twice_is_refused() -> None:
    a = ebpf.Asm()
    a.label("x")
    with pytest.raises(ValueError, match="twice"):
        a.label("x")


def test_a_map_reference_takes_two_slots() -> None:
    a = ebpf.Asm()
    a.map_fd(ebpf.R1, 7)
    code = a.assemble()
    assert len(code) == 16
    assert struct.unpack_from("<BBhi", code, 0) == (0x18, ebpf.R1 | ebpf.PSEUDO_MAP_FD << 4, 0, 7)
