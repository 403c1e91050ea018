"""The console role on a cluster (``lbtui console --kubeconfig``): the actors that read the
API for it."""

from __future__ import annotations

from typing import Any

from actors.kube.status_readers import StatusAllocations, StatusObjectsReader


def kube_console_specs(kube: Any, *, lb_class: str | None = None) -> list[Any]:
    """The actors behind ``lbtui console --kubeconfig``: the cluster as the API shows it
    (Services, pools and their usage, who announces what), and configuration edits that
    become writes of the metallb.io objects."""
    from actors.cluster.actor import ClusterActor
    from actors.config.actor import ConfigActor
    from actors.kube.cluster import KubeWatcher
    from actors.kube.cluster_source import KubeClusterSource
    from actors.kube.config_store import KubeConfigStore
    from actors.runtime import ActorSpec

    return [
        ActorSpec("kube", KubeWatcher, {"kube": kube}),
        ActorSpec("config", ConfigActor, {"store": KubeConfigStore(kube)}),
        ActorSpec("statusobjects", StatusObjectsReader, {"kube": kube}),
        # "allocator": the name the console's port asks for allocations and usage.
        ActorSpec("allocator", StatusAllocations, {"lb_class": lb_class, "kube": kube}),
        ActorSpec("cluster", ClusterActor, {"source": KubeClusterSource(kube)}),
    ]
