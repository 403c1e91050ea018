"""What lbtui's small HTTP endpoints share: one server class and one handler base.

:class:`EndpointServer` is the server of every endpoint: health and metrics, the HTTPS
metrics, the status endpoint and the kube webhook server. One loop (a selector, on the
server's own thread) accepts connections and reads their requests; a connection costs a thread
only while its complete request is being handled. Every resource a client can take is bounded:

- **connections**: at most ``max_connections`` open at once. When all are taken, one still
  waiting for its request is closed to make room: the oldest of the source (peer address)
  holding the most connections, so thousands of half-sent requests from one attacker make room
  from their own and a real client from elsewhere is served (http_intake.py: choose_victim).
  If every connection is busy with a request, the new one is closed at once.
- **threads**: at most ``max_handlers`` requests are handled at once; complete requests beyond
  that wait their turn in order. A kept-alive connection between requests goes back to the
  loop and holds no thread.
- **time to send a request**: from the moment the server waits for a request (on accept, and
  on a kept-alive connection from the first byte of the next one) the client has
  ``header_timeout`` seconds to send its request line, headers and body (and, with TLS, finish
  its handshake first); then the connection is closed, however slowly it was dripping bytes.
  Once the request is handed to a handler, each send or receive has the handler's ``timeout``
  (30 s).
- **idle kept-alive connections**: closed after ``idle_timeout`` (120 s) without a byte, longer
  than Go's clients keep an idle connection (90 s: the API server calling a webhook). Closing
  first is a race with a client that picks the connection for its next request that very
  moment: its POST meets a reset, which Go does not retry (a webhook call failed so in CI when
  this was the 5 s request deadline). Idle connections are still bounded: they count in
  ``max_connections`` and are the first a crowded source loses.
- **request size**: a head beyond 64 KiB is a 431; a ``Content-Length`` beyond ``max_body`` is
  a 413 and the connection closes.

The loop accepts as fast as connections come, into a listen backlog of 4096 (Linux's usual
cap) that an attacker's 2,000 connections cannot fill, so a real client's SYN is never dropped
from a full accept queue (issue 18: the thread-per-connection server answered 1.7 to 5.8 s
late under 2,000 half-sent requests, its accept loop waiting for each evicted connection's
thread, the kernel dropping SYNs meanwhile, each resent only 1 s later).

The address is reusable at once after a restart; IPv4 or IPv6 follows the address given. With
``tls_context`` it speaks TLS: the context is asked for anew for every connection, so a
renewed certificate is served without a restart, and the handshake happens in the loop. It is
quiet about clients that go away (a debug line); a handler that fails otherwise is logged as an
error. An endpoint subclasses it only to add what its handler reads (``self.server.board``...).

:class:`QuietHandler` answers with a length, and keeps no access log on stderr (probes come
every few seconds, and an access line per request says nothing an operator needs).

Imports nothing of ours beyond this package's http_intake, so the kube adapter can use it
without the rest of observability.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import queue
import selectors
import socket
import ssl
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any

from actors.observability.http_intake import (
    MAX_HEAD,
    Intake,
    choose_victim,
    head_end,
    peer_source,
    request_size,
    shut,
)

log = logging.getLogger(__name__)

#: A server-side TLS context for the connection about to be accepted.
TlsContext = Callable[[], ssl.SSLContext]


def server_tls_context() -> ssl.SSLContext:
    """An empty server-side context as every lbtui endpoint sets it up: TLS 1.2 or later,
    HTTP/1.1 by ALPN (no HTTP/2). Load a certificate into it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    return context


MAX_CONNECTIONS = 64
MAX_HANDLERS = 24  # more than the status endpoint's 16 event streams
HEADER_TIMEOUT = 5.0
IDLE_TIMEOUT = 120.0  # > Go's http.Transport IdleConnTimeout (90 s): the client closes first
MAX_BODY = 64 * 1024
BACKLOG = 4096  # more than an attacker's 2,000 connections: the queue never fills
ACCEPTS_PER_ROUND = 256  # then the loop reads and reaps before accepting more

_LISTENER = object()
_WAKE = object()


class _Connection:
    """One accepted connection, as the loop sees it."""

    __slots__ = (
        "address",
        "buffer",
        "deadline",
        "handshaking",
        "idle",
        "since",
        "sock",
        "source",
    )

    def __init__(self, sock: Any, address: Any, *, now: float, handshaking: bool) -> None:
        self.sock = sock
        self.address = address
        self.source = peer_source(address)
        self.buffer = bytearray()
        self.since = now  # waiting for its request since
        self.deadline = now
        self.handshaking = handshaking
        self.idle = False  # kept alive, no byte of its next request yet


class EndpointServer:
    """The HTTP(S) server every endpoint runs (see the module docstring).

    ``label`` names it in the log ("<label> connection from ... failed"). Start it with
    :meth:`serve_in_thread`, end it with :meth:`close`. A port in use fails the constructor.
    """

    request_queue_size = BACKLOG

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        *,
        label: str,
        tls_context: TlsContext | None = None,
        max_connections: int = MAX_CONNECTIONS,
        max_handlers: int = MAX_HANDLERS,
        header_timeout: float = HEADER_TIMEOUT,
        idle_timeout: float = IDLE_TIMEOUT,
        max_body: int = MAX_BODY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.RequestHandlerClass = handler
        self.label = label
        self.tls_context = tls_context
        self.max_connections = max_connections
        self.max_handlers = max_handlers
        self.header_timeout = header_timeout
        self.idle_timeout = idle_timeout
        self.max_body = max_body
        self._clock = clock
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind(address)
            self.socket.listen(self.request_queue_size)
            self.socket.setblocking(False)
        except OSError:
            self.socket.close()
            raise
        self.server_address = self.socket.getsockname()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.socket, selectors.EVENT_READ, _LISTENER)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, _WAKE)
        self._waiting: dict[Any, _Connection] = {}  # reading their request, in the selector
        self._ready: deque[_Connection] = deque()  # complete, waiting for a handler
        self._busy: dict[Any, _Connection] = {}  # in a handler's thread
        self._done: queue.SimpleQueue[tuple[_Connection, bool, bytes]] = queue.SimpleQueue()
        self._per_source: Counter[Any] = Counter()
        self._stopping = False
        self._stopped = threading.Event()
        self._stopped.set()  # not serving yet
        self.refused = 0  # connections closed at once: every connection busy with a request
        self.evicted = 0  # connections closed to make room: still waiting for their request
        self.timed_out = 0  # connections closed: their request did not arrive in time

    # -- the loop ----------------------------------------------------------------------------

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Serve until :meth:`close` (``poll_interval``: how often deadlines are checked at
        the least)."""
        self._stopped.clear()
        try:
            while not self._stopping:
                try:
                    self.serve_once(poll_interval)
                except Exception:  # a bug must not leave the endpoint deaf: log it, go on
                    log.exception("%s: the server's loop failed", self.label)
                    time.sleep(poll_interval)
        finally:
            self._close_all()
            self._stopped.set()

    def serve_once(self, timeout: float) -> None:
        """One round of the loop: wait at most ``timeout`` seconds for something to do, do
        it, close overdue connections and start handlers for complete requests."""
        for key, _mask in self._selector.select(timeout):
            if key.data is _LISTENER:
                self._accept()
            elif key.data is _WAKE:
                with contextlib.suppress(OSError):
                    while self._wake_r.recv(4096):
                        pass
            elif key.fileobj in self._waiting:
                self._receive(key.data)
        self._collect()
        self.reap()
        self._dispatch()

    def _accept(self) -> None:
        for _ in range(ACCEPTS_PER_ROUND):
            try:
                sock, address = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # out of fds, a connection reset before accept: next round
                log.debug("%s: accept failed", self.label, exc_info=True)
                return
            self._admit(sock, address)

    def _admit(self, sock: socket.socket, address: Any) -> None:
        if self.connections() >= self.max_connections and not self._make_room(address):
            self.refused += 1
            log.debug(
                "%s: all %d connections busy, closing %s", self.label, self.max_connections, address
            )
            sock.close()
            return
        sock.setblocking(False)
        conn_sock: Any = sock
        if self.tls_context is not None:
            try:
                conn_sock = self.tls_context().wrap_socket(
                    sock, server_side=True, do_handshake_on_connect=False
                )
            except (ssl.SSLError, OSError):
                log.debug("%s: TLS for %s failed", self.label, address, exc_info=True)
                sock.close()
                return
        conn = _Connection(
            conn_sock, address, now=self._clock(), handshaking=self.tls_context is not None
        )
        self._per_source[conn.source] += 1
        self._wait_for_request(conn)

    def _make_room(self, address: Any) -> bool:
        victim = choose_victim(
            ((c.sock, c.source, c.since) for c in self._waiting.values()), self._per_source
        )
        if victim is None:
            return False
        self.evicted += 1
        log.debug(
            "%s: closing %s (waiting for its request) for %s",
            self.label,
            self._waiting[victim].address,
            address,
        )
        self._drop(self._waiting[victim])
        return True

    def _wait_for_request(self, conn: _Connection, *, kept_alive: bool = False) -> None:
        now = self._clock()
        conn.since = now
        conn.idle = kept_alive and not conn.buffer
        conn.deadline = now + (self.idle_timeout if conn.idle else self.header_timeout)
        self._waiting[conn.sock] = conn
        self._selector.register(conn.sock, selectors.EVENT_READ, conn)
        self._receive(conn)  # the request (or TLS data already decrypted) may be there

    def _receive(self, conn: _Connection) -> None:
        if conn.handshaking and not self._handshake(conn):
            return
        while len(conn.buffer) <= MAX_HEAD + self.max_body:
            try:
                data = conn.sock.recv(65536)
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                break
            except OSError:  # reset, or a TLS error: nothing to answer
                self._drop(conn)
                return
            if not data:  # the client went away, or only stopped sending: a whole request
                if request_size(conn.buffer, self.max_body) is None:  # before it is answered
                    self._drop(conn)
                    return
                break
            conn.buffer += data
        if conn.idle and conn.buffer:  # the next request begins: its deadline starts now
            conn.idle = False
            conn.deadline = self._clock() + self.header_timeout
        size = request_size(conn.buffer, self.max_body)
        if size is None and len(conn.buffer) > MAX_HEAD and head_end(conn.buffer) is None:
            with contextlib.suppress(OSError, ssl.SSLError):
                conn.sock.send(
                    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                    b"Content-Length: 0\r\nConnection: close\r\n\r\n"
                )
            self._drop(conn)
            return
        if size is not None:
            del self._waiting[conn.sock]
            self._selector.unregister(conn.sock)
            self._ready.append(conn)

    def _handshake(self, conn: _Connection) -> bool:
        try:
            conn.sock.do_handshake()
        except ssl.SSLWantReadError:
            self._selector.modify(conn.sock, selectors.EVENT_READ, conn)
            return False
        except ssl.SSLWantWriteError:
            self._selector.modify(conn.sock, selectors.EVENT_WRITE, conn)
            return False
        except (ssl.SSLError, OSError):
            log.debug("%s: TLS handshake with %s failed", self.label, conn.address, exc_info=True)
            self._drop(conn)
            return False
        conn.handshaking = False
        self._selector.modify(conn.sock, selectors.EVENT_READ, conn)
        return True

    def _drop(self, conn: _Connection) -> None:
        """Close a connection the loop holds (waiting or ready)."""
        if self._waiting.pop(conn.sock, None) is not None:
            self._selector.unregister(conn.sock)
        self._forget(conn)
        with contextlib.suppress(OSError):
            conn.sock.close()

    def _forget(self, conn: _Connection) -> None:
        self._per_source[conn.source] -= 1
        if self._per_source[conn.source] <= 0:
            del self._per_source[conn.source]

    def reap(self) -> int:
        """Close every connection whose request is overdue; how many."""
        now = self._clock()
        late = [c for c in self._waiting.values() if c.deadline <= now]
        self.timed_out += len(late)
        for conn in late:
            log.debug(
                "%s: %s, closing %s",
                self.label,
                f"idle for {self.idle_timeout:.0f} s"
                if conn.idle
                else f"request not sent within {self.header_timeout:.0f} s",
                conn.address,
            )
            self._drop(conn)
        return len(late)

    # -- the handlers ------------------------------------------------------------------------

    def _dispatch(self) -> None:
        while self._ready and len(self._busy) < self.max_handlers:
            conn = self._ready.popleft()
            self._busy[conn.sock] = conn
            threading.Thread(
                target=self._handle, args=(conn,), name=f"{self.label}-handler", daemon=True
            ).start()

    def _handle(self, conn: _Connection) -> None:
        """A handler's thread: one request, then the connection back to the loop (kept
        alive) or closed."""
        keep = False
        leftover = b""
        try:
            conn.sock.setblocking(True)
            handler = self.RequestHandlerClass(conn.sock, conn.address, self)  # type: ignore[arg-type]
            keep = not getattr(handler, "close_connection", True)
            rfile = getattr(handler, "rfile", None)
            leftover = rfile.leftover() if isinstance(rfile, Intake) else b""
        except Exception:
            self.handle_error(conn.sock, conn.address)
        if not keep or self._stopping:
            shut(conn.sock)
            with contextlib.suppress(OSError):
                conn.sock.close()
        self._done.put((conn, keep and not self._stopping, leftover))
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def intake(self, sock: Any) -> Intake:
        """The reader of ``sock``'s request, starting with what the loop received."""
        conn = self._busy[sock]
        received, conn.buffer = bytes(conn.buffer), bytearray()
        return Intake(sock, received)

    def _collect(self) -> None:
        """Connections whose handler finished: kept alive, they wait for the next request."""
        while True:
            try:
                conn, keep, leftover = self._done.get_nowait()
            except queue.Empty:
                return
            del self._busy[conn.sock]
            if not keep:
                self._forget(conn)
                continue
            try:
                conn.sock.setblocking(False)
            except OSError:
                self._forget(conn)
                continue
            conn.buffer = bytearray(leftover)
            self._wait_for_request(conn, kept_alive=True)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            # A client that went away, a TLS handshake that failed: nothing to act on.
            log.debug("%s connection from %s failed", self.label, client_address, exc_info=True)
        else:  # a bug in a handler: the client got no answer, the log says why
            log.error("%s request from %s failed", self.label, client_address, exc_info=True)

    # -- starting, stopping ------------------------------------------------------------------

    def connections(self) -> int:
        """Connections open now (only those being handled have a thread)."""
        return len(self._waiting) + len(self._ready) + len(self._busy)

    def waiting(self) -> int:
        """Connections waiting for their request (none has a thread)."""
        return len(self._waiting)

    def serve_in_thread(self, name: str, *, poll_interval: float = 0.5) -> threading.Thread:
        """Serve in a daemon thread called ``name`` (started; returned for joining)."""
        self._stopped.clear()
        thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": poll_interval},
            name=name,
            daemon=True,
        )
        thread.start()
        return thread

    def close(self) -> None:
        """Stop serving, release the port and shut every open connection down (call from
        another thread than the server's)."""
        self._stopping = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")
        if not self._stopped.wait(10):
            log.warning("%s: the server's loop did not stop", self.label)
        self.server_close()

    def server_close(self) -> None:
        """Release the port and every connection (the loop must not be running)."""
        self._close_all()
        for sock in (self.socket, self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                sock.close()
        with contextlib.suppress(Exception):
            self._selector.close()

    def _close_all(self) -> None:
        for conn in [*self._waiting.values(), *self._ready]:
            self._drop(conn)
        self._ready.clear()
        for conn in list(self._busy.values()):
            shut(conn.sock)  # its handler's next read or write sees the end

    def bound(self) -> tuple[str, int]:
        """The address actually listened on (port 0 picks a free one)."""
        host, port = self.server_address[:2]
        return str(host), int(port)


class _Writer(io.BufferedIOBase):
    """A handler's ``wfile``: every write sent at once, whole."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._sock.sendall(data)
        with memoryview(data) as view:
            return view.nbytes


class QuietHandler(BaseHTTPRequestHandler):
    """The handler base of every endpoint: one request per thread (a kept-alive connection
    goes back to the server's loop), replies with a length, no access log."""

    server: EndpointServer
    timeout = 30  # each send or receive once the request is in

    def setup(self) -> None:
        self.connection = self.request
        self.connection.settimeout(self.timeout)
        if self.disable_nagle_algorithm:
            with contextlib.suppress(OSError):
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
        self.rfile = self.server.intake(self.request)  # type: ignore[assignment]
        self.wfile = _Writer(self.connection)

    def handle(self) -> None:
        self.close_connection = True
        self.handle_one_request()

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0  # the handler that reads a body says what it makes of it
        if length > self.server.max_body:
            self.close_connection = True
            self.reply(
                413, f"a request body may have at most {self.server.max_body} bytes\n".encode()
            )
            return False
        return True

    def read_body(self, length: int) -> bytes:
        """The request's body of ``length`` bytes (the server's loop received it already)."""
        return self.rfile.read(length)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def reply(
        self,
        code: int,
        body: bytes,
        content_type: str = "text/plain",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        with contextlib.suppress(OSError):  # the client went away: nothing left to tell it
            self.wfile.write(body)

    def reply_json(self, code: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        self.reply(
            code, json.dumps(body, separators=(",", ":")).encode(), "application/json", headers
        )
