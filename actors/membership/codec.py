"""The wire format of membership messages (plaintext, before sealing with the keyring).

A packet is a msgpack array ``[VERSION, [message, ...]]``; a message is an array whose first
item is its type code, then its fields in order. msgpack does the byte work; everything it
returns is checked here field by field (types, ranges, lengths, IP literals), so a packet
decodes into well-formed messages or raises CodecError: nothing else ever escapes.

This is not memberlist's wire format (compatibility is not a goal: lbtui speakers gossip with
each other only); it is smaller and every field is validated.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable, Sequence
from typing import Any

import msgpack

from actors.membership.messages import (
    Ack,
    Address,
    Alive,
    Dead,
    IndirectPing,
    MemberRecord,
    Message,
    Nack,
    Ping,
    PushPull,
    Status,
    Suspect,
)

VERSION = 1
MAX_NAME = 128
MAX_META = 512
MAX_MESSAGES = 512
MAX_MEMBERS = 65_536
MAX_SEQ = 2**32 - 1
MAX_INCARNATION = 2**64 - 1
#: A TCP frame (push-pull) larger than this is refused before it is read.
MAX_FRAME = 8 * 1024 * 1024

_PING, _INDIRECT, _ACK, _NACK, _ALIVE, _SUSPECT, _DEAD, _PUSHPULL = range(1, 9)


class CodecError(ValueError):
    """A packet or frame that is not a well-formed membership message."""


# -- encoding -------------------------------------------------------------------------------


def _wire(msg: Message) -> list[Any]:
    match msg:
        case Ping(seq, target, source, (host, port)):
            return [_PING, seq, target, source, host, port]
        case IndirectPing(seq, target, (thost, tport), source, (shost, sport), nack):
            return [_INDIRECT, seq, target, thost, tport, source, shost, sport, nack]
        case Ack(seq):
            return [_ACK, seq]
        case Nack(seq):
            return [_NACK, seq]
        case Alive(node, inc, (host, port), meta):
            return [_ALIVE, node, inc, host, port, meta]
        case Suspect(node, inc, sender):
            return [_SUSPECT, node, inc, sender]
        case Dead(node, inc, sender):
            return [_DEAD, node, inc, sender]
        case PushPull(sender, join, members):
            rows = [
                [m.node, m.addr[0], m.addr[1], m.incarnation, int(m.status), m.meta]
                for m in members
            ]
            return [_PUSHPULL, sender, join, rows]
    raise TypeError(f"not a membership message: {msg!r}")


def encode(messages: Sequence[Message]) -> bytes:
    """One packet (or frame) holding ``messages``, in order."""
    return msgpack.packb([VERSION, [_wire(m) for m in messages]], use_bin_type=True)


def encoded_size(msg: Message) -> int:
    """Bytes ``msg`` adds to a packet (to fill UDP packets without going over)."""
    return len(msgpack.packb(_wire(msg), use_bin_type=True))


#: Bytes of the packet header around the messages (version + array headers), an upper bound.
PACKET_OVERHEAD = 8


# -- decoding -------------------------------------------------------------------------------


def decode(data: bytes) -> tuple[Message, ...]:
    """The messages of one packet. Raises CodecError, and only CodecError."""
    try:
        obj = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=True,
            max_str_len=MAX_NAME * 4,
            max_bin_len=MAX_META,
            max_array_len=MAX_MEMBERS,
            max_map_len=0,
            max_ext_len=0,
        )
    except Exception as exc:  # msgpack raises several unrelated types for bad input
        raise CodecError(f"not msgpack: {type(exc).__name__}") from None
    if not isinstance(obj, list) or len(obj) != 2:
        raise CodecError("not a packet")
    version, body = obj
    if version != VERSION or type(version) is not int:
        raise CodecError(f"unknown version {version!r}")
    if not isinstance(body, list) or not body or len(body) > MAX_MESSAGES:
        raise CodecError("bad message list")
    return tuple(_message(item) for item in body)


def _message(item: Any) -> Message:
    if not isinstance(item, list) or not item:
        raise CodecError("message is not an array")
    code, *fields = item
    parser = _PARSERS.get(code) if type(code) is int else None
    if parser is None:
        raise CodecError(f"unknown message type {code!r}")
    arity, build = parser
    if len(fields) != arity:
        raise CodecError(f"message type {code}: {len(fields)} fields, expected {arity}")
    return build(fields)


def _int(value: Any, maximum: int, what: str) -> int:
    if type(value) is not int or not 0 <= value <= maximum:
        raise CodecError(f"bad {what}")
    return value


def _name(value: Any) -> str:
    if type(value) is not str or not 0 < len(value) <= MAX_NAME or not value.isprintable():
        raise CodecError("bad node name")
    return value


def _bool(value: Any) -> bool:
    if type(value) is not bool:
        raise CodecError("bad flag")
    return value


def _meta(value: Any) -> bytes:
    if type(value) is not bytes or len(value) > MAX_META:
        raise CodecError("bad meta")
    return value


def _addr(host: Any, port: Any) -> Address:
    if type(host) is not str or len(host) > 64:
        raise CodecError("bad address")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise CodecError("bad address") from None
    if type(port) is not int or not 0 < port < 65536:
        raise CodecError("bad port")
    return (str(ip), port)


def _status(value: Any) -> Status:
    if type(value) is not int or value not in Status._value2member_map_:
        raise CodecError("bad status")
    return Status(value)


def _pushpull(f: list[Any]) -> PushPull:
    sender, join, rows = f
    if not isinstance(rows, list):
        raise CodecError("bad member list")
    members = []
    for row in rows:
        if not isinstance(row, list) or len(row) != 6:
            raise CodecError("bad member record")
        node, host, port, inc, status, meta = row
        members.append(
            MemberRecord(
                _name(node),
                _addr(host, port),
                _int(inc, MAX_INCARNATION, "incarnation"),
                _status(status),
                _meta(meta),
            )
        )
    return PushPull(_name(sender), _bool(join), tuple(members))


_PARSERS: dict[int, tuple[int, Callable[[list[Any]], Message]]] = {
    _PING: (
        5,
        lambda f: Ping(_int(f[0], MAX_SEQ, "seq"), _name(f[1]), _name(f[2]), _addr(f[3], f[4])),
    ),
    _INDIRECT: (
        8,
        lambda f: IndirectPing(
            _int(f[0], MAX_SEQ, "seq"),
            _name(f[1]),
            _addr(f[2], f[3]),
            _name(f[4]),
            _addr(f[5], f[6]),
            _bool(f[7]),
        ),
    ),
    _ACK: (1, lambda f: Ack(_int(f[0], MAX_SEQ, "seq"))),
    _NACK: (1, lambda f: Nack(_int(f[0], MAX_SEQ, "seq"))),
    _ALIVE: (
        5,
        lambda f: Alive(
            _name(f[0]), _int(f[1], MAX_INCARNATION, "incarnation"), _addr(f[2], f[3]), _meta(f[4])
        ),
    ),
    _SUSPECT: (
        3,
        lambda f: Suspect(_name(f[0]), _int(f[1], MAX_INCARNATION, "incarnation"), _name(f[2])),
    ),
    _DEAD: (
        3,
        lambda f: Dead(_name(f[0]), _int(f[1], MAX_INCARNATION, "incarnation"), _name(f[2])),
    ),
    _PUSHPULL: (3, _pushpull),
}


# -- TCP framing ----------------------------------------------------------------------------

FRAME_HEADER = struct.Struct("!I")


def frame(sealed: bytes) -> bytes:
    """A length-prefixed frame for the TCP stream."""
    if len(sealed) > MAX_FRAME:
        raise CodecError("frame too large")
    return FRAME_HEADER.pack(len(sealed)) + sealed
