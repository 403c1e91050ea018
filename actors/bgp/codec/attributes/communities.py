"""COMMUNITIES (RFC 1997) and LARGE_COMMUNITY (RFC 8092): their codecs (``CODECS``,
registered in ``registry``) and their text forms (``"64512:100"``, ``"large:64512:1:1"``).
"""

from __future__ import annotations

import struct

from actors.bgp.codec.attributes.base import (
    OPTIONAL,
    TRANSITIVE,
    AttributeCodec,
    AttrType,
    PathAttributes,
    Value,
    attribute_error,
)
from actors.bgp.codec.errors import UpdateSubcode

# -- as text ----------------------------------------------------------------------------------


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


# -- on the wire ------------------------------------------------------------------------------


def _decode_communities(value: Value, whole: bytes, four_octet: bool) -> tuple[int, ...]:
    length = len(value)
    if length % 4:
        raise attribute_error(
            UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, f"COMMUNITIES of {length} bytes", whole
        )
    return struct.unpack(f"!{length // 4}I", value)


def _encode_communities(attrs: PathAttributes, four_octet: bool) -> bytes | None:
    if not attrs.communities:
        return None
    return struct.pack(f"!{len(attrs.communities)}I", *attrs.communities)


def _decode_large(value: Value, whole: bytes, four_octet: bool) -> tuple[tuple[int, ...], ...]:
    length = len(value)
    if length % 12 or length == 0:
        raise attribute_error(
            UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, f"LARGE_COMMUNITY of {length} bytes", whole
        )
    return tuple(struct.iter_unpack("!III", value))


def _encode_large(attrs: PathAttributes, four_octet: bool) -> bytes | None:
    if not attrs.large_communities:
        return None
    return b"".join(struct.pack("!III", *c) for c in attrs.large_communities)


CODECS = (
    AttributeCodec(
        AttrType.COMMUNITIES,
        OPTIONAL | TRANSITIVE,
        "communities",
        _decode_communities,
        _encode_communities,
    ),
    AttributeCodec(
        AttrType.LARGE_COMMUNITY,
        OPTIONAL | TRANSITIVE,
        "large_communities",
        _decode_large,
        _encode_large,
    ),
)
