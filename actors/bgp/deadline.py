"""One timer for the earliest of many deadlines: how the BGP actors wake their FSMs.

The BGP speaker and the demo's route collector each drive several pure FSMs that say when
they next need the time (``next_deadline()``). After every event the actor hands the
deadlines to its :class:`DeadlineTimer`, which keeps one scheduler timer at the earliest and
re-arms it only when that earliest deadline changed. Holds no actor and imports none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from actors.clock import TimerHandle


class DeadlineTimer:
    """Calls ``fire`` through ``after`` (the actor's own ``after``: in the actor's thread) at
    the earliest deadline; ``now`` is the actor's clock. Made with
    ``DeadlineTimer(self.after, self.on_timer, self.clock.now)``."""

    def __init__(
        self,
        after: Callable[[float, Callable[[], None]], TimerHandle],
        fire: Callable[[], None],
        now: Callable[[], float],
    ) -> None:
        self._after = after
        self._fire = fire
        self._now = now
        self._timer: TimerHandle | None = None
        self._armed: float | None = None

    def arm(self, deadlines: Iterable[float | None]) -> None:
        """Aim the timer at the earliest of ``deadlines`` (None: that one needs no timer)."""
        due = [d for d in deadlines if d is not None]
        deadline = min(due) if due else None
        if deadline == self._armed:
            return
        self.cancel()
        self._armed = deadline
        if deadline is not None:
            self._timer = self._after(max(0.0, deadline - self._now()), self._fire)

    def fired(self) -> None:
        """The timer went off: nothing is armed any more (call first in the timer's method)."""
        self._timer = None
        self._armed = None

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._armed = None
