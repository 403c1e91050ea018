"""The speaker role: the actors one node runs to announce addresses (``lbtui speaker``).

:func:`build` turns :class:`SpeakerOptions` into the whole process's actors, in start order:

    [status] [securemetrics] health metrics eventlog
    config cluster (allocator | allocations + status writers + discovery) [statefile]
    failover [l2] [frr | bfd bgp] [membership] speaker/<node>

With ``cluster_files`` the objects come from files (no API server, no controller: every
speaker computes the same allocation, house rule 7); without, from the Kubernetes API, where
the controller allocates. The subsystems come after the sources and before the speaker that
uses them; membership is the last of them, so it leaves right after the withdrawal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

import msgspec

from actors.allocator.actor import AllocatorActor
from actors.bgp.actor import BgpSpeakerActor
from actors.bgp.secrets import FileSecrets, SecretLookup
from actors.bgp.session import METRICS as BGP_METRICS
from actors.clock import Clock
from actors.cluster.actor import ClusterActor
from actors.cluster.files import FileClusterSource
from actors.config.actor import ConfigActor
from actors.config.build import DEFAULT_NAMESPACE
from actors.config.store import ConfigStore
from actors.model import names
from actors.model.issues import UnreadableInput
from actors.observability.failover import FailoverMetrics
from actors.observability.statefile import StateFileWriter
from actors.roles.bgp import BgpOptions, frr_bgp, native_bgp
from actors.roles.errors import OptionsError
from actors.roles.kube import KUBE_REFRESH_INTERVAL, KubeOptions
from actors.roles.layer2 import L2Options, l2_parts
from actors.roles.membership import MembershipOptions, membership_spec
from actors.roles.observability import (
    MetricsOptions,
    StatusOptions,
    check_metrics_cert_dir,
    event_log_spec,
    failover_meter,
    observability_specs,
    status_spec,
)
from actors.runtime import ActorSpec
from actors.speaker.actor import SpeakerActor
from actors.speaker.announcer import Announcer, CompositeAnnouncer, RecordingAnnouncer

if TYPE_CHECKING:
    from actors.kube.cluster import KubeCluster


class SpeakerOptions(msgspec.Struct, frozen=True):
    """Everything ``lbtui speaker`` can be told (see its ``--help`` for each option)."""

    node: str
    #: Services, EndpointSlices and Nodes from these files; empty: from the Kubernetes API.
    cluster_files: tuple[str, ...] = ()
    #: Configuration files (default: the cluster files).
    config_files: tuple[str, ...] = ()
    kube: KubeOptions = msgspec.field(default_factory=KubeOptions)
    namespace: str = DEFAULT_NAMESPACE
    lb_class: str | None = None
    #: MetalLB's --ignore-exclude-lb: nodes labelled
    #: node.kubernetes.io/exclude-from-external-load-balancers still announce.
    ignore_exclude_lb: bool = False
    state_file: str | None = None  # files only: the computed status, kept in a file
    poll_interval: float = 1.0  # files only: how often to check them for changes
    pod_name: str = ""  # API only: this speaker's pod, owner of its status objects
    discovery_labels: str = "app=metallb,component=speaker"  # API only: the speaker pods
    layer2: L2Options = msgspec.field(default_factory=L2Options)
    bgp: BgpOptions = msgspec.field(default_factory=BgpOptions)
    membership: MembershipOptions = msgspec.field(default_factory=MembershipOptions)
    metrics: MetricsOptions = msgspec.field(default_factory=MetricsOptions)
    status: StatusOptions = msgspec.field(default_factory=StatusOptions)

    @property
    def on_kube(self) -> bool:
        """Whether the objects come from the Kubernetes API (no ``cluster_files``)."""
        return not self.cluster_files


def build(options: SpeakerOptions, *, events: TextIO, clock: Clock) -> list[ActorSpec]:
    """The actors of one ``lbtui speaker`` process, not started; ``events`` receives every
    event as a JSON line. OptionsError, before anything is made, for options that cannot
    work (checked in the order the command line always checked them, after the status
    endpoint's options, which :func:`status_options` checked)."""
    node = options.node
    status = status_spec(options.status)
    if options.on_kube:
        check_metrics_cert_dir(options.metrics, "speaker")
    l2, l2_specs = _layer2(options)
    # The BGP passwords in Secrets: on a cluster the watched ones (of the connection made
    # below, once the options are known good), else those in the configuration files.
    secrets = (
        _kube_secrets(lambda: kube) if options.on_kube else FileSecrets(_config_files(options))
    )
    frr = frr_bgp(node, options.bgp, secrets) if options.bgp.backend == "frr" else None
    membership = membership_spec(node, options.membership, on_kube=options.on_kube)
    kube = _connect(options) if options.on_kube else None
    bgp: Announcer = RecordingAnnouncer()
    bgp_specs: list[ActorSpec] = []
    if frr is not None:
        bgp, bgp_specs = frr
    native = frr is None and options.bgp.enabled
    if native:
        bgp, bgp_specs = native_bgp(node, options.bgp, secrets)
    # With files (no Kubernetes) metrics are served only on an explicit metrics port; without
    # them, prometheus_client is never imported.
    serve_metrics = options.on_kube or options.metrics.port is not None
    failover_metrics, failover = failover_meter(node, metrics_served=serve_metrics)
    # The failover meter listens before the subsystems whose events it reads; membership is
    # the last of them: it leaves right after the withdrawal.
    subsystems = [failover, *l2_specs, *bgp_specs, *([membership] if membership else [])]
    specs = _sources_and_speaker(options, kube, CompositeAnnouncer(l2=l2, bgp=bgp), subsystems)
    head = [] if status is None else [status]
    if failover_metrics is not None:
        from actors.observability.health import DEFAULT_PORT

        head += observability_specs(
            port=DEFAULT_PORT if options.metrics.port is None else options.metrics.port,
            node=node,
            require_membership=membership is not None,
            kube=kube,
            collectors=_collectors(failover_metrics, l2, native, membership is not None),
            # MetalLB's HTTPS /metrics (authn/authz through the API): only with the API.
            secure_port=options.metrics.secure_port if options.on_kube else -1,
            metrics_cert_dir=options.metrics.cert_dir,
        )
    return [*head, event_log_spec(events, clock), *specs]


def _connect(options: SpeakerOptions) -> KubeCluster:
    """The API client and object cache of a speaker on Kubernetes. The Kubernetes adapter is
    imported here and in :func:`kube_speaker_specs`: a speaker on files never loads it."""
    from actors.kube.resources import SPEAKER_RESOURCES
    from actors.roles.kube import connect

    return connect(options.kube, options.namespace, SPEAKER_RESOURCES)


def _kube_secrets(kube: Callable[[], KubeCluster | None]) -> SecretLookup:
    """BGP passwords from the watched Secrets of the connection ``kube`` returns once made
    (the adapter imported here, as in _connect)."""
    from actors.kube.secrets import KubeSecrets

    return KubeSecrets(kube)


def _layer2(options: SpeakerOptions) -> tuple[Announcer, list[ActorSpec]]:
    """The L2 announcer and its actor; with ``--no-l2`` a recorder and none."""
    if not options.layer2.enabled:
        return RecordingAnnouncer(), []
    try:
        return l2_parts(
            options.node,
            exclude=options.layer2.exclude or None,
            refresh=options.layer2.refresh,
            in_kernel=options.layer2.in_kernel,
        )
    except (ValueError, PermissionError) as exc:
        raise OptionsError(f"lbtui speaker: {exc}") from exc


def _sources_and_speaker(
    options: SpeakerOptions,
    kube: KubeCluster | None,
    announcer: Announcer,
    subsystems: list[ActorSpec],
) -> list[ActorSpec]:
    """Where the objects come from (files, or the API), the subsystems, the speaker."""
    try:
        if kube is None:
            return file_speaker_specs(
                options.node,
                list(options.cluster_files),
                _config_files(options),
                announcer=announcer,
                state_file=options.state_file,
                lb_class=options.lb_class,
                ignore_exclude_lb=options.ignore_exclude_lb,
                namespace=options.namespace,
                poll_interval=options.poll_interval,
                extra=subsystems,
            )
        return kube_speaker_specs(
            options.node,
            kube,
            announcer=announcer,
            lb_class=options.lb_class,
            ignore_exclude_lb=options.ignore_exclude_lb,
            pod_name=options.pod_name,
            discovery_labels=options.discovery_labels,
            refresh_interval=KUBE_REFRESH_INTERVAL,
            extra=subsystems,
        )
    except UnreadableInput as exc:
        raise OptionsError(str(exc), unreadable=True) from exc


def _collectors(
    failover: FailoverMetrics, l2: Announcer, native_bgp: bool, membership: bool
) -> list[Any]:
    """The subsystems' metrics, read at scrape time: takeover times, MetalLB's layer 2
    counters, (lbtui's own sessions) metallb_bgp_session_up / _updates_total /
    _announced_prefixes_total by peer, and the gossip packets dropped by reason. Imported
    here: only a speaker serving metrics loads prometheus_client."""
    from actors.l2.metrics import ConflictCollector, L2Collector
    from actors.membership.actor import METRICS as MEMBERSHIP_METRICS
    from actors.membership.actor import MembershipActor
    from actors.observability.metrics import AskedCounters

    collectors: list[Any] = [failover]
    l2_counters = getattr(l2, "counters", None)
    if l2_counters is not None:
        collectors += [L2Collector(l2_counters), ConflictCollector(l2_counters)]
    if native_bgp:
        collectors.append(
            AskedCounters(
                BgpSpeakerActor, BgpSpeakerActor.counters, label="peer", families=BGP_METRICS
            )
        )
    if membership:
        collectors.append(
            AskedCounters(
                MembershipActor,
                MembershipActor.dropped_packets,
                label="reason",
                families=MEMBERSHIP_METRICS,
            )
        )
    return collectors


def _config_files(options: SpeakerOptions) -> list[str]:
    return list(options.config_files or options.cluster_files)


def file_speaker_specs(
    node: str,
    cluster_files: list[str],
    config_files: list[str],
    *,
    announcer: Announcer,
    state_file: str | None = None,
    lb_class: str | None = None,
    ignore_exclude_lb: bool = False,
    namespace: str = DEFAULT_NAMESPACE,
    poll_interval: float = 1.0,
    extra: list[ActorSpec] | None = None,
) -> list[ActorSpec]:
    """The actors of ``lbtui speaker --cluster``: no API server, no controller.

    Every speaker reading the same files computes the same allocation (stateless allocator,
    house rule 7) and announces its own share of it. Raises UnreadableInput for a
    configuration file that cannot be read.
    """
    specs = [
        ActorSpec(
            names.CONFIG,
            ConfigActor,
            {
                "store": ConfigStore.from_paths(config_files, namespace),
                "watch_interval": poll_interval,
            },
        ),
        ActorSpec(
            names.CLUSTER,
            ClusterActor,
            {
                "source": FileClusterSource(cluster_files),
                "poll_interval": poll_interval,
            },
        ),
        ActorSpec(names.ALLOCATOR, AllocatorActor, {"stateless": True, "lb_class": lb_class}),
    ]
    if state_file:
        specs.append(ActorSpec("statefile", StateFileWriter, {"path": state_file, "node": node}))
    # Subsystems (membership, L2 responders, BGP sessions) start before the speaker uses them.
    specs.extend(extra or [])
    specs.append(speaker_spec(node, announcer, specs, ignore_exclude_lb))
    return specs


def speaker_spec(
    node: str, announcer: Announcer, subsystems: list[ActorSpec], ignore_exclude_lb: bool = False
) -> ActorSpec:
    """The speaker itself, started last, after the subsystems it uses, and withdrawing
    everything on stop. With gossip among ``subsystems`` it awaits gossip's first view."""
    return ActorSpec(
        names.speaker(node),
        SpeakerActor,
        {
            "node": node,
            "announcer": announcer,
            "membership_observer": node,
            "awaits_membership": any(spec.name == names.MEMBERSHIP for spec in subsystems),
            "ignore_exclude_lb": ignore_exclude_lb,
        },
        withdraws_on_stop=True,
    )


def kube_speaker_specs(
    node: str,
    kube: KubeCluster,
    *,
    announcer: Announcer,
    lb_class: str | None = None,
    ignore_exclude_lb: bool = False,
    pod_name: str = "",
    discovery_labels: str = "app=metallb,component=speaker",
    discovery_port: int = 7946,
    sync_timeout: float = 5.0,
    retry: tuple[float, float] = (0.5, 30.0),
    refresh_interval: float = 0.0,
    extra: list[ActorSpec] | None = None,
) -> list[ActorSpec]:
    """The actors of ``lbtui speaker --kubeconfig``: objects from the API (``kube``),
    addresses from the Services' status (the controller allocates), status objects and
    ``nodeAssigned`` events back to the API, other speakers found by pod label."""
    from actors.kube.cluster import KubeWatcher
    from actors.kube.cluster_source import KubeClusterSource
    from actors.kube.config_state import ConfigurationStateWriter
    from actors.kube.config_store import KubeConfigStore
    from actors.kube.discovery import SpeakerDiscovery
    from actors.kube.speaker_status import SpeakerStatusWriter
    from actors.kube.status_readers import StatusAllocations

    api, namespace = kube.api, kube.namespace
    retry_kw = {"retry_initial": retry[0], "retry_max": retry[1]}
    specs = [
        ActorSpec("kube", KubeWatcher, {"kube": kube, "sync_timeout": sync_timeout}),
        ActorSpec(names.CONFIG, ConfigActor, {"store": KubeConfigStore(kube)}),
        ActorSpec(
            names.CLUSTER,
            ClusterActor,
            {"source": KubeClusterSource(kube), "min_interval": refresh_interval},
        ),
        ActorSpec("allocations", StatusAllocations, {"lb_class": lb_class}),
        ActorSpec(
            "speakerstatus",
            SpeakerStatusWriter,
            {"api": api, "namespace": namespace, "node": node, "pod_name": pod_name, **retry_kw},
        ),
        ActorSpec(
            "configstate",
            ConfigurationStateWriter,
            {"api": api, "namespace": namespace, "node": node, **retry_kw},
        ),
    ]
    if discovery_labels:
        specs.append(
            ActorSpec(
                "discovery",
                SpeakerDiscovery,
                {
                    "api": api,
                    "namespace": namespace,
                    "node": node,
                    "labels": discovery_labels,
                    "port": discovery_port,
                },
            )
        )
    specs.extend(extra or [])
    specs.append(speaker_spec(node, announcer, specs, ignore_exclude_lb))
    return specs
