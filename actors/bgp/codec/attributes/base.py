"""What every path attribute codec shares: type codes, flags, the decoded value types, the
framing of one attribute on the wire and :class:`AttributeCodec`, the entry each attribute
family module registers in ``registry.CODECS``.

Imports nothing of the attribute families (they import this).
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from enum import IntEnum

import msgspec

from actors.bgp.codec.errors import BGPError, ErrorCode

OPTIONAL = 0x80
TRANSITIVE = 0x40
PARTIAL = 0x20
EXTENDED_LENGTH = 0x10

Value = bytes | memoryview
AsPath = tuple[tuple[int, tuple[int, ...]], ...]  # (segment type, ASNs)


class AttrType(IntEnum):
    ORIGIN = 1
    AS_PATH = 2
    NEXT_HOP = 3
    MULTI_EXIT_DISC = 4
    LOCAL_PREF = 5
    ATOMIC_AGGREGATE = 6
    AGGREGATOR = 7
    COMMUNITIES = 8
    MP_REACH_NLRI = 14
    MP_UNREACH_NLRI = 15
    AS4_PATH = 17
    LARGE_COMMUNITY = 32


class Origin(IntEnum):
    IGP = 0
    EGP = 1
    INCOMPLETE = 2


AS_SET = 1
AS_SEQUENCE = 2
AS_CONFED_SEQUENCE = 3
AS_CONFED_SET = 4


class MpReach(msgspec.Struct, frozen=True):
    afi: int
    safi: int
    next_hops: tuple[str, ...]  # one address; or IPv6 global + link-local (RFC 2545, 8950)
    nlri: tuple[str, ...]


class MpUnreach(msgspec.Struct, frozen=True):
    afi: int
    safi: int
    withdrawn: tuple[str, ...]


class PathAttributes(msgspec.Struct, frozen=True):
    origin: int | None = None
    as_path: AsPath | None = None
    next_hop: str | None = None
    med: int | None = None
    local_pref: int | None = None
    atomic_aggregate: bool = False
    aggregator: bytes | None = None
    communities: tuple[int, ...] = ()
    large_communities: tuple[tuple[int, int, int], ...] = ()
    mp_reach: MpReach | None = None
    mp_unreach: MpUnreach | None = None
    as4_path: AsPath | None = None
    unknown: tuple[tuple[int, int, bytes], ...] = ()  # (flags, type, value)

    def full_as_path(self) -> tuple[int, ...]:
        """The AS numbers in order, AS4_PATH merged in for 2-byte sessions (RFC 6793 §4.2.3)."""
        path = [asn for _, asns in self.as_path or () for asn in asns]
        four = [asn for _, asns in self.as4_path or () for asn in asns]
        if four and len(four) <= len(path):
            path = path[: len(path) - len(four)] + four
        return tuple(path)


class AttributeCodec(msgspec.Struct, frozen=True):
    """One path attribute: the checks every attribute gets, then its own decoder and encoder.

    ``decode(value, whole, four_octet)`` gets the value (its length already checked against
    ``length`` when that is set), the whole attribute (header included: the data of the
    NOTIFICATION it raises) and the AS number width of the session, and returns what goes
    into the ``PathAttributes`` field named ``field``. ``encode(attrs, four_octet)`` returns
    the value to send, or None when ``attrs`` has none.
    """

    code: AttrType
    flags: int  # the optional and transitive bits it must carry, and is sent with
    field: str
    decode: Callable[[Value, bytes, bool], object]
    encode: Callable[[PathAttributes, bool], bytes | None]
    length: int | None = None  # a fixed value length


def attribute(flags: int, type_code: int, value: bytes) -> bytes:
    """One attribute; the extended length bit is set only when the value needs it."""
    if len(value) > 255:
        return struct.pack("!BBH", flags | EXTENDED_LENGTH, type_code, len(value)) + value
    return struct.pack("!BBB", flags & ~EXTENDED_LENGTH, type_code, len(value)) + value


def attribute_error(subcode: int, detail: str, data: bytes = b"") -> BGPError:
    """An UPDATE Message Error (RFC 4271 §6.3) with the subcode named there."""
    return BGPError(ErrorCode.UPDATE_MESSAGE, subcode, data, detail)


def ip_bytes(text: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in text else socket.AF_INET, text)
