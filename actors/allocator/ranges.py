"""Free-address bookkeeping: a pool's ranges and lanes, and where an address lives.

Cost
----
MetalLB scans every pool from its first address for each allocation (quadratic overall). Here
each range keeps a high-water mark, a min-heap of released offsets below it (lazy deletion)
and which offsets are occupied, so the lowest free address is found in amortized O(log n)
and memory grows with what is allocated, not with the pool (a /64 costs nothing): a bit each
for the first ``BITMAP_OFFSETS`` offsets, grown as far as the highest one occupied (100k
addresses handed out in order: 12 KB, where a set of them was 14 MB; at most 2 MB), a set
for the rest. Addresses a service could share are kept per (pool, family, sharing key,
backend key, ports in use) in lazily-deleted min-heaps, so "lowest free or shareable" never
scans either.

- :class:`Range`: one ``addresses`` entry of a pool (its free offsets);
- :class:`Lane`: one address family of one pool (its ranges in spec order, and its shareable
  addresses grouped by sharing key, backend and ports);
- :class:`MinSet`: the lazily-deleted min-heap both use;
- :class:`Locator`: which pool range holds an address, by bisection.

Pure data structures: no services, no policy. Imports only the model and the address keys.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right

from actors.allocator.addresses import count_buggy, is_buggy
from actors.allocator.demand import Port
from actors.model.config import Pool

# A position orders addresses inside a pool family: range index (spec order), then offset.
POS_SHIFT = 128
# Offsets below this are marked occupied in a bitmap (at most 2 MB, for a /8), the rest in a set.
BITMAP_OFFSETS = 1 << 24


class MinSet:
    """Members with a position; the lowest one in O(log n) amortized (lazy-deletion heap)."""

    __slots__ = ("heap", "members")

    def __init__(self) -> None:
        self.members: dict[int, int] = {}  # address key -> position
        self.heap: list[tuple[int, int]] = []

    def add(self, key: int, pos: int) -> None:
        self.members[key] = pos
        heapq.heappush(self.heap, (pos, key))
        if len(self.heap) > 2 * len(self.members) + 16:
            self.heap = [(p, k) for k, p in self.members.items()]
            heapq.heapify(self.heap)

    def discard(self, key: int) -> None:
        self.members.pop(key, None)

    def lowest(self) -> tuple[int, int] | None:
        heap = self.heap
        members = self.members
        while heap:
            pos, key = heap[0]
            if members.get(key) == pos:
                return pos, key
            heapq.heappop(heap)
        return None


class Range:
    """Free-address bookkeeping for one ``addresses`` entry of a pool.

    Offsets below ``hwm`` have all been handed out at least once; the free ones among them are
    in ``released`` (a heap, possibly holding stale entries). Offsets at or above ``hwm`` are
    free unless occupied (addresses assigned by request or re-claimed out of order). Which
    offsets are occupied: ``bits`` (a bit each, offsets below BITMAP_OFFSETS, no longer than
    the highest one occupied needs) and ``far`` (the others).
    """

    __slots__ = (
        "avoid_buggy",
        "bits",
        "compact_at",
        "far",
        "first",
        "hwm",
        "in_nonfull",
        "index",
        "released",
        "size",
    )

    def __init__(self, index: int, first: int, size: int, avoid_buggy: bool) -> None:
        self.index = index
        self.first = first
        self.size = size
        self.avoid_buggy = avoid_buggy
        self.hwm = 0
        self.released: list[int] = []
        self.bits = bytearray()
        self.far: set[int] = set()
        self.in_nonfull = True
        self.compact_at = 64

    def occupied(self, offset: int) -> bool:
        if offset < BITMAP_OFFSETS:
            byte = offset >> 3
            bits = self.bits
            return byte < len(bits) and bool(bits[byte] & (1 << (offset & 7)))
        return offset in self.far

    def lowest_free(self) -> int | None:
        released = self.released
        occupied = self.occupied
        while released:
            offset = released[0]
            if not occupied(offset):
                return offset
            heapq.heappop(released)
        hwm = self.hwm
        size = self.size
        if self.avoid_buggy:
            first = self.first
            while hwm < size and (occupied(hwm) or is_buggy(first + hwm)):
                hwm += 1
        else:
            while hwm < size and occupied(hwm):
                hwm += 1
        self.hwm = hwm
        return hwm if hwm < size else None

    def occupy(self, offset: int) -> None:
        if offset < BITMAP_OFFSETS:
            byte = offset >> 3
            bits = self.bits
            if byte >= len(bits):
                # Grown at least by half: appending offsets in order stays amortized O(1).
                bits.extend(bytes(max(byte + 1 - len(bits), len(bits) // 2)))
            bits[byte] |= 1 << (offset & 7)
        else:
            self.far.add(offset)
        released = self.released
        if released and released[0] == offset:
            heapq.heappop(released)

    def vacate(self, offset: int) -> None:
        if offset < BITMAP_OFFSETS:
            byte = offset >> 3
            if byte < len(self.bits):
                self.bits[byte] &= ~(1 << (offset & 7)) & 0xFF
        else:
            self.far.discard(offset)
        if offset < self.hwm:
            heapq.heappush(self.released, offset)
            if len(self.released) > self.compact_at:
                # Stale entries pile up only when requested addresses land on released ones.
                occupied = self.occupied
                live = {o for o in self.released if not occupied(o)}
                self.released = sorted(live)
                self.compact_at = max(64, 2 * len(live))


class Lane:
    """One address family of one pool: its ranges in spec order and its shareable addresses."""

    __slots__ = ("family", "groups", "in_use", "nonfull", "pool", "ranges", "total")

    def __init__(self, pool: str, family: int) -> None:
        self.pool = pool
        self.family = family
        self.ranges: list[Range] = []
        self.nonfull: list[int] = []  # heap of indexes of ranges that may have a free address
        # (sharing key, backend key) -> ports in use on the address -> addresses
        self.groups: dict[tuple[str, str], dict[frozenset[Port], MinSet]] = {}
        self.total = 0
        self.in_use = 0

    def add_range(self, first: int, size: int, avoid_buggy: bool) -> None:
        index = len(self.ranges)
        self.ranges.append(Range(index, first, size, avoid_buggy))
        self.nonfull.append(index)  # indexes ascend, so the list is already a heap
        last = first + size - 1
        self.total += size - (count_buggy(first, last) if avoid_buggy else 0)

    def lowest_free(self) -> tuple[Range, int] | None:
        """The first range (spec order) with a free address, and that address's offset."""
        nonfull = self.nonfull
        ranges = self.ranges
        while nonfull:
            rng = ranges[nonfull[0]]
            offset = rng.lowest_free()
            if offset is not None:
                return rng, offset
            heapq.heappop(nonfull)
            rng.in_nonfull = False
        return None

    def occupy(self, rng: Range, offset: int) -> None:
        rng.occupy(offset)
        self.in_use += 1

    def vacate(self, rng: Range, offset: int) -> None:
        rng.vacate(offset)
        self.in_use -= 1
        if not rng.in_nonfull:
            rng.in_nonfull = True
            heapq.heappush(self.nonfull, rng.index)


# Where an address lives: (lane, range, offset). Plain tuples: this is the hot path.
Spot = tuple[Lane, Range, int]
# An address a service may take: (position in its lane, address key, spot).
Candidate = tuple[int, int, Spot]


def position(rng: Range, offset: int) -> int:
    return (rng.index << POS_SHIFT) | offset


class Locator:
    """Finds the pool range holding an address by bisection over non-overlapping ranges."""

    __slots__ = ("ends", "spots", "starts")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.spots: list[tuple[Pool, Lane, Range]] = []

    def overlaps(self, first: int, last: int) -> bool:
        i = bisect_right(self.starts, last) - 1
        return i >= 0 and self.ends[i] >= first

    def add(self, first: int, last: int, pool: Pool, lane: Lane, rng: Range) -> None:
        i = bisect_right(self.starts, first)
        self.starts.insert(i, first)
        self.ends.insert(i, last)
        self.spots.insert(i, (pool, lane, rng))

    def find(self, key: int) -> tuple[Pool, Spot] | None:
        i = bisect_right(self.starts, key) - 1
        if i < 0 or self.ends[i] < key:
            return None
        pool, lane, rng = self.spots[i]
        if rng.avoid_buggy and is_buggy(key):
            return None
        return pool, (lane, rng, key - self.starts[i])

    def spot(self, key: int) -> Spot:
        """Where a held address lives (it is in a range: it was found or handed out there)."""
        i = bisect_right(self.starts, key) - 1
        _, lane, rng = self.spots[i]
        return lane, rng, key - self.starts[i]
