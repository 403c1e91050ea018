"""The HTTPS server of the webhooks (port 9443, as MetalLB's), and the actor that runs it.

The server has its own threads (its loop does the TLS handshakes and reads the requests, a
thread answers each one), so a slow API server never holds up an actor, and no actor is
asked anything while a review is answered: the existing objects are listed from the API at
review time, as MetalLB's webhooks read them (the watch caches the controller keeps,
:class:`actors.kube.cluster.KubeCluster`, only when the API will not list). It serves
``tls.crt``/``tls.key`` from ``--cert-dir`` and takes new ones as soon as the files change
(the rotator renewed them, or whoever provides them with ``--disable-cert-rotation``),
without a restart.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from actors.base import RuntimeActor
from actors.kube.certificates import CERT_DIR
from actors.kube.cluster import KubeCluster
from actors.kube.webhooks import (
    CONVERSION_PATH,
    VALIDATION_PATHS,
    admission_response,
    conversion_response,
)
from actors.observability.httpd import EndpointServer, QuietHandler
from actors.observability.tls import TlsFiles

log = logging.getLogger(__name__)

WEBHOOK_PORT = 9443
MAX_BODY = 3 * 1024 * 1024  # the API server's own limit on a request body
WEBHOOK_MODES = ("enabled", "disabled", "onlywebhook")

Existing = Callable[[], Mapping[str, Sequence[Mapping[str, Any]]]]


def cached_objects(kube: KubeCluster) -> Existing:
    """The existing configuration objects by kind, from the caches (Nodes too, if watched)."""

    def read() -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for cache in kube.caches.values():
            if cache.resource.group == "metallb.io" or cache.resource.kind == "Node":
                out.setdefault(cache.resource.kind, []).extend(cache.snapshot())
        return out

    return read


def live_objects(kube: KubeCluster) -> Existing:
    """The existing configuration objects read from the API at review time, as MetalLB's
    webhooks do: the watch caches can lag by a few milliseconds, and one ``kubectl apply`` of
    two overlapping pools sends the second while the first is not yet in them. A kind the API
    will not list (an outage, a refusal) is taken from its cache instead."""
    cached = cached_objects(kube)

    def read() -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        fallback: Mapping[str, Sequence[Mapping[str, Any]]] | None = None
        for cache in kube.caches.values():
            resource = cache.resource
            if resource.group != "metallb.io" and resource.kind != "Node":
                continue
            namespace = kube.namespace if resource.scope == "config" else ""
            try:
                items, _ = kube.api.list(resource, namespace)
            except Exception as exc:
                log.warning("webhook: listing %s failed, using the cache: %s", resource.plural, exc)
                if fallback is None:
                    fallback = cached()
                items = list(fallback.get(resource.kind, ()))  # type: ignore[arg-type]
            for item in items:
                item.setdefault("kind", resource.kind)
            out.setdefault(resource.kind, []).extend(items)
        return out

    return read


class WebhookHTTPServer(EndpointServer):
    def __init__(
        self,
        address: tuple[str, int],
        tls: TlsFiles,
        existing: Existing,
        namespace: str,
    ) -> None:
        super().__init__(
            address, _Handler, label="webhook", tls_context=tls.context, max_body=MAX_BODY
        )
        self.existing = existing
        self.namespace = namespace
        self.reviews = 0
        self.denied = 0

    def answer(self, path: str, review: Any) -> dict[str, Any]:
        if path == CONVERSION_PATH:
            return conversion_response(review)
        existing = self.existing()
        nodes = existing.get("Node", ())
        response = admission_response(path, review, existing, self.namespace, nodes)
        self.reviews += 1
        if not response["response"]["allowed"]:
            self.denied += 1
            request = review.get("request") if isinstance(review, dict) else None
            request = request if isinstance(request, dict) else {}
            log.info(
                "denied %s %s %s/%s: %s",
                request.get("operation"),
                (request.get("kind") or {}).get("kind")
                if isinstance(request.get("kind"), dict)
                else "",
                request.get("namespace"),
                request.get("name"),
                response["response"]["status"].get("message"),
            )
        return response


class _Handler(QuietHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    # Each send or receive while a review is answered; kube-apiserver's own calls end within
    # the webhook timeout (10 s by default).
    timeout = 30
    server: WebhookHTTPServer

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path in ("/healthz", "/readyz"):
            self.reply_json(200, {"status": "ok"})
        else:
            self.reply_json(404, {"message": f"no such path {path}"})

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]  # the API server adds ?timeout=10s
        if path != CONVERSION_PATH and path not in VALIDATION_PATHS:
            self.reply_json(404, {"message": f"no webhook at {path}"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY:
            self.close_connection = True
            self.reply_json(400, {"message": "a JSON body of at most 3 MiB is required"})
            return
        try:
            review = json.loads(self.read_body(length))
        except (ValueError, UnicodeDecodeError):
            self.reply_json(400, {"message": "the body is not JSON"})
            return
        try:
            self.reply_json(200, self.server.answer(path, review))
        except Exception:  # a bug must not kill the server: the API server's policy decides
            log.exception("webhook %s failed", path)
            self.reply_json(500, {"message": "internal error in the webhook"})


class WebhookActor(RuntimeActor):
    """Starts the HTTPS server once the certificate files exist; stops it on the way out."""

    actor_name = "webhooks"

    def __init__(
        self,
        existing: Existing,
        namespace: str,
        *,
        cert_dir: str = CERT_DIR,
        host: str = "0.0.0.0",
        port: int = WEBHOOK_PORT,
        poll_interval: float = 1.0,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.existing = existing
        self.namespace = namespace
        self.tls = TlsFiles(cert_dir)
        self.host = host
        self.wanted_port = port
        self.poll_interval = poll_interval
        self.server: WebhookHTTPServer | None = None
        self.thread: threading.Thread | None = None
        self.waiting_logged = False

    def on_start(self) -> None:
        self.try_serve()

    def try_serve(self) -> None:
        if self.server is not None:
            return
        if not self.tls.present():
            if not self.waiting_logged:
                log.info("webhooks: waiting for %s and %s", self.tls.cert, self.tls.key)
                self.waiting_logged = True
            self.after(self.poll_interval, self.try_serve)
            return
        try:
            self.tls.context()
            server = WebhookHTTPServer(
                (self.host, self.wanted_port), self.tls, self.existing, self.namespace
            )
        except (OSError, ssl.SSLError) as exc:
            log.warning("webhooks: cannot serve yet (%s); retrying", exc)
            self.after(self.poll_interval, self.try_serve)
            return
        self.server = server
        self.thread = server.serve_in_thread("webhook-server", poll_interval=0.2)
        log.info("webhooks: serving on https://%s:%d", self.host, server.server_address[1])

    def on_stop(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            server.close()
        if self.thread is not None:
            self.thread.join(2.0)

    def port(self) -> int | None:
        """The port served on (None until serving): ``port=0`` picks a free one."""
        return int(self.server.server_address[1]) if self.server is not None else None

    def stats(self) -> dict[str, int]:
        server = self.server
        return {
            "reviews": server.reviews if server else 0,
            "denied": server.denied if server else 0,
            "certificate_loads": self.tls.loads,
        }
