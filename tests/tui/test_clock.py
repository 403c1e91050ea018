"""One clock: every age, since and rate on screen is the runtime's clock at render time minus
the time of the thing, whatever the number of ticks. The console's second tick once added the
time since the last event again on every tick (ages grew with the square of the running
time: 18m38s after 60 s of demo); these tests move a manual clock over many ticks and read
what each table draws."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from textual.widgets import Label

from actors.clock import ManualClock
from actors.events import GratuitousSent
from lbtui.app import ConsoleApp
from lbtui.ports.remote import RemotePort
from lbtui.state.rows import Age, age_text
from lbtui.widgets.table import ResourceTable
from tests.tui.conftest import ScriptedPort
from tests.tui.script import demo_events

SIZE = (160, 50)
TICKS = 90


class Wall:
    """The console's own clock, moved by hand."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class TimedPort(ScriptedPort):
    """A port that tells the runtime's clock, as LocalPort, KubePort and RemotePort do."""

    def __init__(self, clock: ManualClock) -> None:
        demo, _ = demo_events()
        super().__init__(demo)
        self.clock = clock

    def now(self) -> float | None:
        return self.clock.now()


def drawn_lines(table: ResourceTable) -> list[str]:
    return ["".join(s.text for s in table.render_line(y)) for y in range(table.size.height)]


def assert_every_age(app: ConsoleApp, now: float) -> int:
    """Every Age cell of every table on screen reads ``age_text(now - t)`` on its own line."""
    checked = 0
    for table in app.screen.query(ResourceTable):
        lines = drawn_lines(table)
        for key in table.keys:
            row = table.row(key)
            assert row is not None
            ages = [age_text(now - c.t) for c in row if isinstance(c, Age) and c.t is not None]
            if not ages:
                continue
            drawn = [ln for ln in lines if all(a in ln for a in ages)]
            assert drawn, (table.id, key, ages, lines)
            checked += len(ages)
    return checked


@pytest.mark.asyncio
async def test_ages_follow_the_console_clock_over_many_ticks() -> None:
    """A port that cannot tell the runtime's clock (the fallback): the newest event's time
    plus the console's own clock since it arrived, never counted twice."""
    demo, _ = demo_events()
    port = ScriptedPort(demo)
    wall = Wall(5000.0)
    app = ConsoleApp(port, events=demo.events, clock=wall, cursor_blink=False)
    async with app.run_test(size=SIZE) as pilot:
        start = app.state.now
        checked = 0
        for second in range(1, TICKS + 1):
            wall.t += 1.0
            app._tick()
            await pilot.pause()
            assert app.runtime_now() == pytest.approx(start + second)
            checked += assert_every_age(app, start + second)
        assert checked > TICKS * 5  # events AGE, failovers AGE, sessions UPTIME at least
        # After a minute and a half, the first event is 1m3xs old, not hours.
        assert app.runtime_now() - demo.events[0].t < TICKS + 10


@pytest.mark.asyncio
async def test_ages_follow_the_runtime_clock_the_port_tells() -> None:
    """LocalPort, KubePort and RemotePort tell the runtime's clock: it wins over the console's
    own (frozen here), and events arriving meanwhile do not move it."""
    clock = ManualClock(start=1005.0)
    port = TimedPort(clock)
    app = ConsoleApp(port, events=port.demo.events, clock=lambda: 2000.0, cursor_blink=False)
    async with app.run_test(size=SIZE) as pilot:
        for second in range(1, TICKS + 1):
            clock.advance(1.0)
            if second % 10 == 0:  # a GARP round now and then, stamped with the runtime clock
                app.feed([GratuitousSent(clock.now(), "node-2", "10.99.0.100", ("eth0",), 2, 2)])
            app._tick()
            await pilot.pause()
            assert app.runtime_now() == clock.now()
            assert_every_age(app, clock.now())


@pytest.mark.asyncio
async def test_membership_since_and_failover_age_in_the_nodes_view() -> None:
    clock = ManualClock(start=1005.0)
    port = TimedPort(clock)
    app = ConsoleApp(
        port, events=port.demo.events, clock=lambda: 2000.0, view="nodes", cursor_blink=False
    )
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one(ResourceTable)
        dead_since = app.state.members["node-1"].since
        assert dead_since is not None
        for _ in range(TICKS):
            clock.advance(1.0)
            app._tick()
            await pilot.pause()
        line = next(ln for ln in drawn_lines(table) if "node-1" in ln)
        assert age_text(clock.now() - dead_since) in line
        assert age_text(clock.now() - dead_since) == "1m31s"  # killed at 1003.6, now 1095


@pytest.mark.asyncio
async def test_pulses_count_events_in_the_seconds_they_happened() -> None:
    """Ten seconds of two one-packet GARP rounds a second read 2.0/s; ten quiet seconds
    later, 0.0/s.
    (With the old clock the pulse window ran ahead of the events, and stayed at 0.0/s.)"""
    clock = ManualClock(start=1005.0)
    port = TimedPort(clock)
    app = ConsoleApp(port, events=port.demo.events, clock=lambda: 2000.0, cursor_blink=False)
    async with app.run_test(size=SIZE) as pilot:
        rate = app.screen.query_one("#pulse-l2-rate", Label)
        for _ in range(30):  # the console ticking on its own first
            clock.advance(1.0)
            app._tick()
        for _ in range(10):
            clock.advance(1.0)
            app.feed(
                [
                    GratuitousSent(clock.now() + 0.1, "node-2", "10.99.0.100", ("eth0",), 1, 2),
                    GratuitousSent(clock.now() + 0.6, "node-2", "10.99.0.100", ("eth0",), 1, 3),
                ]
            )
            app._tick()
        await pilot.pause()
        assert str(rate.render()) == "2.0/s"
        for _ in range(10):
            clock.advance(1.0)
            app._tick()
        await pilot.pause()
        assert str(rate.render()) == "0.0/s"


@pytest.mark.asyncio
@pytest.mark.parametrize("step", [0.0, 0.3])
async def test_a_tick_highlights_no_row(step: float) -> None:
    """A row is highlighted when an update changes it, never by the clock: ticks within one
    second (a frozen clock, or one moving 0.3 s a tick) once applied the last batch again
    and lit every service (a snapshot under load caught it)."""
    demo, _ = demo_events()
    wall = Wall(5000.0)
    app = ConsoleApp(
        ScriptedPort(demo), events=demo.events, clock=wall, view="svc", cursor_blink=False
    )
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#table", ResourceTable)
        assert table.keys and not any(table.is_highlighted(k) for k in table.keys)
        for _ in range(3):
            wall.t += step
            app._tick()
            await pilot.pause()
            assert not any(table.is_highlighted(k) for k in table.keys)


class CannedPort(RemotePort):
    """A RemotePort whose ``GET /state`` answers from memory, on a clock moved by hand."""

    def __init__(self, body: dict[str, Any], wall: Wall) -> None:
        super().__init__("http://speaker:7472")
        self.body = body
        self.monotonic = wall

    def _open(self, path: str, timeout: float | None) -> Any:
        self.monotonic.t += 0.2  # the request takes 0.2 s, answered in its middle
        return io.BytesIO(json.dumps(self.body).encode())


def test_remote_port_tells_the_speakers_clock() -> None:
    wall = Wall(10.0)
    port = CannedPort({"now": 777.0, "role": "speaker"}, wall)
    assert port.now() is None  # nothing measured yet
    port.fetch_state()
    assert port.now() == pytest.approx(777.1)
    wall.t += 30.0
    assert port.now() == pytest.approx(807.1)
    port.body = {"now": "soon", "role": "speaker"}  # bad input keeps the last measurement
    port.fetch_state()
    assert port.now() == pytest.approx(807.3)
