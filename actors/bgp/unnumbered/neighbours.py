"""The kernel's IPv6 neighbour table over rtnetlink (RTM_GETNEIGH): the link-local addresses
on an interface that the kernel knows to be routers (NTF_ROUTER, set by a router
advertisement or a neighbour advertisement with the R flag).

A second source for unnumbered BGP's discovery, beside the ICMPv6 socket: it needs no
CAP_NET_RAW, and it knows a router that sent its last advertisement before we started.
Read in the process's own network namespace; empty when rtnetlink is unavailable. The dump
and the walk over messages and attributes are actors/util/netlink.py; this parses an ndmsg.
"""

from __future__ import annotations

import socket
import struct

from actors.util.netlink import HEADER, attributes, dump

RTM_NEWNEIGH = 28
RTM_GETNEIGH = 30
NDA_DST = 1
NTF_ROUTER = 0x80
NUD_INCOMPLETE = 0x01
NUD_FAILED = 0x20
_NDMSG = struct.Struct("=BBHiHBB")  # family, pads, ifindex, state, flags, type


def parse_router(message: bytes) -> tuple[int, str] | None:
    """(ifindex, link-local address) of one RTM_NEWNEIGH message if it is a reachable IPv6
    router, else None. Short or malformed messages are None (nothing raises)."""
    if len(message) < HEADER.size + _NDMSG.size:
        return None
    family, _, _, ifindex, state, flags, _ = _NDMSG.unpack_from(message, HEADER.size)
    if family != socket.AF_INET6 or not flags & NTF_ROUTER:
        return None
    if state & (NUD_INCOMPLETE | NUD_FAILED):
        return None
    for kind, value in attributes(message, HEADER.size + _NDMSG.size):
        if kind == NDA_DST and len(value) == 16:
            return ifindex, socket.inet_ntop(socket.AF_INET6, value)
    return None


def routers(ifindex: int) -> list[str]:
    """Link-local addresses of the routers the kernel knows on interface ``ifindex``."""
    request = _NDMSG.pack(socket.AF_INET6, 0, 0, 0, 0, 0, 0)
    found: list[str] = []
    try:
        for kind, message in dump(RTM_GETNEIGH, request):
            router = parse_router(message) if kind == RTM_NEWNEIGH else None
            if router is not None and router[0] == ifindex:
                found.append(router[1])
    except OSError:  # no rtnetlink here, or the kernel refused: no routers from this source
        return []
    return found
