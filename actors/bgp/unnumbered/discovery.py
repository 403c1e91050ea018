"""The pure state of unnumbered BGP on each interface: which router we talk to (learnt from
its router advertisements, or from the connection it opens to us) and when we advertise
ourselves and solicit advertisements. No sockets, no threads; time is given.

``LinkDiscovery``: per interface, the link-local addresses heard and the chosen neighbour.
The first router heard is chosen; another one replaces it only while the session to the
chosen one is not established and the chosen one has not been heard for ``stale_after``
seconds (a router restarted with a new address, or the cable moved). So one flapping
advertisement never tears a working session down.

``Advertising``: per interface, when our next router advertisement (lifetime 0) and router
solicitation are due. Advertisements every ``interval`` seconds, at most one per
``min_gap`` (RFC 4861 MIN_DELAY_BETWEEN_RAS, also when a solicitation asks for one);
solicitations while no neighbour is known: at once, twice more ``solicit_gap`` apart
(RFC 4861 RTR_SOLICITATION_INTERVAL), then every ``solicit_backoff`` seconds.

``HeardGate``: what the socket's reader passes on to the actor, so that a flood of
advertisements (or of forged sources) cannot fill the actor's mailbox: the same sender and
kind at most once per ``repeat`` seconds, and at most ``burst`` messages per second in all.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

STALE_AFTER = 30.0
RA_INTERVAL = 10.0  # FRR's for unnumbered BGP (ipv6 nd ra-interval 10)
MIN_RA_GAP = 3.0
SOLICIT_GAP = 4.0
SOLICIT_BURST = 3
SOLICIT_BACKOFF = 60.0


def is_link_local(address: str) -> bool:
    head = address.split(":", 1)[0].lower()
    return len(head) == 4 and head.startswith("fe") and head[2] in "89ab"


class _Link(msgspec.Struct):
    heard: dict[str, float] = msgspec.field(default_factory=dict)
    current: str | None = None
    in_use: bool = False


class LinkDiscovery:
    def __init__(self, stale_after: float = STALE_AFTER) -> None:
        self.stale_after = stale_after
        self._links: dict[str, _Link] = {}

    def watch(self, interfaces: Iterable[str]) -> None:
        """Keep state for exactly these interfaces (the unnumbered peers' ones)."""
        wanted = set(interfaces)
        for name in [n for n in self._links if n not in wanted]:
            del self._links[name]
        for name in wanted:
            self._links.setdefault(name, _Link())

    def heard(self, now: float, interface: str, address: str) -> bool:
        """A router advertisement (or a connection) from ``address`` on ``interface``.
        Returns whether the chosen neighbour changed."""
        link = self._links.get(interface)
        if link is None or not is_link_local(address):
            return False
        address = address.lower()
        link.heard[address] = now
        if link.current == address:
            return False
        if link.current is not None:
            last = link.heard.get(link.current, float("-inf"))
            if link.in_use or now - last < self.stale_after:
                return False
        link.current = address
        link.in_use = False
        return True

    def set_in_use(self, interface: str, in_use: bool) -> None:
        """The session to the chosen neighbour is (or is no longer) established."""
        link = self._links.get(interface)
        if link is not None:
            link.in_use = in_use

    def neighbour(self, interface: str) -> str | None:
        link = self._links.get(interface)
        return link.current if link is not None else None

    def interfaces(self) -> tuple[str, ...]:
        return tuple(sorted(self._links))


class _Schedule(msgspec.Struct):
    next_ra: float
    last_ra: float = float("-inf")
    next_rs: float | None = None
    solicited: int = 0


class Advertising:
    def __init__(
        self,
        interval: float = RA_INTERVAL,
        min_gap: float = MIN_RA_GAP,
        solicit_gap: float = SOLICIT_GAP,
        solicit_backoff: float = SOLICIT_BACKOFF,
    ) -> None:
        self.interval = max(interval, min_gap)
        self.min_gap = min_gap
        self.solicit_gap = solicit_gap
        self.solicit_backoff = max(solicit_backoff, solicit_gap)
        self._links: dict[str, _Schedule] = {}

    def watch(self, now: float, interfaces: Iterable[str]) -> None:
        """Advertise on exactly these interfaces; a new one gets an advertisement and a
        solicitation at once."""
        wanted = set(interfaces)
        for name in [n for n in self._links if n not in wanted]:
            del self._links[name]
        for name in wanted:
            if name not in self._links:
                self._links[name] = _Schedule(next_ra=now, next_rs=now)

    def interfaces(self) -> tuple[str, ...]:
        return tuple(sorted(self._links))

    def solicitation_heard(self, now: float, interface: str) -> None:
        """Someone asked for advertisements: send one soon, within the rate bound."""
        s = self._links.get(interface)
        if s is not None:
            s.next_ra = min(s.next_ra, max(now, s.last_ra + self.min_gap))

    def need_neighbour(self, now: float, interface: str, needed: bool) -> None:
        """Solicit while ``needed`` (no neighbour, or its session just failed); stop when not."""
        s = self._links.get(interface)
        if s is None:
            return
        if not needed:
            s.next_rs, s.solicited = None, 0
        elif s.next_rs is None:
            s.next_rs = now

    def due(self, now: float) -> list[tuple[str, str]]:
        """``("advertise" | "solicit", interface)`` to send now; reschedules them."""
        out: list[tuple[str, str]] = []
        for name in sorted(self._links):
            s = self._links[name]
            if s.next_ra <= now:
                out.append(("advertise", name))
                s.last_ra = now
                s.next_ra = now + self.interval
            if s.next_rs is not None and s.next_rs <= now:
                out.append(("solicit", name))
                s.solicited += 1
                gap = self.solicit_gap if s.solicited < SOLICIT_BURST else self.solicit_backoff
                s.next_rs = now + gap
        return out

    def next_deadline(self) -> float | None:
        times = [s.next_ra for s in self._links.values()]
        times += [s.next_rs for s in self._links.values() if s.next_rs is not None]
        return min(times) if times else None


class HeardGate:
    def __init__(self, repeat: float = 1.0, burst: int = 20, remember: int = 1024) -> None:
        self.repeat = repeat
        self.burst = burst
        self.remember = remember
        self.dropped = 0
        self._last: dict[object, float] = {}
        self._second = float("-inf")
        self._in_second = 0

    def admit(self, now: float, key: object) -> bool:
        if now - self._second >= 1.0:
            self._second, self._in_second = now, 0
        last = self._last.get(key)
        if (last is not None and now - last < self.repeat) or self._in_second >= self.burst:
            self.dropped += 1
            return False
        if len(self._last) >= self.remember:  # many senders: forget those past ``repeat``
            self._last = {k: t for k, t in self._last.items() if now - t < self.repeat}
            if len(self._last) >= self.remember:
                self._last.clear()
        self._last[key] = now
        self._in_second += 1
        return True
