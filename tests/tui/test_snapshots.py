"""Snapshots (pytest-textual-snapshot) of every view, every pop-up, and the overview in every
shipped theme. Fed from a scripted event list: no runtime, no threads, a frozen clock, no
blinking cursor, a fixed terminal size. ``pytest --snapshot-update`` rewrites them after an
intended change (review the SVGs under tests/tui/__snapshots__ before committing)."""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot

from actors.config.store import EditOutcome
from lbtui.app import ConsoleApp
from lbtui.ports.documents import config_document, yaml_for
from lbtui.ports.explain import describe
from lbtui.ports.tree import service_tree
from lbtui.ports.what_if import what_if
from lbtui.screens.edit import EditScreen
from lbtui.screens.modals import (
    ConfirmScreen,
    DescribeScreen,
    HelpScreen,
    TreeScreen,
    WhatIfScreen,
    YamlScreen,
)
from lbtui.themes import load_themes
from tests.tui.conftest import FROZEN, ScriptedPort
from tests.tui.script import demo_events

SIZE = (120, 34)


def frozen_app(view: str = "overview", theme: str = "dark") -> ConsoleApp:
    demo, events = demo_events()
    return ConsoleApp(
        ScriptedPort(demo),
        events=events,
        clock=lambda: FROZEN,
        view=view,
        theme_name=theme,
        start_port=False,
        cursor_blink=False,
    )


@pytest.mark.parametrize(
    "view",
    ["overview", "services", "pools", "nodes", "l2", "bgp", "peers", "events", "failovers"],
)
def test_view(snap_compare: Any, view: str) -> None:
    assert snap_compare(frozen_app(view), terminal_size=SIZE)


@pytest.mark.parametrize("theme", sorted(set(load_themes()) - {"dark"}))
def test_overview_in_theme(snap_compare: Any, theme: str) -> None:
    assert snap_compare(frozen_app("overview", theme), terminal_size=SIZE)


def test_every_theme_is_snapshotted() -> None:
    assert set(load_themes()) >= {"dark", "light", "colorblind"}


def test_services_filtered(snap_compare: Any) -> None:
    assert snap_compare(frozen_app("services"), terminal_size=SIZE, press=["slash", *"edge"])


def push(screen_factory: Any) -> Any:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, ConsoleApp)
        await app.push_screen(screen_factory(app))
        await pilot.pause()

    return run_before


POPUPS = {
    "help": lambda app: HelpScreen(),
    "describe-service": lambda app: DescribeScreen(describe(app.state, "service", "default/web")),
    "describe-node": lambda app: DescribeScreen(describe(app.state, "node", "node-1")),
    "yaml-pool": lambda app: YamlScreen("IPAddressPool lan", yaml_for(app.state, "pool", "lan")),
    "tree": lambda app: TreeScreen(service_tree(app.state, "edge/ingress")),
    "what-if": lambda app: WhatIfScreen(
        app.state.nodes, ("node-3",), what_if(app.state, {"node-3"})
    ),
    "confirm-delete": lambda app: ConfirmScreen(
        "Delete IPAddressPool/lan?", "Services holding its addresses lose them."
    ),
    "edit-peer": lambda app: EditScreen("peer", config_document(app.state, "BGPPeer", "collector")),
}


@pytest.mark.parametrize("name", sorted(POPUPS))
def test_popup(snap_compare: Any, name: str) -> None:
    assert snap_compare(frozen_app("services"), terminal_size=SIZE, run_before=push(POPUPS[name]))


def test_edit_with_errors_at_their_fields(snap_compare: Any) -> None:
    """The pool form after the ConfigActor refused an address (the real validation)."""
    demo, _ = demo_events()
    doc = demo.config.document("IPAddressPool", "lan")
    assert doc is not None
    doc["spec"]["addresses"] = ["10.99.0.100-10.99.0.199", "10.99.0.300"]
    outcome = demo.config.apply_edit(doc)
    assert isinstance(outcome, EditOutcome) and not outcome.applied

    async def run_before(pilot: Pilot[Any]) -> None:
        screen = EditScreen("pool", doc)
        await pilot.app.push_screen(screen)
        await pilot.pause()
        screen.show_outcome(outcome)
        await pilot.pause()

    assert snap_compare(frozen_app("pools"), terminal_size=SIZE, run_before=run_before)


# -- a small terminal: 80x24 ----------------------------------------------------------------------

SMALL = (80, 24)


@pytest.mark.parametrize(
    "view",
    ["overview", "services", "pools", "nodes", "l2", "bgp", "peers", "events", "failovers"],
)
def test_view_at_80x24(snap_compare: Any, view: str) -> None:
    """The answer columns stay, the rest narrows or waits behind ▸; the header fits."""
    assert snap_compare(frozen_app(view), terminal_size=SMALL)


@pytest.mark.parametrize("name", sorted(POPUPS))
def test_popup_at_80x24(snap_compare: Any, name: str) -> None:
    """Every pop-up fits the screen (what-if keeps NOW and THEN)."""
    assert snap_compare(frozen_app("services"), terminal_size=SMALL, run_before=push(POPUPS[name]))
