"""The program lbtui attaches to an interface: ARP requests and IPv6 Neighbor Solicitations for
announced addresses answered where the frame arrives, in the kernel, everything else passed on.

One XDP program is all an interface's link holds, so one program does both, dispatching on the
ethertype: :func:`neighbour_program`. :func:`arp_program` is its ARP half alone (the tests load
it beside the whole).

Each half answers exactly as its reader answers (:meth:`actors.l2.arp.ArpReplier.answer`,
:meth:`actors.l2.ndp.NdpReplier.answer`), with the same bytes, and only in the common case;
whatever else arrives it passes on untouched (``XDP_PASS``), and the packet socket's reader
decides it as before: one truth, two places it can be acted on. Every constant is compared as
a load of the packet reads it (:func:`actors.l2.ebpf.loaded`: loads are in the host's order).

Registers shared by both halves: R6 the context (struct xdp_md: data at 0, data_end at 4), R7
the frame's start, R8 its end; R9 the lease's deadline, then the address's reply counter.
"""

from __future__ import annotations

import struct

from actors.l2 import arp, ebpf, ndp
from actors.l2.ebpf import FP, JEQ, JGE, JGT, JNE, R0, R1, R2, R3, R4, R5, R6, R7, R8, R9
from actors.l2.ebpf import loaded as _loaded

ETH_LEN = 14
#: The one NS layout answered in the kernel: Ethernet, IPv6 without extension headers, the
#: NS and one Source Link-Layer Address option (payload 32 bytes). Its answer, an NA with one
#: Target Link-Layer Address option, has the very same length and is written over it.
NS_LEN = ndp.NA_LEN  # 86
#: What the checksum covers: source, destination (side by side at 22) and the ICMPv6 message.
_SUMMED_AT, _SUMMED_LEN = 22, NS_LEN - 22
#: ... and the rest of the pseudo-header, payload length 32 and next header 58 (as 16-bit
#: words: 0, 32, 0, 58), added as the sum's seed.
_SEED = _loaded(struct.pack("!H", NS_LEN - ndp.ICMP_AT)) + _loaded(
    struct.pack("!H", ndp.IPPROTO_ICMPV6)
)
#: ff02::1:ff00:0 and 33:33:ff:00:00:00: a target's group and its MAC, but for their last
#: three bytes (the target's).
_SOLICITED_NODE = ndp.solicited_node(bytes(16))
_GROUP_MAC = ndp.multicast_mac(_SOLICITED_NODE)


def _start(a: ebpf.Asm) -> None:
    a.movr(R6, R1)
    a.load(R7, R6, 0, 4)
    a.load(R8, R6, 4, 4)


def _pass(a: ebpf.Asm) -> None:
    a.label("pass")
    a.mov(R0, ebpf.XDP_PASS)
    a.exit()


def _announced(a: ebpf.Asm, addresses_fd: int, key_at: int) -> None:
    """Go on only if the address stored at FP+``key_at`` is announced here; R9 is then its
    reply counter (clobbers R0-R5)."""
    a.map_fd(R1, addresses_fd)
    a.movr(R2, FP)
    a.add(R2, key_at)
    a.call(ebpf.MAP_LOOKUP)
    a.jump(JEQ, R0, 0, "pass")  # not announced here
    a.movr(R9, R0)


def _lease_held(a: ebpf.Asm, lease_fd: int) -> None:
    """Go on only while the lease the responder renews holds (clobbers R0-R5, R9, FP-8)."""
    a.store_imm(FP, -8, 0, 4)  # the lease's key
    a.map_fd(R1, lease_fd)
    a.movr(R2, FP)
    a.add(R2, -8)
    a.call(ebpf.MAP_LOOKUP)
    a.jump(JEQ, R0, 0, "pass")
    a.load(R9, R0, 0, 8)
    a.call(ebpf.KTIME_GET_NS)
    a.jumpr(JGE, R0, R9, "pass")


def arp_program(mac: bytes, addresses_fd: int, lease_fd: int) -> bytes:
    """ARP alone, for an interface with ``mac``, reading the two maps by their fds."""
    a = ebpf.Asm()
    _start(a)
    _arp(a, mac, addresses_fd, lease_fd)
    _pass(a)
    return a.assemble()


def neighbour_program(
    mac: bytes, source: bytes | None, ipv4_fd: int, ipv6_fd: int, lease_fd: int
) -> bytes:
    """Both: an IPv6 frame goes to the NDP half, any other to the ARP half."""
    a = ebpf.Asm()
    _start(a)
    a.movr(R2, R7)
    a.add(R2, ETH_LEN)
    a.jumpr(JGT, R2, R8, "pass")
    a.load(R2, R7, 12, 2)
    a.jump32(JEQ, R2, _loaded(struct.pack("!H", ndp.ETH_P_IPV6)), "ndp")
    _arp(a, mac, ipv4_fd, lease_fd)
    _ndp(a, mac, source, ipv6_fd, lease_fd)
    _pass(a)
    return a.assemble()


def _arp(a: ebpf.Asm, mac: bytes, addresses_fd: int, lease_fd: int) -> None:
    """:meth:`ArpReplier.answer`'s checks, in its order, then the reply written in place."""
    request_head = arp.REQUEST_HEAD  # bytes 12..22 of every request we answer
    mac_lo, mac_hi = _loaded(mac[0:4]), _loaded(mac[4:6])
    a.movr(R2, R7)
    a.add(R2, arp.FRAME_LEN)
    a.jumpr(JGT, R2, R8, "pass")  # shorter than a request: not ours to judge
    a.load(R2, R7, 12, 4)
    a.jump32(JNE, R2, _loaded(request_head[0:4]), "pass")
    a.load(R2, R7, 16, 4)
    a.jump32(JNE, R2, _loaded(request_head[4:8]), "pass")
    a.load(R2, R7, 20, 2)
    a.jump32(JNE, R2, _loaded(request_head[8:10]), "pass")
    # Destination: broadcast or our MAC.
    a.load(R2, R7, 0, 4)
    a.load(R3, R7, 4, 2)
    a.jump32(JNE, R2, 0xFFFFFFFF, "unicast")
    a.jump32(JEQ, R3, 0xFFFF, "for_us")
    a.label("unicast")
    a.jump32(JNE, R2, mac_lo, "pass")
    a.jump32(JNE, R3, mac_hi, "pass")
    a.label("for_us")
    # A sender with the group bit set is never a real host (user space counts it).
    a.load(R2, R7, 6, 1)
    a.and_(R2, 1)
    a.jump32(JNE, R2, 0, "pass")
    a.load(R2, R7, 22, 1)
    a.and_(R2, 1)
    a.jump32(JNE, R2, 0, "pass")
    # Gratuitous (sender = target): user space hears it (the split-brain alarm).
    a.load(R2, R7, 28, 4)
    a.load(R3, R7, 38, 4)
    a.jumpr(JEQ, R2, R3, "pass")
    a.store(FP, -4, R3, 4)  # the target address: the key of the address map
    _lease_held(a, lease_fd)
    _announced(a, addresses_fd, -4)
    # A padded request (60 bytes from most hosts) gets the 42-byte reply user space sends.
    a.load(R7, R6, 0, 4)
    a.load(R8, R6, 4, 4)
    a.movr(R2, R7)
    a.subr(R2, R8)
    a.add(R2, arp.FRAME_LEN)
    a.jump(JEQ, R2, 0, "sized")
    a.movr(R1, R6)
    a.call(ebpf.XDP_ADJUST_TAIL)
    a.jump(JNE, R0, 0, "pass")
    a.label("sized")
    a.load(R7, R6, 0, 4)  # the frame may have moved: its pointers are read again
    a.load(R8, R6, 4, 4)
    a.movr(R2, R7)
    a.add(R2, arp.FRAME_LEN)
    a.jumpr(JGT, R2, R8, "pass")
    # The reply, in place: to the asker, from us; op reply; we are the sender of the target
    # address, the asker the target.
    a.load(R2, R7, 22, 4)  # the asker's MAC
    a.load(R3, R7, 26, 2)
    a.load(R4, R7, 28, 4)  # the asker's address
    a.load(R5, R7, 38, 4)  # the address asked for
    a.store(R7, 0, R2, 4)
    a.store(R7, 4, R3, 2)
    a.store_imm(R7, 6, mac_lo, 4)
    a.store_imm(R7, 10, mac_hi, 2)
    a.store_imm(R7, 20, _loaded(struct.pack("!H", arp.OP_REPLY)), 2)
    a.store_imm(R7, 22, mac_lo, 4)
    a.store_imm(R7, 26, mac_hi, 2)
    a.store(R7, 28, R5, 4)
    a.store(R7, 32, R2, 4)
    a.store(R7, 36, R3, 2)
    a.store(R7, 38, R4, 4)
    a.mov(R1, 1)
    a.atomic_add64(R9, 0, R1)
    a.mov(R0, ebpf.XDP_TX)
    a.exit()


def _summed(a: ebpf.Asm) -> None:
    """R0 = the one's complement sum of the pseudo-header and the ICMPv6 message (checksum
    field included), folded to 16 bits (0..0xFFFF), in the host's order: ``bpf_csum_diff``
    over bytes 22..86 seeded with the pseudo-header's length and next header."""
    a.mov(R1, 0)
    a.mov(R2, 0)
    a.movr(R3, R7)
    a.add(R3, _SUMMED_AT)
    a.mov(R4, _SUMMED_LEN)
    a.mov(R5, _SEED)
    a.call(ebpf.CSUM_DIFF)
    a.movr32(R0, R0)  # a 32-bit sum
    for _ in range(2):
        a.movr(R1, R0)
        a.rsh(R1, 16)
        a.and_(R0, 0xFFFF)
        a.addr(R0, R1)


def _same(a: ebpf.Asm, at: int, other: int, size: int, otherwise: str) -> None:
    """Go to ``otherwise`` unless the frame's ``size`` bytes at ``at`` and ``other`` agree."""
    a.load(R2, R7, at, size)
    a.load(R3, R7, other, size)
    a.jumpr(JNE, R2, R3, otherwise)


def _is(a: ebpf.Asm, at: int, wire: bytes, otherwise: str) -> None:
    """Go to ``otherwise`` unless the frame holds ``wire`` (1, 2 or 4 bytes) at ``at``."""
    a.load(R2, R7, at, len(wire))
    a.jump32(JNE, R2, _loaded(wire), otherwise)


def _ndp(a: ebpf.Asm, mac: bytes, source: bytes | None, addresses_fd: int, lease_fd: int) -> None:
    """An NS of the one layout answered here, checked as :meth:`NdpReplier.answer` checks
    it, then its NA written in place. Offsets: IPv6 at 14 (source 22, destination 38), the NS
    at 54 (target 62), its option at 78 (the asker's MAC 80)."""
    mac_lo, mac_hi = _loaded(mac[0:4]), _loaded(mac[4:6])
    a.label("ndp")
    a.movr(R2, R7)
    a.add(R2, NS_LEN)
    a.jumpr(JGT, R2, R8, "pass")
    a.jumpr(JNE, R2, R8, "pass")  # longer (bytes past the IPv6 payload): user space's
    _is(a, 12, struct.pack("!H", ndp.ETH_P_IPV6), "pass")
    a.load(R2, R7, 14, 1)
    a.and_(R2, 0xF0)
    a.jump32(JNE, R2, 0x60, "pass")  # version 6 (any class and flow, as the readers)
    # Payload 32 (one option), next header ICMPv6 (no extension header), hop limit 255.
    _is(a, 18, struct.pack("!HBB", NS_LEN - ndp.ICMP_AT, ndp.IPPROTO_ICMPV6, 255), "pass")
    _is(a, 54, bytes((ndp.ND_NEIGHBOR_SOLICIT, 0)), "pass")
    _is(a, 78, bytes((ndp.OPT_SOURCE_LLADDR, 1)), "pass")  # the one option: the asker's MAC
    a.load(R2, R7, 62, 1)
    a.jump32(JEQ, R2, 0xFF, "pass")  # a multicast target: malformed
    # Sources the readers judge: multicast, unspecified (duplicate address detection: the
    # probe is defended to all nodes, from user space), or a MAC with the group bit set.
    a.load(R2, R7, 22, 1)
    a.jump32(JEQ, R2, 0xFF, "pass")
    a.load(R2, R7, 22, 8)
    a.load(R3, R7, 30, 8)
    a.orr(R2, R3)
    a.jump(JEQ, R2, 0, "pass")
    for at in (6, 80):  # the Ethernet source, the option's address
        a.load(R2, R7, at, 1)
        a.and_(R2, 1)
        a.jump32(JNE, R2, 0, "pass")
    # Destination: our MAC and the target itself (a unicast reachability probe), or the
    # target's solicited-node group and its MAC; anything else to user space.
    a.load(R2, R7, 0, 4)
    a.load(R3, R7, 4, 2)
    a.jump32(JNE, R2, mac_lo, "ndp_group")
    a.jump32(JNE, R3, mac_hi, "ndp_group")
    _same(a, 38, 62, 8, "pass")
    _same(a, 46, 70, 8, "pass")
    a.goto("ndp_sum")
    a.label("ndp_group")
    _is(a, 0, _GROUP_MAC[0:2], "pass")
    _is(a, 2, _GROUP_MAC[2:3], "pass")
    _same(a, 3, 75, 1, "pass")
    _same(a, 4, 76, 2, "pass")
    _is(a, 38, _SOLICITED_NODE[0:4], "pass")
    _is(a, 42, _SOLICITED_NODE[4:8], "pass")
    _is(a, 46, _SOLICITED_NODE[8:12], "pass")
    _is(a, 50, _SOLICITED_NODE[12:13], "pass")
    _same(a, 51, 75, 1, "pass")
    _same(a, 52, 76, 2, "pass")
    # The checksum: valid iff the folded sum is 0 modulo 0xFFFF (as the readers check it).
    a.label("ndp_sum")
    _summed(a)
    a.jump32(JEQ, R0, 0xFFFF, "ndp_valid")
    a.jump32(JNE, R0, 0, "pass")
    a.label("ndp_valid")
    _lease_held(a, lease_fd)
    a.load(R2, R7, 62, 8)  # the target: the key of the address map
    a.store(FP, -24, R2, 8)
    a.load(R2, R7, 70, 8)
    a.store(FP, -16, R2, 8)
    _announced(a, addresses_fd, -24)
    # The NA, in place (nothing passes from here on): to the option's MAC, from ours;
    # version 6, class and flow 0; from our source (or the target) to the asker.
    a.load(R2, R7, 80, 4)
    a.load(R3, R7, 84, 2)
    a.store(R7, 0, R2, 4)
    a.store(R7, 4, R3, 2)
    a.store_imm(R7, 6, mac_lo, 4)
    a.store_imm(R7, 10, mac_hi, 2)
    a.store_imm(R7, 14, _loaded(struct.pack("!I", 6 << 28)), 4)
    a.load(R2, R7, 22, 8)
    a.load(R3, R7, 30, 8)
    a.store(R7, 38, R2, 8)
    a.store(R7, 46, R3, 8)
    if source:
        for i in range(0, 16, 4):
            a.store_imm(R7, 22 + i, _loaded(source[i : i + 4]), 4)
    else:
        a.load(R2, R7, 62, 8)
        a.load(R3, R7, 70, 8)
        a.store(R7, 22, R2, 8)
        a.store(R7, 30, R3, 8)
    # Type NA, code 0, checksum 0 for now; Solicited and Override; the target stays; the
    # option: Target Link-Layer Address, one unit, our MAC.
    a.store_imm(R7, 54, _loaded(bytes((ndp.ND_NEIGHBOR_ADVERT, 0, 0, 0))), 4)
    flags = ndp.FLAG_SOLICITED | ndp.FLAG_OVERRIDE
    a.store_imm(R7, 58, _loaded(bytes((flags, 0, 0, 0))), 4)
    a.store_imm(R7, 78, _loaded(bytes((ndp.OPT_TARGET_LLADDR, 1))), 2)
    a.store_imm(R7, 80, mac_lo, 4)
    a.store_imm(R7, 84, mac_hi, 2)
    # Its checksum: the complement of the sum (0xFFFF - sum), 0 where that gives 0xFFFF
    # (ndp.ones_complement's value); stored in the host's order, as the sum was taken.
    _summed(a)
    a.mov(R1, 0xFFFF)
    a.subr(R1, R0)
    a.jump32(JNE, R1, 0xFFFF, "ndp_checksum")
    a.mov(R1, 0)
    a.label("ndp_checksum")
    a.store(R7, 56, R1, 2)
    a.mov(R1, 1)
    a.atomic_add64(R9, 0, R1)
    a.mov(R0, ebpf.XDP_TX)
    a.exit()
