"""A range's free-address bookkeeping (actors/allocator/ranges.py) against a plain set.

Occupied offsets are kept as bits below ``BITMAP_OFFSETS`` and in a set above it; the limit is
lowered here so that random occupy/vacate sequences cross it.
"""

from __future__ import annotations

import random

import pytest

from actors.allocator import ranges
from actors.allocator.ranges import Range


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("avoid_buggy", [False, True])
def test_the_lowest_free_offset_is_the_lowest_not_occupied(
    seed: int, avoid_buggy: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ranges, "BITMAP_OFFSETS", 37)
    rnd = random.Random(seed)
    size = rnd.choice([5, 40, 300])
    first = 250  # .250-.255, .0: buggy offsets inside the range
    rng = Range(0, first, size, avoid_buggy)
    usable = [o for o in range(size) if not (avoid_buggy and (first + o) & 0xFF in (0, 255))]
    occupied: set[int] = set()
    for _ in range(400):
        free = [o for o in usable if o not in occupied]
        expected = free[0] if free else None
        assert rng.lowest_free() == expected
        for o in range(size):
            assert rng.occupied(o) == (o in occupied), o
        move = rnd.random()
        if free and move < 0.4:
            offset = expected  # the allocator's common case: the lowest free one
        elif free and move < 0.7:
            offset = rnd.choice(free)  # a requested address, anywhere
        elif occupied:
            offset = rnd.choice(sorted(occupied))
            rng.vacate(offset)
            occupied.discard(offset)
            continue
        else:
            continue
        rng.occupy(offset)
        occupied.add(offset)


def test_offsets_in_order_cost_a_bit_each() -> None:
    rng = Range(0, 0, 1 << 24, False)
    for _ in range(100_000):
        offset = rng.lowest_free()
        assert offset is not None
        rng.occupy(offset)
    assert rng.lowest_free() == 100_000
    assert len(rng.bits) < 20_000 and not rng.far  # 12.5 KB of bits, grown by halves


def test_far_offsets_of_a_big_range_are_kept_in_a_set() -> None:
    rng = Range(0, 0, 1 << 64, False)
    far = (1 << 40) + 7
    rng.occupy(far)
    assert rng.occupied(far) and not rng.bits
    assert rng.lowest_free() == 0
    rng.vacate(far)
    assert not rng.occupied(far) and not rng.far
