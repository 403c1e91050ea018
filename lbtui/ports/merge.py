"""Several speakers' event streams as one cluster's (pure): :class:`EventMerger`.

Every speaker of a cluster run from files computes the same allocation (house rule 7), so each
tells the same cluster-wide news: ``IpAssigned default/web``, ``ServiceChanged``, a rejected
configuration. Merged as they come, the log would say each thing once per speaker. What a
speaker says about itself (its announcements, its view of membership, its BGP sessions, the
failovers it measured) names its node or its observer and is different on every speaker, so it
is never a duplicate.

The merger lets an event through unless another source told the very same event (every field
but its time equal) within ``window`` seconds: the first to tell it is heard, the echoes are
not. The same source may repeat itself (a speaker sending two equal gratuitous-ARP reports is
two reports). Nothing here touches the network; :mod:`lbtui.ports.cluster` feeds it.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

import msgspec

from actors.events import Event

WINDOW = 5.0  # seconds within which the same news from another speaker is an echo
PRUNE_AT = 50_000  # remembered events before the old ones are forgotten


def identity(event: Event) -> Hashable | None:
    """The event without its time (None: it cannot be compared, let it through)."""
    try:
        key = msgspec.structs.replace(event, t=0.0)
        hash(key)
    except (TypeError, ValueError):
        return None
    return key


class EventMerger:
    """Drops what another source already told within ``window`` seconds."""

    def __init__(self, window: float = WINDOW, prune_at: int = PRUNE_AT) -> None:
        self.window = window
        self.prune_at = prune_at
        self.seen: dict[Hashable, tuple[str, float]] = {}
        self.echoes = 0  # dropped so far

    def admit(self, source: str, events: Iterable[Event]) -> list[Event]:
        """The events of ``source`` that are news to the merged stream, in order."""
        out: list[Event] = []
        for event in events:
            key = identity(event)
            if key is None:
                out.append(event)
                continue
            told = self.seen.get(key)
            if told is not None and told[0] != source and abs(event.t - told[1]) < self.window:
                self.echoes += 1
                continue
            self.seen[key] = (source, event.t)
            out.append(event)
        if len(self.seen) > self.prune_at:
            self._prune()
        return out

    def _prune(self) -> None:
        newest = max(t for _, t in self.seen.values())
        self.seen = {k: v for k, v in self.seen.items() if newest - v[1] < self.window}
