"""Path attributes (RFC 4271 §4.3 and §5, RFC 1997, RFC 4760, RFC 6793, RFC 8092).

Supported: ORIGIN, AS_PATH (2- or 4-byte), NEXT_HOP, MULTI_EXIT_DISC, LOCAL_PREF,
ATOMIC_AGGREGATE, AGGREGATOR, COMMUNITIES, MP_REACH_NLRI, MP_UNREACH_NLRI, AS4_PATH and
LARGE_COMMUNITY. Unknown optional attributes are kept raw; unknown well-known ones are an error.
Every check raises the UPDATE Message Error subcode RFC 4271 §6.3 names.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field
from enum import IntEnum

from actors.bgp.codec.errors import BGPError, ErrorCode, UpdateSubcode
from actors.bgp.codec.nlri import AFI_IPV4, AFI_IPV6, decode_prefixes

OPTIONAL = 0x80
TRANSITIVE = 0x40
PARTIAL = 0x20
EXTENDED_LENGTH = 0x10


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

WELL_KNOWN = frozenset(
    {
        AttrType.ORIGIN,
        AttrType.AS_PATH,
        AttrType.NEXT_HOP,
        AttrType.LOCAL_PREF,
        AttrType.ATOMIC_AGGREGATE,
    }
)
# The flags each known attribute must carry (optional/transitive bits only).
_EXPECTED_FLAGS = {
    AttrType.ORIGIN: TRANSITIVE,
    AttrType.AS_PATH: TRANSITIVE,
    AttrType.NEXT_HOP: TRANSITIVE,
    AttrType.MULTI_EXIT_DISC: OPTIONAL,
    AttrType.LOCAL_PREF: TRANSITIVE,
    AttrType.ATOMIC_AGGREGATE: TRANSITIVE,
    AttrType.AGGREGATOR: OPTIONAL | TRANSITIVE,
    AttrType.COMMUNITIES: OPTIONAL | TRANSITIVE,
    AttrType.MP_REACH_NLRI: OPTIONAL,
    AttrType.MP_UNREACH_NLRI: OPTIONAL,
    AttrType.AS4_PATH: OPTIONAL | TRANSITIVE,
    AttrType.LARGE_COMMUNITY: OPTIONAL | TRANSITIVE,
}


@dataclass(frozen=True, slots=True)
class MpReach:
    afi: int
    safi: int
    next_hops: tuple[str, ...]  # one global address, or global + link-local for IPv6
    nlri: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MpUnreach:
    afi: int
    safi: int
    withdrawn: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PathAttributes:
    origin: int | None = None
    as_path: tuple[tuple[int, tuple[int, ...]], ...] | None = None  # (segment type, ASNs)
    next_hop: str | None = None
    med: int | None = None
    local_pref: int | None = None
    atomic_aggregate: bool = False
    aggregator: bytes | None = None
    communities: tuple[int, ...] = ()
    large_communities: tuple[tuple[int, int, int], ...] = ()
    mp_reach: MpReach | None = None
    mp_unreach: MpUnreach | None = None
    as4_path: tuple[tuple[int, tuple[int, ...]], ...] | None = None
    unknown: tuple[tuple[int, int, bytes], ...] = field(default=())  # (flags, type, value)

    def full_as_path(self) -> tuple[int, ...]:
        """The AS numbers in order, AS4_PATH merged in for 2-byte sessions (RFC 6793 §4.2.3)."""
        path = [asn for _, asns in self.as_path or () for asn in asns]
        four = [asn for _, asns in self.as4_path or () for asn in asns]
        if four and len(four) <= len(path):
            path = path[: len(path) - len(four)] + four
        return tuple(path)


# -- communities as text ----------------------------------------------------------------------


def community_value(text: str) -> int:
    """``"64512:100"`` -> 32-bit value (RFC 1997)."""
    high, low = text.split(":")
    a, b = int(high), int(low)
    if not (0 <= a <= 0xFFFF and 0 <= b <= 0xFFFF):
        raise ValueError(f"community {text!r} out of range")
    return (a << 16) | b


def community_text(value: int) -> str:
    return f"{value >> 16}:{value & 0xFFFF}"


def large_community_value(text: str) -> tuple[int, int, int]:
    """``"large:64512:1:1"`` (or ``"64512:1:1"``) -> (64512, 1, 1) (RFC 8092)."""
    parts = tuple(int(p) for p in text.removeprefix("large:").split(":"))
    if len(parts) != 3 or not all(0 <= p <= 0xFFFFFFFF for p in parts):
        raise ValueError(f"large community {text!r} is not A:B:C of 32-bit numbers")
    return parts  # type: ignore[return-value]


def large_community_text(value: tuple[int, int, int]) -> str:
    return "large:" + ":".join(str(v) for v in value)


# -- encoding ---------------------------------------------------------------------------------


def attribute(flags: int, type_code: int, value: bytes) -> bytes:
    """One attribute; the extended length bit is set only when the value needs it."""
    if len(value) > 255:
        return struct.pack("!BBH", flags | EXTENDED_LENGTH, type_code, len(value)) + value
    return struct.pack("!BBB", flags & ~EXTENDED_LENGTH, type_code, len(value)) + value


def _as_path_value(segments: tuple[tuple[int, tuple[int, ...]], ...], four_octet: bool) -> bytes:
    width = "I" if four_octet else "H"
    out = []
    for seg_type, asns in segments:
        for i in range(0, len(asns), 255):  # a segment holds at most 255 ASNs
            chunk = asns[i : i + 255]
            out.append(struct.pack(f"!BB{len(chunk)}{width}", seg_type, len(chunk), *chunk))
    return b"".join(out)


def _ip(text: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in text else socket.AF_INET, text)


def encode_attributes(attrs: PathAttributes, four_octet: bool = True) -> bytes:
    """Every attribute present in ``attrs``, in type-code order (as RFC 4271 recommends).

    On a 2-byte session, ASNs above 65535 become AS_TRANS in AS_PATH and the real path goes
    into AS4_PATH (RFC 6793 §4.2.2).
    """
    out: list[tuple[int, bytes]] = []
    if attrs.origin is not None:
        out.append((1, attribute(TRANSITIVE, AttrType.ORIGIN, bytes([attrs.origin]))))
    as4_path = attrs.as4_path
    if attrs.as_path is not None:
        as_path = attrs.as_path
        if not four_octet:
            big = any(asn > 0xFFFF for _, asns in as_path for asn in asns)
            if big and as4_path is None:
                as4_path = as_path
            as_path = tuple(
                (t, tuple(a if a <= 0xFFFF else 23456 for a in asns)) for t, asns in as_path
            )
        out.append(
            (2, attribute(TRANSITIVE, AttrType.AS_PATH, _as_path_value(as_path, four_octet)))
        )
    if as4_path is not None:
        value = _as_path_value(as4_path, True)
        out.append((17, attribute(OPTIONAL | TRANSITIVE, AttrType.AS4_PATH, value)))
    if attrs.next_hop is not None:
        out.append((3, attribute(TRANSITIVE, AttrType.NEXT_HOP, _ip(attrs.next_hop))))
    if attrs.med is not None:
        out.append((4, attribute(OPTIONAL, AttrType.MULTI_EXIT_DISC, struct.pack("!I", attrs.med))))
    if attrs.local_pref is not None:
        value = struct.pack("!I", attrs.local_pref)
        out.append((5, attribute(TRANSITIVE, AttrType.LOCAL_PREF, value)))
    if attrs.atomic_aggregate:
        out.append((6, attribute(TRANSITIVE, AttrType.ATOMIC_AGGREGATE, b"")))
    if attrs.aggregator is not None:
        out.append((7, attribute(OPTIONAL | TRANSITIVE, AttrType.AGGREGATOR, attrs.aggregator)))
    if attrs.communities:
        value = struct.pack(f"!{len(attrs.communities)}I", *attrs.communities)
        out.append((8, attribute(OPTIONAL | TRANSITIVE, AttrType.COMMUNITIES, value)))
    if attrs.mp_reach is not None:
        out.append((14, mp_reach_attribute(attrs.mp_reach)))
    if attrs.mp_unreach is not None:
        mp = attrs.mp_unreach
        out.append((15, mp_unreach_attribute(mp.afi, mp.safi, _prefix_bytes(mp.withdrawn))))
    if attrs.large_communities:
        value = b"".join(struct.pack("!III", *c) for c in attrs.large_communities)
        out.append((32, attribute(OPTIONAL | TRANSITIVE, AttrType.LARGE_COMMUNITY, value)))
    for flags, type_code, value in attrs.unknown:
        out.append((type_code, attribute(flags, type_code, value)))
    out.sort(key=lambda item: item[0])
    return b"".join(raw for _, raw in out)


def _prefix_bytes(prefixes: tuple[str, ...]) -> bytes:
    from actors.bgp.codec.nlri import encode_prefix

    return b"".join(encode_prefix(p)[1] for p in prefixes)


def mp_next_hop_bytes(next_hops: tuple[str, ...]) -> bytes:
    return b"".join(_ip(nh) for nh in next_hops)


def mp_reach_attribute(mp: MpReach) -> bytes:
    nh = mp_next_hop_bytes(mp.next_hops)
    value = struct.pack("!HBB", mp.afi, mp.safi, len(nh)) + nh + b"\0" + _prefix_bytes(mp.nlri)
    return attribute(OPTIONAL, AttrType.MP_REACH_NLRI, value)


def mp_reach_raw(afi: int, safi: int, next_hop: bytes, nlri: bytes) -> bytes:
    """MP_REACH_NLRI from already encoded next hop and prefixes (the bulk path)."""
    value = struct.pack("!HBB", afi, safi, len(next_hop)) + next_hop + b"\0" + nlri
    return attribute(OPTIONAL, AttrType.MP_REACH_NLRI, value)


def mp_unreach_attribute(afi: int, safi: int, withdrawn: bytes) -> bytes:
    return attribute(OPTIONAL, AttrType.MP_UNREACH_NLRI, struct.pack("!HB", afi, safi) + withdrawn)


# -- decoding ---------------------------------------------------------------------------------


def _error(subcode: int, detail: str, data: bytes = b"") -> BGPError:
    return BGPError(ErrorCode.UPDATE_MESSAGE, subcode, data, detail)


def _decode_as_path(
    value: bytes | memoryview, four_octet: bool
) -> tuple[tuple[int, tuple[int, ...]], ...]:
    width = 4 if four_octet else 2
    fmt = "I" if four_octet else "H"
    segments = []
    i, n = 0, len(value)
    while i < n:
        if n - i < 2:
            raise _error(UpdateSubcode.MALFORMED_AS_PATH, "truncated AS_PATH segment")
        seg_type, count = value[i], value[i + 1]
        if seg_type not in (AS_SET, AS_SEQUENCE, AS_CONFED_SEQUENCE, AS_CONFED_SET):
            raise _error(UpdateSubcode.MALFORMED_AS_PATH, f"AS_PATH segment type {seg_type}")
        if count == 0:
            raise _error(UpdateSubcode.MALFORMED_AS_PATH, "empty AS_PATH segment")
        end = i + 2 + count * width
        if end > n:
            raise _error(UpdateSubcode.MALFORMED_AS_PATH, "AS_PATH segment overruns attribute")
        segments.append((seg_type, struct.unpack_from(f"!{count}{fmt}", value, i + 2)))
        i = end
    return tuple(segments)


def _decode_mp_reach(value: bytes | memoryview) -> MpReach:
    if len(value) < 5:
        raise _error(UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, "short MP_REACH_NLRI")
    afi, safi, nh_len = struct.unpack_from("!HBB", value)
    if afi not in (AFI_IPV4, AFI_IPV6):
        raise _error(UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, f"MP_REACH_NLRI for AFI {afi}")
    if len(value) < 5 + nh_len:
        raise _error(UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, "MP_REACH_NLRI next hop overruns")
    raw_nh = bytes(value[4 : 4 + nh_len])
    if afi == AFI_IPV6 and nh_len in (16, 32):
        next_hops = tuple(
            socket.inet_ntop(socket.AF_INET6, raw_nh[i : i + 16]) for i in range(0, nh_len, 16)
        )
    elif afi == AFI_IPV4 and nh_len == 4:
        next_hops = (socket.inet_ntop(socket.AF_INET, raw_nh),)
    elif afi == AFI_IPV4 and nh_len in (16, 32):  # RFC 8950: IPv4 routes, IPv6 next hop
        next_hops = (socket.inet_ntop(socket.AF_INET6, raw_nh[:16]),)
    else:
        raise _error(
            UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, f"MP_REACH_NLRI next hop of {nh_len} bytes"
        )
    nlri = decode_prefixes(value[5 + nh_len :], afi)
    return MpReach(afi, safi, next_hops, nlri)


def _decode_mp_unreach(value: bytes | memoryview) -> MpUnreach:
    if len(value) < 3:
        raise _error(UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, "short MP_UNREACH_NLRI")
    afi, safi = struct.unpack_from("!HB", value)
    if afi not in (AFI_IPV4, AFI_IPV6):
        raise _error(UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, f"MP_UNREACH_NLRI for AFI {afi}")
    return MpUnreach(afi, safi, decode_prefixes(value[3:], afi))


_FIXED_LENGTH = {
    AttrType.ORIGIN: 1,
    AttrType.NEXT_HOP: 4,
    AttrType.MULTI_EXIT_DISC: 4,
    AttrType.LOCAL_PREF: 4,
    AttrType.ATOMIC_AGGREGATE: 0,
}


def decode_attributes(data: bytes | memoryview, four_octet: bool = True) -> PathAttributes:
    """Decode a path attribute list. Raises BGPError with the RFC 4271 §6.3 subcode."""
    values: dict[str, object] = {}
    unknown: list[tuple[int, int, bytes]] = []
    seen: set[int] = set()
    i, n = 0, len(data)
    while i < n:
        if n - i < 3:
            raise _error(UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, "truncated attribute header")
        flags, type_code = data[i], data[i + 1]
        if flags & EXTENDED_LENGTH:
            if n - i < 4:
                raise _error(UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, "truncated attribute header")
            length = (data[i + 2] << 8) | data[i + 3]
            start = i + 4
        else:
            length = data[i + 2]
            start = i + 3
        end = start + length
        whole = bytes(data[i:end])  # the erroneous attribute goes into NOTIFICATIONs
        if end > n:
            raise _error(
                UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, f"attribute {type_code} overruns", whole
            )
        i = end
        if type_code in seen:
            raise _error(UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, f"attribute {type_code} repeated")
        seen.add(type_code)
        value = data[start:end]
        try:
            known = AttrType(type_code)
        except ValueError:
            if not flags & OPTIONAL:
                raise _error(
                    UpdateSubcode.UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
                    f"unknown well-known attribute {type_code}",
                    whole,
                ) from None
            unknown.append((flags, type_code, bytes(value)))
            continue
        if flags & (OPTIONAL | TRANSITIVE) != _EXPECTED_FLAGS[known]:
            raise _error(
                UpdateSubcode.ATTRIBUTE_FLAGS_ERROR, f"flags {flags:#x} on {known.name}", whole
            )
        fixed = _FIXED_LENGTH.get(known)
        if fixed is not None and length != fixed:
            raise _error(
                UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, f"{known.name} of length {length}", whole
            )
        if known is AttrType.ORIGIN:
            if value[0] > 2:
                raise _error(UpdateSubcode.INVALID_ORIGIN, f"ORIGIN {value[0]}", whole)
            values["origin"] = value[0]
        elif known is AttrType.AS_PATH:
            values["as_path"] = _decode_as_path(value, four_octet)
        elif known is AttrType.AS4_PATH:
            values["as4_path"] = _decode_as_path(value, True)
        elif known is AttrType.NEXT_HOP:
            next_hop = socket.inet_ntop(socket.AF_INET, bytes(value))
            # Loopback stays allowed: the demo peers over 127.0.0.0/8.
            if value[0] == 0 or value[0] >= 224:
                raise _error(UpdateSubcode.INVALID_NEXT_HOP, f"NEXT_HOP {next_hop}", whole)
            values["next_hop"] = next_hop
        elif known is AttrType.MULTI_EXIT_DISC:
            values["med"] = struct.unpack("!I", value)[0]
        elif known is AttrType.LOCAL_PREF:
            values["local_pref"] = struct.unpack("!I", value)[0]
        elif known is AttrType.ATOMIC_AGGREGATE:
            values["atomic_aggregate"] = True
        elif known is AttrType.AGGREGATOR:
            if length != (8 if four_octet else 6):
                raise _error(
                    UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, f"AGGREGATOR of length {length}", whole
                )
            values["aggregator"] = bytes(value)
        elif known is AttrType.COMMUNITIES:
            if length % 4:
                raise _error(
                    UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, f"COMMUNITIES of {length} bytes", whole
                )
            values["communities"] = struct.unpack(f"!{length // 4}I", value)
        elif known is AttrType.LARGE_COMMUNITY:
            if length % 12 or length == 0:
                raise _error(
                    UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR,
                    f"LARGE_COMMUNITY of {length} bytes",
                    whole,
                )
            values["large_communities"] = tuple(struct.iter_unpack("!III", value))
        elif known is AttrType.MP_REACH_NLRI:
            values["mp_reach"] = _decode_mp_reach(value)
        elif known is AttrType.MP_UNREACH_NLRI:
            values["mp_unreach"] = _decode_mp_unreach(value)
    return PathAttributes(**values, unknown=tuple(unknown))  # type: ignore[arg-type]
