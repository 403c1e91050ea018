"""The views: overview, services, pools, nodes, l2, bgp, peers, events (one screen each)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical
from textual.widgets import Label

from lbtui.screens.base import BigTableScreen, ConsoleScreen, Scope, SmallTableScreen
from lbtui.state import failovers as failover_rows
from lbtui.state import rows as views
from lbtui.state.model import ConsoleState
from lbtui.state.rows import Row
from lbtui.widgets.pulses import Pulses
from lbtui.widgets.table import ResourceTable


def ip_sort_key(text: str) -> tuple[int, int, str]:
    address = text.split("/", 1)[0]
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return (9, 0, text)
    return (ip.version, int(ip), text)


class ServicesScreen(BigTableScreen):
    VIEW = "services"
    TITLE = "Services"
    KIND = "service"
    NAMESPACED = True

    def in_namespace(self, state: ConsoleState, key: str, namespace: str) -> bool:
        return key.partition("/")[0] == namespace

    COLUMNS = views.SERVICE_COLUMNS
    ACTIONS = frozenset({"describe", "yaml", "tree", "what_if"})
    EMPTY = "no LoadBalancer service"

    def row_keys(self, state: ConsoleState) -> Iterable[str]:
        return state.services.keys()

    def changed_keys(self, state: ConsoleState) -> Iterable[str]:
        return state.changes.services

    def has_row(self, state: ConsoleState, key: str) -> bool:
        return key in state.services

    def make_row(self, key: str) -> Row | None:
        row = self.console.state.services.get(key)
        return views.service_row(row) if row is not None else None

    def drill(self, key: str) -> None:
        self.console.open_tree(key)

    def what_if_nodes(self) -> tuple[str, ...]:
        row = self.console.state.services.get(self.selected or "")
        return row.nodes if row else ()


class PoolsScreen(SmallTableScreen):
    VIEW = "pools"
    TITLE = "IP address pools"
    KIND = "pool"
    COLUMNS = views.POOL_COLUMNS
    ACTIONS = frozenset({"describe", "yaml", "edit", "new", "delete"})
    EMPTY = "no IPAddressPool configured"

    def all_rows(self, state: ConsoleState) -> Mapping[str, Row]:
        return views.pool_rows(state)

    def drill(self, key: str) -> None:
        self.console.push_screen(
            ServicesScreen(Scope(f"pool {key}", lambda s, k: _in_pool(s, k, key)))
        )


def _in_pool(state: ConsoleState, service: str, pool: str) -> bool:
    row = state.services.get(service)
    return row is not None and row.pool == pool


class NodesScreen(SmallTableScreen):
    VIEW = "nodes"
    TITLE = "Nodes"
    KIND = "node"
    COLUMNS = views.NODE_COLUMNS
    ACTIONS = frozenset({"describe", "yaml", "what_if", "kill", "revive"})
    EMPTY = "no node known"

    def all_rows(self, state: ConsoleState) -> Mapping[str, Row]:
        return views.node_rows(state)

    def drill(self, key: str) -> None:
        self.console.push_screen(
            L2Screen(Scope(f"announced by {key}", lambda s, ip: _announced_by(s, ip, key)))
        )

    def selected_node(self) -> str | None:
        return self.selected

    def what_if_nodes(self) -> tuple[str, ...]:
        return (self.selected,) if self.selected else ()


def _announced_by(state: ConsoleState, ip: str, node: str) -> bool:
    entry = state.l2.get(ip)
    return entry is not None and node in entry.announcers


class L2Screen(BigTableScreen):
    VIEW = "l2"
    TITLE = "Layer 2 addresses"
    KIND = "l2"
    NAMESPACED = True

    def in_namespace(self, state: ConsoleState, key: str, namespace: str) -> bool:
        entry = state.l2.get(key)
        return entry is not None and any(s.partition("/")[0] == namespace for s in entry.services)

    COLUMNS = views.L2_COLUMNS
    ACTIONS = frozenset({"describe", "yaml", "what_if", "kill", "revive"})
    EMPTY = "no address announced in layer 2"

    def sort_key(self, key: str) -> Any:
        return ip_sort_key(key)

    def row_keys(self, state: ConsoleState) -> Iterable[str]:
        return state.l2.keys()

    def changed_keys(self, state: ConsoleState) -> Iterable[str]:
        return state.changes.l2

    def has_row(self, state: ConsoleState, key: str) -> bool:
        return key in state.l2

    def make_row(self, key: str) -> Row | None:
        state = self.console.state
        entry = state.l2.get(key)
        return views.l2_row(state, entry) if entry is not None else None

    def drill(self, key: str) -> None:
        self.console.push_screen(
            ServicesScreen(Scope(f"on {key}", lambda s, k: key in _service_ips(s, k)))
        )

    def selected_node(self) -> str | None:
        entry = self.console.state.l2.get(self.selected or "")
        return entry.node if entry else None

    def what_if_nodes(self) -> tuple[str, ...]:
        node = self.selected_node()
        return (node,) if node else ()


def _service_ips(state: ConsoleState, key: str) -> tuple[str, ...]:
    row = state.services.get(key)
    return row.ips if row else ()


class BgpScreen(SmallTableScreen):
    VIEW = "bgp"
    TITLE = "BGP sessions"
    KIND = "session"
    COLUMNS = views.BGP_COLUMNS
    ACTIONS = frozenset({"describe", "yaml", "what_if"})
    EMPTY = "no BGP session (no BGPPeer selects a node)"

    def all_rows(self, state: ConsoleState) -> Mapping[str, Row]:
        return views.bgp_rows(state)

    def what_if_nodes(self) -> tuple[str, ...]:
        node = (self.selected or "").partition("/")[0]
        return (node,) if node else ()


class PeersScreen(SmallTableScreen):
    VIEW = "peers"
    TITLE = "BGP peers"
    KIND = "peer"
    COLUMNS = views.PEER_COLUMNS
    ACTIONS = frozenset({"describe", "yaml", "edit", "new", "delete"})
    EMPTY = "no BGPPeer configured"

    def all_rows(self, state: ConsoleState) -> Mapping[str, Row]:
        return views.peer_rows(state)

    def drill(self, key: str) -> None:
        self.console.push_screen(
            BgpScreen(Scope(f"peer {key}", lambda s, k: k.partition("/")[2] == key))
        )


class EventsScreen(BigTableScreen):
    VIEW = "events"
    TITLE = "Events (newest first)"
    KIND = "event"
    COLUMNS = views.EVENT_COLUMNS
    ACTIONS = frozenset({"describe", "yaml"})
    EMPTY = "no event yet"

    def sort_key(self, key: str) -> Any:
        return -int(key)

    def row_keys(self, state: ConsoleState) -> Iterable[str]:
        return [views.event_key(e) for e in state.log]

    def make_row(self, key: str) -> Row | None:
        log = self.console.state.log
        if not log:
            return None
        index = int(key) - log[0].seq  # sequence numbers are contiguous in the log
        return views.event_row(log[index]) if 0 <= index < len(log) else None

    def changed_keys(self, state: ConsoleState) -> Iterable[str]:
        fresh = state.log[-state.changes.log :] if state.changes.log else ()
        keys = [views.event_key(e) for e in fresh]
        # The log is bounded: rows older than its oldest entry go.
        oldest = state.log[0].seq if state.log else 0
        for key in reversed(self.table.all_keys):
            if int(key) >= oldest:
                break
            keys.append(key)
        return keys

    def has_row(self, state: ConsoleState, key: str) -> bool:
        log = state.log
        return bool(log) and log[0].seq <= int(key) <= log[-1].seq


class FailoversScreen(SmallTableScreen):
    """How long failovers take: a histogram per protocol and cause (the speakers' own
    measurements, else the console's estimates), and every takeover, newest first."""

    VIEW = "failovers"
    TITLE = "Failovers"
    KIND = "l2"
    COLUMNS = failover_rows.TIMELINE_COLUMNS
    ACTIONS = frozenset({"describe"})
    EMPTY = "no failover yet (kill a node: K in the nodes view, or :kill NODE)"

    def compose_body(self) -> ComposeResult:
        yield Label(f"{self.view_title}: how long they took", id="view-title")
        yield ResourceTable(
            failover_rows.HISTOGRAM_COLUMNS,
            now=self.console.runtime_now,
            clock=self.console.clock,
            empty_text="no failover yet",
            id="histogram",
        )
        yield Label("Takeovers, newest first (~: estimated by the console)", id="timeline-title")
        yield ResourceTable(
            self.COLUMNS,
            now=self.console.runtime_now,
            clock=self.console.clock,
            sort_key=self.sort_key,
            empty_text=self.EMPTY,
            id="table",
        )

    def sort_key(self, key: str) -> Any:
        return _Reversed(key)

    def all_rows(self, state: ConsoleState) -> Mapping[str, Row]:
        return failover_rows.timeline_rows(state)

    def fill(self, table: ResourceTable, state: ConsoleState, whole: bool) -> None:
        super().fill(table, state, whole)
        histogram = self.query_one("#histogram", ResourceTable)
        histogram.set_rows(failover_rows.histogram_rows(state.failovers), highlight=self._loaded)

    def action_describe(self) -> None:
        row = self.table.row(self.selected) if self.selected else None
        if row:
            self.console.open_describe("l2", str(row[1]))


class _Reversed(str):
    """A key sorting the other way round (newest first)."""

    __slots__ = ()

    def __lt__(self, other: str) -> bool:  # type: ignore[override]
        return str.__gt__(self, other)


class OverviewScreen(ConsoleScreen):
    """Pools, membership, BGP sessions, failovers, pulses and recent events at a glance."""

    VIEW = "overview"
    TITLE = "Overview"
    RECENT = 12
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "app.focus_next", "Next panel", show=False),
        Binding("d", "describe", "Describe"),
        Binding("escape", "back", "Back", show=False),
    ]
    PANELS: ClassVar[dict[str, tuple[str, tuple[views.Column, ...], str]]] = {
        "ov-pools": ("Pools", views.OVERVIEW_POOL_COLUMNS, "pool"),
        "ov-nodes": ("Membership", views.OVERVIEW_NODE_COLUMNS, "node"),
        "ov-sessions": ("BGP sessions", views.OVERVIEW_SESSION_COLUMNS, "session"),
        "ov-failovers": ("Failovers", views.FAILOVER_COLUMNS, "failover"),
        "ov-events": ("Recent events", views.EVENT_COLUMNS, "event"),
    }

    def compose_body(self) -> ComposeResult:
        with Grid(id="overview"):
            for panel_id, (title, columns, _) in self.PANELS.items():
                with Vertical(classes="panel", id=f"{panel_id}-panel") as panel:
                    panel.border_title = title
                    yield ResourceTable(
                        columns,
                        now=self.console.runtime_now,
                        clock=self.console.clock,
                        sort_key=_panel_sort(panel_id),
                        empty_text="none",
                        id=panel_id,
                    )
            with Vertical(classes="panel", id="ov-pulses-panel") as panel:
                panel.border_title = "Pulses (events/s, last minute)"
                yield Pulses(id="pulses")
                yield Label("", id="failover-stats")

    def on_mount(self) -> None:
        self.query_one("#ov-pools", ResourceTable).focus()

    def refresh_state(self, state: ConsoleState, full: bool = False) -> None:
        super().refresh_state(state, full)
        rows = {
            "ov-pools": views.overview_pool_rows(state),
            "ov-nodes": views.overview_node_rows(state),
            "ov-sessions": views.overview_session_rows(state),
            "ov-failovers": views.failover_rows(state),
            "ov-events": views.event_rows(state.log[-self.RECENT :]),
        }
        for panel_id, panel_rows in rows.items():
            self.query_one(f"#{panel_id}", ResourceTable).set_rows(panel_rows, highlight=not full)
        self.query_one(Pulses).show(state)
        count, measured, median, worst = views.failover_stats(state)
        text = (
            f"failovers {count}: median {views.seconds_text(median)}, worst "
            f"{views.seconds_text(worst)}; {measured} timed by the speakers, "
            f"{count - measured} estimated"
            if count
            else "no failover yet"
        )
        # The Failovers panel says the headline on its border too (the pulses may be cut
        # on a small terminal).
        self.query_one("#ov-failovers-panel").border_subtitle = (
            f"median {views.seconds_text(median)} · worst {views.seconds_text(worst)}"
            if count
            else ""
        )
        self.query_one("#failover-stats", Label).update(text)

    def _focused_table(self) -> ResourceTable | None:
        focused = self.focused
        return focused if isinstance(focused, ResourceTable) else None

    def action_describe(self) -> None:
        table = self._focused_table()
        if table is None or table.selected_key is None or table.id is None:
            return
        kind = self.PANELS[table.id][2]
        key = table.selected_key
        if kind == "failover":
            row = table.row(key)
            if row:
                self.console.open_describe("l2", str(row[1]))
            return
        self.console.open_describe(kind, key)

    def on_resource_table_selected(self, event: ResourceTable.Selected) -> None:
        table_id = event.table.id or ""
        key = event.key
        if table_id == "ov-pools":
            self.console.push_screen(
                ServicesScreen(Scope(f"pool {key}", lambda s, k: _in_pool(s, k, key)))
            )
        elif table_id == "ov-nodes":
            self.console.push_screen(
                L2Screen(Scope(f"announced by {key}", lambda s, ip: _announced_by(s, ip, key)))
            )
        else:
            self.action_describe()

    def action_back(self) -> None:
        if len(self.console.screen_stack) > 1:
            self.console.pop_screen()


def _panel_sort(panel_id: str) -> Any:
    if panel_id in ("ov-events", "ov-failovers"):
        return lambda key: tuple(-ord(c) for c in key)  # newest first
    return lambda key: key


VIEWS: dict[str, type[ConsoleScreen]] = {
    screen.VIEW: screen
    for screen in (
        OverviewScreen,
        ServicesScreen,
        PoolsScreen,
        NodesScreen,
        L2Screen,
        BgpScreen,
        PeersScreen,
        EventsScreen,
        FailoversScreen,
    )
}

# `:` commands and their aliases, k9s style.
ALIASES: dict[str, str] = {
    "overview": "overview",
    "ov": "overview",
    "home": "overview",
    "services": "services",
    "service": "services",
    "svc": "services",
    "pools": "pools",
    "pool": "pools",
    "ipaddresspools": "pools",
    "ipaddresspool": "pools",
    "nodes": "nodes",
    "node": "nodes",
    "no": "nodes",
    "l2": "l2",
    "layer2": "l2",
    "arp": "l2",
    "bgp": "bgp",
    "sessions": "bgp",
    "session": "bgp",
    "peers": "peers",
    "peer": "peers",
    "bgppeers": "peers",
    "bgppeer": "peers",
    "events": "events",
    "event": "events",
    "failovers": "failovers",
    "failover": "failovers",
    "fo": "failovers",
    "ev": "events",
}
