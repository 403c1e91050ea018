"""The actors every headless role adds so it can be watched: health and metrics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from actors.observability.health import HealthActor
from actors.observability.metrics_auth import KubeReviewer
from actors.observability.secure_metrics import SecureMetricsActor


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
) -> list[Any]:
    """The health and metrics actors of a role, first in its start order (not ready before
    the others have synced). ``port`` -1 disables both; 0 picks a free port (tests).

    ``secure_port`` (needs ``kube``, whose API reviews the scrapers' tokens): also serve
    ``/metrics`` over HTTPS there, behind the authn/authz filter; -1 (the default) does not.
    """
    from prometheus_client import CollectorRegistry

    from actors.observability.metrics import MetricsActor
    from actors.runtime import ActorSpec

    if port < 0:
        return []
    registry = CollectorRegistry(auto_describe=False)
    counters = None
    if kube is not None:
        stats = kube.stats

        def counters() -> tuple[int, int]:
            return stats.updates_total, stats.update_errors_total

    secure: list[Any] = []
    if secure_port >= 0 and kube is not None:
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
            # collectors: other subsystems' metrics (the L2 counters), read at scrape time
            {"registry": registry, "kube_counters": counters, "collectors": tuple(collectors)},
        ),
    ]
