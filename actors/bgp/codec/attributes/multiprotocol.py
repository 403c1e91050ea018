"""MP_REACH_NLRI and MP_UNREACH_NLRI (RFC 4760, RFC 8950): their codecs (``CODECS``,
registered in ``registry``) and the raw builders the UPDATE packers use for bulk sends.
"""

from __future__ import annotations

import socket
import struct

from actors.bgp.codec.attributes.base import (
    OPTIONAL,
    AttributeCodec,
    AttrType,
    MpReach,
    MpUnreach,
    PathAttributes,
    Value,
    attribute,
    attribute_error,
    ip_bytes,
)
from actors.bgp.codec.errors import UpdateSubcode
from actors.bgp.codec.nlri import AFI_IPV4, AFI_IPV6, decode_prefixes, encode_prefix

# -- encoding ---------------------------------------------------------------------------------


def _prefix_bytes(prefixes: tuple[str, ...]) -> bytes:
    return b"".join(encode_prefix(p)[1] for p in prefixes)


def _mp_reach_value(afi: int, safi: int, next_hop: bytes, nlri: bytes) -> bytes:
    return struct.pack("!HBB", afi, safi, len(next_hop)) + next_hop + b"\0" + nlri


def mp_reach_raw(afi: int, safi: int, next_hop: bytes, nlri: bytes) -> bytes:
    """MP_REACH_NLRI from already encoded next hop and prefixes (the bulk path)."""
    return attribute(OPTIONAL, AttrType.MP_REACH_NLRI, _mp_reach_value(afi, safi, next_hop, nlri))


def mp_unreach_attribute(afi: int, safi: int, withdrawn: bytes) -> bytes:
    return attribute(OPTIONAL, AttrType.MP_UNREACH_NLRI, struct.pack("!HB", afi, safi) + withdrawn)


def _encode_mp_reach(attrs: PathAttributes, four_octet: bool) -> bytes | None:
    mp = attrs.mp_reach
    if mp is None:
        return None
    next_hop = b"".join(ip_bytes(nh) for nh in mp.next_hops)
    return _mp_reach_value(mp.afi, mp.safi, next_hop, _prefix_bytes(mp.nlri))


def _encode_mp_unreach(attrs: PathAttributes, four_octet: bool) -> bytes | None:
    mp = attrs.mp_unreach
    if mp is None:
        return None
    return struct.pack("!HB", mp.afi, mp.safi) + _prefix_bytes(mp.withdrawn)


# -- decoding ---------------------------------------------------------------------------------


def _decode_mp_reach(value: Value, whole: bytes, four_octet: bool) -> MpReach:
    if len(value) < 5:
        raise attribute_error(UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, "short MP_REACH_NLRI")
    afi, safi, nh_len = struct.unpack_from("!HBB", value)
    if afi not in (AFI_IPV4, AFI_IPV6):
        raise attribute_error(
            UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, f"MP_REACH_NLRI for AFI {afi}"
        )
    if len(value) < 5 + nh_len:
        raise attribute_error(
            UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, "MP_REACH_NLRI next hop overruns"
        )
    raw_nh = bytes(value[4 : 4 + nh_len])
    if nh_len in (16, 32):  # IPv6, or IPv4 routes with an IPv6 next hop (RFC 8950)
        next_hops = tuple(
            socket.inet_ntop(socket.AF_INET6, raw_nh[i : i + 16]) for i in range(0, nh_len, 16)
        )
    elif afi == AFI_IPV4 and nh_len == 4:
        next_hops = (socket.inet_ntop(socket.AF_INET, raw_nh),)
    else:
        raise attribute_error(
            UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, f"MP_REACH_NLRI next hop of {nh_len} bytes"
        )
    nlri = decode_prefixes(value[5 + nh_len :], afi)
    return MpReach(afi, safi, next_hops, nlri)


def _decode_mp_unreach(value: Value, whole: bytes, four_octet: bool) -> MpUnreach:
    if len(value) < 3:
        raise attribute_error(UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, "short MP_UNREACH_NLRI")
    afi, safi = struct.unpack_from("!HB", value)
    if afi not in (AFI_IPV4, AFI_IPV6):
        raise attribute_error(
            UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, f"MP_UNREACH_NLRI for AFI {afi}"
        )
    return MpUnreach(afi, safi, decode_prefixes(value[3:], afi))


CODECS = (
    AttributeCodec(
        AttrType.MP_REACH_NLRI, OPTIONAL, "mp_reach", _decode_mp_reach, _encode_mp_reach
    ),
    AttributeCodec(
        AttrType.MP_UNREACH_NLRI, OPTIONAL, "mp_unreach", _decode_mp_unreach, _encode_mp_unreach
    ),
)
