"""ECMP insight: the share of flows a router sends to another next hop when its set changes.

In BGP mode every node announces each address and the router spreads flows over the nodes by
hashing each flow's addresses and ports (ECMP). When a node dies the router has fewer next
hops; how many *surviving* flows it then moves (each a connection reset, as MetalLB's docs
warn) depends on how it maps a hash to a next hop:

``modulo``     next hop = hops[hash mod N]. Almost everything moves: one failure of N moves
               (N-1)/N of all flows.
``threshold``  hash-threshold (RFC 2992, Linux's IPv4 multipath): the hash space is cut into
               N equal ranges in next-hop order; the survivors' ranges stretch over the gap,
               so between 1/N and about half of the flows move depending on which one died.
``resilient``  a table of buckets (Linux nexthop groups ``type resilient``, many switches):
               only the dead node's buckets are given to others, exactly the 1/N that had to
               move.

Everything here is pure and exact (``fractions.Fraction``): hashes are taken as uniform over
the hash space, next hops in the order given (the plan's, sorted by node name).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from actors.election.plan import Plan
    from actors.model.cluster import ClusterState
    from actors.model.config import Config

SCHEMES = ("modulo", "threshold", "resilient")
ZERO, ONE = Fraction(0), Fraction(1)


def flows_moved(scheme: str, before: Sequence[str], after: Sequence[str]) -> Fraction:
    """The share of all flows whose next hop differs after the change (0 to 1).

    Flows on a next hop that is gone always move (or are lost when nothing is left); the
    rest is what the scheme adds. ``before`` empty: nothing flowed, nothing moved.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown ECMP hash {scheme!r} (known: {', '.join(SCHEMES)})")
    if not before:
        return ZERO
    if not after:
        return ONE
    if scheme == "modulo":
        return ONE - _modulo_kept(before, after)
    if scheme == "threshold":
        return ONE - _threshold_kept(before, after)
    return ONE - _resilient_kept(before, after)


def flows_stranded(before: Sequence[str], after: Sequence[str]) -> Fraction:
    """The share of flows that were on a next hop that is gone: they move under any scheme."""
    if not before:
        return ZERO
    gone = [hop for hop in before if hop not in set(after)]
    return Fraction(len(gone), len(before))


def _modulo_kept(before: Sequence[str], after: Sequence[str]) -> Fraction:
    # hash mod N and hash mod M repeat with period lcm(N, M): count over one period.
    n, m = len(before), len(after)
    period = math.lcm(n, m)
    kept = sum(1 for h in range(period) if before[h % n] == after[h % m])
    return Fraction(kept, period)


def _threshold_kept(before: Sequence[str], after: Sequence[str]) -> Fraction:
    n, m = len(before), len(after)
    cuts = sorted({Fraction(i, n) for i in range(n + 1)} | {Fraction(j, m) for j in range(m + 1)})
    kept = ZERO
    for low, high in itertools.pairwise(cuts):
        # Every point of (low, high) lies in one range before and one after.
        middle = (low + high) / 2
        if before[math.floor(middle * n)] == after[math.floor(middle * m)]:
            kept += high - low
    return kept


def _resilient_kept(before: Sequence[str], after: Sequence[str]) -> Fraction:
    # Buckets of a next hop that stays stay with it, down to its new fair share when hops
    # were added (the table is rebalanced by taking buckets from everyone evenly).
    share = min(Fraction(1, len(before)), Fraction(1, len(after)))
    kept = len(set(before) & set(after))
    return kept * share


class EcmpImpact(msgspec.Struct, frozen=True):
    """One prefix whose next hops change: how many of its flows move under each scheme."""

    prefix: str
    before: tuple[str, ...]
    after: tuple[str, ...]
    moved: Mapping[str, Fraction]  # scheme -> share of the prefix's flows
    stranded: Fraction  # of those, on a next hop that is gone (unavoidable)

    def to_json(self) -> dict[str, object]:
        return {
            "prefix": self.prefix,
            "nextHopsBefore": list(self.before),
            "nextHopsAfter": list(self.after),
            "flowsMoved": {s: float(f) for s, f in self.moved.items()},
            "flowsOnLostNextHops": float(self.stranded),
        }


def ecmp_impacts(
    changes: Iterable[tuple[str, Sequence[str], Sequence[str]]],
    schemes: Sequence[str] = SCHEMES,
) -> tuple[EcmpImpact, ...]:
    """For each (prefix, next hops before, next hops after), the flows each scheme moves.

    Prefixes that only gain next hops are included too (a node coming back also rehashes).
    """
    out = []
    for prefix, before, after in changes:
        moved = {s: flows_moved(s, before, after) for s in schemes}
        out.append(
            EcmpImpact(prefix, tuple(before), tuple(after), moved, flows_stranded(before, after))
        )
    return tuple(out)


def percent(share: Fraction) -> str:
    """``Fraction(2, 3)`` -> ``"66.7%"``."""
    return f"{float(share) * 100:.1f}%"


def summary(impacts: Sequence[EcmpImpact], schemes: Sequence[str] = SCHEMES) -> str:
    """One line: the mean share of flows moved per scheme over ``impacts`` (prefixes that keep
    some next hop: where none is left every flow is lost whatever the scheme), e.g.
    ``modulo 66.7% · threshold 50.0% · resilient 33.3%``."""
    counted = [i for i in impacts if i.before and i.after]
    if not counted:
        return ""
    parts = []
    for scheme in schemes:
        mean = sum((i.moved[scheme] for i in counted), ZERO) / len(counted)
        parts.append(f"{scheme} {percent(mean)}")
    return " · ".join(parts)


def single_failures(
    config: Config,
    cluster: ClusterState,
    plan: Plan,
    nodes: Iterable[str],
    schemes: Sequence[str] = SCHEMES,
) -> list[tuple[str, EcmpImpact]]:
    """For each of ``nodes`` dying alone: the prefixes whose next hops change, with their
    impacts (``plan`` from :func:`actors.election.plan.compute_plan`)."""
    from actors.election.plan import what_if

    out: list[tuple[str, EcmpImpact]] = []
    for node in sorted(nodes):
        report = what_if(config, cluster, plan, frozenset({node}))
        out += [(node, impact) for impact in ecmp_impacts(report.bgp_changes, schemes)]
    return out


def ecmp_table(rows: Sequence[tuple[str, EcmpImpact]], schemes: Sequence[str]) -> str:
    """``lbtui plan --ecmp-hash``: one line per (nodes down, prefix)."""
    title = "ECMP: FLOWS THE ROUTER MOVES (connections reset)"
    if not rows:
        return f"{title}\n  (no BGP next hop changes)\n"
    header = ("DOWN", "PREFIX", "NEXT HOPS", *(s.upper() for s in schemes), "ON LOST HOPS")
    table = [
        (
            down,
            i.prefix,
            f"{','.join(i.before) or '-'} -> {','.join(i.after) or '-'}",
            *(percent(i.moved[s]) for s in schemes),
            percent(i.stranded),
        )
        for down, i in rows
    ]
    widths = [max(len(h), *(len(r[c]) for r in table)) for c, h in enumerate(header)]
    lines = [title]
    for row in (header, *table):
        lines.append("  " + "  ".join(t.ljust(w) for t, w in zip(row, widths, strict=True)))
    return "\n".join(line.rstrip() for line in lines) + "\n"
