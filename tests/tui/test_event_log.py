"""EventLog: the reducer's event log reads like a tuple of LogEntry made on demand."""

from __future__ import annotations

import pytest

from actors.events import Event, NodeJoined
from lbtui.state.eventlog import MAX_LOG, EventLog, LogEntry
from lbtui.state.model import ConsoleState
from lbtui.state.reducer import reduce_all


def events(n: int) -> list[Event]:
    return [NodeJoined(float(i), f"n{i}") for i in range(n)]


def test_entries_index_and_slice_like_a_tuple() -> None:
    evs = events(10)
    log = EventLog(tuple(evs), first=41)
    entries = tuple(LogEntry(41 + i, e) for i, e in enumerate(evs))
    assert len(log) == 10 and tuple(log) == entries and log == entries
    assert log[0] == entries[0] and log[-1] == entries[-1] and log[-1].seq == 50
    assert log[-3:] == entries[-3:] and log[-3:][0].seq == 48
    assert log[2:5] == entries[2:5] and log[20:] == () and log[:0] == ()
    assert log[3].event is evs[3] and log[3].t == 3.0 and log[3].name == "NodeJoined"
    with pytest.raises(IndexError):
        log[10]
    with pytest.raises(IndexError):
        log[-11]
    assert log != entries[1:] and EventLog() == () and EventLog((), 7) == EventLog()


def test_the_state_log_keeps_the_last_entries_numbered_in_order() -> None:
    state = reduce_all(ConsoleState(), events(MAX_LOG - 5))
    state = reduce_all(state, events(12))
    assert len(state.log) == MAX_LOG
    assert [e.seq for e in state.log] == list(range(8, MAX_LOG + 8))
    assert state.log[-1].event.node == "n11"  # type: ignore[attr-defined]
