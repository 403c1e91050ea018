"""The path attributes of RFC 4271 §5 and RFC 6793: ORIGIN, AS_PATH, NEXT_HOP,
MULTI_EXIT_DISC, LOCAL_PREF, ATOMIC_AGGREGATE, AGGREGATOR and AS4_PATH, one
:class:`AttributeCodec` each (``CODECS``, registered in ``registry``).

On a 2-byte session, ASNs above 65535 go out as AS_TRANS in AS_PATH and the real path in
AS4_PATH (RFC 6793 §4.2.2).
"""

from __future__ import annotations

import socket
import struct

from actors.bgp.codec.attributes.base import (
    AS_CONFED_SEQUENCE,
    AS_CONFED_SET,
    AS_SEQUENCE,
    AS_SET,
    OPTIONAL,
    TRANSITIVE,
    AsPath,
    AttributeCodec,
    AttrType,
    PathAttributes,
    Value,
    attribute_error,
    ip_bytes,
)
from actors.bgp.codec.errors import UpdateSubcode

AS_TRANS = 23456

# -- ORIGIN -----------------------------------------------------------------------------------


def _decode_origin(value: Value, whole: bytes, four_octet: bool) -> int:
    if value[0] > 2:
        raise attribute_error(UpdateSubcode.INVALID_ORIGIN, f"ORIGIN {value[0]}", whole)
    return value[0]


def _encode_origin(attrs: PathAttributes, four_octet: bool) -> bytes | None:
    return None if attrs.origin is None else bytes([attrs.origin])


# -- AS_PATH and AS4_PATH ---------------------------------------------------------------------


def decode_as_path(value: Value, four_octet: bool) -> AsPath:
    width = 4 if four_octet else 2
    fmt = "I" if four_octet else "H"
    segments = []
    i, n = 0, len(value)
    while i < n:
        if n - i < 2:
            raise attribute_error(UpdateSubcode.MALFORMED_AS_PATH, "truncated AS_PATH segment")
        seg_type, count = value[i], value[i + 1]
        if seg_type not in (AS_SET, AS_SEQUENCE, AS_CONFED_SEQUENCE, AS_CONFED_SET):
            raise attribute_error(
                UpdateSubcode.MALFORMED_AS_PATH, f"AS_PATH segment type {seg_type}"
            )
        if count == 0:
            raise attribute_error(UpdateSubcode.MALFORMED_AS_PATH, "empty AS_PATH segment")
        end = i + 2 + count * width
        if end > n:
            raise attribute_error(
                UpdateSubcode.MALFORMED_AS_PATH, "AS_PATH segment overruns attribute"
            )
        segments.append((seg_type, struct.unpack_from(f"!{count}{fmt}", value, i + 2)))
        i = end
    return tuple(segments)


def encode_as_path(segments: AsPath, four_octet: bool) -> bytes:
    width = "I" if four_octet else "H"
    out = []
    for seg_type, asns in segments:
        for i in range(0, len(asns), 255):  # a segment holds at most 255 ASNs
            chunk = asns[i : i + 255]
            out.append(struct.pack(f"!BB{len(chunk)}{width}", seg_type, len(chunk), *chunk))
    return b"".join(out)


def _has_big_asn(path: AsPath) -> bool:
    return any(asn > 0xFFFF for _, asns in path for asn in asns)


def _decode_as_path(value: Value, whole: bytes, four_octet: bool) -> AsPath:
    return decode_as_path(value, four_octet)


def _encode_as_path(attrs: PathAttributes, four_octet: bool) -> bytes | None:
    if attrs.as_path is None:
        return None
    path = attrs.as_path
    if not four_octet:
        path = tuple((t, tuple(a if a <= 0xFFFF else AS_TRANS for a in asns)) for t, asns in path)
    return encode_as_path(path, four_octet)


def _decode_as4_path(value: Value, whole: bytes, four_octet: bool) -> AsPath:
    return decode_as_path(value, True)


def _encode_as4_path(attrs: PathAttributes, four_octet: bool) -> bytes | None:
    path = attrs.as4_path
    if path is None and not four_octet and attrs.as_path and _has_big_asn(attrs.as_path):
        path = attrs.as_path  # the real path, beside the AS_TRANS one in AS_PATH
    return None if path is None else encode_as_path(path, True)


# -- NEXT_HOP ---------------------------------------------------------------------------------


def _decode_next_hop(value: Value, whole: bytes, four_octet: bool) -> str:
    next_hop = socket.inet_ntop(socket.AF_INET, bytes(value))
    # Loopback stays allowed: the demo peers over 127.0.0.0/8.
    if value[0] == 0 or value[0] >= 224:
        raise attribute_error(UpdateSubcode.INVALID_NEXT_HOP, f"NEXT_HOP {next_hop}", whole)
    return next_hop


def _encode_next_hop(attrs: PathAttributes, four_octet: bool) -> bytes | None:
    return None if attrs.next_hop is None else ip_bytes(attrs.next_hop)


# -- MULTI_EXIT_DISC and LOCAL_PREF: one 32-bit number ----------------------------------------


def _decode_u32(value: Value, whole: bytes, four_octet: bool) -> int:
    return struct.unpack("!I", value)[0]


def _encode_med(attrs: PathAttributes, four_octet: bool) -> bytes | None:
    return None if attrs.med is None else struct.pack("!I", attrs.med)


def _encode_local_pref(attrs: PathAttributes, four_octet: bool) -> bytes | None:
    return None if attrs.local_pref is None else struct.pack("!I", attrs.local_pref)


# -- ATOMIC_AGGREGATE and AGGREGATOR ----------------------------------------------------------


def _decode_atomic_aggregate(value: Value, whole: bytes, four_octet: bool) -> bool:
    return True


def _encode_atomic_aggregate(attrs: PathAttributes, four_octet: bool) -> bytes | None:
    return b"" if attrs.atomic_aggregate else None


def _decode_aggregator(value: Value, whole: bytes, four_octet: bool) -> bytes:
    if len(value) != (8 if four_octet else 6):
        raise attribute_error(
            UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, f"AGGREGATOR of length {len(value)}", whole
        )
    return bytes(value)


def _encode_aggregator(attrs: PathAttributes, four_octet: bool) -> bytes | None:
    return attrs.aggregator


CODECS = (
    AttributeCodec(AttrType.ORIGIN, TRANSITIVE, "origin", _decode_origin, _encode_origin, 1),
    AttributeCodec(AttrType.AS_PATH, TRANSITIVE, "as_path", _decode_as_path, _encode_as_path),
    AttributeCodec(
        AttrType.NEXT_HOP, TRANSITIVE, "next_hop", _decode_next_hop, _encode_next_hop, 4
    ),
    AttributeCodec(AttrType.MULTI_EXIT_DISC, OPTIONAL, "med", _decode_u32, _encode_med, 4),
    AttributeCodec(
        AttrType.LOCAL_PREF, TRANSITIVE, "local_pref", _decode_u32, _encode_local_pref, 4
    ),
    AttributeCodec(
        AttrType.ATOMIC_AGGREGATE,
        TRANSITIVE,
        "atomic_aggregate",
        _decode_atomic_aggregate,
        _encode_atomic_aggregate,
        0,
    ),
    AttributeCodec(
        AttrType.AGGREGATOR,
        OPTIONAL | TRANSITIVE,
        "aggregator",
        _decode_aggregator,
        _encode_aggregator,
    ),
    AttributeCodec(
        AttrType.AS4_PATH, OPTIONAL | TRANSITIVE, "as4_path", _decode_as4_path, _encode_as4_path
    ),
)
