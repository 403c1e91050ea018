"""Two rtnetlink dumps in ``struct``: the links and the IPv6 addresses of this namespace.

All the speaker needs from netlink is what ``ip link`` and ``ip -6 addr`` print: per link its
index, name, hardware address, flags, type and whether it has a master; per address its
interface and the address. A request and a loop over the answer's messages do it; a netlink
library (pyroute2: 160 modules, 20 MB and 0.3 s at import) is not needed for that. The tests
hold the result against pyroute2's reading of the same namespaces.

Parsing is defensive: a message or attribute whose length does not fit is skipped, never
raised on (the kernel does not send such things, but a reader must not trust lengths).
"""

from __future__ import annotations

import itertools
import os
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass

NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_DUMP = 0x300
RTM_NEWLINK, RTM_GETLINK = 16, 18
RTM_NEWADDR, RTM_GETADDR = 20, 22
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MASTER = 1, 3, 10
IFA_ADDRESS = 1

_HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port id
_IFINFO = struct.Struct("=BxHiII")  # ifinfomsg: family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")  # ifaddrmsg: family, prefix length, flags, scope, index
_RTATTR = struct.Struct("=HH")  # rtattr: length, type
_ERRNO = struct.Struct("=i")
RECV_SIZE = 1 << 16

_sequence = itertools.count(1)


class NetlinkError(OSError):
    """The kernel refused a dump request (its errno and message)."""


@dataclass(frozen=True, slots=True)
class RawLink:
    index: int
    name: str
    address: bytes  # the hardware address, empty if the link has none
    flags: int
    link_type: int
    master: int  # the bridge or bond it is enslaved to, 0 if none


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
    while at + _HEADER.size <= len(data):
        length, kind, flags, seq, _port = _HEADER.unpack_from(data, at)
        if length < _HEADER.size or at + length > len(data):
            return
        yield kind, flags, seq, data[at : at + length]
        at += _align(length)


def dump(kind: int, body: bytes) -> Iterator[tuple[int, bytes]]:
    """Send one dump request of ``kind`` and yield (type, message) of every answer."""
    seq = next(_sequence) & 0xFFFFFFFF
    request = _HEADER.pack(_HEADER.size + len(body), kind, NLM_F_REQUEST | NLM_F_DUMP, seq, 0)
    with socket.socket(
        socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE
    ) as sock:
        sock.bind((0, 0))
        sock.sendall(request + body)
        while True:
            for mtype, _flags, mseq, message in messages(sock.recv(RECV_SIZE)):
                if mseq != seq:
                    continue  # not the answer to our request
                if mtype == NLMSG_DONE:
                    return
                if mtype == NLMSG_ERROR:
                    (error,) = _ERRNO.unpack_from(message, _HEADER.size)
                    if error == 0:
                        continue  # an acknowledgement
                    raise NetlinkError(-error, os.strerror(-error))
                yield mtype, message


def parse_link(message: bytes) -> RawLink | None:
    """The link of one RTM_NEWLINK message, or None if it is too short to be one."""
    if len(message) < _HEADER.size + _IFINFO.size:
        return None
    _family, link_type, index, flags, _change = _IFINFO.unpack_from(message, _HEADER.size)
    name, address, master = "", b"", 0
    for kind, value in attributes(message, _HEADER.size + _IFINFO.size):
        if kind == IFLA_IFNAME:
            name = value.split(b"\0", 1)[0].decode("utf-8", "replace")
        elif kind == IFLA_ADDRESS:
            address = value
        elif kind == IFLA_MASTER and len(value) >= 4:
            (master,) = struct.unpack_from("=I", value)
    return RawLink(index, name, address, flags, link_type, master)


def parse_address(message: bytes) -> tuple[int, int, bytes] | None:
    """(family, interface index, address) of one RTM_NEWADDR message, or None."""
    if len(message) < _HEADER.size + _IFADDR.size:
        return None
    family, _prefix, _flags, _scope, index = _IFADDR.unpack_from(message, _HEADER.size)
    for kind, value in attributes(message, _HEADER.size + _IFADDR.size):
        if kind == IFA_ADDRESS:
            return family, index, value
    return None


def links() -> list[RawLink]:
    """Every link of this network namespace, in the kernel's order."""
    body = _IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    found = []
    for mtype, message in dump(RTM_GETLINK, body):
        link = parse_link(message) if mtype == RTM_NEWLINK else None
        if link is not None:
            found.append(link)
    return found


def addresses(family: int) -> list[tuple[int, bytes]]:
    """(interface index, address) of every address of ``family``, in the kernel's order."""
    body = _IFADDR.pack(family, 0, 0, 0, 0)
    found = []
    for mtype, message in dump(RTM_GETADDR, body):
        parsed = parse_address(message) if mtype == RTM_NEWADDR else None
        if parsed is not None and parsed[0] == family:
            found.append((parsed[1], parsed[2]))
    return found
