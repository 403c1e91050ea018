"""``/healthz``, ``/readyz`` and ``/metrics`` over HTTP, for kubelet probes and Prometheus.

Unlike MetalLB's plain pings, ``/readyz`` means something: ready once the first sync is done
(a configuration applied and the cluster objects listed) and, for a speaker with membership,
once this node has joined (it is in its own view of the alive nodes). ``/healthz`` answers as
long as the process serves requests. The HTTP server runs in its own thread and only reads the
actor's flags, so a probe never waits for an actor.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from actors.base import RuntimeActor
from actors.events import ClusterUpdated, ConfigApplied, Event, MembershipUpdated
from actors.listener import Listener

log = logging.getLogger(__name__)

DEFAULT_PORT = 7472  # MetalLB's monitoring port before it moved to HTTPS on 9120


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


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, code: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(body)

    def do_GET(self) -> None:
        health: HealthActor = self.server.health
        path = self.path.split("?", 1)[0]
        if path in ("/healthz", "/livez"):
            self._reply(200, b"ok\n")
        elif path == "/readyz":
            reasons = health.not_ready()
            if reasons:
                self._reply(503, ("not ready: " + "; ".join(reasons) + "\n").encode())
            else:
                self._reply(200, b"ok\n")
        elif path == "/metrics" and health.metrics is not None:
            from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

            self._reply(200, generate_latest(health.metrics), CONTENT_TYPE_LATEST)
        else:
            self._reply(404, b"not found\n")


def observability_specs(
    *,
    port: int,
    host: str = "0.0.0.0",
    node: str | None = None,
    require_membership: bool = False,
    kube: Any = None,
    collectors: Sequence[Any] = (),
) -> list[Any]:
    """The health and metrics actors of a role, first in its start order (not ready before
    the others have synced). ``port`` -1 disables both; 0 picks a free port (tests)."""
    from prometheus_client import CollectorRegistry

    from actors.metrics import MetricsActor
    from actors.runtime import ActorSpec

    if port < 0:
        return []
    registry = CollectorRegistry(auto_describe=False)
    counters = None
    if kube is not None:
        stats = kube.stats

        def counters() -> tuple[int, int]:
            return stats.updates_total, stats.update_errors_total

    return [
        ActorSpec(
            "health",
            HealthActor,
            {
                "host": host,
                "port": port,
                "node": node,
                "require_membership": require_membership,
                "metrics": registry,
            },
        ),
        ActorSpec(
            "metrics",
            MetricsActor,
            # collectors: other subsystems' metrics (the L2 counters), read at scrape time
            {"registry": registry, "kube_counters": counters, "collectors": tuple(collectors)},
        ),
    ]
