"""Router Solicitation and Router Advertisement messages (RFC 4861 §4.1, §4.2), as ICMPv6
bodies (the kernel fills in the checksum of a raw ICMPv6 socket): what unnumbered BGP needs
to find the router on a link and to be found by it.

Our advertisements say "a router is here" and nothing more: router lifetime 0 (RFC 4861
§6.2.5: not a default router), no prefixes, no MTU; the source link-layer address option
when the interface has a MAC. Pure ``struct`` code; parsing never raises on bad bytes.
"""

from __future__ import annotations

import struct

import msgspec

ROUTER_SOLICITATION = 133
ROUTER_ADVERTISEMENT = 134
OPTION_SOURCE_LINK_LAYER = 1
#: RFC 4861 §6.1: NDP messages arrive with hop limit 255 (they cannot have been routed).
HOP_LIMIT = 255

_RA = struct.Struct("!BBHBBHII")  # type, code, checksum, hop limit, flags, lifetime, 2 timers
_RS = struct.Struct("!BBHI")  # type, code, checksum, reserved


class NdpMessage(msgspec.Struct, frozen=True):
    kind: int  # ROUTER_SOLICITATION or ROUTER_ADVERTISEMENT
    router_lifetime: int = 0  # seconds (advertisements only)


def _mac_option(mac: bytes) -> bytes:
    if len(mac) != 6:
        return b""
    return struct.pack("!BB", OPTION_SOURCE_LINK_LAYER, 1) + mac


def router_advertisement(mac: bytes = b"") -> bytes:
    """An advertisement with router lifetime 0 (we are a BGP neighbour, not a gateway)."""
    return _RA.pack(ROUTER_ADVERTISEMENT, 0, 0, 0, 0, 0, 0, 0) + _mac_option(mac)


def router_solicitation(mac: bytes = b"") -> bytes:
    return _RS.pack(ROUTER_SOLICITATION, 0, 0, 0) + _mac_option(mac)


def parse(data: bytes, hop_limit: int | None = HOP_LIMIT) -> NdpMessage | None:
    """The solicitation or advertisement in ``data`` (an ICMPv6 message), else None: too
    short, another type, a code other than 0, a hop limit other than 255, a zero-length
    option (RFC 4861 §6.1.1/§6.1.2: silently discarded)."""
    if hop_limit is not None and hop_limit != HOP_LIMIT:
        return None
    if len(data) < 8 or data[1] != 0:
        return None
    kind = data[0]
    if kind == ROUTER_ADVERTISEMENT:
        if len(data) < _RA.size:
            return None
        lifetime = _RA.unpack_from(data)[5]
        options = data[_RA.size :]
    elif kind == ROUTER_SOLICITATION:
        lifetime, options = 0, data[_RS.size :]
    else:
        return None
    i = 0
    while i + 2 <= len(options):
        length = options[i + 1] * 8
        if length == 0 or i + length > len(options):
            return None
        i += length
    if i != len(options):
        return None
    return NdpMessage(kind, lifetime)
