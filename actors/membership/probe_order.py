"""Whom to probe next: round-robin over a shuffled list of the live members (SWIM §4.3).

Every member is probed once a round, in an order shuffled afresh each round; a newcomer is
put at a random place, so it is not probed by everyone at the same moment. Pure: the random
source is injected.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from actors.membership.messages import Status
from actors.membership.records import Member

_LIVE = (Status.ALIVE, Status.SUSPECT)


class ProbeOrder:
    def __init__(self, me: str, rng: random.Random) -> None:
        self.me = me
        self.rng = rng
        self._order: list[str] = []
        self._index = 0

    def add(self, name: str) -> None:
        # At a random place, so a newcomer is not probed by everyone at the same moment.
        self._order.insert(self.rng.randint(0, len(self._order)), name)

    def next(self, members: Mapping[str, Member]) -> Member | None:
        """The next live member to probe (None: there is no other live member)."""
        for _ in range(2):
            while self._index < len(self._order):
                name = self._order[self._index]
                self._index += 1
                m = members.get(name)
                if m is not None and m.status in _LIVE:
                    return m
            # A round is over: a fresh order over the current members.
            self._order = [
                m.name for m in members.values() if m.name != self.me and m.status in _LIVE
            ]
            self.rng.shuffle(self._order)
            self._index = 0
        return None
