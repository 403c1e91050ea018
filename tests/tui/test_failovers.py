"""The failover view: the histogram of failover times per protocol and cause, and the
takeovers newest first (lbtui/state/failovers.py, pure; the screen, with the pilot)."""

from __future__ import annotations

import pytest

from actors.events import AnnouncementStarted, FailoverMeasured, NodeLeft
from lbtui.screens.views import FailoversScreen
from lbtui.state import failovers as rows
from lbtui.state.model import ConsoleState, Failover
from lbtui.state.reducer import reduce_all
from lbtui.state.rows import Age, Styled
from lbtui.widgets.table import ResourceTable
from tests.tui.conftest import ScriptedPort, console


def failover(seconds: float | None, cause: str = "dead", **kw: object) -> Failover:
    defaults: dict[str, object] = dict(
        t=10.0, ip="10.0.0.1", from_node="a", to_node="b", measured=True, protocol="layer2"
    )
    defaults.update(kw)
    return Failover(seconds=seconds, cause=cause, **defaults)  # type: ignore[arg-type]


def test_failovers_fall_into_buckets_per_protocol_and_cause() -> None:
    failovers = [
        failover(0.05),
        failover(0.08),
        failover(0.3),
        failover(3.0),
        failover(0.7, "left"),
        failover(0.12, protocol="bgp"),
        failover(None, "failover from a (dead)", measured=False),  # the loss was never seen
    ]
    table = rows.histogram_rows(failovers)
    assert list(table) == ["bgp/dead", "layer2/dead", "layer2/left"]
    dead = table["layer2/dead"]
    assert dead[0] == "L2 · dead"
    counts = [c.text for c in dead[1:8] if isinstance(c, Styled)]
    assert counts == ["█ 2", "·", "▄ 1", "·", "·", "▄ 1", "·"]
    assert dead[8:] == ("5", "300ms", "3.00s")  # N counts the untimed one too
    slow = dead[6]
    assert isinstance(slow, Styled) and slow.style == "warning"  # 2 s to 5 s: slow
    assert table["bgp/dead"][0] == "BGP · dead"
    assert len(rows.HISTOGRAM_COLUMNS) == len(dead)


def test_an_estimate_says_its_cause_from_the_reason() -> None:
    estimated = failover(0.8, "failover from node-1 (no longer eligible)", measured=False)
    assert rows.cause_of(estimated) == "no longer eligible"
    assert rows.cause_of(failover(0.8, "failover from node-1", measured=False)) == "unknown"
    assert rows.cause_of(failover(0.8, "not candidate")) == "not candidate"


def test_the_timeline_has_every_takeover_and_who_timed_it() -> None:
    state = reduce_all(
        ConsoleState(),
        [
            NodeLeft(100.0, "node-1", "dead"),
            AnnouncementStarted(
                100.5, "node-3", "10.0.0.1", "layer2", "failover from node-1 (dead)"
            ),  # type: ignore[arg-type]
            AnnouncementStarted(
                101.0, "node-3", "10.0.0.2", "layer2", "failover from node-1 (dead)"
            ),  # type: ignore[arg-type]
            FailoverMeasured(101.0, "node-3", "10.0.0.2", "layer2", "node-1", 0.42, "dead"),  # type: ignore[arg-type]
            FailoverMeasured(102.0, "node-2", "192.0.2.0/32", "bgp", "node-1", 1.5, "dead"),  # type: ignore[arg-type]
        ],
    )
    timeline = rows.timeline_rows(state)
    assert len(timeline) == 3
    by_ip = {r[1]: r for r in timeline.values()}
    assert by_ip["10.0.0.1"][2:] == (
        "L2",
        "node-1 → node-3",
        Styled("~500ms", "ok"),
        "dead",
        "estimate",
    )
    assert by_ip["10.0.0.2"][4:] == (Styled("420ms", "ok"), "dead", "speaker")
    assert by_ip["192.0.2.0/32"][2] == "BGP" and by_ip["192.0.2.0/32"][4].style == "warning"
    assert isinstance(by_ip["10.0.0.1"][0], Age) and by_ip["10.0.0.1"][0].t == 100.5
    assert sorted(timeline) == list(timeline)  # keyed oldest first, shown newest first
    histogram = rows.histogram_rows(state.failovers)
    assert set(histogram) == {"layer2/dead", "bgp/dead"}


@pytest.mark.asyncio
async def test_the_failover_view_has_a_key_and_a_command(port: ScriptedPort) -> None:
    app = console(port)
    async with app.run_test(size=(120, 34)) as pilot:
        await pilot.press("8")
        assert isinstance(app.screen, FailoversScreen)
        histogram = app.screen.query_one("#histogram", ResourceTable)
        assert histogram.keys == ["layer2/dead"]
        table = app.screen.query_one("#table", ResourceTable)
        assert table.row_count == 2
        newest = table.row(table.keys[0])
        assert newest is not None and newest[3] == "node-1 → node-3"
        await pilot.press("0", "colon", *"fo", "enter")
        assert isinstance(app.screen, FailoversScreen)
