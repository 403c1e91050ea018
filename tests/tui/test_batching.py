"""The speakers' streams posted to the app in batches (lbtui/ports/batching.py), shared by the
direct ``--connect`` port and the kube console's speaker streams: the pure batching of one
drained queue, and the posting thread under a clock that moves only when told (the pause
between batches is the injected ``sleep``; nothing here waits on wall time to judge).
"""

from __future__ import annotations

import queue
import threading

import pytest

from actors.events import Event, IpAssigned
from lbtui.bridge import ActorEvent, PortStatus, SnapshotLoaded
from lbtui.ports.batching import StreamPoster, batch_messages
from lbtui.ports.merge import EventMerger

WAIT = 10.0  # how long a test waits for the posting thread before it fails


def ev(t: float, svc: str = "default/web") -> Event:
    return IpAssigned(t, svc, ("10.0.0.1",), "lan")


def shape(messages: list) -> list:
    """Messages as comparable values: an ActorEvent's events, a PortStatus's line."""
    out: list = []
    for m in messages:
        if isinstance(m, ActorEvent):
            out.append(("events", tuple(e.t for e in m.events)))
        elif isinstance(m, PortStatus):
            out.append(("status", m.text, m.ok))
        else:
            out.append(type(m).__name__)
    return out


# -- batch_messages (pure) -------------------------------------------------------------------


def test_consecutive_events_are_one_batch_and_a_message_keeps_its_place() -> None:
    status = PortStatus("2 speakers streaming")
    items = [("a", [ev(1)]), ("b", [ev(2), ev(3)]), status, ("a", [ev(4)])]
    messages, done = batch_messages(items)
    assert shape(messages) == [
        ("events", (1, 2, 3)),
        ("status", "2 speakers streaming", True),
        ("events", (4,)),
    ]
    assert not done


def test_the_end_posts_what_came_before_it_and_nothing_after() -> None:
    messages, done = batch_messages([("a", [ev(1)]), None, ("a", [ev(2)]), PortStatus("late")])
    assert shape(messages) == [("events", (1,))]
    assert done


def test_an_empty_run_and_sources_admitting_nothing_post_nothing() -> None:
    assert batch_messages([]) == ([], False)
    messages, done = batch_messages([("a", [ev(1)])], admit=lambda _s, _e: [])
    assert (messages, done) == ([], False)


def test_admit_sees_each_source_so_an_echo_from_another_speaker_is_dropped() -> None:
    merger = EventMerger(window=5.0)
    items = [("n1", [ev(1.0)]), ("n2", [ev(1.2)]), ("n1", [ev(9.0, "default/db")])]
    messages, _ = batch_messages(items, admit=merger.admit)
    assert shape(messages) == [("events", (1.0, 9.0))]


# -- StreamPoster: the thread, with a clock that moves ----------------------------------------


class App:
    """Records what is posted; a test waits for the n-th message."""

    def __init__(self) -> None:
        self.posted: queue.Queue = queue.Queue()

    def post_message(self, message: object) -> bool:
        self.posted.put(message)
        return True

    def take(self, n: int) -> list:
        return [self.posted.get(timeout=WAIT) for _ in range(n)]


class MovingClock:
    """``monotonic`` and ``sleep`` for the poster: time moves when the poster sleeps (and
    when the test moves it); ``during_sleep`` runs inside the pause, as arrivals would."""

    def __init__(self) -> None:
        self.t = 100.0
        self.sleeps: list[float] = []
        self.during_sleep: list = []

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.t += seconds
        while self.during_sleep:
            self.during_sleep.pop(0)()


def poster_with(clock: MovingClock, **kw: object) -> StreamPoster:
    return StreamPoster(min_interval=0.05, monotonic=clock.monotonic, sleep=clock.sleep, **kw)  # type: ignore[arg-type]


def test_the_first_batch_is_posted_at_once() -> None:
    clock, app = MovingClock(), App()
    poster = poster_with(clock)
    poster.events([ev(1)], "a")
    poster.start(app)
    assert shape(app.take(1)) == [("events", (1,))]
    assert clock.sleeps == []
    poster.stop()


@pytest.mark.parametrize(
    ("later", "sleeps", "posted"),
    [
        # 20 ms after the last batch: 30 ms to wait, and what arrives meanwhile joins in
        (0.02, [0.03], (2, 3)),
        # a second after it: no wait (the late arrival comes with the next batch)
        (1.0, [], (2,)),
    ],
)
def test_a_batch_waits_only_as_long_as_the_interval_since_the_last_one(
    later: float, sleeps: list[float], posted: tuple[int, ...]
) -> None:
    clock, app = MovingClock(), App()
    poster = poster_with(clock).start(app)
    poster.events([ev(1)], "a")
    app.take(1)
    clock.t += later
    clock.during_sleep.append(lambda: poster.events([ev(3)], "b"))
    poster.events([ev(2)], "a")
    assert shape(app.take(1)) == [("events", posted)]
    assert clock.sleeps == sleeps
    poster.stop()


def test_an_info_bar_line_is_posted_once_until_it_changes() -> None:
    clock, app = MovingClock(), App()
    poster = poster_with(clock)
    for text, ok in [("1 streaming", True), ("1 streaming", True), ("n1 lost", False)]:
        poster.status(text, ok)
    poster.status("1 streaming", True)  # back again: news
    poster.message(SnapshotLoaded(None))  # type: ignore[arg-type]  # any message passes as it is
    poster.start(app)
    assert shape(app.take(4)) == [
        ("status", "1 streaming", True),
        ("status", "n1 lost", False),
        ("status", "1 streaming", True),
        "SnapshotLoaded",
    ]
    poster.stop()


def test_stop_posts_what_is_queued_and_ends_the_thread() -> None:
    clock, app = MovingClock(), App()
    poster = poster_with(clock, name="test-poster")
    poster.events([ev(1)], "a")
    poster.start(app)
    poster.stop()
    assert shape(app.take(1)) == [("events", (1,))]
    assert "test-poster" not in {t.name for t in threading.enumerate()}
    poster.events([ev(2)], "a")  # after the end: never posted, never an error
    assert app.posted.empty()


def test_stop_before_start_does_not_wait() -> None:
    StreamPoster().stop()
