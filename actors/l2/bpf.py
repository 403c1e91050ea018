"""Classic BPF programs for the responders' packet sockets (SO_ATTACH_FILTER).

The kernel runs the filter on every frame of the interface, so only ARP requests and Neighbor
Solicitations for addresses this node announces on that interface ever wake Python up. The
program is rebuilt and re-attached (atomically, by the kernel) whenever that set changes.
Frames the host itself sends (PACKET_OUTGOING) are dropped in the filter too, and so are frames
for another host (PACKET_OTHERHOST): unicast to another MAC (a promiscuous or bridged port), and
requests that arrived tagged for a VLAN this interface is not: the kernel strips the 802.1Q tag
before a packet socket sees the frame, leaving only that mark, so without this check a request
asked on VLAN 100 would be answered untagged, on the wrong segment. Priority-tagged frames
(VLAN id 0) belong to the untagged network: the kernel does not mark them, and they pass.

Layout: header checks, their drop, then one compare-and-accept block per address, so that
every conditional jump is short (classic BPF conditional jumps are 8-bit). Past
``MAX_INSTRUCTIONS`` the address list is left out and Python, which checks the target anyway,
does the filtering.
"""

from __future__ import annotations

import ctypes
import socket
import struct
from collections.abc import Iterable, Sequence

import msgspec

# Instruction classes, sizes, modes and operations (linux/filter.h, linux/bpf_common.h).
BPF_LD, BPF_JMP, BPF_RET = 0x00, 0x05, 0x06
BPF_W, BPF_H, BPF_B = 0x00, 0x08, 0x10
BPF_ABS = 0x20
BPF_JA, BPF_JEQ = 0x00, 0x10
BPF_K = 0x00
SKF_AD_PKTTYPE = 0xFFFFF000 + 4  # SKF_AD_OFF (-0x1000) + SKF_AD_PKTTYPE, as an unsigned 32-bit k
PACKET_OTHERHOST = 3
PACKET_OUTGOING = 4
SO_ATTACH_FILTER = 26
BPF_MAXINSNS = 4096
# The kernel takes 4096, but charges the program to the socket's option memory
# (net.core.optmem_max); 2048 fits the defaults with room to spare.
MAX_INSTRUCTIONS = 2048
ACCEPT_BYTES = 0xFFFF


class Insn(msgspec.Struct, frozen=True):
    code: int
    jt: int
    jf: int
    k: int


Program = tuple[Insn, ...]

DROP_ALL: Program = (Insn(BPF_RET | BPF_K, 0, 0, 0),)


class _Asm:
    """A few lines of assembler: jumps name labels, resolved to relative offsets at the end."""

    def __init__(self) -> None:
        self.items: list[tuple[int, str | int, str | int, int]] = []
        self.labels: dict[str, int] = {}

    def label(self, name: str) -> None:
        self.labels[name] = len(self.items)

    def load(self, size: int, offset: int) -> None:
        self.items.append((BPF_LD | size | BPF_ABS, 0, 0, offset))

    def jeq(self, k: int, jt: str | int = 0, jf: str | int = 0) -> None:
        self.items.append((BPF_JMP | BPF_JEQ | BPF_K, jt, jf, k & 0xFFFFFFFF))

    def skip(self, count: int) -> None:
        self.items.append((BPF_JMP | BPF_JA, 0, 0, count))

    def ret(self, k: int) -> None:
        self.items.append((BPF_RET | BPF_K, 0, 0, k))

    def build(self) -> Program:
        out = []
        for at, (code, jt, jf, k) in enumerate(self.items):
            out.append(Insn(code, self._offset(at, jt), self._offset(at, jf), k))
        return tuple(out)

    def _offset(self, at: int, target: str | int) -> int:
        if isinstance(target, int):
            return target
        offset = self.labels[target] - at - 1
        if not 0 <= offset <= 255:
            raise ValueError(f"jump to {target} out of range ({offset})")
        return offset


def _not_outgoing(asm: _Asm) -> None:
    """Drop what the host sends and what is for another host (or another VLAN)."""
    asm.load(BPF_W, SKF_AD_PKTTYPE)
    asm.jeq(PACKET_OUTGOING, "drop", 0)
    asm.jeq(PACKET_OTHERHOST, "drop", 0)


def _drop_here(asm: _Asm) -> None:
    """The header checks' drop, placed right after them so their jumps stay short."""
    asm.skip(1)
    asm.label("drop")
    asm.ret(0)


def arp_program(targets: Iterable[bytes], *, any_target: bool = False) -> Program:
    """Accept ARP requests (Ethernet/IPv4) whose target is one of ``targets`` (4-byte IPs);
    with ``any_target`` (or too many targets), whatever the target."""
    wanted = sorted(set(targets))
    if not wanted:
        return DROP_ALL
    asm = _Asm()
    _not_outgoing(asm)
    for size, offset, value in (
        (BPF_H, 12, 0x0806),  # ethertype ARP
        (BPF_H, 14, 1),  # hardware type Ethernet
        (BPF_H, 16, 0x0800),  # protocol IPv4
        (BPF_H, 18, 0x0604),  # address lengths 6 and 4
        (BPF_H, 20, 1),  # operation: request
    ):
        asm.load(size, offset)
        asm.jeq(value, 0, "drop")
    _drop_here(asm)
    if any_target or 17 + 2 * len(wanted) > MAX_INSTRUCTIONS:
        asm.ret(ACCEPT_BYTES)
    else:
        asm.load(BPF_W, 38)  # target protocol address
        for ip in wanted:
            asm.jeq(struct.unpack("!I", ip)[0], 0, 1)
            asm.ret(ACCEPT_BYTES)
    asm.ret(0)
    return asm.build()


def ndp_program(targets: Iterable[bytes], *, any_target: bool = False) -> Program:
    """Accept ICMPv6 Neighbor Solicitations (no extension headers, hop limit 255) for
    one of ``targets`` (16-byte IPv6 addresses); with ``any_target``, for any target."""
    wanted = sorted(set(targets))
    if not wanted:
        return DROP_ALL
    asm = _Asm()
    _not_outgoing(asm)
    for size, offset, value in (
        (BPF_H, 12, 0x86DD),  # ethertype IPv6
        (BPF_B, 20, 58),  # next header ICMPv6
        (BPF_B, 21, 255),  # hop limit
        (BPF_B, 54, 135),  # ICMPv6 type: neighbor solicitation
    ):
        asm.load(size, offset)
        asm.jeq(value, 0, "drop")
    _drop_here(asm)
    if any_target or 15 + 9 * len(wanted) > MAX_INSTRUCTIONS:
        asm.ret(ACCEPT_BYTES)
    else:
        for n, ip in enumerate(wanted):
            words = struct.unpack("!4I", ip)
            nxt = f"next{n}"
            for i, word in enumerate(words):
                asm.load(BPF_W, 62 + 4 * i)  # the target address
                asm.jeq(word, 0, nxt)
            asm.ret(ACCEPT_BYTES)
            asm.label(nxt)
    asm.ret(0)
    return asm.build()


def pack(program: Sequence[Insn]) -> bytes:
    """struct sock_filter[] as the kernel reads it."""
    if not 0 < len(program) <= BPF_MAXINSNS:
        raise ValueError(f"a classic BPF program has 1..{BPF_MAXINSNS} instructions")
    return b"".join(struct.pack("HBBI", i.code, i.jt, i.jf, i.k) for i in program)


def attach(sock: socket.socket, program: Sequence[Insn]) -> None:
    """Attach ``program`` to ``sock``, replacing any filter already there (atomically)."""
    code = ctypes.create_string_buffer(pack(program))
    # struct sock_fprog { unsigned short len; struct sock_filter *filter; } (native padding)
    fprog = struct.pack("HL", len(program), ctypes.addressof(code))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
