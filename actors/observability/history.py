"""Announcement history: who announced which address when, and why. Bounded and queryable.

Every AnnouncementStarted / AnnouncementStopped becomes an entry ("announced" / "withdrawn",
with the reason the speaker gave: "failover from node-b (dead)", "node-a elected", ...), and
so do the measurements around them: FailoverMeasured ("failover", with its seconds) and
SplitBrainDetected ("conflict"). The newest ``limit`` entries are kept. Pure: the status
endpoint (``GET /history``) feeds it events under its lock and queries it.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import msgspec

from actors.events import (
    AnnouncementStarted,
    AnnouncementStopped,
    Event,
    FailoverMeasured,
    SplitBrainDetected,
)

LIMIT = 10_000
RECORDED = (AnnouncementStarted, AnnouncementStopped, FailoverMeasured, SplitBrainDetected)


class HistoryEntry(msgspec.Struct, frozen=True):
    seq: int  # 1, 2, ... in recording order (gaps: entries dropped from the front)
    t: float  # the event's monotonic time
    wall: float  # the same moment as Unix time
    node: str
    ip: str  # an address, or a prefix for BGP
    protocol: str  # layer2 | bgp
    action: str  # announced | withdrawn | failover | conflict
    reason: str
    services: tuple[str, ...] = ()
    interfaces: tuple[str, ...] = ()
    peers: tuple[str, ...] = ()
    seconds: float | None = None  # a failover's measured time

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "seq": self.seq,
            "t": round(self.t, 6),
            "wall": round(self.wall, 6),
            "node": self.node,
            "ip": self.ip,
            "protocol": self.protocol,
            "action": self.action,
            "reason": self.reason,
        }
        for name, value in (
            ("services", self.services),
            ("interfaces", self.interfaces),
            ("peers", self.peers),
        ):
            if value:
                out[name] = list(value)
        if self.seconds is not None:
            out["seconds"] = round(self.seconds, 6)
        return out


class AnnouncementHistory:
    """The newest ``limit`` entries; ``recorded`` counts every entry ever made."""

    def __init__(self, limit: int = LIMIT) -> None:
        if limit < 1:
            raise ValueError("the history keeps at least one entry")
        self.limit = limit
        self.recorded = 0
        self._entries: deque[HistoryEntry] = deque(maxlen=limit)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def dropped(self) -> int:
        return self.recorded - len(self._entries)

    def record(self, event: Event, wall: float) -> HistoryEntry | None:
        """Record ``event`` if it belongs in the history; ``wall`` is its moment in Unix time."""
        fields = _fields(event)
        if fields is None:
            return None
        self.recorded += 1
        entry = HistoryEntry(self.recorded, event.t, wall, **fields)
        self._entries.append(entry)
        return entry

    def query(
        self,
        *,
        ip: str | None = None,
        node: str | None = None,
        protocol: str | None = None,
        action: str | None = None,
        since: int = 0,
        limit: int | None = None,
    ) -> list[HistoryEntry]:
        """Entries matching every filter given, oldest first; ``since``: only ``seq`` above it;
        ``limit``: the newest that many. ``ip`` matches an address or a prefix's address."""
        out = [
            e
            for e in self._entries
            if e.seq > since
            and (ip is None or ip in (e.ip, e.ip.partition("/")[0]))
            and (node is None or e.node == node)
            and (protocol is None or e.protocol == protocol)
            and (action is None or e.action == action)
        ]
        if limit is not None:
            out = out[-limit:] if limit > 0 else []
        return out


def _fields(event: Event) -> dict[str, Any] | None:
    if isinstance(event, AnnouncementStarted | AnnouncementStopped):
        started = isinstance(event, AnnouncementStarted)
        return {
            "node": event.node,
            "ip": event.ip,
            "protocol": event.protocol,
            "action": "announced" if started else "withdrawn",
            "reason": event.reason,
            "services": event.services if isinstance(event, AnnouncementStarted) else (),
            "interfaces": tuple(i for i in event.interface.split(",") if i),
            "peers": event.peers,
        }
    if isinstance(event, FailoverMeasured):
        detail = f"from {event.from_node} ({event.cause}): first packet after {event.seconds:.3f}s"
        return {
            "node": event.node,
            "ip": event.ip,
            "protocol": event.protocol,
            "action": "failover",
            "reason": detail,
            "seconds": event.seconds,
        }
    if isinstance(event, SplitBrainDetected):
        return {
            "node": event.node,
            "ip": event.ip,
            "protocol": "layer2",
            "action": "conflict",
            "reason": f"gratuitous ARP from {event.other_mac} on {event.interface}: "
            "another node announces it too",
            "interfaces": (event.interface,),
        }
    return None
