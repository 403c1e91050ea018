"""KEEPALIVE (RFC 4271 §4.4): a header and nothing else."""

from __future__ import annotations

import msgspec

from actors.bgp.codec.header import MessageType, frame

KEEPALIVE = frame(MessageType.KEEPALIVE, b"")


class KeepaliveMessage(msgspec.Struct, frozen=True):
    def encode(self) -> bytes:
        return KEEPALIVE
