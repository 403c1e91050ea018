"""The console's way into a runtime in the same process: the bridge actor and the LocalPort,
on the real demo runtime with a manual clock (virtual time, so nothing here waits on timers)."""

from __future__ import annotations

import ast
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pykka
import pytest

from actors.clock import ManualClock
from actors.events import Event, NodeJoined
from actors.roles.demo import DemoOptions, build, kill_node, revive_node
from lbtui.bridge import ActorEvent, Bridge, SnapshotLoaded
from lbtui.ports.base import ReadOnlyPort
from lbtui.ports.local import LocalPort
from lbtui.state.model import ConsoleState
from lbtui.state.reducer import load_snapshot, reduce_all

ROOT = Path(__file__).resolve().parents[2]
QUIET = "steps: []\n"


class Inbox:
    """Stands in for the app: collects what is posted, from any thread."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.cond = threading.Condition()

    def post_message(self, message: Any) -> bool:
        with self.cond:
            self.messages.append(message)
            self.cond.notify_all()
        return True

    def events(self) -> list[Event]:
        with self.cond:
            return [e for m in self.messages if isinstance(m, ActorEvent) for e in m.events]

    def wait(self, predicate: Any, clock: ManualClock | None = None, timeout: float = 10.0) -> None:
        """Wait for ``predicate(events)``; with a clock, move virtual time on meanwhile (the
        bridge posts a burst's tail after its interval, a virtual one here)."""
        for _ in range(int(timeout / 0.05)):
            if clock is not None:
                clock.advance(0.05)
            with self.cond:
                if self.cond.wait_for(lambda: predicate(self.events()), 0.05):
                    return
        raise AssertionError([e.name for e in self.events()][-20:])


@pytest.fixture(autouse=True)
def _stop_actors() -> Iterator[None]:
    yield
    pykka.ActorRegistry.stop_all()


def demo_port(readonly: bool = False) -> tuple[LocalPort, Any, ManualClock, Inbox]:
    clock = ManualClock()
    runtime, _, _ = build(DemoOptions(nodes=3, scenario_text=QUIET), clock=clock, scheduler=clock)
    port = LocalPort(runtime, kill_node=kill_node, revive_node=revive_node, readonly=readonly)
    inbox = Inbox()
    port.start(inbox)
    inbox.wait(lambda ev: any(e.name == "RuntimeReady" for e in ev), clock)
    return port, runtime, clock, inbox


def owner(events: list[Event], ip: str) -> str | None:
    state = reduce_all(ConsoleState(), events)
    entry = state.l2.get(ip)
    return entry.node if entry else None


def test_the_console_sees_the_runtime_from_its_first_event() -> None:
    port, runtime, clock, inbox = demo_port()
    # Subscribed before the runtime started: even the first configuration was seen.
    assert any(e.name == "ConfigApplied" and e.source == "startup" for e in inbox.events())
    inbox.wait(lambda ev: owner(ev, "10.99.0.100") is not None, clock)
    state = reduce_all(ConsoleState(), inbox.events())
    assert state.services["default/web"].ips == ("10.99.0.100",)
    assert port.can_kill and not port.readonly
    runtime.stop()


def test_kill_and_revive_go_through_the_demo_and_fail_over() -> None:
    port, runtime, clock, inbox = demo_port()
    inbox.wait(lambda ev: owner(ev, "10.99.0.100") is not None, clock)
    first = owner(inbox.events(), "10.99.0.100")
    assert first is not None
    port.kill_node(first)
    inbox.wait(lambda ev: owner(ev, "10.99.0.100") not in (None, first), clock)
    state = reduce_all(ConsoleState(), inbox.events())
    assert state.members[first].state == "dead"
    assert any(f.from_node == first for f in state.failovers)
    port.revive_node(first)
    inbox.wait(lambda ev: reduce_all(ConsoleState(), ev).members[first].state == "alive", clock)
    runtime.stop()


def test_edits_reach_the_config_actor_and_a_bad_one_changes_nothing() -> None:
    port, runtime, clock, inbox = demo_port()
    doc = port.document("IPAddressPool", "lan")
    assert doc is not None
    bad = {**doc, "spec": {**doc["spec"], "addresses": ["10.99.0.300"]}}
    outcome = port.apply_edit(bad)
    assert not outcome.applied
    assert any(i.field == "spec.addresses[0]" for i in outcome.issues)
    good = {**doc, "spec": {**doc["spec"], "addresses": ["10.99.7.0/28"]}}
    assert port.apply_edit(good).applied
    inbox.wait(lambda ev: any(e.name == "ConfigApplied" and e.source == "edit" for e in ev), clock)
    state = reduce_all(ConsoleState(), inbox.events())
    assert [r.text for r in state.config.pools["lan"].ranges] == ["10.99.7.0/28"]
    refused = port.delete("IPAddressPool", "routed")  # an advertisement still uses it
    assert not refused.applied
    runtime.stop()


def test_readonly_port_refuses_every_change() -> None:
    port, runtime, _, _ = demo_port(readonly=True)
    with pytest.raises(ReadOnlyPort):
        port.apply_edit({"kind": "IPAddressPool"})
    with pytest.raises(ReadOnlyPort):
        port.delete("IPAddressPool", "lan")
    with pytest.raises(ReadOnlyPort):
        port.kill_node("node-1")
    assert port.document("IPAddressPool", "lan") is not None  # reading is fine
    runtime.stop()


def test_a_console_attaching_late_gets_a_snapshot() -> None:
    clock = ManualClock()
    runtime, _, _ = build(DemoOptions(nodes=3, scenario_text=QUIET), clock=clock, scheduler=clock)
    runtime.start()
    port = LocalPort(runtime, start_runtime=False)
    inbox = Inbox()
    port.start(inbox)
    snapshots = [m.snapshot for m in inbox.messages if isinstance(m, SnapshotLoaded)]
    assert len(snapshots) == 1
    state = load_snapshot(ConsoleState(), snapshots[0])
    assert state.services["default/web"].status == "announced"
    assert state.l2["10.99.0.100"].node is not None
    assert not port.can_kill
    runtime.stop()


def test_the_bridge_posts_a_burst_as_few_batches() -> None:
    clock = ManualClock()
    inbox = Inbox()
    ref = Bridge.start(inbox, min_interval=0.02, clock=clock, scheduler=clock)
    proxy = ref.proxy()
    proxy.on_event(NodeJoined(0.0, "a")).get(timeout=5)  # after a quiet spell: at once
    for i in range(100):
        proxy.on_event(NodeJoined(0.0, f"n{i}")).get(timeout=5)
    assert len(inbox.messages) == 1
    inbox.wait(lambda ev: len(ev) == 101, clock)
    assert len(inbox.messages) == 2
    assert [e.node for e in inbox.events()] == ["a", *(f"n{i}" for i in range(100))]
    ref.stop()


# -- layering (house rule 1) ------------------------------------------------------------------

# What the console may import from the runtime: its events, configuration and shared value
# types. The ports (lbtui/ports/, kube/ following the speakers through the API) and the
# bridge, an actor itself, may reach further; the command line (cli.py, commands/) calls the
# role builders; the lab is a tool beside the console, not part of it.
ALLOWED = ("actors.events", "actors.config", "actors.model", "actors.util")
GATEWAYS = ("ports/", "bridge.py", "cli.py", "commands/", "lab/", "__main__.py")


def runtime_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []  # annotations only: never imported at run time
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {n for n in names if n.split(".")[0] == "actors"}


def test_the_console_reaches_the_runtime_only_through_the_port() -> None:
    offenders = []
    for path in sorted((ROOT / "lbtui").rglob("*.py")):
        if str(path.relative_to(ROOT / "lbtui")).startswith(GATEWAYS):
            continue
        for name in runtime_imports(path):
            if not name.startswith(ALLOWED):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def test_the_local_port_tells_the_runtimes_own_clock() -> None:
    """Ages are measured against the runtime's clock (virtual here), not the console's."""
    port, runtime, clock, _ = demo_port()
    assert port.now() == clock.now()
    clock.advance(42.5)
    assert port.now() == clock.now()
    runtime.stop()


def session_state(events: list[Event], node: str) -> str | None:
    row = reduce_all(ConsoleState(), events).sessions.get((node, "collector"))
    return row.state if row else None


def test_a_killed_nodes_bgp_session_goes_down_and_comes_back_with_it() -> None:
    """The demo's kill is a crash: the node's BGP session to the collector goes (it once
    stayed Established, with PFX 0, for as long as the node was dead)."""
    port, runtime, clock, inbox = demo_port()
    inbox.wait(lambda ev: session_state(ev, "node-2") == "Established", clock)
    port.kill_node("node-2")
    inbox.wait(lambda ev: session_state(ev, "node-2") not in (None, "Established"), clock)
    for _ in range(40):  # twenty virtual seconds: nothing dials again while it is dead
        clock.advance(0.5)
        # The sessions' keepalives cross real sockets: give them real time to do so, or a
        # loaded machine lets node-1's virtual hold timer run out (seen once under load 10).
        time.sleep(0.05)
    assert session_state(inbox.events(), "node-2") != "Established"
    assert session_state(inbox.events(), "node-1") == "Established"
    port.revive_node("node-2")
    inbox.wait(lambda ev: session_state(ev, "node-2") == "Established", clock)
    runtime.stop()
