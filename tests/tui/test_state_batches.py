"""The reducer's batch shortcuts say exactly what event-by-event reduction says."""

from __future__ import annotations

import gc

from actors.events import Event, NodeJoined, NodeLeft
from lbtui.state.eventlog import MAX_LOG
from lbtui.state.model import ConsoleState, Snapshot
from lbtui.state.reducer import load_snapshot, reduce, reduce_all
from tests.tui.script import ScriptedDemo


def test_a_batch_longer_than_the_log_keeps_its_last_entries_in_order() -> None:
    events: list[Event] = [
        NodeLeft(float(i), f"n{i % 3}", "dead") if i % 7 == 0 else NodeJoined(float(i), f"n{i % 3}")
        for i in range(2 * MAX_LOG + 7)
    ]
    batch = reduce_all(ConsoleState(), events)
    stepwise = ConsoleState()
    for start in range(0, len(events), 1000):
        stepwise = reduce_all(stepwise, events[start : start + 1000])
    assert batch.log == stepwise.log
    assert [e.seq for e in batch.log] == list(range(MAX_LOG + 8, 2 * MAX_LOG + 8))
    assert batch.log[-1].event is events[-1]
    assert {e.level for e in batch.log} == {"info", "warning"}
    assert batch.changes.log == len(events)


def test_rows_after_a_failover_batch_equal_rows_made_from_scratch() -> None:
    demo = ScriptedDemo().start()
    before = reduce_all(ConsoleState(), demo.events)
    mark = len(demo.events)
    demo.kill("node-1", at=2)
    after = reduce_all(before, demo.events[mark:])  # rows updated from the previous ones
    scratch = reduce_all(ConsoleState(), demo.events)
    assert dict(after.services) == dict(scratch.services)
    assert after.services["default/web"].nodes == ("node-3",)
    stepwise = ConsoleState()
    for event in demo.events:
        stepwise = reduce(stepwise, event)
    assert dict(stepwise.services) == dict(scratch.services)


def test_reducing_leaves_the_collector_as_it_found_it() -> None:
    demo = ScriptedDemo().start()
    was = gc.isenabled()
    try:
        gc.enable()
        state = reduce_all(ConsoleState(), demo.events)
        assert gc.isenabled()
        gc.disable()
        reduce_all(state, demo.events[-3:])
        assert not gc.isenabled()
        gc.enable()
        load_snapshot(ConsoleState(), _snapshot(demo))
        assert gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()


def _snapshot(demo: ScriptedDemo) -> Snapshot:
    return Snapshot(now=1.0, history=tuple(demo.events[:5]))
