"""RemotePort: the console on a headless runtime's status endpoint (``lbtui console --connect``),
and the decoding of what that endpoint sends (actors/observability/status.py).

``GET /state`` becomes a :class:`Snapshot` (:func:`decode_snapshot`); each line of
``GET /events?since=N`` becomes an event again (:func:`json_line`, :func:`decode_event`). The
kube port reads every speaker's endpoint with the same decoders. The port is read-only by
construction: the endpoint has nothing to write to.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import json
import queue
import threading
import time
import typing
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

import actors.events as events_module
from actors.config.build import build_config
from actors.config.loader import load_documents
from actors.config.store import EditOutcome
from actors.events import AnnouncementStarted, Event, MembershipUpdated
from actors.model.allocation import Allocation, PoolUsage
from actors.model.cluster import ClusterState, EndpointSlice, Namespace, Node, Service
from lbtui.bridge import ActorEvent, PortStatus, Poster, SnapshotLoaded
from lbtui.ports.base import ReadOnlyPort
from lbtui.state.model import Snapshot

# Events whose JSON form is a summary: the client fetches /state instead of decoding them.
SUMMARIZED_EVENTS = frozenset(
    name
    for name, cls in vars(events_module).items()
    if isinstance(cls, type)
    and issubclass(cls, Event)
    and cls is not Event
    and cls.to_json is not Event.to_json
)


def decode_event(record: Mapping[str, Any]) -> Event | None:
    """An event from its JSON line, or None (unknown, summarized or malformed: dropped)."""
    name = record.get("event")
    cls = getattr(events_module, str(name), None)
    if not isinstance(cls, type) or not issubclass(cls, Event) or name in SUMMARIZED_EVENTS:
        return None
    try:
        hints = typing.get_type_hints(cls, vars(events_module))
        kwargs: dict[str, Any] = {}
        for name in cls.__struct_fields__:
            if name not in record:
                continue
            value = record[name]
            text = str(hints.get(name, ""))
            if isinstance(value, list):
                value = frozenset(value) if "frozenset" in text else tuple(value)
            kwargs[name] = value
        return cls(**kwargs)
    except (TypeError, ValueError):
        return None


def decode_snapshot(body: Mapping[str, Any]) -> tuple[Snapshot, int]:
    """A Snapshot from ``GET /state`` and the sequence number it is current to."""
    now = float(body.get("now") or 0.0)
    config = None
    errors: list[str] = list(body.get("configErrors") or [])
    docs = body.get("config")
    if isinstance(docs, list):
        inputs = load_documents(((d, 0) for d in docs), "<status endpoint>")
        result = build_config(inputs)
        config = result.config
        if config is None:
            errors += [str(i) for i in result.errors]
    cluster = None
    raw = body.get("cluster")
    if isinstance(raw, dict):
        cluster = ClusterState.of(
            services=[Service.model_validate(s) for s in raw.get("services", [])],
            endpoint_slices=[
                EndpointSlice.model_validate(s) for s in raw.get("endpointSlices", [])
            ],
            nodes=[Node.model_validate(n) for n in raw.get("nodes", [])],
            namespaces=[Namespace.model_validate(n) for n in raw.get("namespaces", [])],
        )
    allocations = usage = None
    if isinstance(body.get("allocations"), dict):
        allocations = {
            key: Allocation(
                key,
                tuple(ipaddress.ip_address(ip) for ip in a.get("ips", [])),
                a.get("pool"),
                a.get("error"),
                a.get("cleared"),
            )
            for key, a in body["allocations"].items()
        }
        usage = {
            name: PoolUsage(
                u["total"], u["inUse"], u["totalV4"], u["totalV6"], u["inUseV4"], u["inUseV6"]
            )
            for name, u in (body.get("usage") or {}).items()
        }
    views = body.get("membership") or []
    memberships = tuple(
        m
        for m in (decode_event(v) for v in (views if isinstance(views, list) else [views]))
        if isinstance(m, MembershipUpdated)
    )
    announced = tuple(
        e
        for e in (decode_event(a) for a in body.get("announcements", []))
        if isinstance(e, AnnouncementStarted)
    )
    history = tuple(e for e in (decode_event(r) for r in body.get("events", [])) if e)
    snapshot = Snapshot(
        now=now,
        role=str(body.get("role") or "remote"),
        history=history,
        config=config,
        cluster=cluster,
        allocations=allocations,
        usage=usage,
        memberships=memberships,
        announcements=announced,
        config_errors=tuple(errors),
    )
    return snapshot, int(body.get("seq") or 0)


def json_line(line: bytes) -> dict[str, Any] | None:
    """One JSON object of an NDJSON stream, or None (a blank heartbeat, or not an object)."""
    line = line.strip()
    if not line:
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


class RemotePort:
    """The console on a headless runtime's status endpoint: read-only by construction."""

    readonly = True
    can_kill = False

    def __init__(
        self,
        url: str,
        token: str = "",
        *,
        timeout: float = 5.0,
        retry: float = 2.0,
        min_interval: float = 0.05,
        refetch_interval: float = 0.5,
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retry = retry
        self.min_interval = min_interval
        self.refetch_interval = refetch_interval
        self.description = self.url
        self._stopped = threading.Event()
        self._documents: dict[tuple[str, str], dict[str, Any]] = {}
        # The speaker's clock as last measured: its ``now`` and our monotonic clock then.
        self._clock: tuple[float, float] | None = None
        self.monotonic = time.monotonic

    # -- HTTP --------------------------------------------------------------------------------
    def _open(self, path: str, timeout: float | None) -> Any:
        request = urllib.request.Request(self.url + path)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        return urllib.request.urlopen(request, timeout=timeout)

    def fetch_state(self) -> dict[str, Any]:
        asked = self.monotonic()
        with self._open("/state", self.timeout) as response:
            body = json.load(response)
        answered = self.monotonic()
        now = body.get("now") if isinstance(body, dict) else None
        if isinstance(now, int | float) and not isinstance(now, bool) and now > 0:
            # The answer was made somewhere between asking and reading it: take the middle.
            self._clock = (float(now), (asked + answered) / 2)
        docs = body.get("config") or []
        self._documents = {
            (str(d.get("kind")), str(d.get("metadata", {}).get("name"))): d
            for d in docs
            if isinstance(d, dict)
        }
        return body

    # -- ConsolePort -------------------------------------------------------------------------
    def now(self) -> float | None:
        """The speaker's clock now: its ``now`` at the last ``GET /state`` plus the time
        passed here since (the events it sends carry its clock, not ours)."""
        if self._clock is None:
            return None
        remote, local = self._clock
        return remote + (self.monotonic() - local)

    def start(self, app: Poster) -> None:
        threading.Thread(target=self._run, args=(app,), name="lbtui-remote", daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()

    def _run(self, app: Poster) -> None:
        while not self._stopped.is_set():
            try:
                body = self.fetch_state()
                snapshot, seq = decode_snapshot(body)
                app.post_message(SnapshotLoaded(snapshot))
                app.post_message(
                    PortStatus(
                        f"connected to {self.url}: this speaker's view only (one --connect "
                        "per speaker shows the cluster)"
                    )
                )
                self._follow(app, seq)
            except urllib.error.HTTPError as exc:
                if exc.code == 410:  # resumed beyond the newest event: it restarted, refetch
                    continue
                reason = "unauthorized (check --token)" if exc.code == 401 else str(exc)
                app.post_message(PortStatus(f"{self.url}: {reason}", ok=False))
            except (OSError, ValueError) as exc:
                app.post_message(PortStatus(f"{self.url}: {exc}", ok=False))
            self._stopped.wait(self.retry)

    def _follow(self, app: Poster, seq: int) -> None:
        """Read /events; post batches at most every ``min_interval``; refetch /state when a
        summarized state event says the snapshot changed."""
        lines: queue.Queue[bytes | None] = queue.Queue()
        response = self._open(f"/events?since={seq}", None)

        def read() -> None:
            try:
                for line in response:
                    lines.put(line)
            except OSError:
                pass
            lines.put(None)

        threading.Thread(target=read, name="lbtui-remote-read", daemon=True).start()
        last_post = 0.0
        stale_since: float | None = None
        try:
            while not self._stopped.is_set():
                batch: list[Event] = []
                closed = False
                wait = self.refetch_interval if stale_since is not None else 1.0
                try:
                    items = [lines.get(timeout=wait)]
                except queue.Empty:
                    items = []
                while True:
                    try:
                        items.append(lines.get_nowait())
                    except queue.Empty:
                        break
                for line in items:
                    if line is None:
                        closed = True
                        break
                    record = json_line(line)
                    if record is None or record.get("seq", seq + 1) <= seq:
                        continue
                    seq = int(record.get("seq", seq))
                    if record.get("event") in SUMMARIZED_EVENTS:
                        stale_since = stale_since or time.monotonic()
                    event = decode_event(record)
                    if event is not None:
                        batch.append(event)
                if batch:
                    pause = last_post + self.min_interval - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
                    app.post_message(ActorEvent(tuple(batch)))
                    last_post = time.monotonic()
                if stale_since is not None and time.monotonic() - stale_since >= (
                    self.refetch_interval
                ):
                    snapshot, seq = decode_snapshot(self.fetch_state())
                    app.post_message(SnapshotLoaded(dataclasses.replace(snapshot, history=())))
                    stale_since = None
                if closed:
                    app.post_message(PortStatus(f"{self.url}: event stream closed", ok=False))
                    return
        finally:
            with contextlib.suppress(Exception):
                response.close()

    def document(self, kind: str, name: str) -> dict[str, Any] | None:
        return self._documents.get((kind, name))

    def apply_edit(self, doc: dict[str, Any]) -> EditOutcome:
        raise ReadOnlyPort("the status endpoint is read-only")

    def delete(self, kind: str, name: str) -> EditOutcome:
        raise ReadOnlyPort("the status endpoint is read-only")

    def kill_node(self, node: str) -> None:
        raise ReadOnlyPort("the status endpoint is read-only")

    def revive_node(self, node: str) -> None:
        raise ReadOnlyPort("the status endpoint is read-only")
