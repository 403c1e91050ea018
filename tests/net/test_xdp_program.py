"""The kernel program run by the kernel itself on test frames (BPF_PROG_TEST_RUN): whatever
the frame, it answers exactly when the readers' ArpReplier answers, with the same bytes, and
passes everything else untouched; for Neighbor Solicitations, exactly when NdpReplier answers
one of the layout the program handles (anything else passes, and the readers decide it), with
the NA scapy builds too. Also the assembler's encoding, checked without the kernel."""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
import time
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.l2 import arp, ebpf, ndp, xdp

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


# -- Neighbor Solicitations: the whole program (ARP and NDP), as an interface holds it --------

VIP6 = ipaddress.ip_address("fd00:99::100").packed
OTHER6 = ipaddress.ip_address("fd00:99::101").packed
CLIENT6 = ipaddress.ip_address("fd00:99::2").packed
LINK_LOCAL = ipaddress.ip_address("fe80::99:1").packed
ANNOUNCED6 = {VIP6: "fd00:99::100"}
NS = ndp.solicitation_frame(ASKER, CLIENT6, VIP6)  # to the target's solicited-node group
NS_UNICAST = MAC + ndp.solicitation_frame(ASKER, CLIENT6, VIP6, multicast=False)[6:]


class Neighbours(Loaded):
    """The program :class:`xdp.KernelNeighbours` loads, for NAs from ``source``."""

    def __init__(self, source: bytes | None) -> None:
        self.addresses = ebpf.Map(ebpf.MAP_TYPE_HASH, 4, 8, 16)
        self.addresses6 = ebpf.Map(ebpf.MAP_TYPE_HASH, 16, 8, 16)
        self.lease = ebpf.Map(ebpf.MAP_TYPE_ARRAY, 4, 8, 1)
        self.addresses.update(VIP, bytes(8))
        self.addresses6.update(VIP6, bytes(8))
        self.renew()
        self.replier = ndp.NdpReplier(MAC, source)
        code = xdp.neighbour_program(
            MAC, source, self.addresses.fd, self.addresses6.fd, self.lease.fd
        )
        self.fd = ebpf.load_xdp(code, "lbtui_neigh_test")

    def count6(self) -> int:
        return struct.unpack("=Q", self.addresses6.get(VIP6) or bytes(8))[0]

    def close(self) -> None:
        os.close(self.fd)
        for m in (self.addresses, self.addresses6, self.lease):
            m.close()


@pytest.fixture(scope="module", params=[None, LINK_LOCAL], ids=["no-link-local", "link-local"])
def neighbours(request: pytest.FixtureRequest) -> Iterator[Neighbours]:
    loaded = Neighbours(request.param)
    yield loaded
    loaded.close()


def the_layout_answered_in_the_kernel(frame: bytes) -> bool:
    """The one NS layout the program answers, stated apart from it: 86 bytes; IPv6 (any class
    and flow) carrying 32 bytes of ICMPv6, hop limit 255; type 135 code 0; one option, the
    source link-layer address, neither it nor the Ethernet source a group address; a unicast
    source other than ::; a target outside ff00::/8; sent to our MAC and the target, or to
    the target's solicited-node group and its MAC. The rest (checksum, announced) is the
    readers' to decide."""
    if len(frame) != ndp.NA_LEN or frame[12:14] != b"\x86\xdd" or frame[14] >> 4 != 6:
        return False
    if frame[18:22] != b"\x00\x20\x3a\xff" or frame[54:56] != b"\x87\x00":
        return False
    if frame[78:80] != b"\x01\x01" or frame[62] == 0xFF:
        return False
    src, dst, target = frame[22:38], frame[38:54], frame[62:78]
    if src[0] == 0xFF or src == bytes(16) or frame[6] & 1 or frame[80] & 1:
        return False
    if frame[0:6] == MAC:
        return dst == target
    group = ndp.solicited_node(target)
    return frame[0:6] == ndp.multicast_mac(group) and dst == group


def ndp_matches_the_readers(program: Neighbours, frame: bytes) -> bool:
    """The program answers exactly what the readers answer in the layout it handles, with the
    same bytes, and passes anything else untouched. Whether it answered."""
    reply, _ = program.replier.answer(frame, ANNOUNCED6)
    before = program.count6()
    verdict, out = program.run(frame)
    if reply is not None and the_layout_answered_in_the_kernel(frame):
        assert (verdict, out) == (ebpf.XDP_TX, reply)
        assert program.count6() == before + 1
        return True
    assert (verdict, out) == (ebpf.XDP_PASS, frame)
    assert program.count6() == before
    return False


def with_checksum(frame: bytes | bytearray) -> bytes:
    """``frame`` with its ICMPv6 checksum made valid again (as far as it holds its payload)."""
    f = bytearray(frame)
    if len(f) < ndp.ICMP_AT + 4:
        return bytes(f)
    length = int.from_bytes(f[18:20], "big")
    if ndp.ICMP_AT + length > len(f) or length < 4:
        return bytes(f)
    f[56:58] = bytes(2)
    icmp = bytes(f[ndp.ICMP_AT : ndp.ICMP_AT + length])
    pseudo = bytes(f[22:54]) + struct.pack("!I3xB", length, ndp.IPPROTO_ICMPV6)
    f[56:58] = ndp.checksum(pseudo + icmp)
    return bytes(f)


def _patched(frame: bytes, at: int, value: bytes, checksum: bool = True) -> bytes:
    f = frame[:at] + value + frame[at + len(value) :]
    return with_checksum(f) if checksum else f


def _ns(payload_options: bytes, src: bytes = CLIENT6, eth_dst: bytes | None = None) -> bytes:
    """An NS for VIP6 to its group with ``payload_options`` in place of the one option."""
    frame = bytearray(NS[: ndp.ICMP_AT + 24] + payload_options)
    frame[18:20] = (24 + len(payload_options)).to_bytes(2, "big")
    frame[22:38] = src
    if eth_dst is not None:
        frame[0:6] = eth_dst
    return with_checksum(frame)


SLLA = bytes((ndp.OPT_SOURCE_LLADDR, 1)) + ASKER
NONCE = bytes((14, 1)) + bytes(6)  # RFC 3971's nonce option (SEND), one unit
GROUP_OF_OTHER = ndp.solicited_node(OTHER6)

NDP_CASES = {
    # answered in the kernel
    "to-the-group": (NS, True),
    "unicast-to-us": (NS_UNICAST, True),
    "class-and-flow": (_patched(NS, 14, bytes.fromhex("6a1234 56")), True),
    "option-not-the-eth-source": (_patched(NS, 80, bytes.fromhex("0299000000aa")), True),
    # the readers' to decide: refused by them ...
    "not-announced": (ndp.solicitation_frame(ASKER, CLIENT6, OTHER6), False),
    "hop-limit-64": (ndp.solicitation_frame(ASKER, CLIENT6, VIP6, hop_limit=64), False),
    "bad-checksum": (_patched(NS, 56, b"\x12\x34", checksum=False), False),
    "code-1": (_patched(NS, 55, b"\x01"), False),
    "an-advertisement": (_patched(NS, 54, bytes((ndp.ND_NEIGHBOR_ADVERT,))), False),
    "multicast-target": (_patched(NS, 62, ndp.solicited_node(VIP6)), False),
    "version-4": (_patched(NS, 14, b"\x40"), False),
    "hop-by-hop-header": (_patched(NS, 20, b"\x00"), False),
    "short": (NS[:70], False),
    "zero-length-option": (_ns(bytes((1, 0)) + ASKER), False),
    "dad-with-an-option": (_ns(SLLA, src=bytes(16)), False),
    # ... or answered by them, but not of the one layout
    "dad-probe": (_ns(b"", src=bytes(16)), False),
    "no-option": (_ns(b""), False),
    "two-options": (_ns(SLLA + NONCE), False),
    "another-option": (_ns(NONCE), False),
    "trailing-bytes": (NS + bytes(2), False),
    "vlan": (NS[:12] + b"\x81\x00\x00\x64" + NS[12:], False),
    "multicast-source": (_patched(NS, 22, ndp.ALL_NODES), False),
    "multicast-eth-source": (_patched(NS, 6, bytes.fromhex("0100000000fe")), False),
    "multicast-option-address": (_patched(NS, 80, bytes.fromhex("0100000000fe")), False),
    "to-another-hosts-mac": (_patched(NS_UNICAST, 0, bytes.fromhex("0299000000aa")), False),
    "unicast-to-us-not-to-the-target": (_patched(NS_UNICAST, 38, LINK_LOCAL), False),
    "to-another-group": (_patched(NS, 38, GROUP_OF_OTHER), False),
    "to-the-group-by-another-mac": (_patched(NS, 0, ndp.multicast_mac(GROUP_OF_OTHER)), False),
    "to-all-nodes": (_patched(_patched(NS, 0, ndp.ALL_NODES_MAC), 38, ndp.ALL_NODES), False),
    "to-the-group-by-broadcast": (_patched(NS, 0, b"\xff" * 6), False),
}


@pytest.mark.parametrize("case", NDP_CASES)
def test_each_solicitation_is_decided_as_the_readers_decide_it(
    neighbours: Neighbours, case: str
) -> None:
    frame, in_kernel = NDP_CASES[case]
    assert ndp_matches_the_readers(neighbours, frame) is in_kernel


def test_the_readers_answer_what_the_kernel_leaves_them_in_these_cases(
    neighbours: Neighbours,
) -> None:
    """The cases are what they say: those of another layout are ones the readers answer (so
    passing them is a choice, not a refusal), and the refused ones the readers refuse."""
    answered_by_readers = {
        case
        for case, (frame, _) in NDP_CASES.items()
        if neighbours.replier.answer(frame, ANNOUNCED6)[0] is not None
    }
    assert answered_by_readers == {
        "to-the-group", "unicast-to-us", "class-and-flow", "option-not-the-eth-source",
        "dad-probe", "no-option", "two-options", "another-option", "trailing-bytes",
        "to-another-hosts-mac", "unicast-to-us-not-to-the-target", "to-another-group",
        "to-the-group-by-another-mac", "to-all-nodes", "to-the-group-by-broadcast",
    }  # fmt: skip


def test_the_na_is_the_one_scapy_builds(neighbours: Neighbours) -> None:
    from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6NDOptDstLLAddr, IPv6
    from scapy.layers.l2 import Ether

    source = neighbours.replier.source or VIP6
    expected = bytes(
        Ether(dst=ASKER.hex(":"), src=MAC.hex(":"))
        / IPv6(src=str(ipaddress.ip_address(source)), dst="fd00:99::2", hlim=255)
        / ICMPv6ND_NA(R=0, S=1, O=1, tgt="fd00:99::100")
        / ICMPv6NDOptDstLLAddr(lladdr=MAC.hex(":"))
    )
    assert neighbours.run(NS) == (ebpf.XDP_TX, expected)
    assert neighbours.run(NS_UNICAST) == (ebpf.XDP_TX, expected)


def test_past_its_lease_no_solicitation_is_answered(neighbours: Neighbours) -> None:
    neighbours.lease.update(bytes(4), struct.pack("=Q", time.monotonic_ns() - 1))
    try:
        assert neighbours.run(NS) == (ebpf.XDP_PASS, NS)
    finally:
        neighbours.renew()
    assert neighbours.run(NS)[0] == ebpf.XDP_TX


def test_arp_is_decided_by_the_whole_program_as_the_readers_decide_it(
    neighbours: Neighbours,
) -> None:
    verdict_matches_the_readers(neighbours, REQUEST)
    verdict_matches_the_readers(neighbours, MAC + REQUEST[6:])
    verdict_matches_the_readers(neighbours, arp.request_frame(ASKER, VIP, VIP))
    assert neighbours.run(REQUEST + bytes(18))[0] == ebpf.XDP_TX


def _mutated_ns(data: st.DataObject) -> bytes:
    """An NS of the layout with a few fields or bytes changed, its checksum made valid again
    (or not), cut short or lengthened."""
    frame = bytearray(data.draw(st.sampled_from([NS, NS_UNICAST])))
    fields = {
        0: [MAC, ndp.multicast_mac(ndp.solicited_node(VIP6)), b"\xff" * 6, ndp.ALL_NODES_MAC],
        6: [ASKER, bytes.fromhex("0100000000fe")],
        22: [CLIENT6, bytes(16), ndp.ALL_NODES, LINK_LOCAL],
        38: [VIP6, ndp.solicited_node(VIP6), GROUP_OF_OTHER, ndp.ALL_NODES],
        62: [VIP6, OTHER6, ndp.solicited_node(VIP6)],
        78: [SLLA, NONCE, bytes((1, 0)) + ASKER, bytes((1, 1)) + bytes.fromhex("0100000000fe")],
    }
    for at in data.draw(st.lists(st.sampled_from(sorted(fields)), max_size=3)):
        value = data.draw(st.sampled_from(fields[at]))
        frame[at : at + len(value)] = value
    for _ in range(data.draw(st.integers(0, 2))):
        at = data.draw(st.integers(0, len(frame) - 1))
        frame[at] = data.draw(st.sampled_from([0, 1, 0xFF, frame[at] ^ 1, frame[at] ^ 0x80]))
    if data.draw(st.booleans()):
        frame = bytearray(with_checksum(frame))
    cut = data.draw(st.sampled_from(["whole", "short", "long"]))
    if cut == "short":
        return bytes(frame[: data.draw(st.integers(ETH_HLEN, len(frame) - 1))])
    if cut == "long":
        return bytes(frame + data.draw(st.binary(min_size=1, max_size=8)))
    return bytes(frame)


@settings(max_examples=600, deadline=None)
@given(st.data())
def test_fuzz_near_solicitations_are_decided_as_the_readers_decide_them(
    neighbours: Neighbours, data: st.DataObject
) -> None:
    ndp_matches_the_readers(neighbours, _mutated_ns(data))


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=ETH_HLEN, max_size=128))
def test_fuzz_any_bytes_are_decided_by_the_whole_program_as_the_readers_decide_them(
    neighbours: Neighbours, frame: bytes
) -> None:
    if frame[12:14] == b"\x86\xdd":
        ndp_matches_the_readers(neighbours, frame)
    else:
        verdict_matches_the_readers(neighbours, frame)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_fuzz_near_requests_are_decided_by_the_whole_program_as_the_readers_decide_them(
    neighbours: Neighbours, data: st.DataObject
) -> None:
    frame = _mutated(data)
    if frame[12:14] == b"\x86\xdd":
        ndp_matches_the_readers(neighbours, frame)
    else:
        verdict_matches_the_readers(neighbours, frame)


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
