"""``/healthz``, ``/readyz`` and ``/metrics`` over HTTP, for kubelet probes and Prometheus.

Unlike MetalLB's plain pings, ``/readyz`` means something: ready once the first sync is done
(a configuration applied and the cluster objects listed) and, for a speaker with membership,
once this node has joined (it is in its own view of the alive nodes). ``/healthz`` answers as
long as the process serves requests. The HTTP server runs in its own thread and only reads the
actor's flags, so a probe never waits for an actor.

With the Kubernetes API there is also MetalLB's secure endpoint (:class:`SecureMetricsActor`):
``/metrics`` over HTTPS on 9120, the certificate from ``--metrics-cert-dir`` (``tls.crt``,
``tls.key``, reloaded when they change) or self-signed in memory, behind the authn/authz
filter MetalLB's controller-runtime uses: a bearer token is checked with a TokenReview, its
user with a SubjectAccessReview (nonResourceURL ``/metrics``, verb ``get``); 401 without a
valid token, 403 when not allowed. Reviews are cached briefly (:class:`MetricsAuth`), as
controller-runtime caches them, so a scrape costs no API call most of the time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

from actors.base import RuntimeActor
from actors.events import ClusterUpdated, ConfigApplied, Event, MembershipUpdated
from actors.listener import Listener
from actors.observability.httpd import QuietHandler

log = logging.getLogger(__name__)

DEFAULT_PORT = 7472  # MetalLB's monitoring port before it moved to HTTPS on 9120
SECURE_PORT = 9120  # MetalLB's HTTPS metrics port


class HealthActor(Listener, RuntimeActor):
    actor_name = "health"
    listens_to = (ConfigApplied, ClusterUpdated, MembershipUpdated)

    def __init__(
        self,
        *,
        host: str = "0.0.0.0",
        port: int = DEFAULT_PORT,
        node: str | None = None,
        require_membership: bool = False,
        metrics: Any = None,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.host = host
        self.port = port
        self.node = node
        self.require_membership = require_membership
        self.metrics = metrics  # a prometheus_client CollectorRegistry (MetricsActor fills it)
        self.config_applied = False
        self.cluster_listed = False
        self.joined = False
        self._server: ThreadingHTTPServer | None = None

    def on_start(self) -> None:
        if self.port < 0:
            return  # disabled
        server = ThreadingHTTPServer((self.host, self.port), _Handler)
        server.daemon_threads = True
        server.health = self  # type: ignore[attr-defined]
        self._server = server
        self.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, name="lbtui-health", daemon=True).start()
        log.info("health and metrics on http://%s:%d", self.host, self.port)

    def on_stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def on_event(self, event: Event) -> None:
        if isinstance(event, ConfigApplied):
            self.config_applied = True
        elif isinstance(event, ClusterUpdated):
            self.cluster_listed = True
        elif isinstance(event, MembershipUpdated) and event.observer == self.node:
            self.joined = self.node in event.alive

    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def not_ready(self) -> list[str]:
        """Why this process is not ready (empty: ready)."""
        reasons = []
        if not self.config_applied:
            reasons.append("no valid configuration applied yet")
        if not self.cluster_listed:
            reasons.append("cluster objects not listed yet")
        if self.require_membership and not self.joined:
            reasons.append("membership not joined yet")
        return reasons


class _Handler(QuietHandler):
    server: Any

    def do_GET(self) -> None:
        health: HealthActor = self.server.health
        path = self.path.split("?", 1)[0]
        if path in ("/healthz", "/livez"):
            self.reply(200, b"ok\n")
        elif path == "/readyz":
            reasons = health.not_ready()
            if reasons:
                self.reply(503, ("not ready: " + "; ".join(reasons) + "\n").encode())
            else:
                self.reply(200, b"ok\n")
        elif path == "/metrics" and health.metrics is not None:
            from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

            self.reply(200, generate_latest(health.metrics), CONTENT_TYPE_LATEST)
        else:
            self.reply(404, b"not found\n")


# -- /metrics over HTTPS with MetalLB's authn/authz filter -----------------------------------


class Reviewer(Protocol):
    """The two API calls of the filter (raw ``status`` dicts of the review objects)."""

    def token_review(self, token: str) -> dict[str, Any]: ...

    def access_review(self, user: dict[str, Any], path: str, verb: str) -> dict[str, Any]: ...


class KubeReviewer:
    """TokenReview and SubjectAccessReview through the official client."""

    def __init__(self, api_client: Any, timeout: float = 10.0) -> None:
        from kubernetes import client

        self.authentication = client.AuthenticationV1Api(api_client)
        self.authorization = client.AuthorizationV1Api(api_client)
        self.timeout = timeout

    def _create(self, call: Any, body: dict[str, Any]) -> dict[str, Any]:
        response = call(body, _preload_content=False, _request_timeout=self.timeout)
        return dict(json.loads(response.data).get("status") or {})

    def token_review(self, token: str) -> dict[str, Any]:
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token},
        }
        return self._create(self.authentication.create_token_review, body)

    def access_review(self, user: dict[str, Any], path: str, verb: str) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "user": user.get("username", ""),
            "groups": list(user.get("groups") or []),
            "nonResourceAttributes": {"path": path, "verb": verb},
        }
        if user.get("uid"):
            spec["uid"] = user["uid"]
        if user.get("extra"):
            spec["extra"] = user["extra"]
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": spec,
        }
        return self._create(self.authorization.create_subject_access_review, body)


@dataclass(frozen=True, slots=True)
class Decision:
    """What the filter answers: ``code`` 200 (serve), 401, 403 or 500, and why."""

    code: int
    reason: str


class MetricsAuth:
    """The authn/authz filter, with controller-runtime's caches: a token's review for
    ``token_ttl``, an allow for ``allow_ttl``, a deny for ``deny_ttl`` (seconds of ``now``).
    Tokens are kept only as their SHA-256 and never logged."""

    def __init__(
        self,
        reviewer: Reviewer,
        now: Callable[[], float],
        *,
        token_ttl: float = 60.0,
        allow_ttl: float = 300.0,
        deny_ttl: float = 30.0,
    ) -> None:
        self.reviewer = reviewer
        self.now = now
        self.token_ttl = token_ttl
        self.allow_ttl = allow_ttl
        self.deny_ttl = deny_ttl
        self._lock = threading.Lock()
        self._users: dict[bytes, tuple[float, dict[str, Any] | None]] = {}
        self._access: dict[tuple[str, str, str, str], tuple[float, bool]] = {}
        self.reviews = 0

    def check(self, authorization: str | None, path: str, verb: str = "get") -> Decision:
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return Decision(401, "Unauthorized")
        try:
            user = self._authenticate(token)
        except Exception as exc:
            log.warning("metrics: TokenReview failed: %s", exc.__class__.__name__)
            return Decision(401, "Unauthorized")
        if user is None:
            return Decision(401, "Unauthorized")
        try:
            allowed = self._authorize(user, path, verb)
        except Exception as exc:
            log.warning("metrics: SubjectAccessReview failed: %s", exc.__class__.__name__)
            return Decision(500, "Authorization error")
        if not allowed:
            name = user.get("username", "")
            return Decision(403, f'Authorization denied for user "{name}" ({verb} {path})')
        return Decision(200, "ok")

    def _authenticate(self, token: str) -> dict[str, Any] | None:
        key = hashlib.sha256(token.encode()).digest()
        now = self.now()
        with self._lock:
            cached = self._users.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        status = self.reviewer.token_review(token)
        self.reviews += 1
        user = dict(status.get("user") or {}) if status.get("authenticated") else None
        with self._lock:
            self._prune(self._users, now)
            self._users[key] = (now + self.token_ttl, user)
        return user

    def _authorize(self, user: dict[str, Any], path: str, verb: str) -> bool:
        groups = ",".join(sorted(user.get("groups") or []))
        key = (str(user.get("username", "")), groups, path, verb)
        now = self.now()
        with self._lock:
            cached = self._access.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        allowed = bool(self.reviewer.access_review(user, path, verb).get("allowed"))
        self.reviews += 1
        ttl = self.allow_ttl if allowed else self.deny_ttl
        with self._lock:
            self._prune(self._access, now)
            self._access[key] = (now + ttl, allowed)
        return allowed

    @staticmethod
    def _prune(cache: dict[Any, tuple[float, Any]], now: float) -> None:
        if len(cache) > 1024:  # a flood of bad tokens must not grow memory without end
            for key in [k for k, (until, _) in cache.items() if until <= now]:
                del cache[key]
            while len(cache) > 1024:
                del cache[next(iter(cache))]


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
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    with _pem_paths(cert, key) as (cert_path, key_path):
        context.load_cert_chain(cert_path, key_path)
    return context


class _SecureServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        context: Callable[[], ssl.SSLContext],
        auth: MetricsAuth,
        registry: Any,
    ) -> None:
        super().__init__(address, _SecureHandler)
        self.context = context
        self.auth = auth
        self.registry = registry
        self.denied = 0

    def get_request(self) -> tuple[Any, Any]:
        sock, address = self.socket.accept()
        # The handshake happens on the first read, in the connection's own thread.
        wrapped = self.context().wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return wrapped, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("metrics connection from %s failed", client_address, exc_info=True)


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
    """``/metrics`` over HTTPS behind the authn/authz filter (see the module docstring).

    The server runs in its own threads, like the HealthActor's; the reviews it asks of the
    API happen there, never in an actor."""

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
            context: Callable[[], ssl.SSLContext] = files.context
            source = f"{self.cert_dir}/tls.crt"
        else:
            fixed = _server_context(*self_signed_pems())
            context = lambda: fixed  # noqa: E731
            source = "a self-signed certificate"
        server = _SecureServer((self.host, self.port), context, self.auth, self.registry)
        self._server = server
        self.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, name="lbtui-metrics-tls", daemon=True).start()
        log.info("metrics on https://%s:%d/metrics (%s)", self.host, self.port, source)

    def on_stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def stats(self) -> dict[str, int]:
        denied = self._server.denied if self._server is not None else 0
        return {"reviews": self.auth.reviews, "denied": denied}
