"""KubePort: the console on a cluster's API, with every speaker's own event stream merged in.

``lbtui console --kubeconfig`` sees the cluster through the API (a :class:`LocalPort` on the
console runtime of ``kube_console_specs``: Services, pools, status objects, edits). What only
the speakers know (membership, who answers ARP/NDP for which address, BGP sessions,
failovers and their measured times) comes from each speaker's status endpoint
(actors/observability/status.py), reached the way a user outside the cluster can with
only a kubeconfig:

- the speaker pods are found by label in ``--namespace`` and watched (list + watch with the
  Reflector of actors/kube/source.py), so new and restarted pods are followed and deleted
  ones let go;
- each speaker's ``GET /state`` and ``GET /events?since=N`` are read through the API server's
  pod proxy subresource (``pods/NAME:PORT/proxy/events``), with the official client's
  authenticated connection; the port is the pod's container port named ``status`` unless
  ``--speaker-status-port`` says otherwise;
- events are decoded with :func:`lbtui.ports.remote.decode_event`, their times moved onto the
  console's clock (each speaker's monotonic clock has its own origin), and posted to the app
  in batches, merged with the cluster view;
- a stream that breaks reconnects with backoff and resumes after the last event seen (what
  the speaker still holds in its recent history is replayed, then its announcements in force
  are reconciled); a broken or gone speaker is an event in the log (SpeakerStreamChanged) and
  a line in the info bar, never a crash.

MetalLB's core/v1 Events about Services (the controller's IPAllocated and AllocationFailed,
the speakers' nodeAssigned) are watched too (:class:`ServiceEvents`) and join the same stream
as ServiceEventObserved: the controller's side of the story, which no speaker stream tells.

The pure parts (which pods to follow, catching up after a gap, what one speaker announces)
come first and touch no network; the threads that do the I/O follow.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from textual.message import Message

from actors.clock import Clock, Scheduler
from actors.events import (
    AnnouncementStarted,
    AnnouncementStopped,
    Event,
    MembershipUpdated,
    ServiceEventObserved,
    SpeakerStreamChanged,
)
from actors.observability.status import TOKEN_HEADER
from lbtui.bridge import ActorEvent, PortStatus, Poster
from lbtui.ports.local import LocalPort
from lbtui.ports.remote import decode_event

log = logging.getLogger(__name__)

SPEAKER_LABELS = "app=metallb,component=speaker"
STATUS_PORT_NAME = "status"
# The status endpoint sends a blank line every 5 s: three missed ones mean the path is dead.
READ_TIMEOUT = 15.0
CONNECT_TIMEOUT = 5.0
MIN_INTERVAL = 0.05  # at most one batch of speaker events per 50 ms to the UI
STREAM_POOL = 256  # connections kept for the speakers' streams (one each)
# Of a speaker's recent events, how many a console attaching for the first time replays (the
# state in force comes from the snapshot; these give the log and failovers their context).
FIRST_CONTACT_HISTORY = 100


# -- pure: which pods to follow ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpeakerTarget:
    """One speaker pod whose status endpoint can be followed through the pod proxy."""

    pod: str
    node: str
    port: int
    uid: str = ""
    ip: str = ""


def speaker_targets(
    pods: Iterable[Mapping[str, Any]],
    *,
    port_name: str = STATUS_PORT_NAME,
    port: int | None = None,
) -> tuple[dict[str, SpeakerTarget], dict[str, str]]:
    """(pod name -> target for every followable speaker pod, pod name -> why not the others).

    A pod is followable once it runs with an IP and has the status port: ``port`` if given,
    else its container port named ``port_name``."""
    targets: dict[str, SpeakerTarget] = {}
    skipped: dict[str, str] = {}
    for pod in pods:
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        status = pod.get("status") or {}
        name = str(meta.get("name") or "")
        if not name:
            continue
        phase = status.get("phase")
        ip = status.get("podIP")
        if phase not in (None, "Running"):
            skipped[name] = f"pod is {phase}"
            continue
        if not ip:
            skipped[name] = "pod has no IP yet"
            continue
        chosen = port if port is not None else _named_port(spec, port_name)
        if chosen is None:
            skipped[name] = (
                f"no container port named {port_name!r} (run the speaker with --status-addr, "
                "or give --speaker-status-port)"
            )
            continue
        targets[name] = SpeakerTarget(
            pod=name,
            node=str(spec.get("nodeName") or name),
            port=chosen,
            uid=str(meta.get("uid") or ""),
            ip=str(ip),
        )
    return targets, skipped


def _named_port(spec: Mapping[str, Any], name: str) -> int | None:
    for container in spec.get("containers") or []:
        ports = container.get("ports") if isinstance(container, dict) else None
        for entry in ports if isinstance(ports, list) else []:
            if (
                isinstance(entry, dict)
                and entry.get("name") == name
                and isinstance(entry.get("containerPort"), int)
            ):
                return int(entry["containerPort"])
    return None


def changed_targets(
    old: Mapping[str, SpeakerTarget], new: Mapping[str, SpeakerTarget]
) -> tuple[list[str], list[SpeakerTarget]]:
    """(pods to let go, targets to start following): a pod whose IP, port or identity changed
    is let go and followed anew."""
    stop = sorted(name for name, t in old.items() if new.get(name) != t)
    start = [t for name, t in sorted(new.items()) if old.get(name) != t]
    return stop, start


# -- pure: one speaker's events on the console's clock -------------------------------------------


def rebase(event: Event, offset: float) -> Event:
    """The event with its time moved onto the console's clock."""
    return dataclasses.replace(event, t=event.t + offset) if offset else event


AnnouncementKey = tuple[str, str, str, tuple[str, ...]]


def _key(event: AnnouncementStarted) -> AnnouncementKey:
    return (event.node, event.ip, event.protocol, event.peers)


class AnnouncementLedger:
    """What one speaker announces, as far as its events said: to reconcile with its state after
    a gap in the stream, and to withdraw everything when its pod is gone."""

    def __init__(self) -> None:
        self.current: dict[AnnouncementKey, AnnouncementStarted] = {}

    def apply(self, event: Event) -> None:
        if isinstance(event, AnnouncementStarted):
            self.current[_key(event)] = event
        elif isinstance(event, AnnouncementStopped):
            for key in [
                k
                for k in self.current
                if k[:3] == (event.node, event.ip, event.protocol)
                and (not event.peers or k[3] == event.peers)
            ]:
                del self.current[key]

    def reconcile(self, in_force: Iterable[AnnouncementStarted], t: float) -> list[Event]:
        """The events that make the console's idea of this speaker equal ``in_force``.

        An announcement the stream never showed is started with its own time; its reason
        says it was found in force, so no failover is counted for something not seen."""
        wanted = {_key(a): a for a in in_force}
        out: list[Event] = []
        for key in sorted(self.current.keys() - wanted.keys()):
            node, ip, protocol, peers = key
            out.append(
                AnnouncementStopped(t, node, ip, protocol, "no longer in force", peers=peers)  # type: ignore[arg-type]
            )
        for key, started in sorted(wanted.items()):
            known = self.current.get(key)
            if known is not None and _same(known, started):
                continue
            out.append(dataclasses.replace(started, reason=f"in force: {started.reason}"))
        self.current = dict(wanted)
        return out

    def withdraw_all(self, t: float, reason: str) -> list[Event]:
        out: list[Event] = [
            AnnouncementStopped(t, node, ip, protocol, reason, peers=peers)  # type: ignore[arg-type]
            for node, ip, protocol, peers in sorted(self.current)
        ]
        self.current.clear()
        return out


def _same(a: AnnouncementStarted, b: AnnouncementStarted) -> bool:
    return (a.interface, a.services) == (b.interface, b.services)


@dataclass(frozen=True, slots=True)
class Position:
    """Where a follower is in one speaker's stream: the last event seen (its seq, and its time
    and name to recognise a speaker process that restarted and counts from 1 again)."""

    seq: int = 0
    t: float = 0.0
    name: str = ""


def position_of(record: Mapping[str, Any]) -> Position:
    """The position just after ``record`` (a bad field never stops the stream: it counts 0)."""
    return Position(
        int(_number(record.get("seq"))), _number(record.get("t")), str(record.get("event") or "")
    )


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def resume_from(body: Mapping[str, Any], seen: Position) -> int:
    """The seq after which the ``GET /state`` answer ``body`` holds news: ``seen.seq`` when it
    is the same speaker process, else 0 (everything it still holds is news)."""
    seq = int(_number(body.get("seq")))
    if seen.seq <= 0 or seen.seq > seq:
        return 0  # first contact, or a speaker that restarted with a lower count
    for record in body.get("events") or []:
        if isinstance(record, dict) and record.get("seq") == seen.seq:
            same = (
                record.get("event") == seen.name and abs(_number(record.get("t")) - seen.t) < 1e-3
            )
            return seen.seq if same else 0
    return seen.seq  # older than the history it keeps: assume the same process


def catch_up(
    body: Mapping[str, Any],
    seen: Position,
    offset: float,
    ledger: AnnouncementLedger,
    t: float,
    first_contact: int = FIRST_CONTACT_HISTORY,
) -> tuple[list[Event], Position]:
    """The events a ``GET /state`` answer adds to what the console saw of this speaker, on the
    console's clock, and the position to follow ``/events`` from.

    Replayed: the recent events after ``seen`` (a reconnect loses nothing the speaker still
    holds; on first contact only the last ``first_contact``, for context), then each
    membership view, then whatever announcements differ from the ledger."""
    since = resume_from(body, seen)
    events: list[Event] = []
    position = seen if since else Position()
    records = [
        r
        for r in body.get("events") or []
        if isinstance(r, dict) and isinstance(r.get("seq"), int) and r["seq"] > since
    ]
    if seen.seq <= 0 and len(records) > first_contact:
        records = records[-first_contact:] if first_contact > 0 else []
    for record in records:
        position = position_of(record)
        event = decode_event(record)
        if event is None:
            continue
        event = rebase(event, offset)
        ledger.apply(event)
        events.append(event)
    seq = int(_number(body.get("seq")))
    if position.seq < seq:  # the history was empty or all summarized: count from its head
        position = Position(seq)
    replayed = {e.observer: e for e in events if isinstance(e, MembershipUpdated)}
    views = body.get("membership") or []
    for record in views if isinstance(views, list) else [views]:
        view = decode_event(record) if isinstance(record, dict) else None
        if isinstance(view, MembershipUpdated):
            view = rebase(view, offset)
            if replayed.get(view.observer) != view:  # not just replayed from the history
                events.append(view)
    in_force = [
        rebase(a, offset)
        for a in (decode_event(r) for r in body.get("announcements") or [] if isinstance(r, dict))
        if isinstance(a, AnnouncementStarted)
    ]
    events += ledger.reconcile(in_force, t)  # type: ignore[arg-type]
    return events, position


def backoff_delay(failures: int, initial: float, maximum: float, rng: random.Random) -> float:
    """Doubling from ``initial`` to ``maximum``, ±10% jitter (speakers do not all come back in
    the same instant)."""
    base = min(maximum, initial * 2 ** max(0, failures - 1))
    return base * (0.9 + 0.2 * rng.random())


def streams_summary(states: Mapping[str, tuple[str, str]], skipped: Mapping[str, str]) -> str:
    """The info bar's line: how many speakers are followed, and what is wrong with the rest.

    ``states``: pod -> (state, detail)."""
    following = sum(1 for state, _ in states.values() if state == "following")
    total = len(states) + len(skipped)
    if not total:
        return "speakers: no speaker pods found"
    text = f"speakers: {following}/{total} streaming"
    problems = [
        f"{pod} {state}: {detail}" if detail else f"{pod} {state}"
        for pod, (state, detail) in sorted(states.items())
        if state != "following"
    ]
    problems += [f"{pod}: {why}" for pod, why in sorted(skipped.items())]
    return text + (" · " + "; ".join(problems) if problems else "")


# -- pure: MetalLB's core/v1 Events about Services -----------------------------------------------

METALLB_COMPONENTS = frozenset({"metallb-controller", "metallb-speaker"})
FIRST_EVENTS = 200  # of the events the API still holds when the console starts, the newest


EventKey = tuple[str, int, str]


def service_events(
    objects: Iterable[Mapping[str, Any]],
    seen: set[EventKey],
    now: float,
    wall: float,
    *,
    components: frozenset[str] = METALLB_COMPONENTS,
    limit: int | None = None,
) -> list[ServiceEventObserved]:
    """The Events about Services from MetalLB's components not seen yet (``seen`` is updated,
    and keeps only what ``objects`` still hold), oldest first, on the console's clock (``now``
    is its time at wall-clock ``wall``).

    An Event repeated (its count grows) is news again. ``limit`` keeps only the newest."""
    fresh: list[tuple[float, ServiceEventObserved]] = []
    present: set[EventKey] = set()
    for obj in objects:
        involved = obj.get("involvedObject")
        source = obj.get("source")
        if not isinstance(involved, dict) or not isinstance(source, dict):
            continue
        component = str(obj.get("reportingComponent") or source.get("component") or "")
        if involved.get("kind") != "Service" or component not in components:
            continue
        meta = obj.get("metadata") or {}
        count = int(_number(obj.get("count")) or 1)
        key = (str(meta.get("uid") or meta.get("name") or ""), count, str(obj.get("lastTimestamp")))
        present.add(key)
        if key in seen:
            continue
        seen.add(key)
        stamp = _epoch(obj.get("lastTimestamp") or obj.get("eventTime") or "") or wall
        fresh.append(
            (
                stamp,
                ServiceEventObserved(
                    now - max(0.0, wall - stamp),
                    f"{involved.get('namespace', '')}/{involved.get('name', '')}",
                    str(obj.get("reason") or ""),
                    str(obj.get("message") or ""),
                    str(obj.get("type") or "Normal"),
                    component,
                    str(source.get("host") or obj.get("reportingInstance") or ""),
                    count,
                ),
            )
        )
    seen.intersection_update(present)  # what the API expired is forgotten
    fresh.sort(key=lambda pair: pair[0])
    if limit is not None:
        fresh = fresh[-limit:] if limit else []
    return [event for _, event in fresh]


def _epoch(stamp: Any) -> float | None:
    """Seconds since the epoch of an RFC 3339 time (None if it is not one)."""
    from datetime import datetime

    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


# -- I/O: the pod proxy ---------------------------------------------------------------------------


class SpeakerUnreachable(Exception):
    """The pod proxy answered with an error (pod gone, endpoint down, refused token...)."""


class ProxyClient:
    """GET requests to a pod's port through the API server (``pods/NAME:PORT/proxy/PATH``),
    with the official client's configuration: its host, TLS and credentials."""

    def __init__(self, api_client: Any, namespace: str, token: str = "") -> None:
        self.api_client = _streaming_client(api_client)
        self.namespace = namespace
        self.token = token

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.api_client.close()

    def open(
        self,
        target: SpeakerTarget,
        path: str,
        query: list[tuple[str, str]] | None = None,
        read_timeout: float = READ_TIMEOUT,
    ) -> Any:
        """The urllib3 response, unread (stream it, or ``.data``); SpeakerUnreachable if the
        answer is not 2xx."""
        resource = (
            f"/api/v1/namespaces/{quote(self.namespace, safe='')}/pods/"
            f"{quote(target.pod, safe='')}:{target.port}/proxy/{path}"
        )
        headers = {"Accept": "application/json, application/x-ndjson"}
        if self.token:
            headers[TOKEN_HEADER] = self.token  # Authorization is the API server's own
        request = self.api_client.param_serialize(
            "GET",
            resource,
            query_params=query or [],
            header_params=headers,
            auth_settings=["BearerToken"],
        )
        response = self.api_client.call_api(
            *request, _request_timeout=(CONNECT_TIMEOUT, read_timeout)
        )
        raw = response.response
        if not 200 <= response.status < 300:
            body = raw.data or b""
            raw.release_conn()
            raise SpeakerUnreachable(f"HTTP {response.status}: {_message(body)}")
        return raw

    def get_json(self, target: SpeakerTarget, path: str) -> dict[str, Any]:
        raw = self.open(target, path, read_timeout=CONNECT_TIMEOUT * 2)
        try:
            body = json.loads(raw.data)
        finally:
            raw.release_conn()
        if not isinstance(body, dict):
            raise ValueError(f"{path}: not a JSON object")
        return body


def _streaming_client(api_client: Any) -> Any:
    """A client of its own, same host and credentials: one long-lived connection per speaker
    must not crowd the console's watches out of their connection pool."""
    from kubernetes import client

    configuration = copy.deepcopy(api_client.configuration)
    configuration.connection_pool_maxsize = max(
        STREAM_POOL, int(getattr(configuration, "connection_pool_maxsize", 0) or 0)
    )
    return client.ApiClient(configuration)


def _message(body: bytes) -> str:
    """The message of a kube ``Status`` or of the status endpoint's ``{"error": ...}``."""
    with contextlib.suppress(ValueError, TypeError):
        parsed = json.loads(body)
        if isinstance(parsed, dict):
            return str(parsed.get("message") or parsed.get("error") or parsed)[:200]
    return body[:200].decode(errors="replace")


# -- I/O: following one speaker --------------------------------------------------------------------

Sink = Callable[[list[Event]], None]


class SpeakerFollower:
    """One thread following one speaker pod's events until told to stop."""

    def __init__(
        self,
        target: SpeakerTarget,
        proxy: ProxyClient,
        clock: Clock,
        sink: Sink,
        on_state: Callable[[SpeakerTarget, str, str], None],
        *,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
        rng: random.Random | None = None,
        predecessor: SpeakerFollower | None = None,
    ) -> None:
        self.target = target
        # The follower of this pod's previous incarnation: it withdraws first (same order).
        self.predecessor = predecessor
        self.proxy = proxy
        self.clock = clock
        self.sink = sink
        self.on_state = on_state
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.rng = rng or random.Random()
        self.ledger = AnnouncementLedger()
        self.position = Position()
        self.failures = 0
        self.state = ""  # following | lost | gone, as last reported
        self.gone_reason = ""
        self._stopped = threading.Event()
        self._response: Any = None
        self._thread = threading.Thread(
            target=self._run, name=f"lbtui-speaker-{target.pod}", daemon=True
        )

    def start(self) -> SpeakerFollower:
        self._thread.start()
        return self

    def stop(self, gone_reason: str = "") -> None:
        """Stop following; with ``gone_reason`` the speaker is gone and what it announced is
        withdrawn from the console."""
        self.gone_reason = gone_reason
        self._stopped.set()
        response = self._response
        if response is not None:
            with contextlib.suppress(Exception):
                response.shutdown()  # unblocks the reading thread at once

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        if self.predecessor is not None:
            self.predecessor.join(5.0)
            self.predecessor = None
        try:
            while not self._stopped.is_set():
                try:
                    self._follow_once()
                    detail = "the stream ended"
                except Exception as exc:  # whatever breaks, the console stays up
                    detail = _short(exc)
                if self._stopped.is_set():
                    break
                self.failures += 1
                if self.state != "lost":  # one event per loss; the info bar has the latest
                    self._report("lost", detail)
                else:
                    self.on_state(self.target, "lost", detail)
                delay = backoff_delay(
                    self.failures, self.backoff_initial, self.backoff_max, self.rng
                )
                log.info("speaker %s: %s; again in %.1fs", self.target.pod, detail, delay)
                self._stopped.wait(delay)
        finally:
            if self.gone_reason:
                t = self.clock.now()
                self.sink(self.ledger.withdraw_all(t, self.gone_reason))
                self._report("gone", self.gone_reason)

    def _report(self, state: str, detail: str) -> None:
        self.state = state
        target = self.target
        self.sink([SpeakerStreamChanged(self.clock.now(), target.node, target.pod, state, detail)])  # type: ignore[arg-type]
        self.on_state(target, state, detail)

    def _follow_once(self) -> None:
        body = self.proxy.get_json(self.target, "state")
        offset = self.clock.now() - _number(body.get("now"))
        events, self.position = catch_up(body, self.position, offset, self.ledger, self.clock.now())
        if self._stopped.is_set():
            return
        response = self.proxy.open(self.target, "events", [("since", str(self.position.seq))])
        self._response = response
        try:
            if events:
                self.sink(events)
            self.failures = 0
            self._report("following", "")
            self._read(response, offset)
        finally:
            self._response = None
            with contextlib.suppress(Exception):
                response.close()

    def _read(self, response: Any, offset: float) -> None:
        for line in response:
            if self._stopped.is_set():
                return
            record = _json_line(line)
            if record is None:
                continue  # the heartbeat
            seq = record.get("seq")
            if not isinstance(seq, int) or seq <= self.position.seq:
                continue
            self.position = position_of(record)
            event = decode_event(record)
            if event is None:
                continue  # summarized state (the console has the API's) or unknown
            event = rebase(event, offset)
            self.ledger.apply(event)
            self.sink([event])


def _json_line(line: bytes) -> dict[str, Any] | None:
    line = line.strip()
    if not line:
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) and "event" in record else None


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    name = type(exc).__name__
    return (first if isinstance(exc, SpeakerUnreachable) else f"{name}: {first}")[:200]


# -- I/O: the speaker pods, watched --------------------------------------------------------------


class _SelectedLister:
    """The Reflector's list/watch calls for one list call of the client (for example the pods
    of one namespace, or Events in every namespace) narrowed by label or field selectors."""

    def __init__(self, api: Any, list_call: Callable[..., Any], *args: Any, **selectors: str):
        self.api = api
        self.list_call = list_call
        self.args = args
        self.selectors = selectors

    def list(self, resource: Any, namespace: str) -> tuple[list[dict[str, Any]], str]:
        response = self.list_call(
            *self.args,
            **self.selectors,
            _preload_content=False,
            _request_timeout=self.api.request_timeout,
        )
        body = json.loads(response.data)
        return list(body.get("items") or []), str(body["metadata"].get("resourceVersion", ""))

    def watch(
        self, resource: Any, namespace: str, resource_version: str, timeout: int
    ) -> tuple[Any, Any]:
        from kubernetes import watch

        watcher = watch.Watch(return_type="object")
        stream = watcher.stream(
            self.list_call,
            *self.args,
            **self.selectors,
            resource_version=resource_version,
            timeout_seconds=timeout,
            allow_watch_bookmarks=True,
            _request_timeout=(self.api.request_timeout, timeout + self.api.request_timeout),
        )
        return stream, watcher


class SpeakerStreams:
    """Watches the speaker pods and keeps one follower per followable pod; posts the merged
    events to the app in batches, and the followers' health to its info bar."""

    def __init__(
        self,
        api: Any,
        namespace: str,
        clock: Clock,
        scheduler: Scheduler,
        *,
        labels: str = SPEAKER_LABELS,
        port_name: str = STATUS_PORT_NAME,
        port: int | None = None,
        token: str = "",
        watch_timeout: int = 300,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
        min_interval: float = MIN_INTERVAL,
    ) -> None:
        from actors.kube.source import ObjectCache, Reflector, Resource

        self.namespace = namespace
        self.clock = clock
        self.labels = labels
        self.port_name = port_name
        self.port = port
        self.proxy = ProxyClient(api.api_client, namespace, token)
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.min_interval = min_interval
        self.resource = Resource("pods", "Pod", "", "v1", "config", frozenset())
        self.cache = ObjectCache(self.resource)
        self.reflector = Reflector(
            self.resource,
            self.cache,
            _SelectedLister(  # type: ignore[arg-type]
                api, api.core.list_namespaced_pod, namespace, label_selector=labels
            ),
            namespace,
            scheduler,
            self._pods_changed,
            self._pods_health,
            watch_timeout=watch_timeout,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
        )
        self.followers: dict[str, SpeakerFollower] = {}
        self.targets: dict[str, SpeakerTarget] = {}
        self.skipped: dict[str, str] = {}
        self.states: dict[str, tuple[str, str]] = {}
        self.pods_error = ""
        self._lock = threading.Lock()
        self._app: Poster | None = None
        self._queue: queue.Queue[list[Event] | Message | None] = queue.Queue()
        self._poster = threading.Thread(target=self._post_loop, name="lbtui-speakers", daemon=True)
        self._stopped = False
        self._last_summary: tuple[str, bool] | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, app: Poster) -> SpeakerStreams:
        self._app = app
        self._poster.start()
        self.reflector.start()
        return self

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            followers = list(self.followers.values())
            self.followers.clear()
        self.reflector.stop()
        for follower in followers:
            follower.stop()
        deadline = time.monotonic() + 2.0  # in all: quitting never waits long on a stuck call
        for follower in followers:
            follower.join(max(0.0, deadline - time.monotonic()))
        self.reflector.join(2.0)
        self._queue.put(None)
        self._poster.join(2.0)
        self.proxy.close()

    def sink(self, events: list[Event]) -> None:
        """Hand events to the app with the speakers' (one ordered stream of batches)."""
        self._queue.put(list(events))

    # -- pods ----------------------------------------------------------------------------------
    def _pods_changed(self, _resource: Any) -> None:
        targets, skipped = speaker_targets(
            self.cache.snapshot(), port_name=self.port_name, port=self.port
        )
        with self._lock:
            if self._stopped:
                return
            stop, start = changed_targets(self.targets, targets)
            self.targets, self.skipped = targets, skipped
            stopped: dict[str, SpeakerFollower] = {}
            for pod in stop:
                follower = self.followers.pop(pod, None)
                if follower is not None:
                    reason = (
                        "speaker pod deleted"
                        if pod not in targets and pod not in skipped
                        else f"speaker pod changed ({skipped.get(pod, 'restarted')})"
                    )
                    follower.stop(gone_reason=reason)
                    stopped[pod] = follower
                self.states.pop(pod, None)
            for target in start:
                self.followers[target.pod] = SpeakerFollower(
                    target,
                    self.proxy,
                    self.clock,
                    self._queue.put,
                    self._follower_state,
                    backoff_initial=self.backoff_initial,
                    backoff_max=self.backoff_max,
                    predecessor=stopped.get(target.pod),
                ).start()
                self.states[target.pod] = ("connecting", "")
        self._post_summary()

    def _pods_health(self, _resource: Any, error: str | None) -> None:
        self.pods_error = error or ""
        self._post_summary()

    def _follower_state(self, target: SpeakerTarget, state: str, detail: str) -> None:
        with self._lock:
            follower = self.followers.get(target.pod)
            current = follower is not None and follower.target == target
            if state == "gone":
                if follower is None:  # (not when a successor follows the pod already)
                    self.states.pop(target.pod, None)
            elif current:
                self.states[target.pod] = (state, detail)
            else:
                return  # a follower already let go
        self._post_summary()

    def _post_summary(self) -> None:
        with self._lock:
            text = streams_summary(self.states, self.skipped)
            ok = all(s != "lost" for s, _ in self.states.values()) and not self.skipped
            if self.pods_error:  # the pod watch fails (the followers may still stream)
                text, ok = f"{text} · watching speaker pods: {self.pods_error}", False
            if (text, ok) == self._last_summary:
                return
            self._last_summary = (text, ok)
        self._queue.put(PortStatus(text, ok=ok))

    # -- events to the app -----------------------------------------------------------------------
    def _post_loop(self) -> None:
        """Events in batches (at most one per ``min_interval``), and the info bar's line in
        its place among them: the UI never hears of a stream before its events."""
        last_post = 0.0
        while True:
            items = [self._queue.get()]
            pause = last_post + self.min_interval - time.monotonic()
            if pause > 0:
                time.sleep(pause)  # what arrives meanwhile joins this batch
            while True:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            batch: list[Event] = []
            for item in items:
                if isinstance(item, list):
                    batch += item
                    continue
                self._post_batch(batch)
                batch = []
                if item is None:
                    return
                self._post(item)
            self._post_batch(batch)
            last_post = time.monotonic()

    def _post_batch(self, batch: list[Event]) -> None:
        if batch:
            self._post(ActorEvent(tuple(batch)))

    def _post(self, message: Message) -> None:
        if self._app is not None:
            self._app.post_message(message)


class ServiceEvents:
    """Watches MetalLB's Events about Services (IPAllocated, AllocationFailed, nodeAssigned...)
    and hands the new ones to ``sink``: the controller's side of the story, which no speaker
    stream tells."""

    def __init__(
        self,
        api: Any,
        clock: Clock,
        scheduler: Scheduler,
        sink: Sink,
        *,
        watch_timeout: int = 300,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
        first: int = FIRST_EVENTS,
    ) -> None:
        from actors.kube.source import ObjectCache, Reflector, Resource

        self.clock = clock
        self.sink = sink
        self.first = first
        self.seen: set[EventKey] = set()
        self.synced = False
        self.error = ""
        resource = Resource("events", "Event", "", "v1", "all", frozenset())
        self.cache = ObjectCache(resource)
        self.reflector = Reflector(
            resource,
            self.cache,
            _SelectedLister(  # type: ignore[arg-type]
                api,
                api.core.list_event_for_all_namespaces,
                field_selector="involvedObject.kind=Service",
            ),
            "",
            scheduler,
            self._changed,
            self._health,
            watch_timeout=watch_timeout,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
        )

    def start(self) -> ServiceEvents:
        self.reflector.start()
        return self

    def stop(self) -> None:
        self.reflector.stop()
        self.reflector.join(2.0)

    def _changed(self, _resource: Any) -> None:
        limit = None if self.synced else self.first  # at start: only the newest
        self.synced = True
        fresh = service_events(
            self.cache.snapshot(), self.seen, self.clock.now(), time.time(), limit=limit
        )
        if fresh:
            self.sink(list(fresh))

    def _health(self, _resource: Any, error: str | None) -> None:
        if error and error != self.error:
            log.warning("watching Service events: %s", error)
        self.error = error or ""


class KubePort(LocalPort):
    """The console on a cluster: the console runtime's view of the API (a LocalPort), and the
    speakers' event streams through the pod proxy (:class:`SpeakerStreams`)."""

    def __init__(
        self,
        runtime: Any,
        api: Any,
        *,
        namespace: str,
        speaker_labels: str = SPEAKER_LABELS,
        status_port_name: str = STATUS_PORT_NAME,
        status_port: int | None = None,
        token: str = "",
        follow_speakers: bool = True,
        watch_service_events: bool = True,
        streams_options: Mapping[str, Any] | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(runtime, **kw)
        self.api = api
        self.namespace = namespace
        self.follow_speakers = follow_speakers
        self.watch_service_events = watch_service_events
        self.service_events: ServiceEvents | None = None
        self._streams_args = {
            "labels": speaker_labels,
            "port_name": status_port_name,
            "port": status_port,
            "token": token,
            **(streams_options or {}),
        }
        self.streams: SpeakerStreams | None = None

    def start(self, app: Poster) -> None:
        super().start(app)
        if self.follow_speakers:
            self.streams = SpeakerStreams(
                self.api,
                self.namespace,
                self.runtime.clock,
                self.runtime.scheduler,
                **self._streams_args,
            ).start(app)
        if self.watch_service_events:
            sink = self.streams.sink if self.streams else _direct(app)
            options = {
                k: v
                for k, v in self._streams_args.items()
                if k in ("watch_timeout", "backoff_initial", "backoff_max")
            }
            self.service_events = ServiceEvents(
                self.api, self.runtime.clock, self.runtime.scheduler, sink, **options
            ).start()

    def stop(self) -> None:
        events, self.service_events = self.service_events, None
        if events is not None:
            events.stop()
        streams, self.streams = self.streams, None
        if streams is not None:
            streams.stop()
        super().stop()


def _direct(app: Poster) -> Sink:
    def sink(events: list[Event]) -> None:
        app.post_message(ActorEvent(tuple(events)))

    return sink


__all__ = [
    "AnnouncementLedger",
    "KubePort",
    "Position",
    "ProxyClient",
    "ServiceEvents",
    "SpeakerFollower",
    "SpeakerStreams",
    "SpeakerTarget",
    "backoff_delay",
    "catch_up",
    "changed_targets",
    "rebase",
    "resume_from",
    "service_events",
    "speaker_targets",
    "streams_summary",
]
