"""Pilot tests at 80x24: the columns that carry the answer are on screen in every view,
what is left out is reachable with ←/→ (shift: to either end), and the header fits."""

from __future__ import annotations

import pytest

from lbtui.screens.modals import WhatIfScreen
from lbtui.widgets.bars import InfoBar
from lbtui.widgets.table import ResourceTable
from tests.tui.conftest import ScriptedPort, console

SMALL = (80, 24)
pytestmark = pytest.mark.asyncio

# view -> the columns that must be on screen at 80 columns (the list and each view's
# identifying column).
ANSWERS = {
    "svc": {"NAME", "IPS", "PROTO", "STATUS"},
    "pools": {"NAME", "IN USE"},
    "nodes": {"NAME", "STATE"},
    "l2": {"IP", "OWNER", "SERVICES"},
    "bgp": {"NODE", "PEER", "STATE"},
    "peers": {"NAME", "ADDRESS", "UP"},
    "events": {"AGE", "EVENT", "DETAILS"},
}


@pytest.mark.parametrize("view", sorted(ANSWERS))
async def test_the_answer_columns_stay_at_80_columns(port: ScriptedPort, view: str) -> None:
    app = console(port, view=view)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#table", ResourceTable)
        assert ANSWERS[view] <= set(table.shown_columns), table.shown_columns
        info = app.screen.query_one(InfoBar)
        assert len(str(info.render()).rstrip()) <= SMALL[0]


async def test_the_overview_failovers_keep_took(port: ScriptedPort) -> None:
    app = console(port)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        failovers = app.screen.query_one("#ov-failovers", ResourceTable)
        assert failovers.shown_columns[-1] == "TOOK"
        assert {"IP", "FROM → TO"} <= set(failovers.shown_columns)


async def test_what_if_keeps_now_and_then(port: ScriptedPort) -> None:
    app = console(port, view="svc")
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("colon", *"whatif node-3", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, WhatIfScreen)
        table = app.screen.query_one(ResourceTable)
        assert {"ADDRESS/PREFIX", "NOW", "THEN"} <= set(table.shown_columns)


async def test_left_out_columns_are_reachable_sideways(port: ScriptedPort) -> None:
    app = console(port, view="l2")
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#table", ResourceTable)
        first = table.shown_columns
        everything = [c.title for c in table.columns]
        assert set(first) < set(everything)
        seen = set(first)
        for _ in everything:
            await pilot.press("right")
            seen |= set(table.shown_columns)
            assert {"IP", "OWNER", "SERVICES"} <= set(table.shown_columns)
        assert seen == set(everything)  # every column was on screen at some point
        await pilot.press("shift+left")
        assert table.shown_columns == first
        await pilot.press("shift+right")
        assert table.shown_columns[-1] == everything[-1]
        # Wide again: everything shows, whatever the scroll was.
        await pilot.resize_terminal(200, 24)
        await pilot.pause()
        assert table.shown_columns == everything


async def test_a_narrow_terminal_never_breaks_a_view(port: ScriptedPort) -> None:
    app = console(port, view="svc")
    async with app.run_test(size=(30, 12)) as pilot:
        for key in "01234567":
            await pilot.press(key, "right", "right", "left")
            await pilot.pause()
        assert app.is_running
