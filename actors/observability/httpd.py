"""What lbtui's small HTTP endpoints share: one server class and one handler base.

:class:`EndpointServer` is the server of every endpoint: health and metrics, the HTTPS
metrics, the status endpoint, and (it should use it too, passing
``tls_context=TlsFiles(...).context``) the kube webhook server. It gives each connection a
daemon thread (not bounded yet), so a client that never finishes cannot hold the process up;
the address is reusable at once after a restart; IPv4 or IPv6 follows the address given. With
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


class EndpointServer(ThreadingHTTPServer):
    """The HTTP(S) server every endpoint runs (see the module docstring).

    ``label`` names it in the log ("<label> connection from ... failed"). Start it with
    :meth:`serve_in_thread`, end it with :meth:`close`. A port in use fails the constructor.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        *,
        label: str,
        tls_context: TlsContext | None = None,
    ) -> None:
        self.label = label
        self.tls_context = tls_context
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)

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
        """Stop serving and release the port (call from another thread than the server's)."""
        self.shutdown()
        self.server_close()

    def bound(self) -> tuple[str, int]:
        """The address actually listened on (port 0 picks a free one)."""
        host, port = self.server_address[:2]
        return str(host), int(port)


class QuietHandler(BaseHTTPRequestHandler):
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
