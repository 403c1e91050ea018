"""The path attribute list (RFC 4271 §4.3): the table of registered attribute codecs, keyed by
type code, and the walk that decodes or encodes a whole list with it.

Decoding checks, in this order, what every attribute gets (header and length, no repeats,
unknown ones, the optional and transitive flags, a fixed length), then hands the value to its
codec. Unknown optional attributes are kept raw (and sent on as they came); an unknown
well-known one is an error. Every check raises the UPDATE Message Error subcode RFC 4271
§6.3 names, with the erroneous attribute as data where the RFC asks for it.
"""

from __future__ import annotations

from actors.bgp.codec.attributes import communities, multiprotocol, path
from actors.bgp.codec.attributes.base import (
    EXTENDED_LENGTH,
    OPTIONAL,
    TRANSITIVE,
    AttributeCodec,
    PathAttributes,
    Value,
    attribute,
    attribute_error,
)
from actors.bgp.codec.errors import UpdateSubcode

CODECS: dict[int, AttributeCodec] = {
    codec.code: codec
    for codec in sorted(
        (*path.CODECS, *communities.CODECS, *multiprotocol.CODECS), key=lambda c: c.code
    )
}


def decode_attributes(data: Value, four_octet: bool = True) -> PathAttributes:
    """Decode a path attribute list. Raises BGPError with the RFC 4271 §6.3 subcode."""
    values: dict[str, object] = {}
    unknown: list[tuple[int, int, bytes]] = []
    seen: set[int] = set()
    i, n = 0, len(data)
    while i < n:
        if n - i < 3:
            raise attribute_error(
                UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, "truncated attribute header"
            )
        flags, type_code = data[i], data[i + 1]
        if flags & EXTENDED_LENGTH:
            if n - i < 4:
                raise attribute_error(
                    UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, "truncated attribute header"
                )
            length = (data[i + 2] << 8) | data[i + 3]
            start = i + 4
        else:
            length = data[i + 2]
            start = i + 3
        end = start + length
        whole = bytes(data[i:end])  # the erroneous attribute goes into NOTIFICATIONs
        if end > n:
            raise attribute_error(
                UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, f"attribute {type_code} overruns", whole
            )
        i = end
        if type_code in seen:
            raise attribute_error(
                UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, f"attribute {type_code} repeated"
            )
        seen.add(type_code)
        value = data[start:end]
        codec = CODECS.get(type_code)
        if codec is None:
            if not flags & OPTIONAL:
                raise attribute_error(
                    UpdateSubcode.UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
                    f"unknown well-known attribute {type_code}",
                    whole,
                )
            unknown.append((flags, type_code, bytes(value)))
            continue
        name = codec.code.name
        if flags & (OPTIONAL | TRANSITIVE) != codec.flags:
            raise attribute_error(
                UpdateSubcode.ATTRIBUTE_FLAGS_ERROR, f"flags {flags:#x} on {name}", whole
            )
        if codec.length is not None and length != codec.length:
            raise attribute_error(
                UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, f"{name} of length {length}", whole
            )
        values[codec.field] = codec.decode(value, whole, four_octet)
    return PathAttributes(**values, unknown=tuple(unknown))  # type: ignore[arg-type]


def encode_attributes(attrs: PathAttributes, four_octet: bool = True) -> bytes:
    """Every attribute present in ``attrs``, in type-code order (as RFC 4271 recommends).

    On a 2-byte session, ASNs above 65535 become AS_TRANS in AS_PATH and the real path goes
    into AS4_PATH (RFC 6793 §4.2.2).
    """
    out: list[tuple[int, bytes]] = []
    for code, codec in CODECS.items():
        value = codec.encode(attrs, four_octet)
        if value is not None:
            out.append((code, attribute(codec.flags, code, value)))
    for flags, type_code, value in attrs.unknown:
        out.append((type_code, attribute(flags, type_code, value)))
    out.sort(key=lambda item: item[0])
    return b"".join(raw for _, raw in out)
