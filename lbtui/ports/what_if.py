"""what_if: what would move if some nodes died now (``w``), from the election core alone.

For layer 2, which addresses change owner; for BGP, which prefixes change next hops and the
share of flows a router would move under each ECMP hashing scheme; and which services nobody
would announce any more. Nothing is touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from actors.election.ecmp import ecmp_impacts
from actors.election.ecmp import summary as ecmp_summary
from actors.election.plan import compute_plan
from actors.election.plan import what_if as plan_what_if
from lbtui.state.model import ConsoleState


@dataclass(frozen=True, slots=True)
class Move:
    """An address or prefix whose announcers would change, and the services it carries."""

    target: str  # an IP (layer 2) or a prefix (BGP)
    before: tuple[str, ...]
    after: tuple[str, ...]
    services: tuple[str, ...]
    protocol: str


@dataclass(frozen=True, slots=True)
class WhatIfResult:
    """What would move if ``down`` died and who would be stranded (``error``: cannot tell yet)."""

    down: frozenset[str]
    moves: tuple[Move, ...]
    stranded: tuple[str, ...]  # services nobody would announce any more
    error: str = ""
    # BGP: the share of flows the router would move, per ECMP hashing scheme (mean over the
    # prefixes that change), e.g. "modulo 66.7% · threshold 50.0% · resilient 33.3%".
    ecmp: str = ""


def what_if(state: ConsoleState, down: Iterable[str]) -> WhatIfResult:
    """What would move if ``down`` died now (election core only; nothing is touched)."""
    down = frozenset(down)
    config, cluster = state.config, state.cluster
    if config is None or cluster is None:
        return WhatIfResult(down, (), (), "no configuration or cluster yet")
    dead = frozenset(n for n, m in state.members.items() if m.state in ("dead", "left"))
    allocations = dict(state.allocations)
    usage = dict(state.usage)
    before = compute_plan(config, cluster, down=dead, allocations=allocations, usage=usage)
    result = plan_what_if(config, cluster, before, dead | down)
    moves: list[Move] = []
    for ip, a, b in result.l2_moves:
        services = result.before.l2[ip].services
        moves.append(Move(ip, (a,) if a else (), (b,) if b else (), services, "layer2"))
    routes_before = _route_services(result.before.bgp)
    for prefix, a, b in result.bgp_changes:
        moves.append(Move(prefix, a, b, routes_before.get(prefix, ()), "bgp"))
    stranded = sorted({s for m in moves if not m.after for s in m.services})
    ecmp = ecmp_summary(ecmp_impacts((p, a, b) for p, a, b in result.bgp_changes))
    return WhatIfResult(down, tuple(moves), tuple(stranded), ecmp=ecmp)


def _route_services(bgp: Mapping[str, tuple[Any, ...]]) -> dict[str, tuple[str, ...]]:
    out: dict[str, set[str]] = {}
    for routes in bgp.values():
        for route in routes:
            out.setdefault(route.prefix, set()).update(route.services)
    return {k: tuple(sorted(v)) for k, v in out.items()}
