"""Two rtnetlink dumps: the links and the IPv6 addresses of this namespace.

All the speaker needs from netlink is what ``ip link`` and ``ip -6 addr`` print: per link its
index, name, hardware address, flags, type and whether it has a master; per address its
interface and the address. The request and the walk over the answer are actors/util/netlink.py;
this room parses the two message bodies. The tests hold the result against pyroute2's reading
of the same namespaces.
"""

from __future__ import annotations

import socket
import struct

import msgspec

from actors.util.netlink import HEADER as _HEADER
from actors.util.netlink import attributes, dump

RTM_NEWLINK, RTM_GETLINK = 16, 18
RTM_NEWADDR, RTM_GETADDR = 20, 22
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MASTER = 1, 3, 10
IFA_ADDRESS = 1

_IFINFO = struct.Struct("=BxHiII")  # ifinfomsg: family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")  # ifaddrmsg: family, prefix length, flags, scope, index


class RawLink(msgspec.Struct, frozen=True):
    index: int
    name: str
    address: bytes  # the hardware address, empty if the link has none
    flags: int
    link_type: int
    master: int  # the bridge or bond it is enslaved to, 0 if none


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
