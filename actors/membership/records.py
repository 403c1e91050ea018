"""The membership state machine's records: what it returns (``Step``: datagrams, streams and
membership changes) and what it keeps per member, probe, relayed probe and suspicion.

Plain data (the Lifeguard suspicion timeout aside); imports nothing of the protocol's logic.
"""

from __future__ import annotations

import math
from typing import Literal

import msgspec

from actors.membership.messages import Address, Message, Status

ChangeKind = Literal["joined", "suspected", "alive", "dead", "left", "updated"]


class Outgoing(msgspec.Struct, frozen=True):
    """Messages for one destination: one UDP datagram, or (stream) one TCP push-pull."""

    dest: Address
    messages: tuple[Message, ...]
    stream: bool = False


class MemberChange(msgspec.Struct, frozen=True):
    """How this node's view of ``node`` changed (``by``: who suspected or declared it)."""

    node: str
    kind: ChangeKind
    incarnation: int
    by: str = ""


class Step(msgspec.Struct):
    out: list[Outgoing] = msgspec.field(default_factory=list)
    changes: list[MemberChange] = msgspec.field(default_factory=list)


class Member(msgspec.Struct):
    name: str
    addr: Address
    incarnation: int
    status: Status
    meta: bytes
    changed_at: float


class Suspicion(msgspec.Struct):
    started: float
    k: int
    low: float
    high: float
    confirmers: set[str]
    deadline: float

    def confirm(self, sender: str) -> bool:
        """A new independent suspicion: shrink the timeout (Lifeguard). True if it counted."""
        if self.k < 1 or sender in self.confirmers or len(self.confirmers) - 1 >= self.k:
            return False
        self.confirmers.add(sender)
        confirmations = len(self.confirmers) - 1
        fraction = math.log(confirmations + 1) / math.log(self.k + 1)
        timeout = max(self.low, self.high - fraction * (self.high - self.low))
        self.deadline = self.started + timeout
        return True


class Probe(msgspec.Struct):
    seq: int
    target: str
    sent_at: float
    ack_deadline: float
    final_deadline: float
    indirect_sent: bool = False
    expected_nacks: int = 0
    nacks: int = 0


class Relay(msgspec.Struct):
    """An indirect probe this node runs for someone else."""

    origin_seq: int
    origin_addr: Address
    nack_at: float | None
    expires: float


class Counters(msgspec.Struct):
    probes: int = 0
    probe_failures: int = 0
    indirect_probes: int = 0
    refutes: int = 0
    suspicions: int = 0
    deaths_declared: int = 0
    stalls: int = 0
    pings_for_others: int = 0
    push_pulls: int = 0
    #: Crash evidence from the kernel (see crash.py): checks begun, answered, confirmed.
    crash_checks: int = 0
    crash_refuted: int = 0
    crashes_confirmed: int = 0
