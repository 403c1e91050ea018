"""KEEPALIVE (RFC 4271 §4.4): a header and nothing else."""

from __future__ import annotations

from dataclasses import dataclass

from actors.bgp.codec.header import MessageType, frame

KEEPALIVE = frame(MessageType.KEEPALIVE, b"")


@dataclass(frozen=True, slots=True)
class KeepaliveMessage:
    def encode(self) -> bytes:
        return KEEPALIVE
