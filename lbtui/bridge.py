"""Runtime -> console: a Listener actor that only posts events into the app, coalesced.

house rule 5: an actor talks to the UI with ``App.post_message`` and nothing else (never
``call_from_thread``, which would block the actor until the UI runs). To keep a burst (10k
services starting, a node with 3k addresses dying) from becoming 10k messages, the bridge
posts at most one batch per ``min_interval``: an event arriving after a quiet spell goes out
at once, and events arriving while a batch was just sent wait for the next one.
"""

from __future__ import annotations

from typing import Any, Protocol

from textual.message import Message

from actors.base import RuntimeActor
from actors.clock import TimerHandle
from actors.events import Event
from actors.listener import Listener
from lbtui.state.model import Snapshot

MIN_INTERVAL = 0.02


class ActorEvent(Message):
    """A batch of runtime events, in publication order."""

    def __init__(self, events: tuple[Event, ...]) -> None:
        super().__init__()
        self.events = events


class SnapshotLoaded(Message):
    """The runtime's state at one moment (a console attaching late, or a remote one)."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class PortStatus(Message):
    """How the connection to the runtime is doing (shown in the info bar)."""

    def __init__(self, text: str, ok: bool = True) -> None:
        super().__init__()
        self.text = text
        self.ok = ok


class Poster(Protocol):
    def post_message(self, message: Message) -> bool: ...


class Bridge(Listener, RuntimeActor):
    actor_name = "console-bridge"

    def __init__(self, app: Poster, *, min_interval: float = MIN_INTERVAL, **kw: Any) -> None:
        super().__init__(**kw)
        self.app = app
        self.min_interval = min_interval
        self._pending: list[Event] = []
        self._last_post = float("-inf")
        self._timer: TimerHandle | None = None

    def on_event(self, event: Event) -> None:
        self._pending.append(event)
        if self._timer is not None:
            return
        wait = self._last_post + self.min_interval - self.clock.now()
        if wait <= 0:
            self.flush()
        else:
            self._timer = self.after(wait, self.flush)

    def flush(self) -> None:
        self._timer = None
        if not self._pending:
            return
        batch, self._pending = tuple(self._pending), []
        self._last_post = self.clock.now()
        self.app.post_message(ActorEvent(batch))

    def on_stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
