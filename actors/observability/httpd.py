"""What lbtui's small HTTP endpoints share: one server class and one handler base.

:class:`EndpointServer` is the server of every endpoint: health and metrics, the HTTPS
metrics, the status endpoint and the kube webhook server. Every resource a client can take is
bounded:

- **connections**: at most ``max_connections`` at once, each served by its own daemon thread
  (so the threads are bounded too). When all are taken, the oldest connection still waiting
  for its request is closed to make room (a slow or silent client gives way to a new one);
  if none is waiting, the new connection is closed at once, without a thread.
- **time to send a request**: from the moment the server waits for a request (on accept, and
  between requests on a kept-alive connection) the client has ``header_timeout`` seconds to
  send its request line, headers and body; then the connection is shut down, however slowly
  it was dripping bytes. The server's own loop does this every ``poll_interval`` (no thread
  per connection). Once the request is read, each send or receive has the handler's
  ``timeout`` (30 s).
- **request size**: a ``Content-Length`` beyond ``max_body`` is a 413 and the connection
  closes (http.server already limits a header line to 64 KiB and the headers to 100).

The address is reusable at once after a restart; IPv4 or IPv6 follows the address given. With
``tls_context`` it speaks TLS: the context is asked for anew for every connection, so a
renewed certificate is served without a restart, and the handshake happens in the
connection's own thread. It is quiet about clients that go away (a debug line); a handler that
fails otherwise is logged as an error. An endpoint subclasses it only to add what its handler
reads (``self.server.board``, ``self.server.auth``...).

:class:`QuietHandler` answers with a length, and keeps no access log on stderr (probes come
every few seconds, and an access line per request says nothing an operator needs).

Imports nothing of ours, so the kube adapter can use it without the rest of observability.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

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


MAX_CONNECTIONS = 32
HEADER_TIMEOUT = 5.0
MAX_BODY = 64 * 1024


class EndpointServer(ThreadingHTTPServer):
    """The HTTP(S) server every endpoint runs (see the module docstring).

    ``label`` names it in the log ("<label> connection from ... failed"). Start it with
    :meth:`serve_in_thread`, end it with :meth:`close`. A port in use fails the constructor.
    """

    daemon_threads = True
    block_on_close = False  # close() shuts every connection down instead of waiting for it
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        *,
        label: str,
        tls_context: TlsContext | None = None,
        max_connections: int = MAX_CONNECTIONS,
        header_timeout: float = HEADER_TIMEOUT,
        max_body: int = MAX_BODY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.tls_context = tls_context
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self.max_body = max_body
        self._clock = clock
        self._slots = threading.BoundedSemaphore(max_connections)
        self._lock = threading.Lock()
        self._open: set[Any] = set()
        self._waiting: dict[Any, float] = {}  # connection -> when its request must be in
        self.refused = 0  # connections closed at once: every slot busy with a request
        self.evicted = 0  # connections closed to make room: still waiting for their request
        self.timed_out = 0  # connections closed: their request did not arrive in time
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)

    # -- the connection cap ------------------------------------------------------------------

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False) and (
            not self._evict_oldest_waiting() or not self._slots.acquire(timeout=1.0)
        ):
            self.refused += 1
            log.debug(
                "%s: all %d connections busy, closing %s",
                self.label,
                self.max_connections,
                client_address,
            )
            self.shutdown_request(request)
            return
        with self._lock:
            self._open.add(request)
        self.expect_request(request)
        try:
            super().process_request(request, client_address)
        except BaseException:  # no thread: give the slot back
            self._release(request)
            self.shutdown_request(request)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release(request)

    def _release(self, request: Any) -> None:
        with self._lock:
            if request not in self._open:
                return
            self._open.discard(request)
            self._waiting.pop(request, None)
        self._slots.release()

    def _evict_oldest_waiting(self) -> bool:
        with self._lock:
            if not self._waiting:
                return False
            oldest = min(self._waiting, key=self._waiting.__getitem__)
            del self._waiting[oldest]
        self.evicted += 1
        _cut(oldest)
        return True

    # -- the request deadline ----------------------------------------------------------------

    def expect_request(self, connection: Any) -> None:
        """From now on ``connection`` has ``header_timeout`` seconds to send a request."""
        with self._lock:
            if connection in self._open:
                self._waiting[connection] = self._clock() + self.header_timeout

    def request_read(self, connection: Any) -> None:
        """The request on ``connection`` is in: no deadline until it waits for the next."""
        with self._lock:
            self._waiting.pop(connection, None)

    def service_actions(self) -> None:
        """Called by the serving loop every ``poll_interval``: close overdue connections."""
        self.reap()

    def reap(self) -> int:
        """Shut down every connection whose request is overdue; how many."""
        now = self._clock()
        with self._lock:
            late = [c for c, deadline in self._waiting.items() if deadline <= now]
            for connection in late:
                del self._waiting[connection]
        for connection in late:
            log.debug(
                "%s: request not sent within %.0f s, closing", self.label, self.header_timeout
            )
            _cut(connection)
        self.timed_out += len(late)
        return len(late)

    def connections(self) -> int:
        """Connections open now (each one has a thread)."""
        with self._lock:
            return len(self._open)

    def get_request(self) -> tuple[Any, Any]:
        sock, address = self.socket.accept()
        if self.tls_context is None:
            return sock, address
        # The handshake happens on the first read, in the connection's own thread.
        wrapped = self.tls_context().wrap_socket(
            sock, server_side=True, do_handshake_on_connect=False
        )
        return wrapped, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            # A client that went away, a TLS handshake that failed: nothing to act on.
            log.debug("%s connection from %s failed", self.label, client_address, exc_info=True)
        else:  # a bug in a handler: the client got no answer, the log says why
            log.error("%s request from %s failed", self.label, client_address, exc_info=True)

    def serve_in_thread(self, name: str, *, poll_interval: float = 0.5) -> threading.Thread:
        """Serve in a daemon thread called ``name`` (started; returned for joining)."""
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
        self.shutdown()
        self.server_close()
        with self._lock:
            open_now = list(self._open)
        for connection in open_now:
            _cut(connection)

    def bound(self) -> tuple[str, int]:
        """The address actually listened on (port 0 picks a free one)."""
        host, port = self.server_address[:2]
        return str(host), int(port)


def _cut(connection: Any) -> None:
    """Shut ``connection`` down under its owner's feet: its thread's next read sees the end.
    (On a TLS socket the plain socket's shutdown, leaving the TLS object to its thread.)"""
    with contextlib.suppress(OSError):
        socket.socket.shutdown(connection, socket.SHUT_RDWR)


class QuietHandler(BaseHTTPRequestHandler):
    """The handler base of every endpoint: request deadline and size limit (see the module
    docstring), replies with a length, no access log."""

    server: EndpointServer
    timeout = 30  # each send or receive once the request is in

    def handle_one_request(self) -> None:
        self.server.expect_request(self.request)
        super().handle_one_request()

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
        if length <= 0:
            self.server.request_read(self.request)
        return True

    def read_body(self, length: int) -> bytes:
        """The request's body of ``length`` bytes, read under the request deadline."""
        body = self.rfile.read(length)
        self.server.request_read(self.request)
        return body

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
