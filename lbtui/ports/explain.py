"""describe: why things are as they are, for one object of a view (``d``), in words.

The answers come from a ConsoleState and the election core (actors/election), which gives the
reasons behind every decision: why a service has no IP, which node owns an address and who
else was a candidate, what each node announces over BGP. Nothing is asked of the runtime and
nothing is touched. :class:`Description` (sections of styled lines) is what the describe
screen shows.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

import yaml

from actors.election.bgp import bgp_decision
from actors.election.candidates import Assigned
from actors.election.l2 import L2Decision, l2_decision
from actors.model.cluster import Service
from actors.model.config import IPAddress
from lbtui.state.model import ConsoleState
from lbtui.state.rows import age_text, peer_nodes, seconds_text


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a description, with the style it is shown in."""

    text: str
    style: str = ""  # a semantic style: ok, error, warning, muted, alive, dead, ...


@dataclass(frozen=True, slots=True)
class Section:
    """A titled group of lines (the election, the allocation, the sessions...)."""

    title: str
    lines: tuple[Line, ...]


@dataclass(frozen=True, slots=True)
class Description:
    """What the describe screen shows for one object: a title and its sections."""

    title: str
    sections: tuple[Section, ...]

    def text(self) -> str:
        out = [self.title]
        for section in self.sections:
            out.append("")
            out.append(section.title)
            out += [f"  {line.text}" for line in section.lines]
        return "\n".join(out)


@dataclass(frozen=True, slots=True)
class _Held:
    """An allocation seen only through Service status (no allocator snapshot)."""

    ips: tuple[IPAddress, ...]
    pool: str | None


def assignment_of(state: ConsoleState, key: str) -> Assigned:
    """What a service holds: the allocator's Allocation, else what its status row shows."""
    allocation = state.allocations.get(key)
    if allocation is not None:
        return allocation
    row = state.services.get(key)
    ips = tuple(ipaddress.ip_address(ip) for ip in row.ips) if row else ()
    return _Held(ips, row.pool or None if row else None)


def _member_line(state: ConsoleState, node: str) -> str:
    member = state.members.get(node)
    if member is None:
        return f"{node}: unknown"
    since = age_text(state.now - member.since) if member.since is not None else "-"
    return f"{node}: {member.state} for {since}" + (f" ({member.reason})" if member.reason else "")


def describe(state: ConsoleState, kind: str, key: str) -> Description:
    """Why things are as they are, for one object of a view (``d``)."""
    describers: dict[str, Callable[[ConsoleState, str], Description]] = {
        "service": describe_service,
        "pool": describe_pool,
        "node": describe_node,
        "l2": describe_address,
        "session": describe_session,
        "peer": describe_peer,
        "event": describe_event,
    }
    describer = describers.get(kind)
    if describer is None:
        return Description(f"{kind} {key}", (Section("", (Line("nothing to describe"),)),))
    return describer(state, key)


def describe_service(state: ConsoleState, key: str) -> Description:
    title = f"Service {key}"
    cluster, config = state.cluster, state.config
    service = cluster.services.get(key) if cluster else None
    if service is None or config is None or cluster is None:
        return Description(title, (Section("Service", (Line("not known (yet)", "muted"),)),))
    spec = service.spec
    lines = [
        Line(f"type {spec.type}, externalTrafficPolicy {spec.external_traffic_policy}"),
        Line("ports: " + (", ".join(f"{p.port}/{p.protocol}" for p in spec.ports) or "-")),
    ]
    notes = {k: v for k, v in service.metadata.annotations.items() if "metallb" in k}
    if notes:
        lines.append(Line("annotations: " + ", ".join(f"{k}={v}" for k, v in notes.items())))
    serving = sorted({ep.node_name or "?" for ep in cluster.endpoints_of(key) if ep.is_serving})
    lines.append(
        Line("serving endpoints on: " + (", ".join(serving) or "none"), "" if serving else "error")
    )
    sections = [Section("Service", tuple(lines))]

    assigned = assignment_of(state, key)
    alloc_lines: list[Line] = []
    error = getattr(assigned, "error", None)
    if assigned.ips:
        ips = ", ".join(str(ip) for ip in assigned.ips)
        alloc_lines.append(Line(f"{ips} from pool {assigned.pool or '?'}", "ok"))
        if error:
            alloc_lines.append(Line(f"requested addresses refused: {error}", "warning"))
    else:
        alloc_lines.append(Line(f"no address: {error or 'not allocated yet'}", "error"))
        alloc_lines += [Line(hint, "muted") for hint in _no_ip_hints(state, service, error)]
    sections.append(Section("Allocation", tuple(alloc_lines)))
    if not assigned.ips:
        return Description(title, tuple(sections))

    pool = assigned.pool
    if pool is not None and config.l2_advertisements_for(pool):
        decision = l2_decision(config, cluster, key, assigned, state.alive)
        sections.append(Section("Layer 2 election", _l2_lines(state, decision)))
    if pool is not None and config.bgp_advertisements_for(pool):
        sections.append(Section("BGP", _bgp_lines(state, key, assigned)))
    if (
        pool is not None
        and not config.l2_advertisements_for(pool)
        and not (config.bgp_advertisements_for(pool))
    ):
        sections.append(
            Section(
                "Announcement",
                (Line(f"pool {pool} has no L2Advertisement and no BGPAdvertisement", "error"),),
            )
        )
    return Description(title, tuple(sections))


def _no_ip_hints(state: ConsoleState, service: Service, error: str | None) -> list[str]:
    hints = []
    config = state.config
    if config is None:
        return hints
    wanted = service.metadata.annotations.get("metallb.io/address-pool")
    if wanted and wanted not in config.pools:
        hints.append(f"it asks for pool {wanted!r}, which does not exist")
    auto = [p.name for p in config.pools.values() if p.auto_assign]
    if not wanted and not auto:
        hints.append("no pool has autoAssign: the service must name one (metallb.io/address-pool)")
    for name, usage in sorted(state.usage.items()):
        if usage.total and usage.in_use >= usage.total:
            hints.append(f"pool {name} is full ({usage.in_use}/{usage.total})")
    return hints


def _l2_lines(state: ConsoleState, decision: L2Decision) -> tuple[Line, ...]:
    lines = [
        Line(
            f"{decision.reason}: {decision.message}",
            "ok" if decision.announced else "error",
        )
    ]
    if decision.advertisements:
        lines.append(Line("advertisements: " + ", ".join(decision.advertisements)))
    if decision.ranked:
        lines.append(Line("candidates, winner first (preference score, then sha256(node#ip)):"))
        for rank, c in enumerate(decision.ranked, 1):
            lines.append(Line(f"  {rank}. {c.node}  score {c.score}  sha256 {c.hash[:12]}…"))
    for rejection in decision.rejected:
        lines.append(Line(f"  ruled out {rejection.node}: {rejection.message}", "muted"))
    if decision.announced:
        lines.append(Line("interfaces: " + (", ".join(decision.interfaces) or "all eligible")))
    for ip in decision.ips:
        entry = state.l2.get(str(ip))
        if entry is None or entry.node is None:
            lines.append(Line(f"runtime: nobody answers for {ip} yet", "warning"))
            continue
        since = age_text(state.now - entry.since)
        agree = "" if entry.node == decision.node else f" (election says {decision.node})"
        lines.append(
            Line(
                f"runtime: {entry.node} answers for {ip} since {since}{agree}",
                "ok" if not agree else "warning",
            )
        )
    return tuple(lines)


def _bgp_lines(state: ConsoleState, key: str, assigned: Assigned) -> tuple[Line, ...]:
    assert state.config is not None and state.cluster is not None
    decision = bgp_decision(state.config, state.cluster, key, assigned, state.alive)
    lines = [
        Line(f"{decision.reason}: {decision.message}", "ok" if decision.announcing else "error")
    ]
    for verdict in decision.nodes:
        detail = verdict.message
        if verdict.announced and verdict.prefixes:
            detail += f" ({', '.join(verdict.prefixes)})"
        lines.append(
            Line(
                f"  {verdict.node}: {verdict.reason}: {detail}",
                "" if verdict.announced else "muted",
            )
        )
    return tuple(lines)


def describe_address(state: ConsoleState, ip: str) -> Description:
    entry = state.l2.get(ip)
    title = f"Layer 2 address {ip}"
    if entry is None:
        return Description(title, (Section("Owner", (Line("not announced", "muted"),)),))
    lines = [
        Line(f"owner: {entry.node or 'nobody'}", "ok" if entry.node else "error"),
        Line(f"since {age_text(state.now - entry.since)}: {entry.reason}"),
        Line("interfaces: " + (", ".join(entry.interfaces) or "all eligible")),
        Line(
            f"taken over {entry.takeovers} time(s); gratuitous packets sent: "
            f"{entry.gratuitous or 'none reported (simulated network)'}"
        ),
        Line(
            f"last failover took {seconds_text(entry.failover_seconds, entry.failover_measured)}"
            + ("" if entry.failover_measured else " (estimated from events; ~ marks estimates)")
        ),
    ]
    if entry.conflict:
        lines.append(Line(f"SPLIT BRAIN: {entry.conflict}", "error"))
    if len(entry.announcers) > 1:
        lines.append(Line("answering now: " + ", ".join(sorted(entry.announcers)), "warning"))
    sections = [Section("Owner", tuple(lines))]
    if state.config is not None and state.cluster is not None:
        for service in entry.services:
            if service in state.cluster.services:
                decision = l2_decision(
                    state.config, state.cluster, service, assignment_of(state, service), state.alive
                )
                sections.append(Section(f"Election for {service}", _l2_lines(state, decision)))
    return Description(title, tuple(sections))


def describe_node(state: ConsoleState, node: str) -> Description:
    lines = [Line(_member_line(state, node))]
    member = state.members.get(node)
    if member and member.incarnation is not None:
        lines.append(Line(f"incarnation {member.incarnation}"))
    if node in state.losses:
        lines.append(Line(f"lost {age_text(state.now - state.losses[node])} ago", "warning"))
    obj = state.cluster.nodes.get(node) if state.cluster else None
    if obj is not None:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(obj.metadata.labels.items()))
        lines.append(Line(f"labels: {labels or '-'}"))
        for c in obj.status.conditions:
            lines.append(Line(f"condition {c.type}={c.status}"))
        for a in obj.status.addresses:
            lines.append(Line(f"{a.type} {a.address}"))
        if obj.network_unavailable:
            lines.append(Line("NetworkUnavailable: announces nothing", "error"))
        if obj.excluded_from_load_balancers:
            lines.append(Line("labelled exclude-from-external-load-balancers", "warning"))
    else:
        lines.append(Line("no Node object", "muted"))
    sections = [Section("Membership and health", tuple(lines))]
    owned = [e for e in state.l2.values() if node in e.announcers]
    sections.append(
        Section(
            "Layer 2",
            tuple(Line(f"{e.ip} for {', '.join(e.services)}") for e in owned)
            or (Line("announces nothing", "muted"),),
        )
    )
    routes = [r for (n, _, _), r in state.routes.items() if n == node]
    sections.append(
        Section(
            "BGP routes",
            tuple(Line(f"{r.prefix} to {', '.join(r.peers)}") for r in routes)
            or (Line("announces nothing", "muted"),),
        )
    )
    moved = [f for f in state.failovers if node in (f.from_node, f.to_node)]
    if moved:
        sections.append(
            Section(
                "Failovers",
                tuple(
                    Line(
                        f"{f.ip}: {f.from_node} → {f.to_node} in "
                        f"{seconds_text(f.seconds, f.measured)}"
                    )
                    for f in moved[-10:]
                ),
            )
        )
    return Description(f"Node {node}", tuple(sections))


def describe_pool(state: ConsoleState, name: str) -> Description:
    config = state.config
    pool = config.pools.get(name) if config else None
    if config is None or pool is None:
        return Description(f"IPAddressPool {name}", (Section("Pool", (Line("not configured"),)),))
    lines = [Line(f"{r.text} ({r.size} addresses, IPv{r.version})") for r in pool.ranges]
    usage = state.usage.get(name)
    if usage:
        lines.append(Line(f"in use {usage.in_use}/{usage.total}"))
    lines.append(Line(f"autoAssign {str(pool.auto_assign).lower()}"))
    lines.append(Line(f"avoidBuggyIPs {str(pool.avoid_buggy_ips).lower()}"))
    if pool.allocation is not None:
        sa = pool.allocation
        lines.append(Line(f"serviceAllocation priority {sa.priority or 'unset'}"))
        if sa.namespaces:
            lines.append(Line("  namespaces " + ", ".join(sorted(sa.namespaces))))
    ads = [
        Line(f"L2Advertisement {ad.name}: interfaces {', '.join(ad.interfaces) or 'all'}")
        for ad in config.l2_advertisements_for(name)
    ]
    ads += [
        Line(
            f"BGPAdvertisement {ad.name}: /{ad.aggregation_length} /{ad.aggregation_length_v6}, "
            f"localPref {ad.local_pref}, communities "
            f"{', '.join(c.text for c in ad.communities) or '-'}, "
            f"peers {', '.join(ad.peers) or 'all'}"
        )
        for ad in config.bgp_advertisements_for(name)
    ]
    if not ads:
        ads = [Line("none: addresses from this pool are allocated but never announced", "error")]
    holders = sorted(k for k, a in state.allocations.items() if a.pool == name and a.ips)
    services = [
        Line(f"{k}: {', '.join(str(ip) for ip in state.allocations[k].ips)}") for k in holders[:30]
    ]
    if len(holders) > 30:
        services.append(Line(f"… and {len(holders) - 30} more", "muted"))
    return Description(
        f"IPAddressPool {name}",
        (
            Section("Pool", tuple(lines)),
            Section("Advertisements", tuple(ads)),
            Section("Services", tuple(services) or (Line("none", "muted"),)),
        ),
    )


def describe_peer(state: ConsoleState, name: str) -> Description:
    config = state.config
    peer = next((p for p in config.peers if p.name == name), None) if config else None
    if config is None or peer is None:
        return Description(f"BGPPeer {name}", (Section("Peer", (Line("not configured"),)),))
    password = "set" if peer.password else "from a Secret" if peer.password_secret else "none"
    lines = [
        Line(f"{peer.target} port {peer.peer_port}, ASN {peer.my_asn} -> {peer.peer_asn}"),
        Line("iBGP" if peer.is_ibgp else "eBGP"),
        Line(f"hold {peer.hold_time}s, keepalive {peer.keepalive_time}s"),
        Line(f"password: {password}"),
        Line(f"BFD profile: {peer.bfd_profile or 'none'}"),
        Line(
            f"ebgpMultiHop {str(peer.ebgp_multihop).lower()}, "
            f"graceful restart {str(peer.enable_graceful_restart).lower()}"
        ),
    ]
    sessions = []
    for node in peer_nodes(state, peer):
        session = state.sessions.get((node, name))
        status = session.state if session else "no session events"
        sessions.append(Line(f"{node}: {status}", "ok" if status == "Established" else "muted"))
    ads = [
        Line(f"BGPAdvertisement {ad.name} (pools {', '.join(sorted(ad.pools))})")
        for ad in config.bgp_advertisements
        if not ad.peers or name in ad.peers
    ]
    return Description(
        f"BGPPeer {name}",
        (
            Section("Peer", tuple(lines)),
            Section("Sessions", tuple(sessions) or (Line("no node selected", "warning"),)),
            Section("Advertised through", tuple(ads) or (Line("nothing", "muted"),)),
        ),
    )


def describe_session(state: ConsoleState, key: str) -> Description:
    node, _, peer = key.partition("/")
    session = state.sessions.get((node, peer))
    if session is None:
        lines = [
            Line(
                "no session events from this runtime (the simulated network has no real sessions)",
                "muted",
            )
        ]
    else:
        lines = [
            Line(f"{session.state} for {age_text(state.now - session.since)}"),
            Line(f"reason: {session.reason or '-'}"),
            Line(f"last error: {session.last_error or '-'}"),
        ]
    prefixes = sorted({p for (n, p, peers) in state.routes if n == node and peer in peers})
    return Description(
        f"BGP session {node} -> {peer}",
        (
            Section("Session", tuple(lines)),
            Section(
                f"Prefixes sent ({len(prefixes)})",
                tuple(Line(p) for p in prefixes) or (Line("none", "muted"),),
            ),
        ),
    )


def describe_event(state: ConsoleState, key: str) -> Description:
    entry = next((e for e in state.log if f"{e.seq:09d}" == key), None)
    if entry is None:
        return Description(f"event {key}", (Section("", (Line("gone from the log"),)),))
    body = yaml.safe_dump(dict(entry.record), sort_keys=False).splitlines()
    return Description(entry.name, (Section("Event", tuple(Line(b) for b in body)),))
