"""The kernel's IPv6 neighbour table over rtnetlink (RTM_GETNEIGH): the link-local addresses
on an interface that the kernel knows to be routers (NTF_ROUTER, set by a router
advertisement or a neighbour advertisement with the R flag).

A second source for unnumbered BGP's discovery, beside the ICMPv6 socket: it needs no
CAP_NET_RAW, and it knows a router that sent its last advertisement before we started.
Read in the process's own network namespace; empty when rtnetlink is unavailable.
"""

from __future__ import annotations

import contextlib
import socket
import struct

RTM_NEWNEIGH = 28
RTM_GETNEIGH = 30
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NDA_DST = 1
NTF_ROUTER = 0x80
NUD_INCOMPLETE = 0x01
NUD_FAILED = 0x20
_NDMSG = struct.Struct("=BBHiHBB")  # family, pads, ifindex, state, flags, type


def parse_neighbours(data: bytes) -> tuple[list[tuple[int, str]], bool]:
    """(ifindex, address) of the routers in one netlink reply buffer, and whether the dump
    ended. Malformed messages end the walk (nothing raises)."""
    out: list[tuple[int, str]] = []
    offset = 0
    while offset + 16 <= len(data):
        length, kind, _, _, _ = struct.unpack_from("=IHHII", data, offset)
        if length < 16 or offset + length > len(data) or kind in (NLMSG_DONE, NLMSG_ERROR):
            return out, True
        body = data[offset + 16 : offset + length]
        offset += (length + 3) & ~3
        if kind != RTM_NEWNEIGH or len(body) < _NDMSG.size:
            continue
        family, _, _, ifindex, state, flags, _ = _NDMSG.unpack_from(body)
        if family != socket.AF_INET6 or not flags & NTF_ROUTER:
            continue
        if state & (NUD_INCOMPLETE | NUD_FAILED):
            continue
        i = _NDMSG.size
        while i + 4 <= len(body):
            rta_len, rta_type = struct.unpack_from("=HH", body, i)
            if rta_len < 4:
                break
            if rta_type == NDA_DST and rta_len == 20:
                out.append((ifindex, socket.inet_ntop(socket.AF_INET6, body[i + 4 : i + 20])))
            i += (rta_len + 3) & ~3
    return out, False


def routers(ifindex: int) -> list[str]:
    """Link-local addresses of the routers the kernel knows on interface ``ifindex``."""
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    except OSError:
        return []
    found: list[tuple[int, str]] = []
    with contextlib.closing(sock):
        try:
            sock.bind((0, 0))
            request = struct.pack("=IHHII", 28, RTM_GETNEIGH, NLM_F_REQUEST | NLM_F_DUMP, 1, 0)
            sock.send(request + _NDMSG.pack(socket.AF_INET6, 0, 0, 0, 0, 0, 0))
            done = False
            while not done:
                data = sock.recv(65536)
                if not data:
                    break
                part, done = parse_neighbours(data)
                found += part
        except OSError:
            return []
    return [address for index, address in found if index == ifindex]
