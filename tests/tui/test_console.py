"""Pilot tests: every view and flow, asserting on the console's state and on what the runtime
(a scripted demo behind a recording port, with the real ConfigActor) received."""

from __future__ import annotations

import time
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Static, Switch, TabbedContent, TextArea, Tree

from lbtui.app import ConsoleApp
from lbtui.screens.edit import EditScreen
from lbtui.screens.modals import (
    ConfirmScreen,
    DescribeScreen,
    HelpScreen,
    TreeScreen,
    WhatIfScreen,
    YamlScreen,
)
from lbtui.screens.views import (
    ALIASES,
    VIEWS,
    BgpScreen,
    EventsScreen,
    FailoversScreen,
    L2Screen,
    NodesScreen,
    OverviewScreen,
    PeersScreen,
    PoolsScreen,
    ServicesScreen,
)
from lbtui.widgets.bars import PromptBar
from lbtui.widgets.table import ResourceTable
from tests.tui.conftest import ScriptedPort, console
from tests.tui.script import ScriptedDemo

SIZE = (130, 40)
pytestmark = pytest.mark.asyncio


async def settle(app: ConsoleApp, pilot: Pilot[Any]) -> None:
    """Let workers finish and what they posted be handled (a loaded machine may need a few
    rounds: a worker's result comes back through the message queue)."""
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()


async def until(pilot: Pilot[Any], condition: Any, timeout: float = 10.0) -> None:
    """Pause until ``condition()`` holds (fails the test after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.02)


def text_of(widget: Static) -> str:
    return str(widget.render())


def describe_text(screen: DescribeScreen) -> str:
    return screen.description.text()


async def test_every_view_has_a_key_and_a_command(port: ScriptedPort) -> None:
    app = console(port)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, OverviewScreen)
        keys = {
            "1": ServicesScreen,
            "2": PoolsScreen,
            "3": NodesScreen,
            "4": L2Screen,
            "5": BgpScreen,
            "6": PeersScreen,
            "7": EventsScreen,
            "8": FailoversScreen,
            "0": OverviewScreen,
        }
        for key, screen in keys.items():
            await pilot.press(key)
            assert isinstance(app.screen, screen), key
        commands = {"svc": ServicesScreen, "bgppeers": PeersScreen, "ov": OverviewScreen}
        for command, screen in commands.items():
            await pilot.press("colon", *command, "enter")
            assert isinstance(app.screen, screen), command
        await pilot.press("colon", *"nonsense", "enter")
        assert isinstance(app.screen, OverviewScreen)
    # Every alias names a view (k9s style: :svc, :no, :ev, ...).
    assert {ALIASES[a] for a in ("ipaddresspools", "no", "layer2", "sessions", "ev")} == {
        "pools",
        "nodes",
        "l2",
        "bgp",
        "events",
    }
    assert set(ALIASES.values()) == set(VIEWS)


async def test_services_show_addresses_and_who_announces_them(port: ScriptedPort) -> None:
    app = console(port, view="svc")
    async with app.run_test(size=SIZE):
        table = app.screen.query_one("#table", ResourceTable)
        assert table.row_count == 9
        web = table.row("default/web")
        assert web is not None
        assert web[2] == "10.99.0.100" and web[4] == "node-3"
        assert table.row("default/dual")[2] == "10.99.0.104, fd00:99::100"
        assert table.row("edge/ingress")[4] == "node-2, node-3"


async def test_overview_shows_pools_members_sessions_and_failovers(port: ScriptedPort) -> None:
    app = console(port)
    async with app.run_test(size=SIZE):
        screen = app.screen
        pools = screen.query_one("#ov-pools", ResourceTable)
        assert pools.keys == ["lan", "routed"]
        nodes = screen.query_one("#ov-nodes", ResourceTable)
        assert "dead" in nodes.row("node-1")[1].text
        sessions = screen.query_one("#ov-sessions", ResourceTable)
        assert sessions.keys == ["node-1/collector", "node-2/collector", "node-3/collector"]
        failovers = screen.query_one("#ov-failovers", ResourceTable)
        assert failovers.row_count == 2
        assert "median 600ms" in text_of(screen.query_one("#failover-stats", Static))


async def test_filter_is_a_regex_and_esc_clears_it(port: ScriptedPort) -> None:
    app = console(port, view="svc")
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#table", ResourceTable)
        await pilot.press("slash", *"^edge")
        assert table.keys == ["edge/edge-local", "edge/ingress"]
        await pilot.press("enter")
        assert table.keys == ["edge/edge-local", "edge/ingress"]
        # An invalid regex keeps the last good filter and says so.
        await pilot.press("slash", "backspace", "backspace", "backspace", "backspace", "(")
        prompt = app.screen.query_one(PromptBar)
        assert prompt.has_class("-invalid")
        await pilot.press("escape")  # closes the prompt
        await pilot.press("escape")  # clears the filter
        assert table.row_count == 9


async def test_command_with_argument_filters_the_view(port: ScriptedPort) -> None:
    app = console(port)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("colon", *"svc 10.99.0.10[0-2]", "enter")
        table = app.screen.query_one("#table", ResourceTable)
        assert table.keys == ["default/api", "default/dns-tcp", "default/dns-udp", "default/web"]
        await pilot.press("colon", *"theme light", "enter")
        assert app.theme == "light"
        await pilot.press("colon", *"theme neon", "enter")
        assert app.theme == "light"


async def test_drill_down_from_pool_to_its_services_and_back(port: ScriptedPort) -> None:
    app = console(port, view="pools")
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#table", ResourceTable)
        assert table.select_key("routed")
        await pilot.press("enter")
        assert isinstance(app.screen, ServicesScreen)
        assert app.screen.scope is not None
        assert app.screen.table.keys == ["edge/edge-local", "edge/ingress"]
        await pilot.press("escape")
        assert isinstance(app.screen, PoolsScreen)


async def test_drill_down_from_node_to_what_it_announces(port: ScriptedPort) -> None:
    app = console(port, view="nodes")
    async with app.run_test(size=SIZE) as pilot:
        app.screen.query_one("#table", ResourceTable).select_key("node-2")
        await pilot.press("enter")
        assert isinstance(app.screen, L2Screen)
        assert app.screen.table.keys == ["10.99.0.103", "10.99.0.105"]


async def test_describe_says_why_this_node_owns_the_address(port: ScriptedPort) -> None:
    app = console(port, view="svc")
    async with app.run_test(size=SIZE) as pilot:
        app.screen.query_one("#table", ResourceTable).select_key("default/web")
        await pilot.press("d")
        assert isinstance(app.screen, DescribeScreen)
        text = describe_text(app.screen)
        assert "node-3 sorts first by sha256(node#10.99.0.100) among 2 eligible nodes" in text
        assert "ruled out node-1: the node's speaker is not alive" in text
        assert "runtime: node-3 answers for 10.99.0.100" in text
        await pilot.press("escape")
        assert isinstance(app.screen, ServicesScreen)


async def test_describe_says_why_a_service_has_no_address() -> None:
    from actors.demo.cluster import ServiceSpec

    demo = ScriptedDemo(
        services=[ServiceSpec("lost", annotations=(("metallb.io/address-pool", "nope"),))]
    ).start()
    app = console(ScriptedPort(demo), view="svc")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("d")
        text = describe_text(app.screen)
        assert "no address" in text
        assert "it asks for pool 'nope', which does not exist" in text


async def test_yaml_of_a_pool_is_the_metallb_object(port: ScriptedPort) -> None:
    app = console(port, view="pools")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("y")
        await settle(app, pilot)
        assert isinstance(app.screen, YamlScreen)
        text = app.screen.query_one(TextArea).text
        assert text.startswith("apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\n")
        assert "- 10.99.0.100-10.99.0.199" in text and "assignedIPv4: 6" in text
        assert ("document", "IPAddressPool", "lan") in port.calls


async def test_yaml_of_an_address_is_metallb_l2_status(port: ScriptedPort) -> None:
    app = console(port, view="l2")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("y")
        text = app.screen.query_one(TextArea).text
        assert "kind: ServiceL2Status" in text and "node: node-3" in text


async def test_tree_goes_from_service_to_sessions(port: ScriptedPort) -> None:
    app = console(port, view="svc")
    async with app.run_test(size=SIZE) as pilot:
        app.screen.query_one("#table", ResourceTable).select_key("edge/ingress")
        await pilot.press("x")
        assert isinstance(app.screen, TreeScreen)
        labels = []

        def walk(node: Any) -> None:
            labels.append(str(node.label))
            for child in node.children:
                walk(child)

        walk(app.screen.query_one(Tree).root)
        joined = "\n".join(labels)
        assert "IP 192.0.2.0" in joined and "IPAddressPool routed" in joined
        assert "BGPAdvertisement routed" in joined
        assert "node-2 (alive)" in joined and "session collector" in joined
        assert "node-1: nodeDown" in joined


async def test_edit_pool_valid_is_applied_and_shown(port: ScriptedPort) -> None:
    app = console(port, view="pools")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        await settle(app, pilot)
        assert isinstance(app.screen, EditScreen)
        addresses = app.screen.query_one("#in-addresses", Input)
        assert addresses.value == "10.99.0.100-10.99.0.199, fd00:99::100/120"
        addresses.value = "10.99.0.100-10.99.0.199, 10.99.1.0/28, fd00:99::100/120"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert isinstance(app.screen, PoolsScreen)
        sent = [c[1] for c in port.calls if c[0] == "apply_edit"]
        assert sent and sent[-1]["spec"]["addresses"] == [
            "10.99.0.100-10.99.0.199",
            "10.99.1.0/28",
            "fd00:99::100/120",
        ]
        assert sent[-1]["metadata"]["name"] == "lan"
        assert app.state.usage["lan"].total == 372
        assert app.screen.query_one("#table", ResourceTable).row("lan")[2].total == 372


async def test_edit_pool_invalid_shows_the_error_at_the_field_and_changes_nothing(
    port: ScriptedPort,
) -> None:
    before = port.demo.config.config
    app = console(port, view="pools")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, EditScreen))
        app.screen.query_one("#in-addresses", Input).value = "10.99.0.100-10.99.0.199, 10.99.0.300"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: text_of(app.screen.query_one("#error-addresses", Static)))
        screen = app.screen
        assert isinstance(screen, EditScreen)  # still open, with the error where it belongs
        error = text_of(screen.query_one("#error-addresses", Static))
        assert "invalid address '10.99.0.300'" in error
        assert screen.query_one("#field-addresses").has_class("-invalid")
        assert text_of(screen.query_one("#error-autoAssign", Static)) == ""
        assert port.demo.config.config is before  # the last good configuration stays
        assert app.state.usage["lan"].total == 356
        await pilot.press("escape")
        assert isinstance(app.screen, PoolsScreen)


async def test_edit_reports_a_conflict_with_another_object_under_the_form(
    port: ScriptedPort,
) -> None:
    app = console(port, view="pools")
    async with app.run_test(size=SIZE) as pilot:
        app.screen.query_one("#table", ResourceTable).select_key("routed")
        await pilot.press("e")
        await settle(app, pilot)
        app.screen.query_one("#in-addresses", Input).value = "10.99.0.150/32"  # inside "lan"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert isinstance(app.screen, EditScreen)
        errors = text_of(app.screen.query_one("#edit-errors", Static)) + text_of(
            app.screen.query_one("#error-addresses", Static)
        )
        assert "overlap" in errors


async def test_edit_peer_as_yaml_with_a_bad_hold_time(port: ScriptedPort) -> None:
    app = console(port, view="peers")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, EditScreen)
        screen.query_one(TabbedContent).active = "tab-yaml"
        await pilot.pause()
        area = screen.query_one("#edit-yaml", TextArea)
        assert "holdTime: 9s" in area.text
        area.text = area.text.replace("holdTime: 9s", "holdTime: 1s")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert isinstance(app.screen, EditScreen)
        assert "invalid hold time" in text_of(screen.query_one("#error-holdTime", Static))
        sent = [c[1] for c in port.calls if c[0] == "apply_edit"]
        assert sent[-1]["spec"]["holdTime"] == "1s"
        assert app.state.config.peers[0].hold_time == 9


async def test_edit_peer_form_switches_and_numbers(port: ScriptedPort) -> None:
    app = console(port, view="peers")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        await settle(app, pilot)
        screen = app.screen
        screen.query_one("#in-peerASN", Input).value = "64600"
        screen.query_one("#in-ebgpMultiHop", Switch).value = True
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert isinstance(app.screen, PeersScreen)
        peer = app.state.config.peers[0]
        assert peer.peer_asn == 64600 and peer.ebgp_multihop


async def test_new_pool_then_delete_it_with_confirmation(port: ScriptedPort) -> None:
    app = console(port, view="pools")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        screen = app.screen
        assert isinstance(screen, EditScreen) and screen.is_new
        screen.query_one("#in-name", Input).value = "extra"
        screen.query_one("#in-addresses", Input).value = "10.99.9.0/29"
        screen.query_one("#in-autoAssign", Switch).value = False
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert "extra" in app.state.config.pools
        assert not app.state.config.pools["extra"].auto_assign
        table = app.screen.query_one("#table", ResourceTable)
        assert table.select_key("extra")
        await pilot.press("ctrl+d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert not any(c[0] == "delete" for c in port.calls)
        await pilot.press("ctrl+d", "y")
        await settle(app, pilot)
        assert ("delete", "IPAddressPool", "extra") in port.calls
        assert "extra" not in app.state.config.pools
        assert "extra" not in table.keys


async def test_new_pool_with_a_name_kubernetes_refuses_shows_it_at_the_name(
    port: ScriptedPort,
) -> None:
    app = console(port, view="pools")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        screen = app.screen
        assert isinstance(screen, EditScreen) and screen.is_new
        screen.query_one("#in-name", Input).value = "Bad_Name"
        screen.query_one("#in-addresses", Input).value = "10.99.9.0/29"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: text_of(screen.query_one("#error-name", Static)))
        assert app.screen is screen
        assert "not a Kubernetes name" in text_of(screen.query_one("#error-name", Static))
        assert "Bad_Name" not in app.state.config.pools


async def test_a_delete_the_validation_refuses_changes_nothing(port: ScriptedPort) -> None:
    app = console(port, view="pools")
    async with app.run_test(size=SIZE) as pilot:
        app.screen.query_one("#table", ResourceTable).select_key("routed")
        await pilot.press("ctrl+d", "y")
        await settle(app, pilot)
        assert ("delete", "IPAddressPool", "routed") in port.calls
        assert "routed" in app.state.config.pools  # BGPAdvertisement "routed" needs it
        assert "routed" in port.demo.config.config.pools


async def test_what_if_moves_addresses_without_touching_anything(port: ScriptedPort) -> None:
    app = console(port, view="nodes")
    async with app.run_test(size=SIZE) as pilot:
        app.screen.query_one("#table", ResourceTable).select_key("node-3")
        events_before = len(port.demo.events)
        await pilot.press("w")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, WhatIfScreen)
        result = screen.result
        assert result is not None and result.down == {"node-3"}
        moves = {m.target: m for m in result.moves}
        assert moves["10.99.0.100"].before == ("node-3",)
        assert moves["10.99.0.100"].after == ("node-2",)
        assert moves["192.0.2.0/32"].after == ("node-2",)
        assert "edge/edge-local" in result.stranded  # its only other endpoint is on node-1
        table = screen.query_one("#what-if-moves", ResourceTable)
        assert "layer2/10.99.0.100" in table.keys
        assert len(port.demo.events) == events_before
        assert not [c for c in port.calls if c[0] in ("kill", "apply_edit", "delete")]


async def test_kill_and_revive_a_node_in_the_demo(port: ScriptedPort) -> None:
    app = console(port, view="nodes")
    async with app.run_test(size=SIZE) as pilot:
        app.screen.query_one("#table", ResourceTable).select_key("node-3")
        await pilot.press("K")
        await settle(app, pilot)
        assert ("kill", "node-3") in port.calls
        assert app.state.members["node-3"].state == "dead"
        assert app.state.services["default/web"].nodes == ("node-2",)
        await pilot.press("R")
        await settle(app, pilot)
        assert ("revive", "node-3") in port.calls
        assert app.state.members["node-3"].state == "alive"


async def test_live_events_update_rows_in_place(port: ScriptedPort) -> None:
    app = console(port, view="svc")
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#table", ResourceTable)
        table.select_key("default/web")
        mark = len(port.demo.events)
        port.demo.kill("node-3", at=10)
        app.feed(port.demo.events[mark:])
        await pilot.pause()
        assert table.row("default/web")[4] == "node-2"
        assert table.is_highlighted("default/web")
        assert not table.is_highlighted("default/local-web")
        assert table.selected_key == "default/web"  # the cursor stayed on its row


async def test_events_arriving_while_a_screen_is_taken_apart_are_kept(port: ScriptedPort) -> None:
    """The app shutting down removes a screen's widgets while the runtime still sends events:
    the update must neither crash the app (it did, once, in CI) nor be lost."""
    app = console(port, view="svc")
    async with app.run_test(size=SIZE) as pilot:
        services = app.screen
        await services.query_one("#body").remove()  # what shutting down does to its widgets
        mark = len(port.demo.events)
        port.demo.kill("node-3", at=10)
        app.feed(port.demo.events[mark:])
        await pilot.pause()
        assert {node for node, _ in app.state.announcers["default/web"]} == {"node-2"}


async def test_readonly_hides_and_refuses_every_mutating_key(port: ScriptedPort) -> None:
    app = console(port, view="pools", readonly=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        for action in ("edit", "new", "delete"):
            assert screen.check_action(action, ()) is False
        assert screen.check_action("describe", ()) is True
        await pilot.press("e", "n", "ctrl+d")
        await settle(app, pilot)
        assert isinstance(app.screen, PoolsScreen)
        await pilot.press("3")
        assert app.screen.check_action("kill", ()) is False
        await pilot.press("K", "R")
        await pilot.press("colon", *"kill node-1", "enter")
        await settle(app, pilot)
        assert port.calls == []
        bindings = {b.binding.action for b in app.active_bindings.values()}
        assert "describe" in bindings


async def test_help_lists_the_keys(port: ScriptedPort) -> None:
    app = console(port)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, OverviewScreen)


async def test_events_view_follows_the_log(port: ScriptedPort) -> None:
    app = console(port, view="events")
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#table", ResourceTable)
        count = table.row_count
        assert table.keys[0] == f"{app.state.log[-1].seq:09d}"  # newest first
        mark = len(port.demo.events)
        port.demo.revive("node-1", at=9)
        app.feed(port.demo.events[mark:])
        await pilot.pause()
        assert table.row_count > count
        assert table.row(table.keys[0])[1].text in ("AnnouncementStopped", "AnnouncementStarted")
        await pilot.press("slash", *"NodeJoined", "enter")
        assert [table.row(k)[1].text for k in table.keys] == ["NodeJoined"]
        await pilot.press("d")
        assert isinstance(app.screen, DescribeScreen)
        assert "node: node-1" in describe_text(app.screen)
