"""Nothing on screen outlives its truth: a refused edit does not leave "config rejected" in
the header, a ':' command runs once (one what-if pop-up, one Esc to close it, one kill)."""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from actors.events import ConfigRejected
from lbtui.app import ConsoleApp
from lbtui.screens.edit import EditScreen
from lbtui.screens.modals import WhatIfScreen
from lbtui.screens.views import NodesScreen, PoolsScreen
from lbtui.state.model import ConsoleState
from lbtui.state.reducer import reduce_all
from lbtui.widgets.bars import InfoBar
from lbtui.widgets.table import ResourceTable
from tests.tui.conftest import ScriptedPort, console
from tests.tui.script import ScriptedDemo

SIZE = (130, 40)


async def settle(app: ConsoleApp, pilot: Pilot[Any]) -> None:
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()


def header(app: ConsoleApp) -> str:
    return str(app.screen.query_one(InfoBar).render())


def test_a_refused_edit_is_not_a_rejected_configuration() -> None:
    state = reduce_all(ConsoleState(), [ConfigRejected(1.0, "edit", ("bad address",))])
    assert state.config_errors == ()
    state = reduce_all(state, [ConfigRejected(2.0, "delete", ("still used",))])
    assert state.config_errors == ()
    state = reduce_all(state, [ConfigRejected(3.0, "reload", ("file broken",))])
    assert state.config_errors == ("file broken",)
    assert ConfigRejected(4.0, "startup", ()).proposal is False


@pytest.mark.asyncio
async def test_config_rejected_leaves_the_header_when_the_edit_is_cancelled(
    port: ScriptedPort,
) -> None:
    app = console(port, view="pools")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        await settle(app, pilot)
        assert isinstance(app.screen, EditScreen)
        app.screen.query_one("#in-addresses", Input).value = "10.99.0.300"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert isinstance(app.screen, EditScreen)  # refused, the form says why
        assert any(isinstance(e, ConfigRejected) for e in port.demo.events)
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, PoolsScreen)
        assert "config rejected" not in header(app)
        assert "routes" in header(app)  # the header is there, just without the false alarm


@pytest.mark.asyncio
async def test_whatif_command_opens_one_popup_that_one_esc_closes(port: ScriptedPort) -> None:
    app = console(port, view="nodes")
    async with app.run_test(size=SIZE) as pilot:
        app.screen.query_one("#table", ResourceTable).select_key("node-1")
        await pilot.press(":", *"whatif node-2", "enter")
        await settle(app, pilot)
        assert sum(isinstance(s, WhatIfScreen) for s in app.screen_stack) == 1
        screen = app.screen
        assert isinstance(screen, WhatIfScreen) and screen.result is not None
        assert screen.result.down == {"node-2"}
        await pilot.press("K")  # a stray key: the table behind does not kill node-1
        await settle(app, pilot)
        assert not any(c[0] == "kill" for c in port.calls)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, NodesScreen)
        assert not any(isinstance(s, WhatIfScreen) for s in app.screen_stack)


@pytest.mark.asyncio
async def test_a_command_runs_once(port: ScriptedPort) -> None:
    app = console(port, view="nodes")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(":", *"kill node-3", "enter")
        await settle(app, pilot)
        assert [c for c in port.calls if c[0] == "kill"] == [("kill", "node-3")]


def test_a_deleted_services_l2_row_goes_at_once() -> None:
    """The allocator releases the address before the speaker stops announcing it: the row
    once stayed, unowned, until the next allocation change (minutes in a quiet cluster)."""
    demo = ScriptedDemo().start()
    state = reduce_all(ConsoleState(), demo.events)
    assert state.l2["10.99.0.100"].node is not None
    sent = len(demo.events)
    demo.at(2.0)
    demo.cluster.change(lambda src: src.delete_service("default/web"))
    demo.run()
    fresh = demo.events[sent:]
    names = [e.name for e in fresh]
    assert names.index("IpReleased") < names.index("AnnouncementStopped")  # the order above
    after = reduce_all(state, fresh)
    assert "10.99.0.100" not in after.l2
    assert "default/web" not in after.services
    # Event by event too (the remote port may deliver them in separate batches).
    step = state
    for event in fresh:
        step = reduce_all(step, [event])
    assert "10.99.0.100" not in step.l2


def test_service_and_node_yaml_say_what_they_are() -> None:
    import yaml

    from lbtui.ports.documents import yaml_for

    demo = ScriptedDemo().start()
    state = reduce_all(ConsoleState(), demo.events)
    service = yaml.safe_load(yaml_for(state, "service", "default/web"))
    assert list(service)[:3] == ["apiVersion", "kind", "metadata"]
    assert (service["apiVersion"], service["kind"]) == ("v1", "Service")
    assert service["metadata"]["name"] == "web" and service["spec"]["type"] == "LoadBalancer"
    node = yaml.safe_load(yaml_for(state, "node", "node-1"))
    assert (node["apiVersion"], node["kind"]) == ("v1", "Node")


@pytest.mark.asyncio
async def test_an_invalid_filter_is_explained_and_the_active_one_is_in_the_header(
    port: ScriptedPort,
) -> None:
    from textual.widgets import Label

    from lbtui.widgets.bars import PromptBar

    app = console(port, view="svc")
    async with app.run_test(size=(160, 40)) as pilot:
        table = app.screen.query_one("#table", ResourceTable)
        await pilot.press("slash", *"^edge", "enter")
        assert table.keys == ["edge/edge-local", "edge/ingress"]
        assert "filter /^edge/" in header(app)  # after Enter, the header says what is hidden
        await pilot.press("slash", "end", *"(web")
        prompt = app.screen.query_one(PromptBar)
        error = str(prompt.query_one("#prompt-error", Label).render())
        assert prompt.has_class("-invalid") and error.startswith("not a valid filter:")
        assert "missing ), unterminated subpattern at character 6" in error
        assert "the last good filter stays" in error
        assert prompt.query_one("#prompt-error").display
        assert table.keys == ["edge/edge-local", "edge/ingress"]
        await pilot.press("escape")  # closes the prompt: its error goes with it
        assert str(prompt.query_one("#prompt-error", Label).render()) == ""
        await pilot.press("escape")  # clears the filter, and the header says so
        assert "filter /" not in header(app)
        assert table.row_count == 9


@pytest.mark.asyncio
async def test_switching_to_a_view_fills_it_once(port: ScriptedPort, monkeypatch: Any) -> None:
    """A view coming back fills its table once (it was twice: Textual runs the resume handler
    of every class in the MRO, and the table view's called its parent's too)."""
    from lbtui.screens.base import BigTableScreen

    fills: list[tuple[str, bool]] = []
    original = BigTableScreen.fill

    def counting(self: Any, table: Any, state: Any, whole: bool) -> None:
        fills.append((type(self).__name__, whole))
        original(self, table, state, whole)

    monkeypatch.setattr(BigTableScreen, "fill", counting)
    app = console(port, view="svc")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("2")
        await settle(app, pilot)
        fills.clear()
        await pilot.press("1")
        await settle(app, pilot)
        assert fills.count(("ServicesScreen", True)) == 1, fills


def test_an_unannounced_address_a_service_holds_keeps_its_row() -> None:
    """The held check looks at the announced services first (a node kill: thousands of
    addresses, no need to list every allocation), and at every service only if none of them
    holds the address any more: so an address another service now holds keeps its row."""
    import ipaddress

    from actors.events import AllocationsUpdated, AnnouncementStarted, AnnouncementStopped
    from actors.model.allocation import Allocation

    ip = "10.0.0.1"

    def held_by(*keys: str) -> AllocationsUpdated:
        allocations = {k: Allocation(k, (ipaddress.ip_address(ip),), "lan") for k in keys}
        return AllocationsUpdated(1.0, allocations, {})

    started = AnnouncementStarted(1.0, "n1", ip, "layer2", "elected", services=("ns/a",))  # type: ignore[arg-type]
    stopped = AnnouncementStopped(2.0, "n1", ip, "layer2", "node killed")  # type: ignore[arg-type]
    base = reduce_all(ConsoleState(), [held_by("ns/a"), started])
    # Its own service still holds it (a node kill with nobody to take over): the row stays.
    after = reduce_all(base, [stopped])
    assert after.l2[ip].node is None
    # Another service, not announced with it, holds it now: the row stays too.
    after = reduce_all(base, [held_by("ns/b"), stopped])
    assert ip in after.l2
    # Nobody holds it: the row goes.
    after = reduce_all(base, [AllocationsUpdated(1.5, {}, {}), stopped])
    assert ip not in after.l2
