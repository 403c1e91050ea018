"""The speaker role: the actors one node runs to announce addresses (``lbtui speaker``)."""

from __future__ import annotations

from typing import Any

from actors.model import names
from actors.speaker.actor import SpeakerActor
from actors.speaker.announcer import Announcer


def file_speaker_specs(
    node: str,
    cluster_files: list[str],
    config_files: list[str],
    *,
    announcer: Announcer,
    state_file: str | None = None,
    lb_class: str | None = None,
    namespace: str = "metallb-system",
    poll_interval: float = 1.0,
    extra: list[Any] | None = None,
) -> list[Any]:
    """The actors of ``lbtui speaker --cluster``: no API server, no controller.

    Every speaker reading the same files computes the same allocation (stateless allocator,
    DESIGN rule 7) and announces its own share of it.
    """
    from actors.allocator.actor import AllocatorActor
    from actors.cluster.actor import ClusterActor
    from actors.cluster.files import FileClusterSource
    from actors.config.actor import ConfigActor
    from actors.config.store import ConfigStore
    from actors.observability.statefile import StateFileWriter
    from actors.runtime import ActorSpec

    specs = [
        ActorSpec(
            "config",
            ConfigActor,
            {
                "store": ConfigStore.from_paths(config_files, namespace),
                "watch_interval": poll_interval,
            },
        ),
        ActorSpec(
            "cluster",
            ClusterActor,
            {
                "source": FileClusterSource(cluster_files),
                "poll_interval": poll_interval,
            },
        ),
        ActorSpec("allocator", AllocatorActor, {"stateless": True, "lb_class": lb_class}),
    ]
    if state_file:
        specs.append(ActorSpec("statefile", StateFileWriter, {"path": state_file, "node": node}))
    # Subsystems (membership, L2 responders, BGP sessions) start before the speaker uses them.
    specs.extend(extra or [])
    specs.append(speaker_spec(node, announcer))
    return specs


def speaker_spec(node: str, announcer: Announcer) -> Any:
    """The speaker itself (an ActorSpec), started last, after the subsystems it uses, and
    withdrawing everything on stop."""
    from actors.runtime import ActorSpec

    return ActorSpec(
        names.speaker(node),
        SpeakerActor,
        {"node": node, "announcer": announcer, "membership_observer": node},
        withdraws_on_stop=True,
    )


def kube_speaker_specs(
    node: str,
    kube: Any,
    *,
    announcer: Announcer,
    lb_class: str | None = None,
    pod_name: str = "",
    discovery_labels: str = "app=metallb,component=speaker",
    discovery_port: int = 7946,
    sync_timeout: float = 5.0,
    retry: tuple[float, float] = (0.5, 30.0),
    refresh_interval: float = 0.0,
    extra: list[Any] | None = None,
) -> list[Any]:
    """The actors of ``lbtui speaker --kubeconfig``: objects from the API (``kube``, a
    KubeCluster), addresses from the Services' status (the controller allocates), status
    objects and ``nodeAssigned`` events back to the API, other speakers found by pod label."""
    from actors.cluster.actor import ClusterActor
    from actors.config.actor import ConfigActor
    from actors.kube.cluster import KubeWatcher
    from actors.kube.cluster_source import KubeClusterSource
    from actors.kube.config_state import ConfigurationStateWriter
    from actors.kube.config_store import KubeConfigStore
    from actors.kube.discovery import SpeakerDiscovery
    from actors.kube.speaker_status import SpeakerStatusWriter
    from actors.kube.status_readers import StatusAllocations
    from actors.runtime import ActorSpec

    api, namespace = kube.api, kube.namespace
    retry_kw = {"retry_initial": retry[0], "retry_max": retry[1]}
    specs = [
        ActorSpec("kube", KubeWatcher, {"kube": kube, "sync_timeout": sync_timeout}),
        ActorSpec("config", ConfigActor, {"store": KubeConfigStore(kube)}),
        ActorSpec(
            "cluster",
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
    specs.append(speaker_spec(node, announcer))
    return specs
