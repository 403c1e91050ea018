"""A few lines of eBPF: an assembler for small programs, and the ``bpf()`` calls that load one,
make its maps, attach it to an interface through a BPF link and run it on test frames.

No compiler and no libbpf: the one program lbtui loads (:mod:`actors.l2.xdp`) is about sixty
instructions, written here in Python and checked by the kernel's verifier at load. Everything
goes through ``bpf(2)`` with ctypes; a call the kernel refuses raises ``OSError`` with its errno
(EPERM without CAP_BPF/CAP_NET_ADMIN, EINVAL on an old kernel), which callers take as "answer
from user space instead".

The attribute layouts are those of ``union bpf_attr`` (linux/bpf.h); each call passes a zeroed
buffer larger than the fields it sets, which the kernel accepts as long as the rest is zero.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
import sys

import msgspec

# bpf(2) commands.
MAP_CREATE, MAP_LOOKUP_ELEM, MAP_UPDATE_ELEM, MAP_DELETE_ELEM, MAP_GET_NEXT_KEY = 0, 1, 2, 3, 4
PROG_LOAD, PROG_TEST_RUN, LINK_CREATE = 5, 10, 28
MAP_TYPE_HASH, MAP_TYPE_ARRAY = 1, 2
NO_PREALLOC = 1  # BPF_F_NO_PREALLOC: a hash map's entries allocated as they are added
PROG_TYPE_XDP = 6
ATTACH_XDP = 37  # enum bpf_attach_type BPF_XDP
XDP_FLAGS_SKB_MODE = 2
XDP_PASS, XDP_TX = 2, 3
#: The syscall's number by machine (the only ones lbtui's images are built for).
SYSCALL_NR = {"x86_64": 321, "aarch64": 280}

# Instruction classes, sizes, modes, sources and operations (linux/bpf_common.h, linux/bpf.h).
LDX, ST, STX, ALU, ALU64, JMP, JMP32 = 0x01, 0x02, 0x03, 0x04, 0x07, 0x05, 0x06
W, H, B, DW = 0x00, 0x08, 0x10, 0x18
MEM, ATOMIC, IMM = 0x60, 0xC0, 0x00
K, X = 0x00, 0x08
ADD, SUB, OR, AND, RSH, MOV = 0x00, 0x10, 0x40, 0x50, 0x70, 0xB0
JA, JEQ, JGT, JGE, JNE, CALL, EXIT = 0x00, 0x10, 0x20, 0x30, 0x50, 0x80, 0x90
PSEUDO_MAP_FD = 1
# Helper functions by number (enum bpf_func_id).
MAP_LOOKUP, KTIME_GET_NS, CSUM_DIFF, XDP_ADJUST_TAIL = 1, 5, 28, 65
R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, FP = range(11)
SIZES = {1: B, 2: H, 4: W, 8: DW}

_INSN = struct.Struct("<BBhi")


class Asm(msgspec.Struct):
    """Instructions appended in order; jumps name a label, resolved by :meth:`assemble`."""

    insns: list[tuple[int, int, int, int, int, str | None]] = msgspec.field(default_factory=list)
    labels: dict[str, int] = msgspec.field(default_factory=dict)

    def _emit(self, code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0,
              target: str | None = None) -> None:  # fmt: skip
        self.insns.append((code, dst, src, off, imm, target))

    def label(self, name: str) -> None:
        if name in self.labels:
            raise ValueError(f"label {name} defined twice")
        self.labels[name] = len(self.insns)

    def mov(self, dst: int, imm: int) -> None:
        self._emit(ALU64 | MOV | K, dst, imm=imm)

    def movr(self, dst: int, src: int) -> None:
        self._emit(ALU64 | MOV | X, dst, src)

    def movr32(self, dst: int, src: int) -> None:
        """dst = (u32)src: the upper half cleared."""
        self._emit(ALU | MOV | X, dst, src)

    def add(self, dst: int, imm: int) -> None:
        self._emit(ALU64 | ADD | K, dst, imm=imm)

    def addr(self, dst: int, src: int) -> None:
        self._emit(ALU64 | ADD | X, dst, src)

    def subr(self, dst: int, src: int) -> None:
        self._emit(ALU64 | SUB | X, dst, src)

    def orr(self, dst: int, src: int) -> None:
        self._emit(ALU64 | OR | X, dst, src)

    def rsh(self, dst: int, imm: int) -> None:
        """dst >>= imm (logical)."""
        self._emit(ALU64 | RSH | K, dst, imm=imm)

    def and_(self, dst: int, imm: int) -> None:
        self._emit(ALU64 | AND | K, dst, imm=imm)

    def load(self, dst: int, src: int, off: int, size: int) -> None:
        """dst = *(size bytes *)(src + off)"""
        self._emit(LDX | MEM | SIZES[size], dst, src, off)

    def store(self, dst: int, off: int, src: int, size: int) -> None:
        """*(size bytes *)(dst + off) = src"""
        self._emit(STX | MEM | SIZES[size], dst, src, off)

    def store_imm(self, dst: int, off: int, imm: int, size: int) -> None:
        self._emit(ST | MEM | SIZES[size], dst, off=off, imm=_signed32(imm))

    def atomic_add64(self, dst: int, off: int, src: int) -> None:
        """*(u64 *)(dst + off) += src, atomically (counters shared by every CPU)."""
        self._emit(STX | ATOMIC | DW, dst, src, off, imm=ADD)

    def map_fd(self, dst: int, fd: int) -> None:
        """dst = the map ``fd`` refers to (a two-slot load the kernel rewrites at load)."""
        self._emit(0x18, dst, PSEUDO_MAP_FD, imm=fd)
        self._emit(0, 0, 0, 0, 0)

    def jump(self, op: int, dst: int, imm: int, target: str) -> None:
        """if dst <op> imm goto target, on all 64 bits (imm is sign-extended: keep it under
        2**31; pointers' null checks)."""
        if not -(1 << 31) <= imm < (1 << 31):
            raise ValueError(f"{imm:#x} would be sign-extended: compare 32 bits with jump32")
        self._emit(JMP | op | K, dst, imm=imm, target=target)

    def jump32(self, op: int, dst: int, imm: int, target: str) -> None:
        """if (u32)dst <op> (u32)imm goto target: a packet field of up to 32 bits."""
        self._emit(JMP32 | op | K, dst, imm=_signed32(imm), target=target)

    def jumpr(self, op: int, dst: int, src: int, target: str) -> None:
        self._emit(JMP | op | X, dst, src, target=target)

    def goto(self, target: str) -> None:
        self._emit(JMP | JA, target=target)

    def call(self, helper: int) -> None:
        self._emit(JMP | CALL, imm=helper)

    def exit(self) -> None:
        self._emit(JMP | EXIT)

    def assemble(self) -> bytes:
        out = bytearray()
        for at, (code, dst, src, off, imm, target) in enumerate(self.insns):
            if target is not None:
                off = self.labels[target] - at - 1
            out += _INSN.pack(code, dst | (src << 4), off, imm)
        return bytes(out)


def loaded(wire: bytes) -> int:
    """The value a load of these wire bytes gives a program (loads are in the host's order):
    what to compare a packet field with, or store to write those bytes."""
    return int.from_bytes(wire, sys.byteorder)


def _signed32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


# -- the system call -----------------------------------------------------------------------

_ATTR_SIZE = 128
_libc: ctypes.CDLL | None = None


def _call(cmd: int, attr: ctypes.Array) -> int:
    global _libc
    number = SYSCALL_NR.get(platform.machine())
    if number is None:
        raise OSError(95, f"bpf(2) is not wired for {platform.machine()}")  # EOPNOTSUPP
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    result = _libc.syscall(number, cmd, ctypes.byref(attr), ctypes.sizeof(attr))
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def _attr(layout: str, *values: int | bytes) -> ctypes.Array:
    attr = ctypes.create_string_buffer(_ATTR_SIZE)
    struct.pack_into(layout, attr, 0, *values)
    return attr


def _address(buffer: ctypes.Array | bytes) -> int:
    return ctypes.cast(buffer, ctypes.c_void_p).value or 0


class Map:
    """A kernel map with fixed-size keys and values (bytes in, bytes out)."""

    def __init__(
        self, kind: int, key_size: int, value_size: int, max_entries: int, flags: int = 0
    ) -> None:
        self.key_size, self.value_size = key_size, value_size
        attr = _attr("<IIIII", kind, key_size, value_size, max_entries, flags)
        self.fd = _call(MAP_CREATE, attr)

    def update(self, key: bytes, value: bytes) -> None:
        k, v = self._buffers(key, value)
        _call(MAP_UPDATE_ELEM, _attr("<IIQQQ", self.fd, 0, _address(k), _address(v), 0))

    def delete(self, key: bytes) -> None:
        k, _ = self._buffers(key, bytes(self.value_size))
        _call(MAP_DELETE_ELEM, _attr("<IIQ", self.fd, 0, _address(k)))

    def get(self, key: bytes) -> bytes | None:
        k, v = self._buffers(key, bytes(self.value_size))
        try:
            _call(MAP_LOOKUP_ELEM, _attr("<IIQQQ", self.fd, 0, _address(k), _address(v), 0))
        except FileNotFoundError:
            return None
        return v.raw

    def keys(self) -> list[bytes]:
        found: list[bytes] = []
        key = None
        nxt = ctypes.create_string_buffer(self.key_size)
        while True:
            k = ctypes.create_string_buffer(key, self.key_size) if key is not None else None
            try:
                _call(MAP_GET_NEXT_KEY, _attr("<IIQQ", self.fd, 0, _address(k) if k else 0,
                                              _address(nxt)))  # fmt: skip
            except FileNotFoundError:  # past the last key
                return found
            key = nxt.raw
            found.append(key)

    def _buffers(self, key: bytes, value: bytes) -> tuple[ctypes.Array, ctypes.Array]:
        if len(key) != self.key_size or len(value) != self.value_size:
            raise ValueError("key or value of the wrong size for this map")
        return (
            ctypes.create_string_buffer(key, self.key_size),
            ctypes.create_string_buffer(value, self.value_size),
        )

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class VerifierError(OSError):
    """The kernel refused the program; ``log`` is what its verifier said."""

    def __init__(self, errno_: int, text: str, log: str) -> None:
        super().__init__(errno_, text)
        self.log = log


def load_xdp(code: bytes, name: str, license_: str = "Apache-2.0") -> int:
    """Load ``code`` as an XDP program; its fd. A refusal raises, with the verifier's log."""
    lic = ctypes.create_string_buffer(license_.encode())
    log = ctypes.create_string_buffer(1 << 16)
    insns = ctypes.create_string_buffer(code, len(code))
    attr = _attr(
        "<IIQQIIQII16sII",
        PROG_TYPE_XDP,
        len(code) // 8,
        _address(insns),
        _address(lic),
        1,
        len(log),
        _address(log),
        0,
        0,
        name.encode()[:15],
        0,
        ATTACH_XDP,
    )
    try:
        return _call(PROG_LOAD, attr)
    except OSError as exc:
        raise VerifierError(exc.errno or 0, exc.strerror or str(exc), log.value.decode()) from None


def link_xdp(prog_fd: int, ifindex: int, flags: int = XDP_FLAGS_SKB_MODE) -> int:
    """Attach an XDP program to ``ifindex`` through a BPF link; the link's fd. The program
    stays attached exactly as long as that fd is open: closing it, or the process dying for
    any reason (SIGKILL included), detaches it. Another XDP program already on the interface
    makes this fail (EBUSY) rather than replace it."""
    return _call(LINK_CREATE, _attr("<IIII", prog_fd, ifindex, ATTACH_XDP, flags))


def test_run(prog_fd: int, frame: bytes) -> tuple[int, bytes]:
    """Run the program once on ``frame`` in the kernel (no interface): (verdict, frame after)."""
    data_in = ctypes.create_string_buffer(frame, len(frame))
    data_out = ctypes.create_string_buffer(len(frame) + 256)
    attr = _attr(
        "<IIIIQQ", prog_fd, 0, len(frame), len(data_out), _address(data_in), _address(data_out)
    )
    _call(PROG_TEST_RUN, attr)
    verdict, size = struct.unpack_from("<4xI4xI", attr)  # retval, data_size_out
    return verdict, data_out.raw[:size]
