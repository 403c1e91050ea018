"""The plan: allocations, L2 owners and BGP routes for a whole cluster, and what-if analysis.

Pure. ``lbtui plan`` prints it; the console's what-if view uses ``what_if`` to show what would
move if nodes died, without touching anything.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import chain, islice, starmap
from operator import attrgetter
from typing import Any

import msgspec

from actors.allocator.converge import allocate_cluster
from actors.election.bgp import bgp_advertisements
from actors.election.l2 import L2Owner, L2Owners, l2_owners
from actors.election.plan_json import (
    Entries,
    bgp_entry,
    json_chunks,
    owner_entry,
    service_entry,
    sorted_items,
)
from actors.model.allocation import Allocation, PoolUsage, ips_text_width
from actors.model.cluster import ClusterState
from actors.model.config import Config
from actors.model.route import BGPRoute


class Plan(msgspec.Struct, frozen=True):
    allocations: Mapping[str, Allocation]
    usage: Mapping[str, PoolUsage]
    l2: Mapping[str, L2Owner]
    bgp: Mapping[str, tuple[BGPRoute, ...]]
    down: frozenset[str] = frozenset()
    ignore_exclude_lb: bool = False  # elected as MetalLB's --ignore-exclude-lb

    def to_json(self) -> dict[str, Any]:
        return {
            "services": {
                key: {
                    "ips": list(a.ip_texts),
                    "pool": a.pool,
                    "error": a.error,
                }
                for key, a in sorted(self.allocations.items())
            },
            "l2": {
                ip: {"node": owner.node, "services": list(owner.services)}
                for ip, owner in self.l2.items()
            },
            "bgp": {node: _routes_json(routes) for node, routes in sorted(self.bgp.items())},
            "pools": self._pools_json(),
        }

    def _pools_json(self) -> dict[str, Any]:
        return {
            name: {"total": u.total, "inUse": u.in_use} for name, u in sorted(self.usage.items())
        }

    def json_chunks(self, extra: Iterable[tuple[str, Any]] = ()) -> Iterator[str]:
        """:meth:`to_json` and then the members ``extra``, as ``json.dump(..., indent=2)``
        writes them, without a final line break, a few thousand entries at a time: of 100k
        Services, never held whole (:mod:`actors.election.plan_json`)."""
        return json_chunks(chain(self._json_parts(), extra))

    def _json_parts(self) -> Iterator[tuple[str, Any]]:
        yield "services", Entries(sorted_items(self.allocations), service_entry)
        yield "l2", Entries(self.l2.items(), owner_entry)
        routes = ((node, _routes_json(self.bgp[node])) for node in sorted(self.bgp))
        yield "bgp", Entries(routes, bgp_entry)
        yield "pools", self._pools_json()

    def to_table(self, moved: Mapping[str, str] | None = None) -> str:
        return "".join(self.table_chunks(moved))

    def table_chunks(self, moved: Mapping[str, str] | None = None) -> Iterator[str]:
        """:meth:`to_table`'s text a few thousand lines at a time: of 100k Services, written
        as it is built, never held whole. Each row is made once: the columns' widths are
        found first from the cells' lengths, without making the rows (:func:`_service_widths`
        and the like), not by making every row twice (the rows kept would be 10s of MB)."""
        moved = moved or {}

        allocations = self.allocations
        keys = sorted(allocations)  # once, for the widths and the rows (1 MB of 100k)

        def services() -> Iterator[tuple[str, ...]]:
            for key in keys:
                a = allocations[key]
                yield (key, a.ips_text or "-", a.pool or "-", a.error or "ok")

        def l2() -> Iterator[tuple[str, ...]]:
            for ip, owner in self.l2.items():
                node = owner.node
                yield (
                    ("* " if ip in moved else "  ") + ip,
                    node or "-",
                    owner.services_text,
                    moved.get(ip, owner.message if not node else ""),
                )

        def bgp() -> Iterator[tuple[str, ...]]:
            for node, routes in sorted(self.bgp.items()):
                for r in routes:
                    yield (
                        node,
                        r.prefix,
                        ", ".join(r.peers) or "-",
                        ", ".join(r.communities) or "-",
                        str(r.local_pref),
                        ", ".join(r.services),
                    )

        pools = [
            (
                name,
                f"{u.in_use}/{u.total}",
                f"{u.in_use_v4}/{u.total_v4}",
                f"{u.in_use_v6}/{u.total_v6}",
            )
            for name, u in sorted(self.usage.items())
        ]  # a row per pool: few

        yield from _section(
            "SERVICES",
            ("SERVICE", "IPS", "POOL", "STATUS"),
            services(),
            _service_widths(keys, allocations),
        )
        yield from _section(
            "LAYER 2", ("  IP", "NODE", "SERVICES", "NOTE"), l2(), _l2_widths(self.l2)
        )
        yield from _section(
            "BGP",
            ("NODE", "PREFIX", "PEERS", "COMMUNITIES", "LOCALPREF", "SERVICES"),
            bgp(),
            _bgp_widths(self.bgp),
        )
        yield from _section(
            "POOLS", ("POOL", "IN USE", "IPV4", "IPV6"), pools, _widths_of(pools), last=True
        )


LINES_PER_CHUNK = 4096

_POOL = attrgetter("pool")
_NODE = attrgetter("node")
_SERVICES_TEXT = attrgetter("services_text")
_PREFIX = attrgetter("prefix")
_PEERS = attrgetter("peers")
_COMMUNITIES = attrgetter("communities")
_LOCAL_PREF = attrgetter("local_pref")
_JOIN = ", ".join


def _service_widths(
    keys: list[str], allocations: Mapping[str, Allocation]
) -> tuple[int, ...] | None:
    """The widest cell of each column but the last (see :func:`_section`) of the SERVICES
    table (None: no rows), as :meth:`Plan.table_chunks`'s ``services`` makes them: the key,
    the IPs or "-", the pool or "-"."""
    if not keys:
        return None
    return (
        max(map(len, keys)),
        ips_text_width(allocations.values()),
        max(1, max(map(len, filter(None, map(_POOL, allocations.values()))), default=0)),
    )


def _l2_widths(owners: Mapping[str, L2Owner]) -> tuple[int, ...] | None:
    """The widest cell of each column but the last of the LAYER 2 table (None: no rows), as
    :meth:`Plan.table_chunks`'s ``l2`` makes them: a mark ("* " or "  ") and the address, the
    node or "-", the services."""
    if not owners:
        return None
    if isinstance(owners, L2Owners):
        ip_width, values = owners.ip_text_width(), owners.unordered()
    else:
        ip_width, values = max(map(len, owners)), owners.values()
    return (
        2 + ip_width,
        max(1, max(map(len, filter(None, map(_NODE, values))), default=0)),
        max(map(len, map(_SERVICES_TEXT, values))),
    )


def _bgp_widths(bgp: Mapping[str, tuple[BGPRoute, ...]]) -> tuple[int, ...] | None:
    """The widest cell of each column but the last of the BGP table (None: no rows), as
    :meth:`Plan.table_chunks`'s ``bgp`` makes them (no peers or communities: "-")."""
    nodes = [node for node, routes in bgp.items() if routes]
    if not nodes:
        return None

    def each(field: attrgetter[Any]) -> Iterator[Any]:
        return map(field, chain.from_iterable(bgp.values()))

    return (
        max(map(len, nodes)),
        max(map(len, each(_PREFIX))),
        max(1, max(map(len, map(_JOIN, each(_PEERS))))),
        max(1, max(map(len, map(_JOIN, each(_COMMUNITIES))))),
        max(map(len, map(str, each(_LOCAL_PREF)))),
    )


def _widths_of(rows: Iterable[tuple[str, ...]]) -> list[int] | None:
    """The widest cell of each column of ``rows`` (None: no rows)."""
    widths = None
    for row in rows:
        lengths = map(len, row)
        widths = list(lengths) if widths is None else list(map(max, widths, lengths))
    return widths


def _section(
    title: str,
    header: tuple[str, ...],
    rows: Iterable[tuple[str, ...]],
    widths: Sequence[int] | None,
    last: bool = False,
) -> Iterator[str]:
    """A table and the blank line after it (none after the last: the text ends with one
    line break), in chunks of at most LINES_PER_CHUNK lines. ``widths``: the widest cell of
    each column of ``rows`` (None: there are none); the last column's is not needed (a
    line's trailing blanks are cut: the last cell is never padded)."""
    yield f"{title}\n"
    if widths is None:
        yield "  (none)\n"
    else:
        # Each cell but the last left-justified to its column's width (str.ljust's padding),
        # the line's trailing blanks cut: one format call a line.
        padded = [f"{{:<{max(len(h), w)}}}" for h, w in zip(header, widths, strict=False)]
        padded += ["{}"] * (len(header) - len(padded))
        line = ("  " + "  ".join(padded)).format
        lines = map(str.rstrip, starmap(line, chain([header], rows)))
        while batch := list(islice(lines, LINES_PER_CHUNK)):
            yield "\n".join(batch) + "\n"
    if not last:
        yield "\n"


def known_nodes(cluster: ClusterState) -> frozenset[str]:
    """Nodes in the files, plus nodes named only by endpoints."""
    names = set(cluster.nodes)
    for sl in cluster.endpoint_slices:
        names.update(ep.node_name for ep in sl.endpoints if ep.node_name)
    return frozenset(names)


def compute_plan(
    config: Config,
    cluster: ClusterState,
    *,
    lb_class: str | None = None,
    down: frozenset[str] = frozenset(),
    allocations: Mapping[str, Allocation] | None = None,
    usage: Mapping[str, PoolUsage] | None = None,
    ignore_exclude_lb: bool = False,
) -> Plan:
    """Allocate (unless ``allocations`` are given) and elect, with ``down`` nodes dead;
    ``ignore_exclude_lb``: nodes labelled exclude-from-external-load-balancers stay eligible."""
    if allocations is None or usage is None:
        allocations, usage = allocate_cluster(config, cluster, lb_class)
    # Of 100k Services, a copy is MBs: made only if some service has no address.
    if all(a.address_keys for a in allocations.values()):  # no address objects made
        assigned: Mapping[str, Allocation] = allocations
    else:
        assigned = {k: a for k, a in allocations.items() if a.ips}
    alive = known_nodes(cluster) - down if down else None
    # Only addresses of pools in layer 2 mode (with some L2Advertisement) belong in "l2".
    l2_pools = {name for ad in config.l2_advertisements for name in ad.pools}
    pools = set(map(_POOL, assigned.values()))
    if pools.isdisjoint(l2_pools):
        owners = L2Owners({}, [])  # no owner would be kept: none elected
    else:
        owners = l2_owners(config, cluster, assigned, alive, ignore_exclude_lb=ignore_exclude_lb)
        if not pools <= l2_pools:  # else every owner is kept
            # Filtered in place (the order stays): of 100k Services, a second dict is MBs.
            owners.retain(
                lambda owner: any(allocations[s].pool in l2_pools for s in owner.services)
            )
    return Plan(
        allocations=allocations,
        usage=usage,
        l2=owners,
        bgp=bgp_advertisements(
            config, cluster, assigned, alive, ignore_exclude_lb=ignore_exclude_lb
        ),
        down=down,
        ignore_exclude_lb=ignore_exclude_lb,
    )


class WhatIf(msgspec.Struct, frozen=True):
    before: Plan
    after: Plan
    l2_moves: tuple[tuple[str, str | None, str | None], ...] = ()  # (ip, from, to)
    bgp_changes: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = ()
    # (prefix, next hops before, next hops after)

    def to_json(self) -> dict[str, Any]:
        body = self.after.to_json()
        body["nodesDown"] = sorted(self.after.down)
        body["moves"] = self._moves_json()[1]
        return body

    def json_chunks(self, extra: Iterable[tuple[str, Any]] = ()) -> Iterator[str]:
        """:meth:`to_json` and then ``extra``, written as :meth:`Plan.json_chunks` does."""
        down = ("nodesDown", sorted(self.after.down))
        return json_chunks(chain(self.after._json_parts(), [down, self._moves_json()], extra))

    def _moves_json(self) -> tuple[str, dict[str, Any]]:
        return "moves", {
            "l2": [{"ip": ip, "from": a, "to": b} for ip, a, b in self.l2_moves],
            "bgp": [
                {"prefix": p, "nextHopsBefore": list(a), "nextHopsAfter": list(b)}
                for p, a, b in self.bgp_changes
            ],
        }

    def to_table(self) -> str:
        return "".join(self.table_chunks())

    def table_chunks(self) -> Iterator[str]:
        """:meth:`to_table`'s text a section at a time (see :meth:`Plan.table_chunks`)."""
        moved = {ip: f"moved from {a or 'nobody'} to {b or 'nobody'}" for ip, a, b in self.l2_moves}
        head = f"WHAT IF {', '.join(sorted(self.after.down))} DOWN\n"
        lines = [head]
        if self.bgp_changes:
            lines.append("BGP NEXT HOPS")
            for prefix, a, b in self.bgp_changes:
                lines.append(f"  * {prefix}: {', '.join(a) or '-'} -> {', '.join(b) or '-'}")
            lines.append("")
        yield "\n".join(lines)
        yield from self.after.table_chunks(moved)


def _routes_json(routes: Iterable[BGPRoute]) -> list[dict[str, Any]]:
    return [
        {
            "prefix": r.prefix,
            "peers": list(r.peers),
            "communities": list(r.communities),
            "localPref": r.local_pref,
            "services": list(r.services),
        }
        for r in routes
    ]


def _next_hops(plan: Plan) -> dict[str, tuple[str, ...]]:
    hops: dict[str, set[str]] = {}
    for node, routes in plan.bgp.items():
        for r in routes:
            hops.setdefault(r.prefix, set()).add(node)
    return {p: tuple(sorted(n)) for p, n in hops.items()}


def what_if(config: Config, cluster: ClusterState, before: Plan, down: frozenset[str]) -> WhatIf:
    """What moves if ``down`` die: allocations stay (the controller does not care), owners and
    next hops change."""
    after = compute_plan(
        config,
        cluster,
        down=down,
        allocations=before.allocations,
        usage=before.usage,
        ignore_exclude_lb=before.ignore_exclude_lb,
    )
    moves: list[tuple[str, str | None, str | None]] = []
    after_l2 = after.l2
    for ip, owner in before.l2.items():
        now = after_l2.get(ip)
        node = None if now is None else now.node
        if node != owner.node:
            moves.append((ip, owner.node, node))
    hops_before, hops_after = _next_hops(before), _next_hops(after)
    changes = tuple(
        (p, hops_before.get(p, ()), hops_after.get(p, ()))
        for p in sorted(set(hops_before) | set(hops_after), key=_prefix_key)
        if hops_before.get(p, ()) != hops_after.get(p, ())
    )
    return WhatIf(before, after, tuple(moves), changes)


def _prefix_key(prefix: str) -> tuple[int, int, int]:
    net = ipaddress.ip_network(prefix)
    return (net.version, int(net.network_address), net.prefixlen)
