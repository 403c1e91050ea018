"""The read-only status endpoint of a headless runtime (``--status-addr HOST:PORT``).

``GET /state``   one JSON object: the configuration in force (as MetalLB documents, passwords
                 left out), the cluster objects, allocations, pool usage, membership, every
                 announcement in force and the recent events; ``seq`` is the last event in it.
``GET /events``  the live event stream as JSON lines (the ``lbtui demo --headless`` form plus
                 ``seq``); ``?since=SEQ`` resumes after an event still in the recent history;
                 a ``since`` beyond the newest event (the runtime restarted) is a 410 at once:
                 fetch ``/state`` again. A blank line is sent every few seconds so a dead
                 client is noticed. At most ``MAX_STREAMS`` streams run at once; one more is
                 a 503.
``GET /history`` who announced which address when and why (observability/history.py), oldest first;
                 ``?ip=&node=&protocol=&action=&since=SEQ&limit=N`` narrow it down.

A bad query value (not a whole number of at most nine digits) is a 400 with a short message.
Anything else is 404, any other method 405: nothing can be changed through this endpoint.
With a token (``--status-token-file``), every request needs ``Authorization: Bearer <token>``
(or ``X-Lbtui-Status-Token: <token>``: through the API server's pod proxy, which keeps the
Authorization header for itself).

The StatusActor is a Listener like the event log; what it learns goes into a
:class:`StatusBoard` behind a lock, which the HTTP threads (observability/httpd.py's
EndpointServer: a bounded number of connections and of handler threads) read. A slow
client therefore never slows the actor down beyond the lock, and nothing an HTTP client
sends can reach an actor.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
from collections import deque
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec

from actors.base import RuntimeActor
from actors.clock import Clock, RealClock
from actors.config.dump import config_documents
from actors.events import (
    AllocationsUpdated,
    AnnouncementStarted,
    AnnouncementStopped,
    ClusterUpdated,
    ConfigApplied,
    ConfigRejected,
    Event,
    MembershipUpdated,
    RuntimeReady,
)
from actors.listener import Listener
from actors.model.cluster import ClusterState
from actors.model.config import Config
from actors.observability.history import RECORDED, AnnouncementHistory
from actors.observability.httpd import EndpointServer, QuietHandler

log = logging.getLogger(__name__)

HISTORY = 500
HEARTBEAT = 5.0
TOKEN_HEADER = "X-Lbtui-Status-Token"  # the token where Authorization cannot carry it
MAX_STREAMS = 16  # /events streams at once (each holds a connection and its thread)
_NUMBER = re.compile(r"[0-9]{1,9}")


def query_number(query: Mapping[str, list[str]], name: str, default: int | None) -> int | None:
    """The whole number ``name`` of a parsed query string, ``default`` when absent; anything
    else raises ValueError with a short message (never the value itself, which may be huge)."""
    values = query.get(name) or [""]
    value = values[0]
    if not value:
        return default
    if not _NUMBER.fullmatch(value):
        raise ValueError(f"{name}: expected a whole number of at most 9 digits")
    return int(value)


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` or ``[v6]:PORT`` (raises ValueError with a clear message)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"status address {text!r}: expected HOST:PORT")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


def cluster_json(cluster: ClusterState) -> dict[str, Any]:
    def dump(obj: Any) -> dict[str, Any]:
        return obj.model_dump(mode="json", by_alias=True, exclude_defaults=True)

    return {
        "services": [dump(s) for s in cluster.services.values()],
        "endpointSlices": [dump(s) for s in cluster.endpoint_slices],
        "nodes": [dump(n) for n in cluster.nodes.values()],
        "namespaces": [dump(n) for n in cluster.namespaces.values()],
    }


# -- what the endpoint knows --------------------------------------------------------------------


class StatusBoard(msgspec.Struct, dict=True):  # __post_init__ adds a lock and a deque
    """What the StatusActor has learnt, shared with the HTTP threads under one lock."""

    clock: Clock = msgspec.field(default_factory=RealClock)
    history: int = HISTORY
    role: str = ""
    config: Config | None = None
    config_source: str = ""
    config_errors: tuple[str, ...] = ()
    cluster: ClusterState | None = None
    allocations: AllocationsUpdated | None = None
    # observer -> its last view (with gossip every node publishes its own)
    memberships: dict[str, MembershipUpdated] = msgspec.field(default_factory=dict)
    announcements: dict[tuple[str, str, str, tuple[str, ...]], AnnouncementStarted] = msgspec.field(
        default_factory=dict
    )
    seq: int = 0
    closed: bool = False
    announcement_history: AnnouncementHistory = msgspec.field(default_factory=AnnouncementHistory)

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._events: deque[tuple[int, dict[str, Any]]] = deque(maxlen=self.history)

    def learn(self, event: Event) -> None:
        record = event.to_json()
        with self._cond:
            self.seq += 1
            record["seq"] = self.seq
            self._events.append((self.seq, record))
            self._apply(event)
            self._cond.notify_all()

    def _apply(self, event: Event) -> None:
        if isinstance(event, RECORDED):
            wall = self.clock.wall() - (self.clock.now() - event.t)
            self.announcement_history.record(event, wall)
        if isinstance(event, ConfigApplied):
            self.config, self.config_source, self.config_errors = event.config, event.source, ()
        elif isinstance(event, ConfigRejected) and not event.proposal:
            self.config_errors = event.errors
        elif isinstance(event, ClusterUpdated):
            self.cluster = event.cluster
        elif isinstance(event, AllocationsUpdated):
            self.allocations = event
        elif isinstance(event, MembershipUpdated):
            self.memberships[event.observer] = event
        elif isinstance(event, RuntimeReady):
            self.role = event.role
        elif isinstance(event, AnnouncementStarted):
            self.announcements[(event.node, event.ip, event.protocol, event.peers)] = event
        elif isinstance(event, AnnouncementStopped):
            for key in [
                k
                for k in self.announcements
                if k[:3] == (event.node, event.ip, event.protocol)
                and (not event.peers or k[3] == event.peers)
            ]:
                del self.announcements[key]

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def state_json(self) -> dict[str, Any]:
        with self._cond:
            config, cluster, allocations = self.config, self.cluster, self.allocations
            memberships = list(self.memberships.values())
            announcements = list(self.announcements.values())
            events = [record for _, record in self._events]
            head = {
                "role": self.role,
                "now": self.clock.now(),
                "wall": self.clock.wall(),
                "seq": self.seq,
                "configSource": self.config_source,
                "configErrors": list(self.config_errors),
            }
        # The heavy part happens outside the lock: the snapshots are immutable.
        head["config"] = config_documents(config) if config is not None else None
        head["cluster"] = cluster_json(cluster) if cluster is not None else None
        if allocations is not None:
            head["allocations"] = {
                key: {
                    "ips": [str(ip) for ip in a.ips],
                    "pool": a.pool,
                    "error": a.error,
                    "cleared": a.cleared,
                }
                for key, a in allocations.allocations.items()
            }
            head["usage"] = {
                name: {
                    "total": u.total,
                    "inUse": u.in_use,
                    "totalV4": u.total_v4,
                    "totalV6": u.total_v6,
                    "inUseV4": u.in_use_v4,
                    "inUseV6": u.in_use_v6,
                }
                for name, u in allocations.usage.items()
            }
        else:
            head["allocations"] = head["usage"] = None
        head["membership"] = [m.to_json() for m in memberships]
        head["announcements"] = [a.to_json() for a in announcements]
        head["events"] = events
        return head

    def history_json(self, query: Mapping[str, list[str]]) -> dict[str, Any]:
        """``GET /history``: the entries matching the query (ValueError for a bad number)."""

        def text(name: str) -> str | None:
            return query.get(name, [None])[0] or None

        since = query_number(query, "since", 0) or 0
        limit = query_number(query, "limit", None)
        with self._cond:
            history = self.announcement_history
            entries = history.query(
                ip=text("ip"),
                node=text("node"),
                protocol=text("protocol"),
                action=text("action"),
                since=since,
                limit=limit,
            )
            return {
                "entries": [e.to_json() for e in entries],
                "recorded": history.recorded,
                "dropped": history.dropped,
            }

    def events_after(self, seq: int, timeout: float) -> tuple[list[dict[str, Any]], bool]:
        """Events newer than ``seq`` (waiting up to ``timeout`` for one); and whether closed."""
        with self._cond:
            self._cond.wait_for(lambda: self.closed or self.seq > seq, timeout)
            return [r for s, r in self._events if s > seq], self.closed

    def last_seq(self) -> int:
        with self._cond:
            return self.seq


# -- HTTP ---------------------------------------------------------------------------------------


class _Handler(QuietHandler):
    server: _StatusServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("status endpoint: %s %s", self.address_string(), format % args)

    def _authorized(self) -> bool:
        token = self.server.token
        if not token:
            return True
        given = self.headers.get("Authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return True
        # Through the API server's pod proxy the Authorization header is the API's own (and
        # removed before forwarding): the token then travels in a header of its own.
        other = self.headers.get(TOKEN_HEADER, "")
        return hmac.compare_digest(other.encode(), token.encode())

    def _send_json(self, status: int, body: Any) -> None:
        challenge = {"WWW-Authenticate": 'Bearer realm="lbtui"'}
        self.reply_json(status, body, challenge if status == HTTPStatus.UNAUTHORIZED else None)

    def do_GET(self) -> None:
        if not self._authorized():
            self._send_json(HTTPStatus.UNAUTHORIZED, {"error": "a valid bearer token is required"})
            return
        url = urlsplit(self.path)
        if url.path == "/state":
            self._send_json(HTTPStatus.OK, self.server.board.state_json())
        elif url.path == "/events":
            self._stream(parse_qs(url.query))
        elif url.path == "/history":
            try:
                body = self.server.board.history_json(parse_qs(url.query))
            except ValueError as exc:
                self._send_json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
                return
            self._send_json(HTTPStatus.OK, body)
        else:
            self._send_json(
                HTTPStatus.NOT_FOUND, {"error": "GET /state, GET /events or GET /history"}
            )

    def _refuse(self) -> None:
        self._send_json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "read-only endpoint"})

    do_POST = do_PUT = do_PATCH = do_DELETE = _refuse

    def _stream(self, query: dict[str, list[str]]) -> None:
        board = self.server.board
        try:
            since = query_number(query, "since", None)
        except ValueError as exc:
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        newest = board.last_seq()
        if since is not None and since > newest:
            message = f"since {since} is beyond the newest event {newest}: fetch /state again"
            self._send_json(HTTPStatus.GONE, {"error": message, "seq": newest})
            return
        if not self.server.streams.acquire(blocking=False):
            self.close_connection = True
            self._send_json(
                HTTPStatus.SERVICE_UNAVAILABLE,
                {"error": f"too many event streams (at most {self.server.max_streams})"},
            )
            return
        try:
            self._follow(board, newest if since is None else since)
        finally:
            self.server.streams.release()

    def _follow(self, board: StatusBoard, seq: int) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            while True:
                records, closed = board.events_after(seq, HEARTBEAT)
                if closed:
                    return
                if not records:
                    self.wfile.write(b"\n")  # heartbeat: fails fast if the client is gone
                for record in records:
                    seq = record["seq"]
                    self.wfile.write(json.dumps(record, separators=(",", ":")).encode() + b"\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            return


class _StatusServer(EndpointServer):
    def __init__(
        self,
        address: tuple[str, int],
        board: StatusBoard,
        token: str,
        *,
        max_streams: int = MAX_STREAMS,
        **limits: Any,
    ) -> None:
        super().__init__(address, _Handler, label="status", **limits)
        self.board = board
        self.token = token
        self.max_streams = max_streams
        self.streams = threading.BoundedSemaphore(max_streams)


class StatusActor(Listener, RuntimeActor):
    """Serves the runtime's state and events read-only over HTTP (see the module docstring)."""

    actor_name = "status"

    def __init__(
        self,
        address: tuple[str, int],
        *,
        token: str = "",
        history: int = HISTORY,
        limits: Mapping[str, Any] | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.address = address
        self.token = token
        self.limits = dict(limits or {})  # EndpointServer's and max_streams (tests set them)
        self.board = StatusBoard(clock=self.clock, history=history)
        self._server: _StatusServer | None = None

    def on_start(self) -> None:
        # A port already in use fails the start, and with it the runtime's start: loudly.
        self._server = _StatusServer(self.address, self.board, self.token, **self.limits)
        self._server.serve_in_thread("lbtui-status")
        host, port = self.bound()
        log.info("status endpoint on http://%s:%d (GET /state, /events, /history)", host, port)

    def on_stop(self) -> None:
        self.board.close()
        if self._server is not None:
            self._server.close()

    def bound(self) -> tuple[str, int]:
        """The address actually listened on (port 0 picks a free one)."""
        assert self._server is not None
        return self._server.bound()

    def on_event(self, event: Event) -> None:
        self.board.learn(event)
