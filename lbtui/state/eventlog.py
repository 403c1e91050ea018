"""The console's event log: the last events in order, read as lines on demand. No textual.

Holds :class:`EventLog` (an immutable sequence of :class:`LogEntry`, made as they are read), how
an event reads as one line of text (:func:`summary`) and how loud it is (:func:`event_level`).
It knows nothing of the rest of the console's state; :mod:`lbtui.state.model` holds the log.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, overload

from actors.events import (
    ActorFailed,
    AllocationFailed,
    AnnouncementStarted,
    ConfigRejected,
    Event,
    NodeLeft,
    NodeSuspected,
    ServiceEventObserved,
    SourceRejected,
    SpeakerStreamChanged,
    SplitBrainDetected,
)

MAX_LOG = 5000
# The reason of an AnnouncementStarted that takes an address over from a lost node.
FAILOVER = re.compile(r"^failover from (\S+)")
# Per-node snapshots repeating what AnnouncementStarted/Stopped already said.
UNLOGGED = frozenset({"AnnouncementsUpdated"})


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One line of the event log; its time, name, level and text are read from the event when
    shown (most never are: a 10k-event batch makes 5000 entries, two fields each)."""

    seq: int
    event: Event

    @property
    def t(self) -> float:
        return self.event.t

    @property
    def name(self) -> str:
        return type(self.event).__name__

    @property
    def level(self) -> str:  # info | warning | error
        return event_level(self.event)

    @property
    def record(self) -> dict[str, Any]:
        return self.event.to_json()

    @property
    def text(self) -> str:
        return _text(self.event.to_json())


class EventLog(Sequence[LogEntry]):
    """The event log: its events in order and the sequence number of the first; entries are
    made as they are read (a big batch would otherwise make thousands, most never read, for
    the collector to walk). Immutable; equal to any sequence of the same entries."""

    __slots__ = ("events", "first")

    def __init__(self, events: tuple[Event, ...] = (), first: int = 1) -> None:
        self.events = events
        self.first = first

    def __len__(self) -> int:
        return len(self.events)

    @overload
    def __getitem__(self, index: int) -> LogEntry: ...

    @overload
    def __getitem__(self, index: slice) -> EventLog: ...

    def __getitem__(self, index: int | slice) -> LogEntry | EventLog:
        if isinstance(index, slice):
            start, _, step = index.indices(len(self.events))
            if step != 1:
                raise ValueError("an event log slice has step 1")
            return EventLog(self.events[index], self.first + start)
        if index < 0:
            index += len(self.events)
        if not 0 <= index < len(self.events):
            raise IndexError("event log index out of range")
        return LogEntry(self.first + index, self.events[index])

    def __iter__(self) -> Iterator[LogEntry]:
        first = self.first
        return (LogEntry(first + i, e) for i, e in enumerate(self.events))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EventLog):
            return self.events == other.events and (not self.events or self.first == other.first)
        if isinstance(other, Sequence):
            return tuple(self) == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"EventLog({len(self.events)} events from {self.first})"


def summary(event: Event) -> str:
    """One line of text for the event log: the event's JSON fields without time and name.

    Events carrying whole snapshots (StateEvent) have short JSON forms already.
    """
    return _text(event.to_json())


def _text(record: Mapping[str, Any]) -> str:
    parts = []
    for key, value in record.items():
        if key in ("t", "event"):
            continue
        if isinstance(value, list):
            value = ",".join(str(v) for v in value) or "-"
        elif isinstance(value, dict):
            value = " ".join(f"{k}={v}" for k, v in value.items())
        parts.append(f"{key}={value}")
    return " ".join(parts)


_LEVELS: dict[type[Event], str] = {
    ConfigRejected: "error",
    SourceRejected: "error",
    ActorFailed: "error",
    AllocationFailed: "error",
    NodeLeft: "warning",
    NodeSuspected: "warning",
    SplitBrainDetected: "error",
}


def event_level(event: Event) -> str:
    if isinstance(event, AnnouncementStarted):
        return "warning" if FAILOVER.match(event.reason) else "info"
    if isinstance(event, SpeakerStreamChanged):
        return "warning" if event.state == "lost" else "info"
    if isinstance(event, ServiceEventObserved):
        return "warning" if event.kind == "Warning" else "info"
    return _LEVELS.get(type(event), "info")
