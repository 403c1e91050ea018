"""The speakers' streams posted to the app (:class:`StreamPoster`): the step the console shares
between the status endpoints reached directly (:class:`~lbtui.ports.cluster.ClusterPort`,
several ``--connect``) and through the pod proxy (:class:`~lbtui.ports.kube.streams.
SpeakerStreams`).

Every follower thread hands its events (with the source they came from) and the port hands its
messages (the info bar's line, a first snapshot) to one queue; one thread posts them to the app
in batches, at most one every ``min_interval`` (what arrives during the pause joins the batch),
each message in its place among the events: the UI never hears of a stream before its events.
An info bar line equal to the last one is not posted again.

What one drained run of the queue becomes is the pure :func:`batch_messages`; the thread only
waits, drains and posts. Time is injected (``monotonic``, ``sleep``) so a test can move it.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from textual.message import Message

from actors.events import Event
from lbtui.bridge import ActorEvent, PortStatus, Poster

MIN_INTERVAL = 0.05  # at most one batch of events per 50 ms to the UI

# What a source's events become before they are posted (the cluster port's EventMerger drops
# the news another speaker told already); by default they pass as they are.
Admit = Callable[[str, list[Event]], list[Event]]

# One queued item: a source's events, a message for the app, or None (the end).
Item = tuple[str, list[Event]] | Message | None


def _as_they_are(_source: str, events: list[Event]) -> list[Event]:
    return events


def batch_messages(
    items: Iterable[Item], admit: Admit = _as_they_are
) -> tuple[list[Message], bool]:
    """The messages one drained run of the queue posts, in order: consecutive events joined into
    one :class:`ActorEvent` (after ``admit``), each message in its place; and whether the end
    (None) was reached, in which case nothing after it counts."""
    messages: list[Message] = []
    batch: list[Event] = []
    done = False
    for item in items:
        if isinstance(item, tuple):
            source, events = item
            batch += admit(source, events)
            continue
        if batch:
            messages.append(ActorEvent(tuple(batch)))
            batch = []
        if item is None:
            done = True
            break
        messages.append(item)
    if batch:
        messages.append(ActorEvent(tuple(batch)))
    return messages, done


class StreamPoster:
    """One thread posting the streams' events and the port's messages to the app, batched."""

    def __init__(
        self,
        *,
        admit: Admit = _as_they_are,
        min_interval: float = MIN_INTERVAL,
        name: str = "lbtui-streams",
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        self.admit = admit
        self.min_interval = min_interval
        self._monotonic = monotonic
        self._sleep = sleep
        self._queue: queue.Queue[Item] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._app: Poster | None = None
        self._lock = threading.Lock()
        self._last_status: tuple[str, bool] | None = None

    def start(self, app: Poster) -> StreamPoster:
        self._app = app
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Post what is queued, then end the thread (waiting at most ``timeout``)."""
        self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout)

    # -- what the followers and the port hand over ----------------------------------------------
    def events(self, events: Iterable[Event], source: str = "") -> None:
        self._queue.put((source, list(events)))

    def message(self, message: Message) -> None:
        self._queue.put(message)

    def status(self, text: str, ok: bool) -> None:
        """The info bar's line, unless it says what the last one said."""
        with self._lock:
            if (text, ok) == self._last_status:
                return
            self._last_status = (text, ok)
            self._queue.put(PortStatus(text, ok=ok))

    # -- the thread -----------------------------------------------------------------------------
    def _run(self) -> None:
        last_post: float | None = None
        while True:
            items = [self._queue.get()]
            if last_post is not None:
                pause = last_post + self.min_interval - self._monotonic()
                if pause > 0:
                    self._sleep(pause)  # what arrives meanwhile joins this batch
            while True:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            messages, done = batch_messages(items, self.admit)
            last_post = self._monotonic()  # (posting only queues: the time is the same after)
            for message in messages:
                if self._app is not None:
                    self._app.post_message(message)
            if done:
                return
