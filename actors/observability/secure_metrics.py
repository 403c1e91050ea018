"""MetalLB's secure metrics endpoint: ``/metrics`` over HTTPS on 9120, behind the authn/authz
filter of observability/metrics_auth.py (401 without a valid token, 403 when not allowed).

The certificate comes from ``--metrics-cert-dir`` (``tls.crt``, ``tls.key``, reloaded when they
change) or is made self-signed in memory, as controller-runtime makes one when no certificate
directory is given. The server runs in its own threads, like the health endpoint's; the reviews
it asks of the API happen there, never in an actor.
"""

from __future__ import annotations

import contextlib
import logging
import os
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from actors.base import RuntimeActor
from actors.observability.httpd import (
    EndpointServer,
    QuietHandler,
    TlsContext,
    server_tls_context,
)
from actors.observability.metrics_auth import MetricsAuth, Reviewer

log = logging.getLogger(__name__)

SECURE_PORT = 9120  # MetalLB's HTTPS metrics port


def self_signed_pems(name: str = "localhost", now: float | None = None) -> tuple[bytes, bytes]:
    """(certificate chain PEM, key PEM) made in memory: a one-off CA and a certificate for
    ``name``, as controller-runtime makes one when no certificate directory is given."""
    import time

    from actors.util.x509 import new_ca, new_serving_cert

    at = time.time() if now is None else now
    ca_cert, ca_key = new_ca(at)
    cert, key = new_serving_cert(ca_cert, ca_key, name, at)
    return cert + ca_cert, key


@contextlib.contextmanager
def _pem_paths(cert: bytes, key: bytes) -> Iterator[tuple[str, str]]:
    """Paths ``ssl`` can load the PEMs from without writing them to disk where possible:
    anonymous memory files (Linux), else a private temporary directory, removed at once."""
    memfd = getattr(os, "memfd_create", None)
    if memfd is not None:
        fds = [memfd("lbtui-metrics-cert"), memfd("lbtui-metrics-key")]
        try:
            for fd, data in zip(fds, (cert, key), strict=True):
                os.write(fd, data)
            yield f"/proc/self/fd/{fds[0]}", f"/proc/self/fd/{fds[1]}"
        finally:
            for fd in fds:
                os.close(fd)
        return
    with tempfile.TemporaryDirectory(prefix="lbtui-metrics-") as tmp:
        paths = (Path(tmp) / "tls.crt", Path(tmp) / "tls.key")
        for path, data in zip(paths, (cert, key), strict=True):
            path.write_bytes(data)
            path.chmod(0o600)
        yield str(paths[0]), str(paths[1])


def _server_context(cert: bytes, key: bytes) -> ssl.SSLContext:
    context = server_tls_context()
    with _pem_paths(cert, key) as (cert_path, key_path):
        context.load_cert_chain(cert_path, key_path)
    return context


class _SecureServer(EndpointServer):
    def __init__(
        self,
        address: tuple[str, int],
        context: TlsContext,
        auth: MetricsAuth,
        registry: Any,
    ) -> None:
        super().__init__(address, _SecureHandler, label="metrics", tls_context=context)
        self.auth = auth
        self.registry = registry
        self.denied = 0


class _SecureHandler(QuietHandler):
    server: _SecureServer

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path != "/metrics":
            self.reply(404, b"not found\n")
            return
        decision = self.server.auth.check(self.headers.get("Authorization"), path)
        if decision.code != 200:
            self.server.denied += 1
            self.reply(decision.code, (decision.reason + "\n").encode())
            return
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        self.reply(200, generate_latest(self.server.registry), CONTENT_TYPE_LATEST)


class SecureMetricsActor(RuntimeActor):
    """``/metrics`` over HTTPS behind the authn/authz filter (see the module docstring)."""

    actor_name = "securemetrics"

    def __init__(
        self,
        *,
        registry: Any,
        reviewer: Reviewer,
        host: str = "0.0.0.0",
        port: int = SECURE_PORT,
        cert_dir: str | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.registry = registry
        self.host = host
        self.port = port
        self.cert_dir = cert_dir
        self.auth = MetricsAuth(reviewer, self.clock.now)
        self._server: _SecureServer | None = None

    def on_start(self) -> None:
        if self.cert_dir:
            from actors.observability.tls import TlsFiles

            files = TlsFiles(self.cert_dir)
            files.context()  # a missing or broken pair fails the start, with the file names
            context: TlsContext = files.context
            source = f"{self.cert_dir}/tls.crt"
        else:
            fixed = _server_context(*self_signed_pems())
            context = lambda: fixed  # noqa: E731
            source = "a self-signed certificate"
        server = _SecureServer((self.host, self.port), context, self.auth, self.registry)
        self._server = server
        self.port = server.bound()[1]
        server.serve_in_thread("lbtui-metrics-tls")
        log.info("metrics on https://%s:%d/metrics (%s)", self.host, self.port, source)

    def on_stop(self) -> None:
        if self._server is not None:
            self._server.close()

    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def stats(self) -> dict[str, int]:
        denied = self._server.denied if self._server is not None else 0
        return {"reviews": self.auth.reviews, "denied": denied}
