"""DeadlineTimer: one timer at the earliest deadline, re-armed only when that changes."""

from __future__ import annotations

from collections.abc import Callable

from actors.bgp.deadline import DeadlineTimer


class Handle:
    def __init__(self, delay: float, method: Callable[[], None]) -> None:
        self.delay, self.method, self.cancelled = delay, method, False

    def cancel(self) -> None:
        self.cancelled = True


def test_one_timer_at_the_earliest_deadline_rearmed_only_on_change() -> None:
    started: list[Handle] = []
    now = [10.0]

    def after(delay: float, method: Callable[[], None]) -> Handle:
        started.append(Handle(delay, method))
        return started[-1]

    def fire() -> None:
        pass

    timer = DeadlineTimer(after, fire, lambda: now[0])
    timer.arm([None, None])
    assert started == []
    timer.arm([15.0, None, 12.0])
    assert [(h.delay, h.method) for h in started] == [(2.0, fire)]
    timer.arm([12.0, 30.0])  # same earliest: left alone
    assert len(started) == 1
    timer.arm([11.0])
    assert started[0].cancelled and started[1].delay == 1.0
    timer.arm([])
    assert started[1].cancelled and len(started) == 2
    now[0] = 20.0
    timer.arm([19.0])  # overdue: at once
    assert started[2].delay == 0.0
    timer.fired()
    timer.arm([19.0])  # it went off: the same deadline arms again
    assert len(started) == 4 and not started[2].cancelled
    timer.cancel()
    assert started[3].cancelled
