"""ClusterPort: the console on several speakers' status endpoints at once, merged into one view
of the cluster (``lbtui console --connect URL --connect URL ...``, ``lbtui lab console``).

One speaker knows only what it does itself: which addresses *it* answers for, *its* view of
membership, the failovers *it* measured. The cluster's truth is the sum of them all, so the
port follows every speaker the way the kube console follows speaker pods
(:class:`~lbtui.ports.kube.follower.SpeakerFollower`, each speaker's events moved onto this
console's clock), but straight to each ``--connect`` URL instead of through the pod proxy:

- what every speaker computes alike (configuration, Services, allocations) is read from one
  ``GET /state`` (the first speaker that answers), and read again from a speaker whose stream
  says it changed; it reaches the console as the state events it summarizes;
- who announces an address is what the speakers announce: two that do are a conflict on
  screen, none is "not announced";
- a speaker that cannot be reached has its announcements withdrawn ("n1 unreachable: ..."):
  nobody can vouch for them; when it answers again its announcements in force come back;
- the news every speaker tells alike (an address assigned, a Service changed) is told once
  (:class:`~lbtui.ports.merge.EventMerger`).

The info bar says how many speakers stream and what is wrong with the rest. Read-only, as the
status endpoint is.
"""

from __future__ import annotations

import dataclasses
import json
import queue
import threading
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import urllib3

from actors.clock import Clock, RealClock
from actors.config.store import EditOutcome
from actors.events import AllocationsUpdated, ClusterUpdated, ConfigApplied, Event
from lbtui.bridge import PortStatus, Poster, SnapshotLoaded
from lbtui.ports.base import ReadOnlyPort
from lbtui.ports.batching import MIN_INTERVAL, StreamPoster
from lbtui.ports.kube.api import CONNECT_TIMEOUT, READ_TIMEOUT, SpeakerUnreachable
from lbtui.ports.kube.follower import SpeakerFollower
from lbtui.ports.kube.targets import SpeakerTarget, streams_summary
from lbtui.ports.merge import EventMerger
from lbtui.ports.remote import decode_snapshot


def label(url: str) -> str:
    """How a speaker is named until it says its node: HOST:PORT of its URL."""
    return url.split("://", 1)[-1].rstrip("/")


class DirectClient:
    """GET requests straight to a status endpoint (the target's ``pod`` is its URL), with the
    interface of the pod proxy's client, so a :class:`SpeakerFollower` can use either."""

    def __init__(self, token: str = "") -> None:
        self.token = token
        self.pool = urllib3.PoolManager(num_pools=64, maxsize=4, retries=False)

    def close(self) -> None:
        self.pool.clear()

    def open(
        self,
        target: SpeakerTarget,
        path: str,
        query: list[tuple[str, str]] | None = None,
        read_timeout: float = READ_TIMEOUT,
    ) -> Any:
        url = f"{target.pod.rstrip('/')}/{path}" + (f"?{urlencode(query)}" if query else "")
        headers = {"Accept": "application/json, application/x-ndjson"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = self.pool.request(
                "GET",
                url,
                headers=headers,
                preload_content=False,
                timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=read_timeout),
            )
        except urllib3.exceptions.HTTPError as exc:
            raise SpeakerUnreachable(f"{label(target.pod)}: {_reason(exc)}") from None
        if not 200 <= response.status < 300:
            response.release_conn()
            why = "unauthorized (check --token)" if response.status == 401 else "error"
            raise SpeakerUnreachable(f"{label(target.pod)}: HTTP {response.status} {why}")
        return Lines(response)

    def get_json(self, target: SpeakerTarget, path: str) -> dict[str, Any]:
        raw = self.open(target, path, read_timeout=CONNECT_TIMEOUT * 2)
        try:
            body = json.loads(raw.data)
        except urllib3.exceptions.HTTPError as exc:  # the answer broke off
            raise SpeakerUnreachable(f"{label(target.pod)}: {_reason(exc)}") from None
        finally:
            raw.release_conn()
        if not isinstance(body, dict):
            raise ValueError(f"{path}: not a JSON object")
        return body


class Lines:
    """A streamed answer read line by line as each arrives (urllib3's own iteration waits
    for 64 KiB, and the status endpoint's ``/events`` is neither chunked nor ever that
    fast); the rest of the urllib3 response's interface as it is."""

    def __init__(self, response: Any) -> None:
        self.response = response

    def __iter__(self) -> Any:
        fp = self.response._fp  # http.client's buffered response: readline does not wait
        while fp is not None:
            line = fp.readline()
            if not line:
                return
            yield line

    def __getattr__(self, name: str) -> Any:
        return getattr(self.response, name)


def _problem(url: str, exc: BaseException) -> str:
    """What went wrong asking ``url``, in one line that names it once."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, SpeakerUnreachable):
        return text
    return f"{label(url)}: {type(exc).__name__}: {text}"[:200]


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    text = str(reason)
    if "Connection refused" in text:
        return "connection refused"
    return text.split(": ", 1)[-1][:160]


class ClusterPort:
    """The console on several speakers' status endpoints, merged: read-only by construction."""

    readonly = True
    can_kill = False

    def __init__(
        self,
        urls: Sequence[str],
        token: str = "",
        *,
        clock: Clock | None = None,
        retry: float = 2.0,
        min_interval: float = MIN_INTERVAL,
        refetch_interval: float = 0.5,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
    ) -> None:
        self.urls = [u.rstrip("/") for u in urls]
        self.description = f"{len(self.urls)} speakers: " + ", ".join(map(label, self.urls))
        self.client = DirectClient(token)
        self.clock = clock or RealClock()
        self.retry = retry
        self.min_interval = min_interval
        self.refetch_interval = refetch_interval
        self.backoff = (backoff_initial, backoff_max)
        self.merger = EventMerger()
        self.poster = StreamPoster(
            admit=self.merger.admit, min_interval=min_interval, name="lbtui-cluster-post"
        )
        self.followers: dict[str, SpeakerFollower] = {}
        self.states: dict[str, tuple[str, str]] = {label(u): ("connecting", "") for u in self.urls}
        self._documents: dict[tuple[str, str], dict[str, Any]] = {}
        self._parts: dict[str, Any] = {}  # the state as last read: config, cluster, allocations
        self._lock = threading.Lock()
        self._stale: queue.Queue[str | None] = queue.Queue()
        self._stopped = threading.Event()

    # -- ConsolePort ---------------------------------------------------------------------------
    def now(self) -> float | None:
        return self.clock.now()  # every speaker's events are moved onto this clock

    def start(self, app: Poster) -> None:
        self.poster.start(app)
        threading.Thread(target=self._run, name="lbtui-cluster", daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()
        self._stale.put(None)
        with self._lock:
            followers = list(self.followers.values())
        for follower in followers:
            follower.stop()
        deadline = time.monotonic() + 2.0
        for follower in followers:
            follower.join(max(0.0, deadline - time.monotonic()))
        self.poster.stop()
        self.client.close()

    def document(self, kind: str, name: str) -> dict[str, Any] | None:
        return self._documents.get((kind, name))

    def apply_edit(self, doc: dict[str, Any]) -> EditOutcome:
        raise ReadOnlyPort("the status endpoints are read-only")

    def delete(self, kind: str, name: str) -> EditOutcome:
        raise ReadOnlyPort("the status endpoints are read-only")

    def kill_node(self, node: str) -> None:
        raise ReadOnlyPort("the status endpoints are read-only")

    def revive_node(self, node: str) -> None:
        raise ReadOnlyPort("the status endpoints are read-only")

    # -- the state every speaker computes alike --------------------------------------------------
    def _run(self) -> None:
        first = self._first_state()
        if first is None:
            return
        with self._lock:
            if self._stopped.is_set():
                return
            for url in self.urls:
                target = SpeakerTarget(pod=url, node=label(url), port=0)
                self.followers[url] = SpeakerFollower(
                    target,
                    self.client,  # type: ignore[arg-type]
                    self.clock,
                    lambda events, url=url: self.poster.events(events, url),
                    self._follower_state,
                    backoff_initial=self.backoff[0],
                    backoff_max=self.backoff[1],
                    withdraw_when_lost=True,
                    on_summary=lambda target: self._stale.put(target.pod),
                ).start()
        self._refetch_loop(first)

    def _first_state(self) -> str | None:
        """Read ``GET /state`` from the first speaker that answers and post it (without
        announcements, memberships or history: the followers bring each speaker's own).
        Returns that speaker's URL (None: stopped before any answered)."""
        while not self._stopped.is_set():
            problems = []
            for url in self.urls:
                try:
                    body = self.client.get_json(self._target(url), "state")
                    snapshot, _ = decode_snapshot(body)
                except Exception as exc:  # unreachable, or an answer that makes no sense
                    problems.append(_problem(url, exc))
                    continue
                self._remember(body)
                self.poster.message(
                    SnapshotLoaded(
                        dataclasses.replace(
                            snapshot,
                            now=self.clock.now(),
                            history=(),
                            memberships=(),
                            announcements=(),
                        )
                    )
                )
                return url
            self.poster.message(PortStatus("no speaker answers: " + "; ".join(problems), ok=False))
            self._stopped.wait(self.retry)
        return None

    def _refetch_loop(self, url: str) -> None:
        """When a speaker's stream says the state changed, read it from that speaker (after
        ``refetch_interval``, so a burst costs one read) and post what changed."""
        while not self._stopped.is_set():
            told = self._stale.get()
            if told is None:
                return
            self._stopped.wait(self.refetch_interval)
            while not self._stale.empty():  # the burst is one read
                if self._stale.get_nowait() is None:
                    return
            for candidate in [told, url, *self.urls]:
                try:
                    body = self.client.get_json(self._target(candidate), "state")
                    events = self._changes(body)
                except Exception:  # that speaker cannot say now: ask the next one
                    continue
                if events:
                    self.poster.events(events, candidate)
                break

    def _target(self, url: str) -> SpeakerTarget:
        return SpeakerTarget(pod=url, node=label(url), port=0)

    def _remember(self, body: dict[str, Any]) -> None:
        docs = body.get("config") or []
        self._documents = {
            (str(d.get("kind")), str(d.get("metadata", {}).get("name"))): d
            for d in docs
            if isinstance(d, dict)
        }
        self._parts = {k: body.get(k) for k in ("config", "cluster", "allocations", "usage")}

    def _changes(self, body: dict[str, Any]) -> list[Event]:
        """The state events that make the console's state equal ``body``'s, for what changed."""
        old = self._parts
        self._remember(body)
        snapshot, _ = decode_snapshot(body)
        t = self.clock.now()
        source = str(body.get("configSource") or "status endpoint")
        events: list[Event] = []
        if body.get("config") != old.get("config") and snapshot.config is not None:
            events.append(ConfigApplied(t, snapshot.config, source))
        if body.get("cluster") != old.get("cluster") and snapshot.cluster is not None:
            events.append(ClusterUpdated(t, snapshot.cluster, "status endpoint"))
        changed = (body.get("allocations"), body.get("usage")) != (
            old.get("allocations"),
            old.get("usage"),
        )
        if changed and snapshot.allocations is not None:
            events.append(AllocationsUpdated(t, snapshot.allocations, snapshot.usage or {}))
        return events

    # -- the followers' health -----------------------------------------------------------------
    def _follower_state(self, target: SpeakerTarget, state: str, detail: str) -> None:
        with self._lock:
            self.states[target.node] = (state, detail)
            text = streams_summary(self.states, {})
            ok = all(s == "following" for s, _ in self.states.values())
            self.poster.status(text, ok)
