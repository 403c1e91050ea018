"""This host's addresses, from the kernel over rtnetlink (RTM_GETADDR), for next hops.

A session carries routes of both families: the next hop of its own family is the local address
of the TCP connection; the other family's is a global address on the same interface (the
interface routers reach us through). Read in the process's own network namespace.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct

import msgspec

RTM_NEWADDR = 20
RTM_GETADDR = 22
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_FLAGS = 8
IFA_F_TENTATIVE = 0x40
IFA_F_DADFAILED = 0x08
RT_SCOPE_UNIVERSE = 0


class LocalAddress(msgspec.Struct, frozen=True):
    ifindex: int
    address: str
    prefixlen: int
    scope: int
    flags: int

    @property
    def version(self) -> int:
        return 6 if ":" in self.address else 4

    @property
    def usable(self) -> bool:
        return self.scope == RT_SCOPE_UNIVERSE and not self.flags & (
            IFA_F_TENTATIVE | IFA_F_DADFAILED
        )


def local_addresses() -> list[LocalAddress]:
    """Every address of every interface (empty if rtnetlink is unavailable)."""
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    except OSError:
        return []
    out: list[LocalAddress] = []
    with contextlib.closing(sock):
        sock.bind((0, 0))
        request = struct.pack("=IHHII", 24, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, 1, 0)
        sock.send(request + struct.pack("=BBBBI", socket.AF_UNSPEC, 0, 0, 0, 0))
        while True:
            data = sock.recv(65536)
            offset = 0
            while offset + 16 <= len(data):
                length, kind, _, _, _ = struct.unpack_from("=IHHII", data, offset)
                if length < 16:
                    return out
                if kind in (NLMSG_DONE, NLMSG_ERROR):
                    return out
                if kind == RTM_NEWADDR:
                    parsed = _parse_addr(data[offset + 16 : offset + length])
                    if parsed is not None:
                        out.append(parsed)
                offset += (length + 3) & ~3


def _parse_addr(body: bytes) -> LocalAddress | None:
    family, prefixlen, flags, scope, ifindex = struct.unpack_from("=BBBBI", body)
    attrs: dict[int, bytes] = {}
    offset = 8
    while offset + 4 <= len(body):
        rta_len, rta_type = struct.unpack_from("=HH", body, offset)
        if rta_len < 4:
            break
        attrs[rta_type] = body[offset + 4 : offset + rta_len]
        offset += (rta_len + 3) & ~3
    if IFA_FLAGS in attrs:
        flags = struct.unpack("=I", attrs[IFA_FLAGS][:4])[0]
    raw = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
    if raw is None or family not in (socket.AF_INET, socket.AF_INET6):
        return None
    return LocalAddress(ifindex, socket.inet_ntop(family, raw), prefixlen, scope, flags)


def same_interface_address(local: str, version: int) -> str | None:
    """A usable address of IP ``version`` on the interface that holds ``local``."""
    want = ipaddress.ip_address(local)
    if want.version == version:
        return str(want)
    addresses = local_addresses()
    ifindexes = {a.ifindex for a in addresses if ipaddress.ip_address(a.address) == want}
    for a in addresses:
        if a.ifindex in ifindexes and a.version == version and a.usable:
            return a.address
    return None


def interface_address(ifindex: int, version: int) -> str | None:
    """A usable (global, not tentative) address of IP ``version`` on interface ``ifindex``:
    the global half of an unnumbered session's IPv6 next hop, or its IPv4 next hop."""
    for a in local_addresses():
        if a.ifindex == ifindex and a.version == version and a.usable:
            return a.address
    return None
