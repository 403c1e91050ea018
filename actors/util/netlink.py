"""rtnetlink in ``struct``: walking a reply's messages and attributes, and one dump request.

What ``ip link``, ``ip -6 addr`` and ``ip -6 neigh`` print is a dump request and a loop over
the answer's messages; a netlink library (pyroute2: 160 modules, 20 MB and 0.3 s at import) is
not needed for that. The rooms that read the kernel's tables (layer 2's links and addresses,
unnumbered BGP's routers) parse their own message bodies on top of this.

Parsing is defensive: a message or attribute whose length does not fit ends the walk, never
raises (the kernel does not send such things, but a reader must not trust lengths).
"""

from __future__ import annotations

import itertools
import os
import socket
import struct
from collections.abc import Iterator

NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_DUMP = 0x300

HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port id
_RTATTR = struct.Struct("=HH")  # rtattr: length, type
_ERRNO = struct.Struct("=i")
RECV_SIZE = 1 << 16

_sequence = itertools.count(1)


class NetlinkError(OSError):
    """The kernel refused a dump request (its errno and message)."""


def _align(n: int) -> int:
    return (n + 3) & ~3


def attributes(data: bytes, at: int) -> Iterator[tuple[int, bytes]]:
    """(type, payload) of each rtattr from ``at`` to the end of ``data``."""
    while at + _RTATTR.size <= len(data):
        length, kind = _RTATTR.unpack_from(data, at)
        if length < _RTATTR.size or at + length > len(data):
            return
        yield kind & 0x3FFF, data[at + _RTATTR.size : at + length]  # without NLA_F_* bits
        at += _align(length)


def messages(data: bytes) -> Iterator[tuple[int, int, int, bytes]]:
    """(type, flags, sequence, message including its header) of each message in ``data``."""
    at = 0
    while at + HEADER.size <= len(data):
        length, kind, flags, seq, _port = HEADER.unpack_from(data, at)
        if length < HEADER.size or at + length > len(data):
            return
        yield kind, flags, seq, data[at : at + length]
        at += _align(length)


def dump(kind: int, body: bytes) -> Iterator[tuple[int, bytes]]:
    """Send one dump request of ``kind`` and yield (type, message) of every answer. Raises
    OSError when rtnetlink cannot be reached, NetlinkError when the kernel refuses."""
    seq = next(_sequence) & 0xFFFFFFFF
    request = HEADER.pack(HEADER.size + len(body), kind, NLM_F_REQUEST | NLM_F_DUMP, seq, 0)
    with socket.socket(
        socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE
    ) as sock:
        sock.bind((0, 0))
        sock.sendall(request + body)
        while True:
            data = sock.recv(RECV_SIZE)
            if not data:
                return
            for mtype, _flags, mseq, message in messages(data):
                if mseq != seq:
                    continue  # not the answer to our request
                if mtype == NLMSG_DONE:
                    return
                if mtype == NLMSG_ERROR:
                    (error,) = _ERRNO.unpack_from(message, HEADER.size)
                    if error == 0:
                        continue  # an acknowledgement
                    raise NetlinkError(-error, os.strerror(-error))
                yield mtype, message
