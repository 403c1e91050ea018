"""Watches read as raw JSON lines (actors/kube/watchstream.py): lines cut across chunks at
every place, a line that is not JSON ends the stream instead of being skipped, and, against
the fake API, the reflector over them: bookmarks move its resourceVersion without a change,
410 Gone relists without a missed change, a stop from another thread ends a blocked read."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from actors.clock import ThreadScheduler
from actors.kube.cache import ObjectCache
from actors.kube.reflector import Reflector
from actors.kube.resources import SERVICES
from actors.kube.watchstream import WatchDecodeError, WatchStream, split_lines
from tests.kube.fakeapi import FakeKubeApi
from tests.kube.harness import kube_cluster, namespace, service, wait_until

EVENTS = [
    {"type": "ADDED", "object": {"metadata": {"name": "a", "resourceVersion": "5"}}},
    {"type": "MODIFIED", "object": {"metadata": {"name": "é", "resourceVersion": "6"}}},
    {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}},
]
WIRE = b"".join(json.dumps(e, ensure_ascii=False).encode() + b"\n" for e in EVENTS)


class Chunked:
    """A response whose body arrives in the given chunks."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.closed = False

    def stream(self, amt: Any = None, decode_content: bool = False) -> Iterator[bytes]:
        yield from self.chunks

    def close(self) -> None:
        self.closed = True

    def release_conn(self) -> None:
        pass


def test_split_lines_keeps_the_start_of_a_line_for_the_next_chunk() -> None:
    assert split_lines(b"", b'{"a":1}\n{"b"') == ([b'{"a":1}'], b'{"b"')
    assert split_lines(b'{"b"', b":2}\n\n  \n") == ([b'{"b":2}'], b"")
    assert split_lines(b"", b"") == ([], b"")


@pytest.mark.parametrize("size", [1, 2, 3, 7, 50, len(WIRE)])
def test_events_cut_at_every_place_decode_the_same(size: int) -> None:
    # A multi-byte character cut in two (size 1) decodes whole as well.
    chunks = [WIRE[i : i + size] for i in range(0, len(WIRE), size)]
    response = Chunked(chunks)
    assert list(WatchStream(response)) == EVENTS
    assert response.closed


def test_an_unfinished_last_line_is_not_an_event() -> None:
    assert list(WatchStream(Chunked([WIRE + b'{"type": "ADD']))) == EVENTS


@pytest.mark.parametrize("line", [b"{not json", b"[1, 2]", b'"text"'])
def test_a_line_that_is_not_a_json_object_ends_the_stream(line: bytes) -> None:
    """Skipping it would lose a change: the reflector watches again from its version."""
    stream = iter(WatchStream(Chunked([WIRE[:10], WIRE[10:] + line + b"\n" + WIRE])))
    assert [next(stream) for _ in EVENTS] == EVENTS
    with pytest.raises(WatchDecodeError):
        next(stream)


# -- the reflector over raw watches, against the fake API --------------------------------------


class Reflecting:
    def __init__(self, fake: FakeKubeApi, watch_timeout: int = 30) -> None:
        self.api = kube_cluster(fake, ()).api
        self.cache = ObjectCache(SERVICES)
        self.changes = 0
        self.scheduler = ThreadScheduler()
        self.reflector = Reflector(
            SERVICES,
            self.cache,
            self.api,
            "",
            self.scheduler,
            self._changed,
            lambda resource, error: None,
            watch_timeout=watch_timeout,
            backoff_initial=0.05,
            backoff_max=0.2,
        )
        self.reflector.start()

    def _changed(self, resource: Any) -> None:
        self.changes += 1

    def names(self) -> set[str]:
        return {o["metadata"]["name"] for o in self.cache.snapshot()}

    def stop(self) -> None:
        self.reflector.stop()
        self.reflector.join(5)
        self.scheduler.stop()


@pytest.fixture
def reflecting(fake: FakeKubeApi) -> Iterator[Reflecting]:
    fake.create(namespace("default"))
    fake.create(service("first"))
    r = Reflecting(fake)
    yield r
    r.stop()


def test_watch_events_split_across_chunks_reach_the_cache(
    fake: FakeKubeApi, reflecting: Reflecting
) -> None:
    # The fake cuts every line it sends in two chunks, and a backlog in 97-byte pieces.
    wait_until(lambda: reflecting.cache.synced)
    for i in range(20):
        fake.create(service(f"s{i:02}", annotations={"note": "ü" * i}))
    wait_until(lambda: len(reflecting.names()) == 21)
    obj = reflecting.cache.get("default/s07")
    assert obj is not None and obj["metadata"]["annotations"]["note"] == "ü" * 7
    fake.delete("Service", "s03", "default")
    wait_until(lambda: "s03" not in reflecting.names())


def test_a_bookmark_moves_the_resource_version_without_a_change(
    fake: FakeKubeApi, reflecting: Reflecting
) -> None:
    wait_until(lambda: reflecting.cache.synced and reflecting.reflector._watch is not None)
    changes = reflecting.changes
    # Another kind's write moves the server's resourceVersion; only a bookmark tells the
    # Service watch about it.
    fake.create(namespace("elsewhere"))
    moved = str(fake.store.rv)
    wait_until(lambda: reflecting.cache.resource_version == moved, what="a bookmark")
    assert reflecting.changes == changes
    assert reflecting.reflector.stats.relists_total == 0


def test_410_gone_lists_again_and_misses_no_change(
    fake: FakeKubeApi, reflecting: Reflecting
) -> None:
    wait_until(lambda: reflecting.cache.synced and reflecting.reflector._watch is not None)
    fake.down()  # the watch is cut; changes are made while it is away, then forgotten
    fake.delete("Service", "first", "default")
    fake.create(service("meanwhile"))
    fake.store.compact()
    fake.up()
    wait_until(lambda: reflecting.names() == {"meanwhile"}, what="the relist")
    assert reflecting.reflector.stats.relists_total >= 1
    fake.create(service("after"))  # and the new watch goes on from the new list
    wait_until(lambda: reflecting.names() == {"meanwhile", "after"})


def test_stop_ends_a_watch_blocked_in_another_thread(fake: FakeKubeApi) -> None:
    fake.create(namespace("default"))
    api = kube_cluster(fake, ()).api
    _, rv = api.list(SERVICES, "")
    stream, stopper = api.watch(SERVICES, "", rv, 30)
    ended = threading.Event()

    def read() -> None:
        for _ in stream:
            pass
        ended.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert not ended.wait(0.3)  # nothing to read: blocked
    stopper.stop()
    assert ended.wait(5)
