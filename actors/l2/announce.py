"""When to send gratuitous ARPs and unsolicited NAs: a pure schedule, driven by the actor.

MetalLB's rhythm (``spamLoop``): when a node starts announcing an address it sends a round at
once, then one every 1.1 s (longer than the 1 s ARP lock time of Linux neighbours, #172) until
5 s have passed: five rounds. Arming an address already inside its window only extends the
window. lbtui adds an optional periodic refresh afterwards (``--l2-refresh S``), for switches
and routers whose caches outlive the burst.

A round is one gratuitous ARP request and one reply (IPv4) or one unsolicited NA (IPv6) on
every interface the address is announced on; the actor does the sending.
"""

from __future__ import annotations

import msgspec

GARP_INTERVAL = 1.1
GARP_WINDOW = 5.0
# Timers fire a hair early or late; a round due within this much of now is due now.
_SLACK = 1e-6


class _Burst(msgspec.Struct):
    window_end: float
    next_due: float
    rounds: int = 0


class GarpSchedule:
    def __init__(
        self,
        interval: float = GARP_INTERVAL,
        window: float = GARP_WINDOW,
        refresh: float | None = None,
    ) -> None:
        if interval <= 0 or window < 0 or (refresh is not None and refresh <= 0):
            raise ValueError("interval and refresh must be positive, window not negative")
        self.interval = interval
        self.window = window
        self.refresh = refresh
        self._bursts: dict[str, _Burst] = {}

    def arm(self, ip: str, now: float) -> bool:
        """(Re)start announcing ``ip``; True when a round is due right now."""
        burst = self._bursts.get(ip)
        if burst is not None and now <= burst.window_end:
            burst.window_end = now + self.window
            return False
        self._bursts[ip] = _Burst(window_end=now + self.window, next_due=now + self.interval)
        return True

    def cancel(self, ip: str) -> None:
        self._bursts.pop(ip, None)

    def due(self, now: float) -> list[str]:
        """The addresses whose round is due at ``now`` (their next round is scheduled)."""
        out = []
        for ip, burst in list(self._bursts.items()):
            if burst.next_due > now + _SLACK:
                continue
            out.append(ip)
            following = burst.next_due + self.interval
            if following <= burst.window_end + _SLACK:
                burst.next_due = following
            elif self.refresh is not None:
                burst.next_due = max(burst.next_due + self.refresh, burst.window_end)
            else:
                del self._bursts[ip]
        return sorted(out)

    def next_due(self) -> float | None:
        return min((b.next_due for b in self._bursts.values()), default=None)

    def active(self) -> frozenset[str]:
        return frozenset(self._bursts)
