"""The pools of one configuration, indexed for allocation, and choosing addresses from them.

:class:`PoolIndex` turns a Config's pools into lanes (one per pool and family, see
ranges.py), a :class:`Locator` over all their ranges, and the order in which house rule 7
tries them: pools with ``serviceAllocation`` by priority then name, then the others by name.
It answers "the lowest address of this lane, this pool or these pools that a service may
take (free, or shareable with it)" and the pools' usage counters. It does not know who holds
what beyond the lanes' shareable groups (holdings.py keeps that).

Pure; imports only the model and the allocator's own addresses, demand and ranges.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from actors.allocator.addresses import address_key, family_of
from actors.allocator.demand import Demand, admits
from actors.allocator.ranges import Candidate, Lane, Locator, position
from actors.model.allocation import PoolUsage
from actors.model.config import Config, Pool


class PoolIndex:
    """One configuration's pools as lanes and a locator, in rule-7 order."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.pools: dict[str, Pool] = {p.name: p for p in config.pools.values()}
        self.lanes: dict[str, dict[int, Lane]] = {name: {} for name in self.pools}
        self.locator = Locator()
        names = sorted(self.pools)
        for name in names:
            pool = self.pools[name]
            lanes = self.lanes[name]
            for rng in pool.ranges:
                first = address_key(rng.first)
                last = address_key(rng.last)
                # The config validator rejects overlapping ranges; should one slip through, the
                # later one (by pool name, then spec order) is ignored so no address is doubled.
                if last < first or self.locator.overlaps(first, last):
                    continue
                lane = lanes.get(rng.version)
                if lane is None:
                    lane = lanes[rng.version] = Lane(name, rng.version)
                avoid = pool.avoid_buggy_ips and rng.version == 4
                lane.add_range(first, last - first + 1, avoid)
                self.locator.add(first, last, pool, lane, lane.ranges[-1])
        pinned = [p for p in self.pools.values() if p.allocation is not None and p.auto_assign]
        pinned.sort(key=lambda p: (p.allocation.sort_priority, p.name))  # type: ignore[union-attr]
        self.pinned = tuple(pinned)
        self.open = tuple(
            self.pools[n]
            for n in names
            if self.pools[n].allocation is None and self.pools[n].auto_assign
        )
        # The single-family fast path walks lanes directly.
        self.pinned_lanes = {
            family: tuple(
                (p, self.lanes[p.name][family]) for p in self.pinned if family in self.lanes[p.name]
            )
            for family in (4, 6)
        }
        self.open_lanes = {
            family: tuple(
                self.lanes[p.name][family] for p in self.open if family in self.lanes[p.name]
            )
            for family in (4, 6)
        }

    def usage(self) -> dict[str, PoolUsage]:
        result: dict[str, PoolUsage] = {}
        for name in sorted(self.pools):
            lanes = self.lanes[name]
            v4 = lanes.get(4)
            v6 = lanes.get(6)
            total_v4, in_v4 = (v4.total, v4.in_use) if v4 else (0, 0)
            total_v6, in_v6 = (v6.total, v6.in_use) if v6 else (0, 0)
            result[name] = PoolUsage(
                total=total_v4 + total_v6,
                in_use=in_v4 + in_v6,
                total_v4=total_v4,
                total_v6=total_v6,
                in_use_v4=in_v4,
                in_use_v6=in_v6,
            )
        return result

    def pinned_admitting(self, demand: Demand, namespace_labels: Mapping[str, str]) -> list[Pool]:
        return [p for p in self.pinned if admits(p, demand, namespace_labels)]

    # ----- choosing addresses

    def candidate(self, lane: Lane, demand: Demand) -> Candidate | None:
        """The lowest address of the lane this service may take: free, or shareable with it."""
        best: Candidate | None = None
        free = lane.lowest_free()
        if free is not None:
            rng, offset = free
            best = (position(rng, offset), rng.first + offset, (lane, rng, offset))
        if demand.sharing:
            groups = lane.groups.get((demand.sharing, demand.backend))
            if groups:
                for ports, members in list(groups.items()):
                    if not ports.isdisjoint(demand.ports):
                        continue
                    lowest = members.lowest()
                    if lowest is None:
                        del groups[ports]
                        continue
                    pos, key = lowest
                    if best is None or pos < best[0]:
                        best = (pos, key, self.locator.spot(key))
        return best

    def pick_in_pool(self, pool: str, demand: Demand) -> list[Candidate] | None:
        """Addresses from one pool for the service's families, by its family policy."""
        lanes = self.lanes[pool]
        found: dict[int, Candidate] = {}
        for family in demand.families:
            lane = lanes.get(family)
            candidate = self.candidate(lane, demand) if lane else None
            if candidate is not None:
                found[family] = candidate
        if len(found) == len(demand.families):
            return list(found.values())
        if found and len(demand.families) == 2 and not demand.require_dual:
            primary = demand.families[0]
            return [found[primary] if primary in found else found[10 - primary]]
        return None

    def pick_from(
        self, pools: Iterable[Pool], demand: Demand
    ) -> tuple[str, list[Candidate]] | None:
        """MetalLB's findBestPoolForService over an ordered pool list (dual-stack services):
        the first pool with both families, else the first with the primary, else the other."""
        primary_only: tuple[str, list[Candidate]] | None = None
        secondary_only: tuple[str, list[Candidate]] | None = None
        for pool in pools:
            picked = self.pick_in_pool(pool.name, demand)
            if picked is None:
                continue
            if len(picked) == 2:
                return pool.name, picked
            if family_of(picked[0][1]) == demand.families[0]:
                primary_only = primary_only or (pool.name, picked)
            else:
                secondary_only = secondary_only or (pool.name, picked)
        return primary_only or secondary_only
