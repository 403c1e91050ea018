"""NOTIFICATION (RFC 4271 §4.5) with readable codes, and the shutdown communication of
RFC 9003 (a UTF-8 reason carried by Cease / Administrative Shutdown or Reset)."""

from __future__ import annotations

import struct

import msgspec

from actors.bgp.codec.errors import BGPError, CeaseSubcode, ErrorCode, describe
from actors.bgp.codec.header import MessageType, frame

_SHUTDOWN_SUBCODES = (CeaseSubcode.ADMINISTRATIVE_SHUTDOWN, CeaseSubcode.ADMINISTRATIVE_RESET)


class NotificationMessage(msgspec.Struct, frozen=True):
    code: int
    subcode: int
    data: bytes = b""

    @classmethod
    def from_error(cls, error: BGPError) -> NotificationMessage:
        return cls(error.code, error.subcode, error.data)

    @classmethod
    def shutdown(
        cls, reason: str = "", subcode: int = CeaseSubcode.ADMINISTRATIVE_SHUTDOWN
    ) -> NotificationMessage:
        """Cease with a shutdown communication (at most 255 bytes of UTF-8)."""
        text = reason.encode("utf-8")[:255]
        # Do not cut a multi-byte character in half.
        text = text.decode("utf-8", "ignore").encode("utf-8")
        return cls(ErrorCode.CEASE, subcode, bytes([len(text)]) + text if text else b"")

    @property
    def communication(self) -> str:
        """The shutdown communication, if this carries one."""
        if self.code != ErrorCode.CEASE or self.subcode not in _SHUTDOWN_SUBCODES:
            return ""
        if not self.data or self.data[0] == 0 or len(self.data) < 1 + self.data[0]:
            return ""
        return self.data[1 : 1 + self.data[0]].decode("utf-8", "replace")

    def describe(self) -> str:
        """``Cease: Administrative Shutdown ("maintenance")``, ``Hold Timer Expired``."""
        text = describe(self.code, self.subcode)
        said = self.communication
        return f'{text} ("{said}")' if said else text

    def encode(self) -> bytes:
        body = struct.pack("!BB", self.code, self.subcode) + self.data
        return frame(MessageType.NOTIFICATION, body)


def decode_notification(body: bytes | memoryview) -> NotificationMessage:
    # The header check guarantees at least 2 bytes; any code is accepted (we only report it).
    return NotificationMessage(body[0], body[1], bytes(body[2:]))
