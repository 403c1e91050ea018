"""lbtui's own BGP-4 wire codec: struct based, one module per message or attribute.

``decode_message`` turns one whole message (header included, as ``FrameReader`` cuts them)
into a message object, or raises :class:`BGPError` carrying the NOTIFICATION to send: no other
exception escapes it, whatever the bytes (a hypothesis test holds it to that).
"""

from __future__ import annotations

from actors.bgp.codec.errors import BGPError, ErrorCode, describe
from actors.bgp.codec.header import FrameReader, MessageType, check_header
from actors.bgp.codec.keepalive import KEEPALIVE, KeepaliveMessage
from actors.bgp.codec.notification import NotificationMessage, decode_notification
from actors.bgp.codec.open import OpenMessage, decode_open
from actors.bgp.codec.route_refresh import RouteRefreshMessage, decode_route_refresh
from actors.bgp.codec.update import UpdateMessage, decode_update

Message = OpenMessage | UpdateMessage | NotificationMessage | KeepaliveMessage | RouteRefreshMessage

__all__ = [
    "KEEPALIVE",
    "BGPError",
    "ErrorCode",
    "FrameReader",
    "KeepaliveMessage",
    "Message",
    "MessageType",
    "NotificationMessage",
    "OpenMessage",
    "RouteRefreshMessage",
    "UpdateMessage",
    "decode_message",
    "describe",
]


def decode_message(message: bytes, four_octet_as: bool = True) -> Message:
    """Decode one whole message. ``four_octet_as``: AS_PATH width negotiated on the session."""
    msg_type, body = check_header(message)
    try:
        if msg_type is MessageType.KEEPALIVE:
            return KeepaliveMessage()
        if msg_type is MessageType.UPDATE:
            return decode_update(body, four_octet_as)
        if msg_type is MessageType.OPEN:
            return decode_open(body)
        if msg_type is MessageType.NOTIFICATION:
            return decode_notification(body)
        return decode_route_refresh(body)
    except BGPError:
        raise
    except (ValueError, IndexError, OverflowError, TypeError) as exc:  # pragma: no cover
        # The decoders check every length first; this is a last line of defence so that a
        # malformed message can never escape as anything but a NOTIFICATION.
        raise BGPError(ErrorCode.MESSAGE_HEADER, 0, b"", f"undecodable: {exc}") from exc
