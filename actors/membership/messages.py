"""The protocol's messages: immutable values, shared by the core, the codec and the transport."""

from __future__ import annotations

from enum import IntEnum

import msgspec

#: (IP address, port). Names identify members; addresses only say where to send.
Address = tuple[str, int]


class Status(IntEnum):
    ALIVE = 0
    SUSPECT = 1
    DEAD = 2
    LEFT = 3


class Ping(msgspec.Struct, frozen=True):
    """Are you alive? ``target`` is the name we expect, so a new process at an old address
    does not answer for a member it is not."""

    seq: int
    target: str
    source: str
    source_addr: Address


class IndirectPing(msgspec.Struct, frozen=True):
    """Please ping ``target`` for me and relay its ack (or a nack if it stays silent)."""

    seq: int
    target: str
    target_addr: Address
    source: str
    source_addr: Address
    nack: bool = True


class Ack(msgspec.Struct, frozen=True):
    seq: int


class Nack(msgspec.Struct, frozen=True):
    """The helper is alive but the target did not answer it (Lifeguard: the prober is fine)."""

    seq: int


class Alive(msgspec.Struct, frozen=True):
    node: str
    incarnation: int
    addr: Address
    meta: bytes = b""


class Suspect(msgspec.Struct, frozen=True):
    node: str
    incarnation: int
    sender: str


class Dead(msgspec.Struct, frozen=True):
    """``sender == node`` means the member left on purpose (graceful leave)."""

    node: str
    incarnation: int
    sender: str


class MemberRecord(msgspec.Struct, frozen=True):
    node: str
    addr: Address
    incarnation: int
    status: Status
    meta: bytes = b""


class PushPull(msgspec.Struct, frozen=True):
    """Full state exchange over TCP: anti-entropy, and how a node joins through a seed."""

    sender: str
    join: bool
    members: tuple[MemberRecord, ...]


Message = Ping | IndirectPing | Ack | Nack | Alive | Suspect | Dead | PushPull
Broadcast = Alive | Suspect | Dead
