"""The actors a role adds so that it can be watched: health and metrics, the status endpoint,
the JSON-lines event log and the failover meter, with the options that shape them.

Used by the speaker, controller and demo builders; nothing here decides what a role announces.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, TextIO

import msgspec

from actors.clock import Clock
from actors.observability.eventlog import JsonLinesEventLog
from actors.observability.failover import FailoverMeterActor, FailoverMetrics
from actors.roles.errors import OptionsError
from actors.runtime import ActorSpec


class MetricsOptions(msgspec.Struct, frozen=True):
    """``--metrics-port``, ``--secure-metrics-port`` and ``--metrics-cert-dir``.

    ``port`` None: the role's default (7472; a speaker on files serves none); -1: off.
    ``secure_port`` -1: no HTTPS ``/metrics``; ``cert_dir`` None: a self-signed certificate."""

    port: int | None = None
    secure_port: int = -1
    cert_dir: str | None = None


class StatusOptions(msgspec.Struct, frozen=True):
    """The status endpoint, checked (see :func:`status_options`): where it listens (None: no
    endpoint) and the bearer token it requires ("": none)."""

    address: tuple[str, int] | None = None
    token: str = ""


def observability_specs(
    *,
    port: int,
    host: str = "0.0.0.0",
    node: str | None = None,
    require_membership: bool = False,
    kube: Any = None,
    collectors: Sequence[Any] = (),
    secure_port: int = -1,
    metrics_cert_dir: str | None = None,
) -> list[ActorSpec]:
    """The health and metrics actors of a role, first in its start order (not ready before
    the others have synced). ``port`` -1 disables both; 0 picks a free port (tests).

    ``secure_port`` (needs ``kube``, whose API reviews the scrapers' tokens): also serve
    ``/metrics`` over HTTPS there, behind the authn/authz filter; -1 (the default) does not.
    """
    if port < 0:
        return []
    # Imported here: a role serving no metrics loads neither prometheus_client nor the HTTP
    # server.
    from prometheus_client import CollectorRegistry

    from actors.observability.health import HealthActor
    from actors.observability.metrics import MetricsActor, process_collectors

    registry = CollectorRegistry(auto_describe=False)
    counters = None
    if kube is not None:
        stats = kube.stats

        def counters() -> tuple[int, int]:
            return stats.updates_total, stats.update_errors_total

    secure: list[ActorSpec] = []
    if secure_port >= 0 and kube is not None:
        from actors.observability.metrics_auth import KubeReviewer
        from actors.observability.secure_metrics import SecureMetricsActor

        secure = [
            ActorSpec(
                "securemetrics",
                SecureMetricsActor,
                {
                    "registry": registry,
                    "reviewer": KubeReviewer(kube.api.api_client, kube.api.request_timeout),
                    "host": host,
                    "port": secure_port,
                    "cert_dir": metrics_cert_dir,
                },
            )
        ]
    return [
        *secure,
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
            # collectors: the process' own (process_*), then other subsystems' metrics (the
            # L2 counters), read at scrape time
            {
                "registry": registry,
                "kube_counters": counters,
                "collectors": (*process_collectors(), *collectors),
            },
        ),
    ]


def check_metrics_cert_dir(options: MetricsOptions, role: str) -> None:
    """``--metrics-cert-dir`` without its tls.crt and tls.key: say which file is missing
    (OptionsError, unreadable)."""
    cert_dir = options.cert_dir
    if not cert_dir or options.secure_port < 0:
        return
    for name in ("tls.crt", "tls.key"):
        if not os.path.isfile(os.path.join(cert_dir, name)):
            raise OptionsError(
                f"lbtui {role}: --metrics-cert-dir: no {name} in {cert_dir}", unreadable=True
            )


def status_options(address: str | None, token_file: str | None) -> StatusOptions:
    """``--status-addr HOST:PORT`` and ``--status-token-file``, checked before anything is
    built: OptionsError when the address or the token file is bad."""
    if not address:
        return StatusOptions()
    from actors.observability.status import parse_address  # only a served endpoint needs it

    try:
        where = parse_address(address)
    except ValueError as exc:
        raise OptionsError(f"--status-addr: {exc}") from exc
    token = ""
    if token_file:
        try:
            with open(token_file, encoding="utf-8") as f:
                token = f.read().strip()
        except OSError as exc:
            raise OptionsError(f"{token_file}: cannot read: {exc}", unreadable=True) from exc
        if not token:
            raise OptionsError(f"{token_file}: the token file is empty")
    return StatusOptions(where, token)


def status_spec(options: StatusOptions) -> ActorSpec | None:
    """The status endpoint's actor (None without an address)."""
    if options.address is None:
        return None
    from actors.observability.status import StatusActor  # and the HTTP server under it

    return ActorSpec("status", StatusActor, {"address": options.address, "token": options.token})


def event_log_spec(stream: TextIO, clock: Clock) -> ActorSpec:
    """Every event as one JSON line on ``stream`` (a headless role's stdout), its time
    counted from now on ``clock``, with the wall-clock time beside it."""
    origin = {"time_origin": clock.now(), "wall_origin": clock.wall()}
    return ActorSpec("eventlog", JsonLinesEventLog, {"stream": stream, **origin})


def failover_meter(
    node: str, *, metrics_served: bool = True
) -> tuple[FailoverMetrics | None, ActorSpec]:
    """Takeover times (FailoverMeasured events, lbtui_failover_seconds): the histogram's
    holder, for the metrics (None when no metrics are served: the events alone), and a
    listener to start before the subsystems whose events it reads."""
    metrics = FailoverMetrics() if metrics_served else None
    return metrics, ActorSpec("failover", FailoverMeterActor, {"node": node, "metrics": metrics})
