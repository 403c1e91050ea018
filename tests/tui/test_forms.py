"""The edit forms typed through with the keyboard, as a user does: Tab from field to field,
text typed where the focus is, ctrl+s. (The form once had an invisible focus stop first: the
first thing typed was lost, the second went into the wrong field, and ctrl+s still said
"applied and saved".)"""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Input, Static, Switch

from lbtui.app import ConsoleApp
from lbtui.screens.edit import EditScreen
from lbtui.screens.views import PeersScreen, PoolsScreen
from tests.tui.conftest import ScriptedPort, console

SIZE = (130, 40)
pytestmark = pytest.mark.asyncio


async def settle(app: ConsoleApp, pilot: Pilot[Any]) -> None:
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()


async def open_form(app: ConsoleApp, pilot: Pilot[Any], key: str) -> EditScreen:
    await pilot.press(key)
    await settle(app, pilot)
    assert isinstance(app.screen, EditScreen)
    return app.screen


def focus_order(app: ConsoleApp) -> list[str]:
    """What each Tab focuses, once round the whole form."""
    order = []
    first = app.focused
    for _ in range(30):
        app.screen.focus_next()
        if app.focused is first:
            break
        focused = app.focused
        assert focused is not None and focused.display and focused.visible
        order.append(focused.id or type(focused).__name__)
    return order


def notices(app: ConsoleApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_the_pool_form_focuses_name_addresses_options_buttons(port: ScriptedPort) -> None:
    app = console(port, view="pools")
    async with app.run_test(size=SIZE) as pilot:
        await open_form(app, pilot, "n")
        assert focus_order(app) == [
            "in-name",
            "in-addresses",
            "in-autoAssign",
            "in-avoidBuggyIPs",
            "in-priority",
            "in-namespaces",
            "apply",
            "cancel",
        ]  # then the Form/YAML tab bar, where focus started
        await pilot.press("escape")
        await open_form(app, pilot, "e")  # an existing pool: its name cannot change
        assert focus_order(app)[:2] == ["in-addresses", "in-autoAssign"]


async def test_new_pool_typed_with_tab_lands_in_the_right_fields(port: ScriptedPort) -> None:
    app = console(port, view="pools")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_form(app, pilot, "n")
        await pilot.press("tab", *"extra", "tab", *"10.99.9.0/29", "tab", "space")
        assert screen.query_one("#in-name", Input).value == "extra"
        assert screen.query_one("#in-addresses", Input).value == "10.99.9.0/29"
        assert screen.query_one("#in-autoAssign", Switch).value is False
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert isinstance(app.screen, PoolsScreen)
        pool = app.state.config.pools["extra"]
        assert [r.text for r in pool.ranges] == ["10.99.9.0/29"] and not pool.auto_assign
        # The scripted demo's configuration lives in memory: nothing says "saved".
        assert notices(app)[-1] == "applied (in memory only: not saved to a file)"


async def test_new_pool_without_addresses_says_so_in_plain_words(port: ScriptedPort) -> None:
    app = console(port, view="pools")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_form(app, pilot, "n")
        await pilot.press("tab", *"extra", "ctrl+s")
        await settle(app, pilot)
        assert app.screen is screen
        error = str(screen.query_one("#error-addresses", Static).render())
        assert error.startswith("empty: give at least one address range")
        assert "Tuple" not in error
        assert "extra" not in app.state.config.pools
        assert not any(n.startswith("applied") for n in notices(app))


async def test_ctrl_s_with_nothing_changed_applies_nothing(port: ScriptedPort) -> None:
    app = console(port, view="pools")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_form(app, pilot, "e")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is screen
        assert "nothing changed" in str(screen.query_one("#edit-errors", Static).render())
        assert not any(c[0] == "apply_edit" for c in port.calls)
        assert not any(n.startswith("applied") for n in notices(app))
        await pilot.press("escape")
        assert isinstance(app.screen, PoolsScreen)
        assert not any(n.startswith("applied") for n in notices(app))


async def test_edit_pool_typed_with_tab_appends_an_address(port: ScriptedPort) -> None:
    app = console(port, view="pools")
    async with app.run_test(size=SIZE) as pilot:
        await open_form(app, pilot, "e")
        await pilot.press("tab", "end", *", 10.99.1.0/28", "ctrl+s")
        await settle(app, pilot)
        assert isinstance(app.screen, PoolsScreen)
        sent = [c[1] for c in port.calls if c[0] == "apply_edit"]
        assert sent[-1]["spec"]["addresses"] == [
            "10.99.0.100-10.99.0.199",
            "fd00:99::100/120",
            "10.99.1.0/28",
        ]
        assert app.state.usage["lan"].total == 372


async def test_peer_form_typed_with_tab(port: ScriptedPort) -> None:
    app = console(port, view="peers")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_form(app, pilot, "e")
        order = focus_order(app)
        assert order[:4] == ["in-myASN", "in-peerASN", "in-peerAddress", "in-peerPort"]
        assert order[-2:] == ["apply", "cancel"]
        # Focus is back on the tab bar: Tab, Tab reaches peerASN (typing replaces its value).
        await pilot.press("tab", "tab", *"64600")
        assert screen.query_one("#in-peerASN", Input).value == "64600"
        await pilot.press(*["tab"] * 8)  # peerAddress, ..., bfdProfile, ebgpMultiHop
        assert app.focused is screen.query_one("#in-ebgpMultiHop", Switch)
        await pilot.press("space")
        assert screen.query_one("#in-ebgpMultiHop", Switch).value is True
        apply = screen.query_one("#apply", Button)
        apply.focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, PeersScreen)
        peer = app.state.config.peers[0]
        assert peer.peer_asn == 64600 and peer.ebgp_multihop
