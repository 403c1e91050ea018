"""The controller: which actors ``lbtui controller`` runs against a Kubernetes API.

:func:`build` turns :class:`ControllerOptions` into the whole process's actors:
[securemetrics] health metrics eventlog, then :func:`controller_specs`:

kube (list + watch) → config (metallb.io objects of ``--namespace``) → cluster (Services,
Namespaces) → [leader (a coordination.k8s.io Lease)] → status writers → allocator.

The allocator is the stateful one (MetalLB's semantics, house rule 7). It starts only once the
watch has listed every Service, and its ``converge_all`` re-claims the addresses already in the
Services' status before it allocates anything, so a restarted controller keeps every address.
With ``--leader-elect`` several replicas may run: only the one holding the Lease allocates and
writes; the others watch, and the one that takes over starts from a fresh allocator that
re-learns everything from the status the previous leader wrote.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TextIO

import msgspec

from actors.allocator.leading import ControllerAllocator
from actors.clock import Clock
from actors.cluster.actor import ClusterActor
from actors.config.actor import ConfigActor
from actors.config.build import DEFAULT_NAMESPACE
from actors.kube.certificates import CERT_DIR, CertRotator
from actors.kube.cluster import KubeCluster, KubeWatcher
from actors.kube.cluster_source import KubeClusterSource
from actors.kube.config_state import ConfigurationStateWriter
from actors.kube.config_store import KubeConfigStore
from actors.kube.leader import LEASE_NAME, LeaderElector, default_identity
from actors.kube.memberlist_secret import MemberlistSecretWriter
from actors.kube.pool_status import PoolStatusWriter
from actors.kube.resources import (
    BFD_PROFILES,
    BGP_ADVERTISEMENTS,
    BGP_PEERS,
    COMMUNITIES,
    CONTROLLER_RESOURCES,
    L2_ADVERTISEMENTS,
    POOLS,
    Resource,
)
from actors.kube.service_status import ServiceStatusWriter
from actors.kube.webhook_server import WEBHOOK_MODES, WEBHOOK_PORT, WebhookActor, live_objects
from actors.model import names
from actors.observability.health import DEFAULT_PORT
from actors.roles.kube import KUBE_REFRESH_INTERVAL, KubeOptions, connect
from actors.roles.observability import (
    MetricsOptions,
    check_metrics_cert_dir,
    event_log_spec,
    observability_specs,
)
from actors.runtime import ActorSpec


class WebhookOptions(msgspec.Struct, frozen=True):
    """Where the admission and conversion webhooks listen and keep their certificate
    (``--webhook-port``, ``--cert-dir``, ``--cert-service-name``, ``--webhook-secret``;
    ``rotate`` False: ``--disable-cert-rotation``). The names are :func:`webhook_specs`'s."""

    port: int = WEBHOOK_PORT
    cert_dir: str = CERT_DIR
    service_name: str = "metallb-webhook-service"
    secret_name: str = "metallb-webhook-cert"
    rotate: bool = True


class ControllerOptions(msgspec.Struct, frozen=True):
    """Everything ``lbtui controller`` can be told (see its ``--help`` for each option)."""

    kube: KubeOptions = msgspec.field(default_factory=KubeOptions)
    namespace: str = DEFAULT_NAMESPACE
    lb_class: str | None = None
    leader_elect: bool = False
    lease_name: str = LEASE_NAME
    webhook_mode: str = "enabled"  # one of WEBHOOK_MODES
    webhooks: WebhookOptions = msgspec.field(default_factory=WebhookOptions)
    ml_secret_name: str = ""  # create the speakers' memberlist Secret of this name
    deployment: str = "controller"  # the controller's Deployment, owner of that Secret
    metrics: MetricsOptions = msgspec.field(default_factory=MetricsOptions)


def build(options: ControllerOptions, *, events: TextIO, clock: Clock) -> list[ActorSpec]:
    """The actors of one ``lbtui controller`` process, not started; ``events`` receives every
    event as a JSON line. OptionsError before anything is made: a ``--metrics-cert-dir``
    without its files, or an API that cannot be reached."""
    check_metrics_cert_dir(options.metrics, "controller")
    resources: Iterable[Resource] = CONTROLLER_RESOURCES
    if options.webhook_mode != "disabled":
        resources = with_webhook_resources(resources)
    kube = connect(options.kube, options.namespace, resources, prefix="lbtui controller: ")
    metrics = options.metrics
    return [
        *observability_specs(
            port=DEFAULT_PORT if metrics.port is None else metrics.port,
            kube=kube,
            secure_port=metrics.secure_port,
            metrics_cert_dir=metrics.cert_dir,
        ),
        event_log_spec(events, clock),
        *controller_specs(
            kube,
            lb_class=options.lb_class,
            leader_elect=options.leader_elect,
            lease_name=options.lease_name,
            refresh_interval=KUBE_REFRESH_INTERVAL,
            webhook_mode=options.webhook_mode,
            webhook_options=msgspec.structs.asdict(options.webhooks),
            ml_secret_name=options.ml_secret_name,
            deployment=options.deployment,
        ),
    ]


def controller_specs(
    kube: KubeCluster,
    *,
    lb_class: str | None = None,
    leader_elect: bool = False,
    identity: str | None = None,
    lease_name: str = LEASE_NAME,
    lease_timing: tuple[float, float, float] = (15.0, 10.0, 2.0),
    sync_timeout: float = 5.0,
    retry: tuple[float, float] = (0.5, 30.0),
    refresh_interval: float = 0.0,
    webhook_mode: str = "disabled",
    webhook_options: dict[str, Any] | None = None,
    ml_secret_name: str = "",
    deployment: str = "controller",
) -> list[ActorSpec]:
    """The controller's own actors (not started; :func:`build` adds health, metrics and the
    event log); ``kube`` carries the API and namespace. Tests tune the timings here.

    ``ml_secret_name`` (MetalLB's ``--ml-secret-name``): create the speakers' memberlist key
    Secret of that name unless it exists, owned by the Deployment ``deployment``.

    ``refresh_interval``: at most one cluster load per interval (the command line uses 0.1 s,
    so a burst of Services costs a few loads; 0 loads on every change).

    ``webhook_mode`` (MetalLB's ``--webhook-mode``): "enabled" adds the admission and
    conversion webhooks (certificate rotator and HTTPS server, options in
    ``webhook_options``, see :func:`webhook_specs`);
    "onlywebhook" runs the webhooks without allocation or status writes. ``kube`` must then
    watch the kinds the webhooks read (see :func:`with_webhook_resources`).
    """
    api = kube.api
    namespace = kube.namespace
    leading = not leader_elect  # without election this replica is the one writer
    retry_kw = {"retry_initial": retry[0], "retry_max": retry[1]}
    watcher = ActorSpec("kube", KubeWatcher, {"kube": kube, "sync_timeout": sync_timeout})
    webhooks = webhook_specs(kube, mode=webhook_mode, **(webhook_options or {}))
    specs = [
        watcher,
        ActorSpec(names.CONFIG, ConfigActor, {"store": KubeConfigStore(kube)}),
        ActorSpec(
            names.CLUSTER,
            ClusterActor,
            {"source": KubeClusterSource(kube), "min_interval": refresh_interval},
        ),
    ]
    if webhook_mode == "onlywebhook":
        # No allocation and no writes; config and cluster stay for /readyz (first sync).
        return [*specs, *webhooks]
    if leader_elect:
        duration, deadline, period = lease_timing
        specs.append(
            ActorSpec(
                "leader",
                LeaderElector,
                {
                    "api": api,
                    "namespace": namespace,
                    "identity": identity or default_identity(),
                    "lease_name": lease_name,
                    "lease_duration": duration,
                    "renew_deadline": deadline,
                    "retry_period": period,
                },
            )
        )
    # Writers start before the allocator so they see its very first events.
    specs += [
        ActorSpec("status", ServiceStatusWriter, {"api": api, "leader": leading, **retry_kw}),
        ActorSpec(
            "poolstatus",
            PoolStatusWriter,
            {"api": api, "namespace": namespace, "leader": leading, **retry_kw},
        ),
        ActorSpec(
            "configstate",
            ConfigurationStateWriter,
            {"api": api, "namespace": namespace, "leader": leading, **retry_kw},
        ),
        ActorSpec(names.ALLOCATOR, ControllerAllocator, {"lb_class": lb_class, "leader": leading}),
    ]
    if ml_secret_name:
        specs.append(
            ActorSpec(
                "mlsecret",
                MemberlistSecretWriter,
                {
                    "api": api,
                    "namespace": namespace,
                    "secret_name": ml_secret_name,
                    "deployment": deployment,
                    **retry_kw,
                },
            )
        )
    specs += [
        # Last: their first round (certificates, caBundles) must not delay allocation.
        *webhooks,
    ]
    return specs


def with_webhook_resources(resources: Iterable[Resource]) -> tuple[Resource, ...]:
    """``resources`` plus a cache of every metallb.io configuration kind the webhooks read.
    The added ones have no role: they feed only the webhooks, never the controller's own
    configuration (MetalLB's controller reads pools and communities only)."""
    have = tuple(resources)
    plurals = {r.plural for r in have}
    extra = tuple(
        msgspec.structs.replace(r, roles=frozenset())
        for r in (
            POOLS,
            COMMUNITIES,
            L2_ADVERTISEMENTS,
            BGP_ADVERTISEMENTS,
            BFD_PROFILES,
            BGP_PEERS,
        )
        if r.plural not in plurals
    )
    return (*have, *extra)


def webhook_specs(
    kube: KubeCluster,
    *,
    mode: str = "enabled",
    cert_dir: str = CERT_DIR,
    service_name: str = "metallb-webhook-service",
    secret_name: str = "metallb-webhook-cert",
    rotate: bool = True,
    host: str = "0.0.0.0",
    port: int = WEBHOOK_PORT,
    **rotator_options: Any,
) -> list[ActorSpec]:
    """The actors of the webhooks (none with ``mode="disabled"``): the certificate rotator
    (unless ``rotate`` is False), then the server."""
    if mode not in WEBHOOK_MODES:
        raise ValueError(f"webhook mode must be one of {', '.join(WEBHOOK_MODES)}, not {mode!r}")
    if mode == "disabled":
        return []
    specs = []
    if rotate:
        specs.append(
            ActorSpec(
                "certs",
                CertRotator,
                {
                    "api_client": kube.api.api_client,
                    "namespace": kube.namespace,
                    "cert_dir": cert_dir,
                    "service_name": service_name,
                    "secret_name": secret_name,
                    **rotator_options,
                },
            )
        )
    specs.append(
        ActorSpec(
            "webhooks",
            WebhookActor,
            {
                "existing": live_objects(kube),
                "namespace": kube.namespace,
                "cert_dir": cert_dir,
                "host": host,
                "port": port,
            },
        )
    )
    return specs
