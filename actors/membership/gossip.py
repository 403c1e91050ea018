"""Dissemination: the queue of membership changes waiting to be gossiped.

Each change (Alive, Suspect, Dead about one node) is piggybacked on every datagram that has
room for it, fewest transmissions first and newest first among equals, and dropped after a
bounded number of transmissions (the profile's ``retransmit_limit``, which grows with the
cluster). A newer message about a node replaces the older one. Pure: no clock, no socket.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from actors.membership.messages import Broadcast, Message


class _Queued(msgspec.Struct):
    msg: Broadcast
    size: int
    order: int
    transmits: int = 0


class BroadcastQueue:
    """Changes to gossip, by node. ``size`` measures a message on the wire."""

    def __init__(self, size: Callable[[Message], int]) -> None:
        self._size = size
        self._queue: dict[str, _Queued] = {}
        self._order = 0

    def __bool__(self) -> bool:
        return bool(self._queue)

    def put(self, msg: Broadcast) -> None:
        """Queue a change; a newer message about a node replaces older ones."""
        self._order += 1
        self._queue[msg.node] = _Queued(msg, self._size(msg), self._order)

    def take(self, budget: int, limit: int) -> list[Message]:
        """As many changes as fit in ``budget`` bytes; each goes out at most ``limit`` times."""
        if not self._queue:
            return []
        picked: list[Message] = []
        for key, q in sorted(self._queue.items(), key=lambda kv: (kv[1].transmits, -kv[1].order)):
            if q.size > budget:
                continue
            budget -= q.size
            picked.append(q.msg)
            q.transmits += 1
            if q.transmits >= limit:
                del self._queue[key]
        return picked

    def forget(self, node: str) -> None:
        self._queue.pop(node, None)

    def clear(self) -> None:
        self._queue.clear()
