"""Pulses: events per second over the last minute, per kind of traffic. Pure, no textual.

A state's ``pulses`` maps each of :data:`PULSES` (layer 2, BGP, membership) to
:data:`PULSE_SECONDS` counts, oldest first, the last one for second ``pulse_second``. Here:
which pulse an event counts towards and how much, and the two ways a series moves (the
window sliding on, a batch's counts added).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from actors.events import (
    AnnouncementStarted,
    AnnouncementStopped,
    Event,
    GratuitousSent,
    MembershipUpdated,
    NodeJoined,
    NodeLeft,
    NodeSuspected,
    PrefixAnnounced,
    PrefixWithdrawn,
)

PULSE_SECONDS = 60
PULSES = ("l2", "bgp", "membership")

_CATEGORIES: dict[type[Event], str | None] = {
    NodeJoined: "membership",
    NodeLeft: "membership",
    NodeSuspected: "membership",
    MembershipUpdated: "membership",
    GratuitousSent: "l2",
    PrefixAnnounced: "bgp",
    PrefixWithdrawn: "bgp",
}


def pulse_category(event: Event) -> str | None:
    """Which pulse an event counts towards: ARP/NDP, BGP updates or membership traffic."""
    if isinstance(event, AnnouncementStarted | AnnouncementStopped):
        return "l2" if event.protocol == "layer2" else "bgp"
    kind = type(event)
    if kind in _CATEGORIES:
        return _CATEGORIES[kind]
    lowered = kind.__name__.lower()  # events added later, by their names
    category = None
    if lowered.startswith(("arp", "ndp", "gratuitous", "l2")):
        category = "l2"
    elif lowered.startswith(("bgp", "peer", "prefix", "session", "bfd")):
        category = "bgp"
    elif lowered.startswith(("probe", "gossip", "member", "node")):
        category = "membership"
    _CATEGORIES[kind] = category
    return category


def pulse_count(event: Event) -> int:
    """How much traffic an event stands for (a batch of prefixes, a round of packets)."""
    if isinstance(event, GratuitousSent):
        return max(1, event.packets)
    if isinstance(event, PrefixAnnounced | PrefixWithdrawn):
        return max(1, len(event.prefixes))
    return 1


def shifted(
    pulses: Mapping[str, tuple[int, ...]], old_second: int, new_second: int
) -> Mapping[str, tuple[int, ...]]:
    """The pulses with their window moved on from ``old_second`` to ``new_second``."""
    gap = min(PULSE_SECONDS, new_second - old_second)
    out = {}
    for name in PULSES:
        series = pulses.get(name) or (0,) * PULSE_SECONDS
        out[name] = (*series[gap:], *(0,) * gap)
    return MappingProxyType(out)


def with_counts(
    pulses: Mapping[str, tuple[int, ...]], pulse_second: int, counts: Mapping[tuple[str, int], int]
) -> tuple[Mapping[str, tuple[int, ...]], int]:
    """The pulses (and their last second) with ``counts`` added: (pulse, second) -> events."""
    if not counts:
        return pulses, pulse_second
    latest = max(second for _, second in counts)
    second = max(pulse_second, latest)
    moved = shifted(pulses, pulse_second, second) if pulses else None
    series = {name: list((moved or {}).get(name) or (0,) * PULSE_SECONDS) for name in PULSES}
    for (name, at), count in counts.items():
        index = PULSE_SECONDS - 1 - (second - at)
        if 0 <= index < PULSE_SECONDS:
            series[name][index] += count
    return MappingProxyType({k: tuple(v) for k, v in series.items()}), second
