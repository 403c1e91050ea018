"""The BGP message header (RFC 4271 §4.1) and stream framing.

Every message starts with a 16-byte all-ones marker, a 2-byte length (header included,
19..4096) and a 1-byte type. ``FrameReader`` cuts a TCP byte stream into whole messages and
turns a broken header into the NOTIFICATION the RFC asks for.
"""

from __future__ import annotations

import struct
from enum import IntEnum

from actors.bgp.codec.errors import BGPError, ErrorCode, HeaderSubcode

MARKER = b"\xff" * 16
HEADER_LEN = 19
MAX_MESSAGE_LEN = 4096

_HEADER = struct.Struct("!16sHB")


class MessageType(IntEnum):
    OPEN = 1
    UPDATE = 2
    NOTIFICATION = 3
    KEEPALIVE = 4
    ROUTE_REFRESH = 5


# Smallest legal length per type (RFC 4271 §6.1, RFC 2918 §3); KEEPALIVE is exactly 19.
MIN_LENGTH = {
    MessageType.OPEN: 29,
    MessageType.UPDATE: 23,
    MessageType.NOTIFICATION: 21,
    MessageType.KEEPALIVE: 19,
    MessageType.ROUTE_REFRESH: 23,
}


def frame(msg_type: int, body: bytes) -> bytes:
    """A whole message: header + body. The caller keeps bodies within 4077 bytes."""
    return _HEADER.pack(MARKER, HEADER_LEN + len(body), msg_type) + body


def check_header(message: bytes) -> tuple[MessageType, memoryview]:
    """Validate one whole message's header; return its type and body."""
    if len(message) < HEADER_LEN:
        raise BGPError(ErrorCode.MESSAGE_HEADER, HeaderSubcode.BAD_LENGTH, b"", "short header")
    marker, length, raw_type = _HEADER.unpack_from(message)
    if marker != MARKER:
        raise BGPError(ErrorCode.MESSAGE_HEADER, HeaderSubcode.NOT_SYNCHRONIZED, b"", "bad marker")
    if length != len(message) or not HEADER_LEN <= length <= MAX_MESSAGE_LEN:
        raise BGPError(
            ErrorCode.MESSAGE_HEADER,
            HeaderSubcode.BAD_LENGTH,
            struct.pack("!H", length),
            f"bad message length {length}",
        )
    try:
        msg_type = MessageType(raw_type)
    except ValueError:
        raise BGPError(
            ErrorCode.MESSAGE_HEADER,
            HeaderSubcode.BAD_TYPE,
            bytes([raw_type]),
            f"unknown message type {raw_type}",
        ) from None
    minimum = MIN_LENGTH[msg_type]
    if length < minimum or (msg_type is MessageType.KEEPALIVE and length != minimum):
        raise BGPError(
            ErrorCode.MESSAGE_HEADER,
            HeaderSubcode.BAD_LENGTH,
            struct.pack("!H", length),
            f"bad length {length} for {msg_type.name}",
        )
    return msg_type, memoryview(message)[HEADER_LEN:]


class FrameReader:
    """Cuts a byte stream into whole messages (bytes, header included).

    A bad marker or length makes the stream unusable: ``feed`` raises BGPError and the
    connection must be closed after sending the NOTIFICATION it carries.
    """

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buffer
        buf += data
        out: list[bytes] = []
        start = 0
        end = len(buf)
        while end - start >= HEADER_LEN:
            if buf[start : start + 16] != MARKER:
                raise BGPError(
                    ErrorCode.MESSAGE_HEADER, HeaderSubcode.NOT_SYNCHRONIZED, b"", "bad marker"
                )
            length = (buf[start + 16] << 8) | buf[start + 17]
            if not HEADER_LEN <= length <= MAX_MESSAGE_LEN:
                raise BGPError(
                    ErrorCode.MESSAGE_HEADER,
                    HeaderSubcode.BAD_LENGTH,
                    struct.pack("!H", length),
                    f"bad message length {length}",
                )
            if end - start < length:
                break
            out.append(bytes(buf[start : start + length]))
            start += length
        if start:
            del buf[:start]
        return out

    @property
    def pending(self) -> int:
        return len(self._buffer)
