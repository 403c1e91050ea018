"""A packet socket's receive ring (PACKET_RX_RING, TPACKET_V2), read without a system call
per frame: the alternative to the responder's blocking ``recv`` that tests/bench/l2_floor.py
measures (its ``ring loop`` rows). Not used by the speaker: on this machine the serial round
trip grew by 6-10 us and the flood rate rose by under a tenth (see actors/l2/responder.py).

The kernel copies each frame that passes the socket's BPF filter into the next slot of a ring
shared with us (``mmap``) and flips the slot's status word to ``TP_STATUS_USER``; we copy the
frame out and hand the slot back (``TP_STATUS_KERNEL``). A reader busy answering a flood finds
the next request already waiting and takes it with a memory read; an idle reader sleeps in
``poll``, which the kernel wakes when a frame lands.

TPACKET_V2, not V3: V3 hands the ring over in blocks, and a block reaches user space only
when it is full or its retire timer (milliseconds) fires, so a lone request would wait for the
timer (libpcap's "immediate mode" uses V2 for the same reason).

Layout (linux/if_packet.h): ``BLOCKS`` blocks of ``BLOCK_SIZE`` bytes cut into frames of
``FRAME_SIZE`` bytes, each starting with a ``tpacket2_hdr`` (status, len, snaplen, mac offset,
...) and holding the packet at ``mac``; ``BLOCK_SIZE`` is a multiple of ``FRAME_SIZE``, so slot
``i`` is at ``i * FRAME_SIZE``.
"""

from __future__ import annotations

import mmap
import socket
import struct
from typing import Protocol

SOL_PACKET = 263
PACKET_RX_RING = 5
PACKET_VERSION = 10
TPACKET_V2 = 1

TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1

#: One slot: the 32-byte header, the kernel's sockaddr_ll and alignment, then up to ~950
#: bytes of frame: more than any ARP request or Neighbor Solicitation we answer.
FRAME_SIZE = 1024
BLOCK_SIZE = 4096  # a page; four slots
BLOCKS = 64  # 256 slots, 256 KiB per socket: a burst of 256 requests waits in the ring

# struct tpacket2_hdr: tp_status, tp_len, tp_snaplen, tp_mac, tp_net (then times, vlan, pad)
_HEADER = struct.Struct("=IIIHH")
_RELEASE = bytes(4)  # TP_STATUS_KERNEL, as the slot's status word


class Buffer(Protocol):
    """What the ring reads and writes: an ``mmap`` (the kernel's) or a ``bytearray`` (tests)."""

    def __getitem__(self, index: slice | int, /) -> bytes | int: ...
    def __setitem__(self, index: slice, value: bytes, /) -> None: ...
    def __len__(self) -> int: ...


class RxRing:
    """The reader's side of one receive ring: which slot comes next, and taking its frame.

    Used by one thread only (the socket's reader). ``buffer`` is laid out as the kernel lays
    out a TPACKET_V2 ring of ``slots`` slots of ``frame_size`` bytes.
    """

    __slots__ = ("_at", "_buffer", "_frame_size", "_slots", "taken")

    def __init__(self, buffer: Buffer, slots: int, frame_size: int = FRAME_SIZE) -> None:
        if slots <= 0 or len(buffer) < slots * frame_size:
            raise ValueError(f"a ring of {slots} slots of {frame_size} bytes does not fit")
        self._buffer = buffer
        self._slots = slots
        self._frame_size = frame_size
        self._at = 0  # the slot the kernel fills next, once it has filled the ones before
        self.taken = 0  # frames taken, ever

    @property
    def slot(self) -> int:
        """The slot :meth:`next_frame` looks at."""
        return self._at

    def ready(self) -> bool:
        """Whether the next slot holds a frame for us (one byte read: the status word's low
        byte holds TP_STATUS_USER)."""
        return bool(self._buffer[self._at * self._frame_size] & TP_STATUS_USER)  # type: ignore[operator]

    def next_frame(self) -> bytes | None:
        """The next frame, copied out, its slot handed back to the kernel; None when the
        kernel has not filled the slot yet."""
        buffer = self._buffer
        offset = self._at * self._frame_size
        status, _length, snaplen, mac, _net = _HEADER.unpack_from(buffer, offset)  # type: ignore[arg-type]
        if not status & TP_STATUS_USER:
            return None
        start = offset + mac
        end = min(start + snaplen, offset + self._frame_size)  # never past the slot
        frame = bytes(buffer[start:end])  # type: ignore[arg-type]
        buffer[offset : offset + 4] = _RELEASE  # the slot is the kernel's again
        self._at = self._at + 1 if self._at + 1 < self._slots else 0
        self.taken += 1
        return frame


class MappedRing:
    """A TPACKET_V2 receive ring set up on a packet socket and mapped into this process."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V2)
        slots = BLOCK_SIZE // FRAME_SIZE * BLOCKS
        request = struct.pack("IIII", BLOCK_SIZE, BLOCKS, FRAME_SIZE, slots)
        sock.setsockopt(SOL_PACKET, PACKET_RX_RING, request)
        try:
            self.map = mmap.mmap(
                sock.fileno(),
                BLOCK_SIZE * BLOCKS,
                mmap.MAP_SHARED,
                mmap.PROT_READ | mmap.PROT_WRITE,
            )
        except BaseException:
            # Frames would go to a ring nobody reads: take it down, recv gets them again.
            sock.setsockopt(SOL_PACKET, PACKET_RX_RING, bytes(16))
            raise
        self.ring = RxRing(self.map, slots)

    def close(self) -> None:
        self.map.close()
