"""OPEN capabilities (RFC 5492): multiprotocol (RFC 4760), route refresh (RFC 2918),
graceful restart (RFC 4724), 4-octet AS numbers (RFC 6793) and, in its own module, extended
next hop encoding (RFC 8950, ``extended_nexthop``). Each code's decoder is registered in
``DECODERS``.

Anything else a peer advertises (BIRD sends enhanced route refresh, extended messages, ...)
is kept as :class:`UnknownCapability` so nothing a peer says is lost.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from enum import IntEnum

import msgspec

from actors.bgp.codec.errors import BGPError, ErrorCode, OpenSubcode
from actors.bgp.codec.extended_nexthop import (
    ExtendedNextHopCapability,
    decode_extended_nexthop,
)


class Afi(IntEnum):
    IPV4 = 1
    IPV6 = 2


class Safi(IntEnum):
    UNICAST = 1


IPV4_UNICAST = (1, 1)
IPV6_UNICAST = (2, 1)


class CapabilityCode(IntEnum):
    MULTIPROTOCOL = 1
    ROUTE_REFRESH = 2
    EXTENDED_NEXT_HOP = 5
    GRACEFUL_RESTART = 64
    FOUR_OCTET_AS = 65


class MultiprotocolCapability(msgspec.Struct, frozen=True):
    afi: int
    safi: int
    code = CapabilityCode.MULTIPROTOCOL

    def value(self) -> bytes:
        return struct.pack("!HBB", self.afi, 0, self.safi)


class RouteRefreshCapability(msgspec.Struct, frozen=True):
    code = CapabilityCode.ROUTE_REFRESH

    def value(self) -> bytes:
        return b""


class GracefulRestartFamily(msgspec.Struct, frozen=True):
    afi: int
    safi: int
    forwarding_preserved: bool  # the F bit


class GracefulRestartCapability(msgspec.Struct, frozen=True):
    restart_time: int  # seconds, 12 bits
    restarting: bool = False  # the R bit: "I have just restarted"
    notification: bool = False  # the N bit (RFC 8538)
    families: tuple[GracefulRestartFamily, ...] = ()
    code = CapabilityCode.GRACEFUL_RESTART

    def value(self) -> bytes:
        flags = (0x8 if self.restarting else 0) | (0x4 if self.notification else 0)
        out = [struct.pack("!H", (flags << 12) | (self.restart_time & 0x0FFF))]
        for fam in self.families:
            out.append(
                struct.pack("!HBB", fam.afi, fam.safi, 0x80 if fam.forwarding_preserved else 0)
            )
        return b"".join(out)


class FourOctetAsCapability(msgspec.Struct, frozen=True):
    asn: int
    code = CapabilityCode.FOUR_OCTET_AS

    def value(self) -> bytes:
        return struct.pack("!I", self.asn)


class UnknownCapability(msgspec.Struct, frozen=True):
    code: int  # type: ignore[misc]
    data: bytes

    def value(self) -> bytes:
        return self.data


Capability = (
    MultiprotocolCapability
    | RouteRefreshCapability
    | GracefulRestartCapability
    | FourOctetAsCapability
    | ExtendedNextHopCapability
    | UnknownCapability
)


def encode_capability(cap: Capability) -> bytes:
    value = cap.value()
    if len(value) > 255:
        raise ValueError(f"capability {cap.code} too long ({len(value)} bytes)")
    return struct.pack("!BB", int(cap.code), len(value)) + value


def _bad(detail: str) -> BGPError:
    return BGPError(ErrorCode.OPEN_MESSAGE, OpenSubcode.UNSPECIFIC, b"", detail)


def _multiprotocol(value: bytes) -> Capability:
    if len(value) != 4:
        raise _bad(f"multiprotocol capability of length {len(value)}")
    afi, _, safi = struct.unpack("!HBB", value)
    return MultiprotocolCapability(afi, safi)


def _route_refresh(value: bytes) -> Capability:
    if value:
        raise _bad(f"route refresh capability of length {len(value)}")
    return RouteRefreshCapability()


def _four_octet_as(value: bytes) -> Capability:
    if len(value) != 4:
        raise _bad(f"4-octet AS capability of length {len(value)}")
    return FourOctetAsCapability(struct.unpack("!I", value)[0])


def _graceful_restart(value: bytes) -> Capability:
    n = len(value)
    if n < 2 or (n - 2) % 4:
        raise _bad(f"graceful restart capability of length {n}")
    (head,) = struct.unpack_from("!H", value)
    families = tuple(
        GracefulRestartFamily(afi, safi, bool(flags & 0x80))
        for afi, safi, flags in struct.iter_unpack("!HBB", value[2:])
    )
    return GracefulRestartCapability(
        restart_time=head & 0x0FFF,
        restarting=bool(head & 0x8000),
        notification=bool(head & 0x4000),
        families=families,
    )


#: capability code -> decoder of its value (raises BGPError); other codes stay unknown.
DECODERS: dict[int, Callable[[bytes], Capability]] = {
    CapabilityCode.MULTIPROTOCOL: _multiprotocol,
    CapabilityCode.ROUTE_REFRESH: _route_refresh,
    CapabilityCode.EXTENDED_NEXT_HOP: decode_extended_nexthop,
    CapabilityCode.GRACEFUL_RESTART: _graceful_restart,
    CapabilityCode.FOUR_OCTET_AS: _four_octet_as,
}


def decode_capability(code: int, value: bytes) -> Capability:
    decoder = DECODERS.get(code)
    return decoder(value) if decoder is not None else UnknownCapability(code, bytes(value))


def decode_capabilities(data: bytes | memoryview) -> list[Capability]:
    """The capabilities packed in one Capabilities optional parameter (any number of them)."""
    out: list[Capability] = []
    i, n = 0, len(data)
    while i < n:
        if n - i < 2:
            raise _bad("truncated capability")
        code, length = data[i], data[i + 1]
        if i + 2 + length > n:
            raise _bad(f"capability {code} overruns its parameter")
        out.append(decode_capability(code, bytes(data[i + 2 : i + 2 + length])))
        i += 2 + length
    return out
