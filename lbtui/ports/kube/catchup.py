"""One speaker's events on the console's clock (pure): moving their times, the
AnnouncementLedger of what the speaker announces, where a follower is in its stream, and
catching up from a ``GET /state`` answer after a gap.

Nothing here touches the network; :mod:`lbtui.ports.kube.follower` feeds it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from actors.events import (
    AnnouncementStarted,
    AnnouncementStopped,
    Event,
    MembershipUpdated,
    PeerSessionChanged,
)
from lbtui.ports.remote import decode_event

# Of a speaker's recent events, how many a console attaching for the first time replays (the
# state in force comes from the snapshot; these give the log and failovers their context).
FIRST_CONTACT_HISTORY = 100


def rebase(event: Event, offset: float) -> Event:
    """The event with its time moved onto the console's clock."""
    return msgspec.structs.replace(event, t=event.t + offset) if offset else event


AnnouncementKey = tuple[str, str, str, tuple[str, ...]]


def _key(event: AnnouncementStarted) -> AnnouncementKey:
    return (event.node, event.ip, event.protocol, event.peers)


class AnnouncementLedger:
    """What one speaker announces, as far as its events said: to reconcile with its state after
    a gap in the stream, and to withdraw everything when its pod is gone."""

    def __init__(self) -> None:
        self.current: dict[AnnouncementKey, AnnouncementStarted] = {}
        # (node, peer) -> the last state the speaker told of its BGP session.
        self.sessions: dict[tuple[str, str], PeerSessionChanged] = {}

    def apply(self, event: Event) -> None:
        if isinstance(event, PeerSessionChanged):
            self.sessions[(event.node, event.peer)] = event
        elif isinstance(event, AnnouncementStarted):
            self.current[_key(event)] = event
        elif isinstance(event, AnnouncementStopped):
            for key in [
                k
                for k in self.current
                if k[:3] == (event.node, event.ip, event.protocol)
                and (not event.peers or k[3] == event.peers)
            ]:
                del self.current[key]

    def reconcile(self, in_force: Iterable[AnnouncementStarted], t: float) -> list[Event]:
        """The events that make the console's idea of this speaker equal ``in_force``.

        An announcement the stream never showed is started with its own time; its reason
        says it was found in force, so no failover is counted for something not seen."""
        wanted = {_key(a): a for a in in_force}
        out: list[Event] = []
        for key in sorted(self.current.keys() - wanted.keys()):
            node, ip, protocol, peers = key
            out.append(
                AnnouncementStopped(t, node, ip, protocol, "no longer in force", peers=peers)  # type: ignore[arg-type]
            )
        for key, started in sorted(wanted.items()):
            known = self.current.get(key)
            if known is not None and _same(known, started):
                continue
            out.append(msgspec.structs.replace(started, reason=f"in force: {started.reason}"))
        self.current = dict(wanted)
        return out

    def sessions_unknown(self, t: float, reason: str) -> list[Event]:
        """The speaker's BGP sessions as nobody can tell them now (its stream is lost)."""
        return [
            PeerSessionChanged(t, node, peer, "Unknown", reason)
            for (node, peer) in sorted(self.sessions)
        ]

    def sessions_known(self) -> list[Event]:
        """The sessions as the speaker last told them (to show again when it answers)."""
        return [self.sessions[key] for key in sorted(self.sessions)]

    def withdraw_all(self, t: float, reason: str) -> list[Event]:
        out: list[Event] = [
            AnnouncementStopped(t, node, ip, protocol, reason, peers=peers)  # type: ignore[arg-type]
            for node, ip, protocol, peers in sorted(self.current)
        ]
        self.current.clear()
        return out


def _same(a: AnnouncementStarted, b: AnnouncementStarted) -> bool:
    return (a.interface, a.services) == (b.interface, b.services)


@dataclass(frozen=True, slots=True)
class Position:
    """Where a follower is in one speaker's stream: the last event seen (its seq, and its time
    and name to recognise a speaker process that restarted and counts from 1 again)."""

    seq: int = 0
    t: float = 0.0
    name: str = ""


def position_of(record: Mapping[str, Any]) -> Position:
    """The position just after ``record`` (a bad field never stops the stream: it counts 0)."""
    return Position(
        int(json_number(record.get("seq"))),
        json_number(record.get("t")),
        str(record.get("event") or ""),
    )


def json_number(value: Any) -> float:
    """A number of a JSON record, as a float; anything else (missing, text, a bool) counts 0."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def resume_from(body: Mapping[str, Any], seen: Position) -> int:
    """The seq after which the ``GET /state`` answer ``body`` holds news: ``seen.seq`` when it
    is the same speaker process, else 0 (everything it still holds is news)."""
    seq = int(json_number(body.get("seq")))
    if seen.seq <= 0 or seen.seq > seq:
        return 0  # first contact, or a speaker that restarted with a lower count
    for record in body.get("events") or []:
        if isinstance(record, dict) and record.get("seq") == seen.seq:
            same = (
                record.get("event") == seen.name
                and abs(json_number(record.get("t")) - seen.t) < 1e-3
            )
            return seen.seq if same else 0
    return seen.seq  # older than the history it keeps: assume the same process


def catch_up(
    body: Mapping[str, Any],
    seen: Position,
    offset: float,
    ledger: AnnouncementLedger,
    t: float,
    first_contact: int = FIRST_CONTACT_HISTORY,
) -> tuple[list[Event], Position]:
    """The events a ``GET /state`` answer adds to what the console saw of this speaker, on the
    console's clock, and the position to follow ``/events`` from.

    Replayed: the recent events after ``seen`` (a reconnect loses nothing the speaker still
    holds; on first contact only the last ``first_contact``, for context), then each
    membership view, then whatever announcements differ from the ledger."""
    since = resume_from(body, seen)
    events: list[Event] = []
    position = seen if since else Position()
    records = [
        r
        for r in body.get("events") or []
        if isinstance(r, dict) and isinstance(r.get("seq"), int) and r["seq"] > since
    ]
    if seen.seq <= 0 and len(records) > first_contact:
        records = records[-first_contact:] if first_contact > 0 else []
    for record in records:
        position = position_of(record)
        event = decode_event(record)
        if event is None:
            continue
        event = rebase(event, offset)
        ledger.apply(event)
        events.append(event)
    seq = int(json_number(body.get("seq")))
    if position.seq < seq:  # the history was empty or all summarized: count from its head
        position = Position(seq)
    replayed = {e.observer: e for e in events if isinstance(e, MembershipUpdated)}
    views = body.get("membership") or []
    for record in views if isinstance(views, list) else [views]:
        view = decode_event(record) if isinstance(record, dict) else None
        if isinstance(view, MembershipUpdated):
            view = rebase(view, offset)
            if replayed.get(view.observer) != view:  # not just replayed from the history
                events.append(view)
    in_force = [
        rebase(a, offset)
        for a in (decode_event(r) for r in body.get("announcements") or [] if isinstance(r, dict))
        if isinstance(a, AnnouncementStarted)
    ]
    events += ledger.reconcile(in_force, t)  # type: ignore[arg-type]
    return events, position
