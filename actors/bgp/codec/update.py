"""UPDATE (RFC 4271 §4.3, RFC 4760): decoding, and packing many prefixes into few messages.

The packers take attributes already encoded once per attribute set and prefixes already
encoded (``nlri.encode_prefix``) and fill each message up to 4096 bytes: 100k /32s with one
attribute set go out as about 125 UPDATEs.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence

import msgspec

from actors.bgp.codec.attributes.base import PathAttributes
from actors.bgp.codec.attributes.multiprotocol import mp_reach_raw, mp_unreach_attribute
from actors.bgp.codec.attributes.registry import decode_attributes, encode_attributes
from actors.bgp.codec.errors import BGPError, ErrorCode, UpdateSubcode
from actors.bgp.codec.header import HEADER_LEN, MAX_MESSAGE_LEN, MessageType, frame
from actors.bgp.codec.nlri import AFI_IPV4, decode_prefixes, encode_prefix

MAX_BODY = MAX_MESSAGE_LEN - HEADER_LEN
_HEADER_BYTES = bytes(frame(MessageType.UPDATE, b""))[:18]  # marker + length placeholder


class UpdateMessage(msgspec.Struct, frozen=True):
    withdrawn: tuple[str, ...] = ()
    attributes: PathAttributes = msgspec.field(default_factory=PathAttributes)
    nlri: tuple[str, ...] = ()

    @property
    def end_of_rib(self) -> tuple[int, int] | None:
        """The AFI/SAFI whose End-of-RIB marker this is (RFC 4724 §2), else None."""
        a = self.attributes
        if self.withdrawn or self.nlri:
            return None
        if a == PathAttributes():
            return (1, 1)
        if (
            a.mp_unreach is not None
            and not a.mp_unreach.withdrawn
            and a == PathAttributes(mp_unreach=a.mp_unreach)
        ):
            return (a.mp_unreach.afi, a.mp_unreach.safi)
        return None

    def announced(self) -> tuple[str, ...]:
        mp = self.attributes.mp_reach
        return self.nlri + (mp.nlri if mp else ())

    def withdrawn_all(self) -> tuple[str, ...]:
        mp = self.attributes.mp_unreach
        return self.withdrawn + (mp.withdrawn if mp else ())

    def encode(self, four_octet: bool = True) -> bytes:
        withdrawn = b"".join(encode_prefix(p)[1] for p in self.withdrawn)
        attrs = encode_attributes(self.attributes, four_octet)
        nlri = b"".join(encode_prefix(p)[1] for p in self.nlri)
        return encode_update(withdrawn, attrs, nlri)


def encode_update(withdrawn: bytes, attrs: bytes, nlri: bytes) -> bytes:
    body = struct.pack("!H", len(withdrawn)) + withdrawn + struct.pack("!H", len(attrs)) + attrs
    body += nlri
    if len(body) > MAX_BODY:
        raise ValueError(f"UPDATE body of {len(body)} bytes exceeds {MAX_BODY}")
    return frame(MessageType.UPDATE, body)


def decode_update(body: bytes | memoryview, four_octet: bool = True) -> UpdateMessage:
    """Decode an UPDATE body (header stripped). Raises BGPError."""
    n = len(body)
    if n < 4:
        raise BGPError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.MALFORMED_ATTRIBUTE_LIST)
    (withdrawn_len,) = struct.unpack_from("!H", body)
    if 2 + withdrawn_len + 2 > n:
        raise BGPError(
            ErrorCode.UPDATE_MESSAGE,
            UpdateSubcode.MALFORMED_ATTRIBUTE_LIST,
            b"",
            "withdrawn routes length overruns the message",
        )
    withdrawn = decode_prefixes(body[2 : 2 + withdrawn_len], AFI_IPV4)
    offset = 2 + withdrawn_len
    (attrs_len,) = struct.unpack_from("!H", body, offset)
    offset += 2
    if offset + attrs_len > n:
        raise BGPError(
            ErrorCode.UPDATE_MESSAGE,
            UpdateSubcode.MALFORMED_ATTRIBUTE_LIST,
            b"",
            "path attribute length overruns the message",
        )
    attributes = decode_attributes(body[offset : offset + attrs_len], four_octet)
    nlri = decode_prefixes(body[offset + attrs_len :], AFI_IPV4)
    if nlri or (attributes.mp_reach is not None and attributes.mp_reach.nlri):
        missing = [
            name
            for name, value in (("ORIGIN", attributes.origin), ("AS_PATH", attributes.as_path))
            if value is None
        ]
        if nlri and attributes.next_hop is None:
            missing.append("NEXT_HOP")
        if missing:
            code = {"ORIGIN": 1, "AS_PATH": 2, "NEXT_HOP": 3}[missing[0]]
            raise BGPError(
                ErrorCode.UPDATE_MESSAGE,
                UpdateSubcode.MISSING_WELL_KNOWN_ATTRIBUTE,
                bytes([code]),
                f"missing {', '.join(missing)}",
            )
    return UpdateMessage(withdrawn, attributes, nlri)


# -- bulk packing -----------------------------------------------------------------------------


def _chunks(items: Sequence[bytes], room: int) -> Iterator[bytes]:
    """Concatenate encoded prefixes into runs no longer than ``room`` bytes."""
    run: list[bytes] = []
    used = 0
    for item in items:
        if used + len(item) > room and run:
            yield b"".join(run)
            run, used = [], 0
        run.append(item)
        used += len(item)
    if run:
        yield b"".join(run)


def pack_ipv4_announce(attrs: bytes, prefixes: Sequence[bytes]) -> list[bytes]:
    """UPDATEs carrying ``prefixes`` (encoded IPv4 NLRI) with one attribute set."""
    room = MAX_BODY - 4 - len(attrs)
    head = b"\0\0" + struct.pack("!H", len(attrs)) + attrs
    return [frame(MessageType.UPDATE, head + chunk) for chunk in _chunks(prefixes, room)]


def pack_ipv4_withdraw(prefixes: Sequence[bytes]) -> list[bytes]:
    room = MAX_BODY - 4
    return [
        frame(MessageType.UPDATE, struct.pack("!H", len(chunk)) + chunk + b"\0\0")
        for chunk in _chunks(prefixes, room)
    ]


def pack_mp_announce(
    attrs: bytes, afi: int, safi: int, next_hop: bytes, prefixes: Sequence[bytes]
) -> list[bytes]:
    """UPDATEs with MP_REACH_NLRI (afi/safi, next hop) plus the other attributes ``attrs``."""
    # MP_REACH header: flags, type, 2-byte length, afi, safi, nh len, nh, reserved.
    overhead = 4 + 4 + len(next_hop) + 1
    room = MAX_BODY - 4 - len(attrs) - overhead
    out = []
    for chunk in _chunks(prefixes, room):
        all_attrs = attrs + mp_reach_raw(afi, safi, next_hop, chunk)
        body = b"\0\0" + struct.pack("!H", len(all_attrs)) + all_attrs
        out.append(frame(MessageType.UPDATE, body))
    return out


def pack_mp_withdraw(afi: int, safi: int, prefixes: Sequence[bytes]) -> list[bytes]:
    room = MAX_BODY - 4 - 4 - 3
    out = []
    for chunk in _chunks(prefixes, room):
        attr = mp_unreach_attribute(afi, safi, chunk)
        out.append(frame(MessageType.UPDATE, b"\0\0" + struct.pack("!H", len(attr)) + attr))
    return out


def end_of_rib(afi: int, safi: int) -> bytes:
    """The End-of-RIB marker (RFC 4724 §2): an empty UPDATE for IPv4 unicast, an empty
    MP_UNREACH_NLRI for any other family."""
    if (afi, safi) == (1, 1):
        return frame(MessageType.UPDATE, b"\0\0\0\0")
    attr = mp_unreach_attribute(afi, safi, b"")
    return frame(MessageType.UPDATE, b"\0\0" + struct.pack("!H", len(attr)) + attr)
