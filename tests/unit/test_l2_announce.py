"""The gratuitous schedule: MetalLB's burst (now, then every 1.1 s for 5 s) and the refresh."""

from __future__ import annotations

import pytest

from actors.l2.announce import GarpSchedule


def rounds(schedule: GarpSchedule, ip: str, until: float) -> list[float]:
    times = []
    while (due := schedule.next_due()) is not None and due <= until:
        times += [round(due, 3) for sent in schedule.due(due) if sent == ip]
    return times


def test_a_takeover_sends_at_once_then_every_1_1_s_for_5_s() -> None:
    schedule = GarpSchedule()
    assert schedule.arm("10.99.0.100", 0.0) is True
    assert rounds(schedule, "10.99.0.100", 100) == [1.1, 2.2, 3.3, 4.4]
    assert schedule.next_due() is None and not schedule.active()


def test_rearming_inside_the_window_extends_it_without_an_extra_round() -> None:
    schedule = GarpSchedule()
    schedule.arm("a", 0.0)
    assert schedule.due(1.1) == ["a"]
    assert schedule.arm("a", 2.0) is False  # window now ends at 7.0
    assert rounds(schedule, "a", 100) == [2.2, 3.3, 4.4, 5.5, 6.6]


def test_rearming_after_the_window_starts_a_new_burst() -> None:
    schedule = GarpSchedule()
    schedule.arm("a", 0.0)
    rounds(schedule, "a", 100)
    assert schedule.arm("a", 60.0) is True


def test_cancel_stops_at_once() -> None:
    schedule = GarpSchedule()
    schedule.arm("a", 0.0)
    schedule.arm("b", 0.5)
    schedule.cancel("a")
    assert schedule.due(1.1) == []
    assert schedule.due(1.6) == ["b"]


def test_refresh_goes_on_after_the_burst() -> None:
    schedule = GarpSchedule(refresh=30.0)
    schedule.arm("a", 0.0)
    assert rounds(schedule, "a", 100) == [1.1, 2.2, 3.3, 4.4, 34.4, 64.4, 94.4]
    schedule.cancel("a")
    assert schedule.next_due() is None


def test_nonsense_periods_are_refused() -> None:
    with pytest.raises(ValueError):
        GarpSchedule(refresh=0)
    with pytest.raises(ValueError):
        GarpSchedule(interval=-1)
