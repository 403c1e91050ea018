"""What each view shows, as rows of cells: pure functions of a ConsoleState. No textual.

A cell is plain text, or text with a semantic style (``Styled``: alive, dead, error, ...; the
theme decides the colour), or a value the table formats when it draws (``Age``: "12s" since a
runtime time; ``Bar``: a usage bar). Rows are keyed so a table can update one row in place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from actors.model.config import Config, Peer, Pool
from actors.model.selectors import any_matches
from lbtui.state.eventlog import LogEntry
from lbtui.state.model import ConsoleState, L2Entry, PeerSessionRow, ServiceRow


@dataclass(frozen=True, slots=True)
class Styled:
    text: str
    style: str  # alive suspect dead error warning muted ok l2 bgp


@dataclass(frozen=True, slots=True)
class Age:
    """Time since ``t`` (runtime clock), drawn as "4s", "3m12s", "2h05m"."""

    t: float | None


@dataclass(frozen=True, slots=True)
class Bar:
    used: int
    total: int


Cell = str | Styled | Age | Bar
Row = tuple[Cell, ...]


@dataclass(frozen=True, slots=True)
class Column:
    title: str
    width: int = 0  # minimum width; the table widens to the longest cell
    flex: bool = False  # takes the width that is left
    right: bool = False
    # 0: identifies the row or carries its answer, never left out on a narrow terminal;
    # higher: left out sooner (lbtui/widgets/columns.py).
    priority: int = 1


STATE_GLYPH = {"alive": "●", "suspect": "◐", "dead": "○", "left": "○", "unknown": "?"}
STATE_STYLE = {"left": "muted"}
PROTOCOL_TEXT = {"layer2": "L2", "bgp": "BGP"}


def cell_text(cell: Cell) -> str:
    """The searchable text of a cell (what the ``/`` filter matches)."""
    if isinstance(cell, str):
        return cell
    if isinstance(cell, Styled):
        return cell.text
    if isinstance(cell, Bar):
        return f"{cell.used}/{cell.total}"
    return ""


def age_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def seconds_text(seconds: float | None, measured: bool = True) -> str:
    """A duration; an estimate (from events, not timed by the speaker) is marked with ~."""
    if seconds is None:
        return "-"
    mark = "" if measured else "~"
    if seconds < 1:
        return f"{mark}{seconds * 1000:.0f}ms"
    return f"{mark}{seconds:.2f}s"


def member_cell(state: str) -> Styled:
    return Styled(f"{STATE_GLYPH.get(state, '?')} {state}", STATE_STYLE.get(state, state))


# -- services ---------------------------------------------------------------------------------

SERVICE_COLUMNS = (
    Column("NAMESPACE", 9, priority=2),
    Column("NAME", 10, priority=0),
    Column("IPS", 14, flex=True, priority=0),
    Column("POOL", 6, priority=3),
    Column("ANNOUNCED BY", 12, priority=1),
    Column("PROTO", 6, priority=0),
    Column("STATUS", 9, priority=0),
)


def service_row(row: ServiceRow) -> Row:
    protocols = "+".join(PROTOCOL_TEXT.get(p, p) for p in row.protocols) or "-"
    style = {"announced": "ok", "not announced": "warning", "pending": "muted"}.get(
        row.status, "error"
    )
    status = row.error if row.status == "error" else row.status
    return (
        row.namespace,
        row.name,
        ", ".join(row.ips) or "-",
        row.pool or "-",
        ", ".join(row.nodes) or "-",
        Styled(protocols, "l2" if protocols == "L2" else "bgp" if protocols == "BGP" else "ok")
        if row.protocols
        else Styled("-", "muted"),
        Styled(status, style),
    )


def service_rows(state: ConsoleState, keys: Iterable[str] | None = None) -> dict[str, Row | None]:
    """Rows for ``keys`` (all when None); a key whose service is gone maps to None."""
    services = state.services
    wanted = services.keys() if keys is None else keys
    return {key: (service_row(services[key]) if key in services else None) for key in wanted}


# -- pools ------------------------------------------------------------------------------------

POOL_COLUMNS = (
    Column("NAME", 8, priority=0),
    Column("ADDRESSES", 16, flex=True, priority=1),
    Column("IN USE", 20, priority=0),
    Column("IPV4", 9, right=True, priority=2),
    Column("IPV6", 9, right=True, priority=2),
    Column("AUTO", 4, priority=4),
    Column("AVOID BUGGY", 11, priority=4),
    Column("PRIORITY", 8, right=True, priority=3),
    Column("ADVERTISEMENTS", 14, priority=2),
)


def pool_advertisements(config: Config, pool: str) -> str:
    names = [f"L2:{ad.name}" for ad in config.l2_advertisements_for(pool)]
    names += [f"BGP:{ad.name}" for ad in config.bgp_advertisements_for(pool)]
    return " ".join(names) or "-"


def pool_row(state: ConsoleState, pool: Pool) -> Row:
    usage = state.usage.get(pool.name)
    used = usage.in_use if usage else 0
    total = usage.total if usage else sum(r.size for r in pool.ranges)
    v4 = f"{usage.in_use_v4}/{usage.total_v4}" if usage and usage.total_v4 else "-"
    v6 = f"{usage.in_use_v6}/{_short_count(usage.total_v6)}" if usage and usage.total_v6 else "-"
    priority = pool.allocation.priority if pool.allocation and pool.allocation.priority else 0
    assert state.config is not None
    return (
        pool.name,
        ", ".join(r.text for r in pool.ranges),
        Bar(used, total),
        v4,
        v6,
        "yes" if pool.auto_assign else Styled("no", "muted"),
        "yes" if pool.avoid_buggy_ips else Styled("no", "muted"),
        str(priority) if priority else "-",
        pool_advertisements(state.config, pool.name),
    )


def _short_count(n: int) -> str:
    return str(n) if n < 10**6 else f"2^{n.bit_length() - 1}"


def pool_rows(state: ConsoleState) -> dict[str, Row]:
    if state.config is None:
        return {}
    return {name: pool_row(state, pool) for name, pool in sorted(state.config.pools.items())}


# -- nodes ------------------------------------------------------------------------------------

NODE_COLUMNS = (
    Column("NAME", 8, priority=0),
    Column("STATE", 9, priority=0),
    Column("INC", 3, right=True, priority=3),
    Column("SINCE", 6, right=True, priority=1),
    Column("HEALTH", 8, priority=1),
    Column("ADDRESS", 10, priority=2),
    Column("INTERFACES", 10, flex=True, priority=3),
    Column("L2", 3, right=True, priority=1),
    Column("BGP", 3, right=True, priority=1),
)


def node_health(state: ConsoleState, node: str) -> Styled:
    if node in state.not_candidate:
        return Styled("no carrier", "error")
    obj = state.cluster.nodes.get(node) if state.cluster else None
    if obj is None:
        return Styled("no Node", "muted")
    if obj.network_unavailable:
        return Styled("NetworkUnavailable", "error")
    if obj.excluded_from_load_balancers:
        return Styled("excluded", "warning")
    ready = next((c.status for c in obj.status.conditions if c.type == "Ready"), "")
    if ready and ready != "True":
        return Styled("NotReady", "warning")
    return Styled("ok", "ok")


def node_address(state: ConsoleState, node: str) -> str:
    obj = state.cluster.nodes.get(node) if state.cluster else None
    if obj is None:
        return "-"
    internal = [a.address for a in obj.status.addresses if a.type == "InternalIP"]
    return ", ".join(internal) or "-"


def node_l2(state: ConsoleState, node: str) -> list[L2Entry]:
    return [e for e in state.l2.values() if node in e.announcers]


def node_interfaces(state: ConsoleState, node: str, entries: list[L2Entry]) -> Cell:
    """The node's announcing interfaces (from its L2 actor), else those its addresses use."""
    known = state.interfaces.get(node)
    if known is not None:
        interfaces, without_carrier = known
        names = [f"{i} (no carrier)" if i in without_carrier else i for i in interfaces]
        text = ", ".join(names) or "none"
        return Styled(text, "warning") if without_carrier else text
    if not entries:
        return "-"
    if any(not e.interfaces for e in entries):
        return "all eligible"
    return ", ".join(sorted({i for e in entries for i in e.interfaces}))


def node_rows(state: ConsoleState) -> dict[str, Row]:
    per_node_routes: dict[str, int] = {}
    for node, _, _ in state.routes:
        per_node_routes[node] = per_node_routes.get(node, 0) + 1
    rows: dict[str, Row] = {}
    for node in state.nodes:
        member = state.members.get(node)
        entries = node_l2(state, node)
        rows[node] = (
            node,
            member_cell(member.state if member else "unknown"),
            str(member.incarnation) if member and member.incarnation is not None else "-",
            Age(member.since if member else None),
            node_health(state, node),
            node_address(state, node),
            node_interfaces(state, node, entries),
            str(len(entries)),
            str(per_node_routes.get(node, 0)),
        )
    return rows


# -- layer 2 ----------------------------------------------------------------------------------

L2_COLUMNS = (
    Column("IP", 14, priority=0),
    Column("OWNER", 8, priority=0),
    Column("INTERFACES", 10, priority=3),
    Column("SINCE", 6, right=True, priority=1),
    Column("TAKEOVERS", 9, right=True, priority=2),
    Column("GARP PKTS", 9, right=True, priority=3),
    Column("LAST FAILOVER", 13, right=True, priority=1),
    Column("SERVICES", 10, flex=True, priority=0),
)


def l2_row(state: ConsoleState, entry: L2Entry) -> Row:
    if entry.conflict:
        owner: Cell = Styled(f"{entry.node} SPLIT BRAIN: {entry.conflict}", "error")
    elif entry.node is None:
        owner = Styled("-", "muted")
    elif len(entry.announcers) > 1:
        others = ",".join(sorted(entry.announcers - {entry.node}))
        owner = Styled(f"{entry.node} (+{others})", "warning")
    else:
        member = state.members.get(entry.node)
        gone = member is not None and member.state in ("dead", "left")
        owner = Styled(entry.node, "dead" if gone else "ok")
    interfaces = ", ".join(entry.interfaces) or ("all" if entry.node else "-")
    return (
        entry.ip,
        owner,
        interfaces,
        Age(entry.since),
        str(entry.takeovers),
        str(entry.gratuitous) if entry.gratuitous else "-",
        seconds_text(entry.failover_seconds, entry.failover_measured),
        ", ".join(entry.services),
    )


# -- BGP sessions -----------------------------------------------------------------------------

BGP_COLUMNS = (
    Column("NODE", 8, priority=0),
    Column("PEER", 10, priority=0),
    Column("ADDRESS", 10, priority=2),
    Column("STATE", 11, priority=0),
    Column("UPTIME", 6, right=True, priority=1),
    Column("PREFIXES", 8, right=True, priority=1),
    Column("BFD", 5, priority=2),
    Column("LAST ERROR", 10, flex=True, priority=3),
)

SESSION_STYLE = {"Established": "ok", "Idle": "error", "Active": "warning", "Connect": "warning"}
BFD_STYLE = {"up": "ok", "down": "error", "init": "warning", "admin-down": "muted"}


def session_key(node: str, peer: str) -> str:
    return f"{node}/{peer}"


def peer_nodes(state: ConsoleState, peer: Peer) -> list[str]:
    """Nodes that keep a session with ``peer`` (its nodeSelectors match them)."""
    if state.cluster is None:
        return []
    return [
        name
        for name, node in sorted(state.cluster.nodes.items())
        if any_matches(peer.node_selectors, node.metadata.labels)
    ]


def sessions(state: ConsoleState) -> dict[str, tuple[str, str, PeerSessionRow | None]]:
    """Every (node, peer) session: configured ones and any reported by session events."""
    out: dict[str, tuple[str, str, PeerSessionRow | None]] = {}
    if state.config is not None:
        for peer in state.config.peers:
            for node in peer_nodes(state, peer):
                out[session_key(node, peer.name)] = (node, peer.name, None)
    for (node, peer), session in state.sessions.items():
        out[session_key(node, peer)] = (node, peer, session)
    return dict(sorted(out.items()))


def prefixes_sent(state: ConsoleState, node: str, peer: str) -> int:
    """Prefixes on the session: as its UPDATEs reported, else as the speaker announced them."""
    sent = state.advertised.get((node, peer))
    if sent is not None:
        return len(sent)
    return len({prefix for (n, prefix, peers) in state.routes if n == node and peer in peers})


def bgp_rows(state: ConsoleState) -> dict[str, Row]:
    peers = {p.name: p for p in state.config.peers} if state.config else {}
    rows: dict[str, Row] = {}
    for key, (node, peer, session) in sessions(state).items():
        config = peers.get(peer)
        address = config.target if config else "-"
        bfd: Cell = "-"
        if session is None or not session.state:
            # No session events (the simulated demo network has no sessions to report).
            state_cell: Cell = Styled("-", "muted")
            uptime: Cell = "-"
            error = ""
        else:
            state_cell = Styled(session.state, SESSION_STYLE.get(session.state, "warning"))
            uptime = Age(session.since) if session.state == "Established" else "-"
            error = session.last_error
        if session is not None and session.bfd:
            bfd = Styled(session.bfd, BFD_STYLE.get(session.bfd, "warning"))
        rows[key] = (
            node,
            peer,
            address,
            state_cell,
            uptime,
            str(prefixes_sent(state, node, peer)),
            bfd,
            Styled(error, "error") if error else "-",
        )
    return rows


# -- peers ------------------------------------------------------------------------------------

PEER_COLUMNS = (
    Column("NAME", 8, priority=0),
    Column("ADDRESS", 14, priority=0),
    Column("MY ASN", 6, right=True, priority=2),
    Column("PEER ASN", 8, right=True, priority=1),
    Column("HOLD/KA", 7, right=True, priority=3),
    Column("BFD", 4, priority=3),
    Column("MULTIHOP", 8, priority=3),
    Column("GR", 3, priority=3),
    Column("NODES", 8, flex=True, priority=2),
    Column("UP", 5, right=True, priority=0),
)


def peer_row(state: ConsoleState, peer: Peer) -> Row:
    nodes = peer_nodes(state, peer)
    up = sum(
        1
        for n in nodes
        if (s := state.sessions.get((n, peer.name))) is not None and s.state == "Established"
    )
    selectors = " | ".join(s.canonical() or "all" for s in peer.node_selectors) or "all"
    port = f":{peer.peer_port}" if peer.peer_port != 179 else ""
    return (
        peer.name,
        f"{peer.target}{port}",
        str(peer.my_asn),
        str(peer.peer_asn) if peer.peer_asn else peer.dynamic_asn or "-",
        f"{peer.hold_time}s/{peer.keepalive_time}s",
        peer.bfd_profile or "-",
        "yes" if peer.ebgp_multihop else "no",
        "yes" if peer.enable_graceful_restart else "no",
        f"{selectors} ({len(nodes)})",
        f"{up}/{len(nodes)}",
    )


def peer_rows(state: ConsoleState) -> dict[str, Row]:
    if state.config is None:
        return {}
    return {p.name: peer_row(state, p) for p in sorted(state.config.peers, key=lambda p: p.name)}


# -- events -----------------------------------------------------------------------------------

EVENT_COLUMNS = (
    Column("AGE", 6, right=True, priority=0),
    Column("EVENT", 20, priority=0),
    Column("DETAILS", 20, flex=True, priority=0),
)

LEVEL_STYLE = {"info": "muted", "warning": "warning", "error": "error"}


def event_row(entry: LogEntry) -> Row:
    style = "ok" if entry.level == "info" else LEVEL_STYLE[entry.level]
    return (Age(entry.t), Styled(entry.name, style), entry.text)


def event_key(entry: LogEntry) -> str:
    return f"{entry.seq:09d}"


def event_rows(entries: Iterable[LogEntry]) -> dict[str, Row]:
    return {event_key(e): event_row(e) for e in entries}


# -- overview panels --------------------------------------------------------------------------

OVERVIEW_POOL_COLUMNS = (Column("POOL", 8), Column("USAGE", 24, flex=True))
OVERVIEW_NODE_COLUMNS = (
    Column("NODE", 8),
    Column("STATE", 9),
    Column("L2", 3, right=True),
    Column("BGP", 3, right=True),
)
OVERVIEW_SESSION_COLUMNS = (
    Column("NODE", 8),
    Column("PEER", 9),
    Column("STATE", 11),
    Column("PFX", 3, right=True),
)
FAILOVER_COLUMNS = (
    Column("AGE", 6, right=True, priority=1),
    Column("IP", 11, priority=0),
    Column("FROM → TO", 15, flex=True, priority=0),
    Column("TOOK", 6, right=True, priority=0),
)


def overview_pool_rows(state: ConsoleState) -> dict[str, Row]:
    rows = pool_rows(state)
    return {name: (row[0], row[2]) for name, row in rows.items()}


def overview_node_rows(state: ConsoleState) -> dict[str, Row]:
    return {node: (row[0], row[1], row[7], row[8]) for node, row in node_rows(state).items()}


def overview_session_rows(state: ConsoleState) -> dict[str, Row]:
    return {key: (r[0], r[1], r[3], r[5]) for key, r in bgp_rows(state).items()}


def failover_rows(state: ConsoleState, limit: int = 50) -> dict[str, Row]:
    rows: dict[str, Row] = {}
    for index, f in enumerate(state.failovers[-limit:]):
        took = seconds_text(f.seconds, f.measured)
        rows[f"{f.t:020.6f}-{index}"] = (
            Age(f.t),
            f.ip,
            f"{f.from_node} → {f.to_node}",
            Styled(took, "warning" if f.seconds is not None and f.seconds >= 1 else "ok"),
        )
    return rows


def failover_stats(state: ConsoleState) -> tuple[int, int, float | None, float | None]:
    """How many failovers have a time, how many of those the speakers timed themselves, and
    the median and worst time."""
    timed = [f for f in state.failovers if f.seconds is not None]
    times = sorted(f.seconds for f in timed if f.seconds is not None)
    if not times:
        return 0, 0, None, None
    measured = sum(1 for f in timed if f.measured)
    return len(times), measured, times[len(times) // 2], times[-1]


def counts(state: ConsoleState) -> Mapping[str, int]:
    """Headline numbers for the info bar."""
    alive = sum(1 for m in state.members.values() if m.state == "alive")
    announced = sum(1 for r in state.services.values() if r.status == "announced")
    return {
        "nodes": len(state.nodes),
        "alive": alive,
        "services": len(state.services),
        "announced": announced,
        "l2": sum(1 for e in state.l2.values() if e.node),
        "routes": len(state.routes),
    }
