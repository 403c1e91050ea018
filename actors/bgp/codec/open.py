"""OPEN (RFC 4271 §4.2), with capabilities in optional parameters (RFC 5492) and the extended
optional parameters length (RFC 9072) on decode.

``asn`` is the real AS number: the 4-octet AS capability when present, else the 2-byte field
(AS_TRANS 23456 stands in for a 4-byte ASN there, RFC 6793).
"""

from __future__ import annotations

import ipaddress
import struct

import msgspec

from actors.bgp.codec.capabilities import (
    Capability,
    FourOctetAsCapability,
    GracefulRestartCapability,
    MultiprotocolCapability,
    RouteRefreshCapability,
    decode_capabilities,
    encode_capability,
)
from actors.bgp.codec.errors import BGPError, ErrorCode, HeaderSubcode, OpenSubcode
from actors.bgp.codec.header import MessageType, frame

AS_TRANS = 23456
BGP_VERSION = 4
CAPABILITIES_PARAMETER = 2

_FIXED = struct.Struct("!BHHIB")  # version, my AS, hold time, BGP identifier, opt param len


class OpenMessage(msgspec.Struct, frozen=True):
    asn: int
    hold_time: int
    bgp_id: int  # the 32-bit BGP Identifier as an integer
    capabilities: tuple[Capability, ...] = ()
    version: int = BGP_VERSION
    # The 2-byte "My Autonomous System" field as received (AS_TRANS for 4-byte ASNs).
    wire_asn: int | None = None

    @property
    def router_id(self) -> str:
        return str(ipaddress.IPv4Address(self.bgp_id))

    def capability(self, kind: type) -> Capability | None:
        return next((c for c in self.capabilities if isinstance(c, kind)), None)

    @property
    def families(self) -> frozenset[tuple[int, int]]:
        """Multiprotocol AFI/SAFIs; a peer that sends none speaks IPv4 unicast only."""
        found = {
            (c.afi, c.safi) for c in self.capabilities if isinstance(c, MultiprotocolCapability)
        }
        return frozenset(found) if found else frozenset({(1, 1)})

    @property
    def four_octet_as(self) -> bool:
        return any(isinstance(c, FourOctetAsCapability) for c in self.capabilities)

    @property
    def route_refresh(self) -> bool:
        return any(isinstance(c, RouteRefreshCapability) for c in self.capabilities)

    @property
    def graceful_restart(self) -> GracefulRestartCapability | None:
        found = self.capability(GracefulRestartCapability)
        return found if isinstance(found, GracefulRestartCapability) else None

    def encode(self) -> bytes:
        caps = b"".join(encode_capability(c) for c in self.capabilities)
        if len(caps) > 253:
            raise ValueError("capabilities do not fit one optional parameter")
        params = struct.pack("!BB", CAPABILITIES_PARAMETER, len(caps)) + caps if caps else b""
        wire_asn = self.asn if self.asn <= 0xFFFF else AS_TRANS
        body = _FIXED.pack(self.version, wire_asn, self.hold_time, self.bgp_id, len(params))
        return frame(MessageType.OPEN, body + params)


def decode_open(body: bytes | memoryview) -> OpenMessage:
    """Decode and check an OPEN body (header already stripped). Raises BGPError."""
    if len(body) < _FIXED.size:
        raise BGPError(ErrorCode.MESSAGE_HEADER, HeaderSubcode.BAD_LENGTH, b"", "short OPEN")
    version, wire_asn, hold, bgp_id, param_len = _FIXED.unpack_from(body)
    if version != BGP_VERSION:
        raise BGPError(
            ErrorCode.OPEN_MESSAGE,
            OpenSubcode.UNSUPPORTED_VERSION,
            struct.pack("!H", BGP_VERSION),
            f"version {version}",
        )
    offset = _FIXED.size
    extended = param_len == 255 and len(body) > offset and body[offset] == 255
    if extended:  # RFC 9072: 255, then a 2-byte length, and 2-byte parameter lengths
        if len(body) < offset + 3:
            raise BGPError(ErrorCode.OPEN_MESSAGE, OpenSubcode.UNSPECIFIC, b"", "short OPEN")
        (param_len,) = struct.unpack_from("!H", body, offset + 1)
        offset += 3
    params = body[offset:]
    if len(params) != param_len:
        raise BGPError(
            ErrorCode.OPEN_MESSAGE,
            OpenSubcode.UNSPECIFIC,
            b"",
            f"optional parameters length {param_len} but {len(params)} bytes follow",
        )
    capabilities: list[Capability] = []
    i = 0
    head = 3 if extended else 2
    while i < param_len:
        if param_len - i < head:
            raise BGPError(ErrorCode.OPEN_MESSAGE, OpenSubcode.UNSPECIFIC, b"", "truncated")
        ptype = params[i]
        plen = struct.unpack_from("!H", params, i + 1)[0] if extended else params[i + 1]
        start, i = i + head, i + head + plen
        if i > param_len:
            raise BGPError(
                ErrorCode.OPEN_MESSAGE, OpenSubcode.UNSPECIFIC, b"", "parameter overruns OPEN"
            )
        if ptype != CAPABILITIES_PARAMETER:
            raise BGPError(
                ErrorCode.OPEN_MESSAGE,
                OpenSubcode.UNSUPPORTED_OPTIONAL_PARAMETER,
                b"",
                f"optional parameter type {ptype}",
            )
        capabilities.extend(decode_capabilities(params[start:i]))
    if hold in (1, 2):
        raise BGPError(
            ErrorCode.OPEN_MESSAGE, OpenSubcode.UNACCEPTABLE_HOLD_TIME, b"", f"hold time {hold}"
        )
    if bgp_id == 0 or bgp_id == 0xFFFFFFFF:
        raise BGPError(
            ErrorCode.OPEN_MESSAGE,
            OpenSubcode.BAD_BGP_IDENTIFIER,
            b"",
            f"BGP identifier {ipaddress.IPv4Address(bgp_id)}",
        )
    asn = wire_asn
    four = [c for c in capabilities if isinstance(c, FourOctetAsCapability)]
    if four:
        asn = four[0].asn
        if asn == 0 or (wire_asn != AS_TRANS and wire_asn != asn):
            raise BGPError(
                ErrorCode.OPEN_MESSAGE,
                OpenSubcode.BAD_PEER_AS,
                struct.pack("!H", wire_asn),
                f"AS field {wire_asn} disagrees with 4-octet AS {asn}",
            )
    if asn == 0:
        raise BGPError(ErrorCode.OPEN_MESSAGE, OpenSubcode.BAD_PEER_AS, b"\0\0", "AS 0")
    return OpenMessage(
        asn=asn,
        hold_time=hold,
        bgp_id=bgp_id,
        capabilities=tuple(capabilities),
        version=version,
        wire_asn=wire_asn,
    )
