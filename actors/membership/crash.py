"""Crash evidence from the kernel, the pure part: whom this node keeps a TCP connection to,
and the checks that turn an unannounced close of one into a verdict.

When a speaker's process dies its kernel closes every connection it held, at once; when a
node loses power or its cable, nothing is closed and SWIM's probes find it as before. So each
member keeps a connection to its ``k`` ring successors (names in sorted order, wrapping), and
is watched in turn by its ``k`` predecessors: both ends see the other's process go.

The transport (I/O) reports a member lost only when a watch connection closed without the
peer's goodbye byte *and* a fresh connect to its membership port was refused: nobody listens
there any more (a stalled process still has its listener: the kernel accepts for it). That is
strong evidence, yet not a verdict: a member whose membership restarted in place could be
back within milliseconds. The core pings it directly and starts a ``CrashCheck``; an ack
within ``crash_confirm`` cancels it, otherwise the member is declared dead and gossiped like
any death. A member that left on purpose says so (and says goodbye) before it closes, and
stays "left".

Nothing here touches a socket or a clock: ``now`` comes in, deadlines go out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import msgspec


def ring_successors(me: str, names: Iterable[str], k: int) -> tuple[str, ...]:
    """The ``k`` members after ``me`` in the ring of ``names`` (sorted, wrapping), nearest
    first; fewer when there are fewer others. ``me`` need not be in ``names``."""
    ring = sorted(set(names) | {me})
    at = ring.index(me)
    others = len(ring) - 1
    return tuple(ring[(at + step) % len(ring)] for step in range(1, min(k, others) + 1))


class CrashCheck(msgspec.Struct):
    """A member whose connection closed and whose port refused us: pinged with ``seq``,
    dead at ``deadline`` unless it acks (and only if it is still at ``incarnation``)."""

    node: str
    incarnation: int
    seq: int
    started: float
    deadline: float


class CrashChecks:
    """The checks under way, at most one per member."""

    def __init__(self) -> None:
        self._by_node: dict[str, CrashCheck] = {}

    def __len__(self) -> int:
        return len(self._by_node)

    def __contains__(self, node: object) -> bool:
        return node in self._by_node

    def start(self, node: str, incarnation: int, seq: int, now: float, confirm: float) -> bool:
        """Begin checking ``node``; False (and nothing changes) if a check already runs."""
        if node in self._by_node:
            return False
        self._by_node[node] = CrashCheck(node, incarnation, seq, now, now + confirm)
        return True

    def acked(self, seq: int) -> CrashCheck | None:
        """The ack for a check's ping: that check is over (the member lives)."""
        for node, check in self._by_node.items():
            if check.seq == seq:
                del self._by_node[node]
                return check
        return None

    def cancel(self, node: str) -> None:
        self._by_node.pop(node, None)

    def postpone(self, until: float) -> None:
        """This process stalled: an ack may be waiting unread; judge nothing before ``until``."""
        for check in self._by_node.values():
            check.deadline = max(check.deadline, until)

    def due(self, now: float) -> list[CrashCheck]:
        """The checks whose time ran out without an ack, removed, oldest first."""
        expired = sorted(
            (c for c in self._by_node.values() if now >= c.deadline), key=lambda c: c.deadline
        )
        for check in expired:
            del self._by_node[check.node]
        return expired

    def next_deadline(self) -> float:
        return min((c.deadline for c in self._by_node.values()), default=math.inf)
