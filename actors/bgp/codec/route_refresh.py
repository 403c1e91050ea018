"""ROUTE-REFRESH (RFC 2918): the peer asks for our routes of one AFI/SAFI again.

The reserved byte carries the enhanced route refresh subtype (RFC 7313): 0 is a plain
request, 1 and 2 mark the beginning and end of a refresh.
"""

from __future__ import annotations

import struct

import msgspec

from actors.bgp.codec.errors import BGPError, ErrorCode, RouteRefreshSubcode
from actors.bgp.codec.header import MessageType, frame

_BODY = struct.Struct("!HBB")


class RouteRefreshMessage(msgspec.Struct, frozen=True):
    afi: int
    safi: int
    subtype: int = 0

    def encode(self) -> bytes:
        return frame(MessageType.ROUTE_REFRESH, _BODY.pack(self.afi, self.subtype, self.safi))


def decode_route_refresh(body: bytes | memoryview) -> RouteRefreshMessage:
    if len(body) != _BODY.size:
        raise BGPError(
            ErrorCode.ROUTE_REFRESH,
            RouteRefreshSubcode.INVALID_MESSAGE_LENGTH,
            bytes(body[:4096]),
            f"ROUTE-REFRESH body of {len(body)} bytes",
        )
    afi, subtype, safi = _BODY.unpack_from(body)
    return RouteRefreshMessage(afi, safi, subtype)
