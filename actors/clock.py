"""Time, injected: every timer in the runtime goes through a Clock and a Scheduler.

``RealClock``/``ThreadScheduler`` run on the machine's monotonic clock; ``ManualClock`` is
virtual time for tests and simulations: nothing happens until ``advance()`` is called, so a
hold-timer expiry or a 100-node gossip run takes milliseconds and is deterministic.

Scheduler callbacks must be short and must not block: they normally just ``tell`` an actor.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds; only differences are meaningful."""
        ...

    def wall(self) -> float:
        """Seconds since the epoch, for display and files."""
        ...


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Scheduler(Protocol):
    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle: ...


def rfc3339(epoch: float) -> str:
    """``epoch`` (wall-clock seconds) as RFC 3339 UTC with milliseconds, as logs and event
    lines write it: 2026-12-07T10:37:39.123Z."""
    stamp = datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


class RealClock:
    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()


# A dataclass, not a msgspec.Struct: ordering and equality must ignore callback (compare=False).
@dataclass(order=True)
class _Timer:
    due: float
    seq: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class ThreadScheduler:
    """One daemon thread running callbacks at their due time (a heap, not a thread per timer)."""

    def __init__(self, clock: Clock | None = None, name: str = "lbtui-timers") -> None:
        self._clock = clock or RealClock()
        self._heap: list[_Timer] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def call_later(self, delay: float, callback: Callable[[], None]) -> _Timer:
        timer = _Timer(self._clock.now() + max(0.0, delay), next(self._seq), callback)
        with self._cond:
            heapq.heappush(self._heap, timer)
            self._cond.notify()
        return timer

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0].cancelled):
                    if self._heap and self._heap[0].cancelled:
                        heapq.heappop(self._heap)
                        continue
                    self._cond.wait()
                if self._stopped:
                    return
                timer = self._heap[0]
                wait = timer.due - self._clock.now()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
            if not timer.cancelled:
                try:
                    timer.callback()
                except Exception:  # a broken callback must not kill every other timer
                    import logging

                    logging.getLogger(__name__).exception("timer callback failed")


class ManualClock:
    """Virtual time: a Clock and a Scheduler that only move when told to."""

    def __init__(self, start: float = 0.0, wall_start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._wall_offset = wall_start - start
        self._heap: list[_Timer] = []
        self._seq = itertools.count()
        self._lock = threading.RLock()

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._now + self._wall_offset

    def call_later(self, delay: float, callback: Callable[[], None]) -> _Timer:
        with self._lock:
            timer = _Timer(self._now + max(0.0, delay), next(self._seq), callback)
            heapq.heappush(self._heap, timer)
            return timer

    def pending(self) -> int:
        with self._lock:
            return sum(1 for t in self._heap if not t.cancelled)

    def next_due(self) -> float | None:
        with self._lock:
            live = [t.due for t in self._heap if not t.cancelled]
            return min(live) if live else None

    def advance(self, seconds: float) -> int:
        """Move time forward, running every due callback in order. Returns how many ran."""
        return self.advance_to(self._now + seconds)

    def advance_to(self, target: float) -> int:
        ran = 0
        while True:
            with self._lock:
                if not self._heap or self._heap[0].due > target:
                    self._now = max(self._now, target)
                    return ran
                timer = heapq.heappop(self._heap)
                self._now = max(self._now, timer.due)
            if not timer.cancelled:
                timer.callback()
                ran += 1
