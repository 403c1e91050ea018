"""``/healthz``, ``/readyz`` and ``/metrics`` over HTTP, for kubelet probes and Prometheus.

Unlike MetalLB's plain pings, ``/readyz`` means something: ready once the first sync is done
(a configuration applied and the cluster objects listed) and, for a speaker with membership,
once this node has joined (it is in its own view of the alive nodes). ``/healthz`` answers as
long as the process serves requests. The HTTP server runs in its own thread and only reads the
actor's flags, so a probe never waits for an actor.

MetalLB's secure ``/metrics`` (HTTPS on 9120, behind an authn/authz filter) is
observability/secure_metrics.py.
"""

from __future__ import annotations

import logging
from typing import Any

from actors.base import RuntimeActor
from actors.events import ClusterUpdated, ConfigApplied, Event, MembershipUpdated
from actors.listener import Listener
from actors.observability.httpd import EndpointServer, QuietHandler

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
        self._server: _HealthServer | None = None

    def on_start(self) -> None:
        if self.port < 0:
            return  # disabled
        server = _HealthServer((self.host, self.port), self)
        self._server = server
        self.port = server.bound()[1]
        server.serve_in_thread("lbtui-health")
        log.info("health and metrics on http://%s:%d", self.host, self.port)

    def on_stop(self) -> None:
        if self._server is not None:
            self._server.close()

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


class _HealthServer(EndpointServer):
    def __init__(self, address: tuple[str, int], health: HealthActor) -> None:
        super().__init__(address, _Handler, label="health")
        self.health = health  # read-only from the server's threads: its flags and registry


class _Handler(QuietHandler):
    server: _HealthServer

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
