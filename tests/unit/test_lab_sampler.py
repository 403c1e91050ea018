"""The chaos test's measure of two nodes answering ARP together (tests/net/lab_rig.py:
Sampler.double_answers), on samples written by hand: a run ends at the first sample after it,
or one period after its last sample when the sampler itself was late."""

from __future__ import annotations

import pytest

from tests.net.lab_rig import Sampler


class _Silent:
    def who_has(self, ip: str, wait: float) -> set[str]:
        return set()


def sampler_with(samples: list[tuple[float, frozenset[str]]]) -> Sampler:
    sampler = Sampler(_Silent(), "10.99.0.100", period=0.02)  # type: ignore[arg-type]
    sampler.stop()
    sampler.samples = samples
    return sampler


ONE, TWO = frozenset({"n1"}), frozenset({"n1", "n3"})


def test_a_run_ends_at_the_next_sample() -> None:
    sampler = sampler_with([(10.0, ONE), (10.02, TWO), (10.04, TWO), (10.06, ONE)])
    assert sampler.double_answers() == [(10.02, pytest.approx(10.06), TWO)]


def test_a_late_sampler_does_not_lengthen_a_run() -> None:
    # the thread was paused 0.12 s after the last sample that saw both
    sampler = sampler_with([(10.0, ONE), (10.02, TWO), (10.14, ONE), (10.16, ONE)])
    (start, end, who), *_ = sampler.double_answers()
    assert (start, who) == (10.02, TWO) and end == pytest.approx(10.04)
    assert sampler.longest_gap() == pytest.approx(0.12)


def test_a_pause_inside_a_run_still_counts() -> None:
    sampler = sampler_with([(10.0, TWO), (10.2, TWO), (10.22, ONE)])
    assert sampler.double_answers() == [(10.0, pytest.approx(10.22), TWO)]
