"""A Listener actor that records every event, for threaded runtime tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from actors.base import RuntimeActor
from actors.events import Event
from actors.listener import Listener


class EventJournal:
    """Thread-safe list of events with a wait-for-condition helper."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._cond = threading.Condition()

    def add(self, event: Event) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def of(self, kind: type[Event]) -> list[Any]:
        with self._cond:
            return [e for e in self.events if isinstance(e, kind)]

    def wait_for(self, predicate: Callable[[list[Event]], Any], timeout: float = 5.0) -> Any:
        """Block until ``predicate(events)`` is truthy; return its value or fail the test."""
        with self._cond:
            ok = self._cond.wait_for(lambda: predicate(list(self.events)), timeout)
            if not ok:
                names = [e.name for e in self.events[-30:]]
                raise AssertionError(f"condition not met within {timeout}s; last events: {names}")
            return predicate(list(self.events))


class Recorder(Listener, RuntimeActor):
    actor_name = "recorder"

    def __init__(self, journal: EventJournal, **kw: Any) -> None:
        super().__init__(**kw)
        self.journal = journal

    def on_event(self, event: Event) -> None:
        self.journal.add(event)


class Inbox:
    """Stands in for the console app: collects what a port posts, from any thread."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.cond = threading.Condition()

    def post_message(self, message: Any) -> bool:
        with self.cond:
            self.messages.append(message)
            self.cond.notify_all()
        return True

    def wait(self, predicate: Any, timeout: float = 10.0) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: predicate(self.messages), timeout), self.messages
