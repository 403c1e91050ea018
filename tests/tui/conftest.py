"""Fixtures for the console tests: a scripted demo behind a port that records every call."""

from __future__ import annotations

from typing import Any

import pytest

from actors.config.store import EditOutcome
from lbtui.app import ConsoleApp
from lbtui.bridge import ActorEvent, Poster
from tests.tui.script import ScriptedDemo, demo_events

FROZEN = 2000.0  # the console's clock in tests: nothing ages, nothing blinks


class ScriptedPort:
    """A ConsolePort over a ScriptedDemo: edits go to the real ConfigActor (the same
    validation as ``lbtui validate``), kills to the scripted membership; every call is
    recorded, and the events each call caused are posted to the app like the bridge would."""

    description = "scripted demo"

    def __init__(self, demo: ScriptedDemo, *, readonly: bool = False, can_kill: bool = True):
        self.demo = demo
        self.readonly = readonly
        self.can_kill = can_kill
        self.calls: list[tuple[Any, ...]] = []
        self.app: Poster | None = None
        self._sent = len(demo.events)

    def start(self, app: Poster) -> None:
        self.app = app

    def stop(self) -> None:
        pass

    def _flush(self) -> None:
        fresh = tuple(self.demo.events[self._sent :])
        self._sent = len(self.demo.events)
        if fresh and self.app is not None:
            self.app.post_message(ActorEvent(fresh))

    def document(self, kind: str, name: str) -> dict[str, Any] | None:
        self.calls.append(("document", kind, name))
        return self.demo.config.document(kind, name)

    def apply_edit(self, doc: dict[str, Any]) -> EditOutcome:
        self.calls.append(("apply_edit", doc))
        outcome = self.demo.apply_edit(doc)
        self._flush()
        return outcome

    def delete(self, kind: str, name: str) -> EditOutcome:
        self.calls.append(("delete", kind, name))
        outcome = self.demo.delete(kind, name)
        self._flush()
        return outcome

    def kill_node(self, node: str) -> None:
        self.calls.append(("kill", node))
        self.demo.kill(node, at=self.demo.clock.now() - 1000.0 + 1)
        self._flush()

    def revive_node(self, node: str) -> None:
        self.calls.append(("revive", node))
        self.demo.revive(node, at=self.demo.clock.now() - 1000.0 + 1)
        self._flush()


def console(
    port: ScriptedPort, *, view: str = "overview", readonly: bool = False, theme: str = "dark"
) -> ConsoleApp:
    return ConsoleApp(
        port,
        events=port.demo.events,
        clock=lambda: FROZEN,
        view=view,
        readonly=readonly,
        theme_name=theme,
        cursor_blink=False,
    )


@pytest.fixture
def port() -> ScriptedPort:
    demo, _ = demo_events()
    return ScriptedPort(demo)
