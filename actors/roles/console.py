"""The console role on a cluster (``lbtui console --kubeconfig``): the actors that read the
API for it.

The console itself (and its port, which follows the speakers' event streams) belongs to
``lbtui``; this builder only connects and says which actors answer the port's asks.
"""

from __future__ import annotations

import msgspec

from actors.cluster.actor import ClusterActor
from actors.config.actor import ConfigActor
from actors.config.build import DEFAULT_NAMESPACE
from actors.kube.cluster import KubeCluster, KubeWatcher
from actors.kube.cluster_source import KubeClusterSource
from actors.kube.config_store import KubeConfigStore
from actors.kube.resources import CONSOLE_RESOURCES
from actors.kube.status_readers import StatusAllocations, StatusObjectsReader
from actors.model import names
from actors.roles.kube import KubeOptions, connect
from actors.runtime import ActorSpec


class KubeConsoleOptions(msgspec.Struct, frozen=True):
    """``--kubeconfig``/``--context``, ``--namespace`` and ``--lb-class`` of the console."""

    kube: KubeOptions = msgspec.field(default_factory=KubeOptions)
    namespace: str = DEFAULT_NAMESPACE
    lb_class: str | None = None


class KubeConsole(msgspec.Struct, frozen=True):
    """What :func:`build` made: the actors, and the cluster connection the port also uses."""

    specs: list[ActorSpec]
    cluster: KubeCluster


def build(options: KubeConsoleOptions) -> KubeConsole:
    """Connect and list the console's actors (not started); OptionsError if the kubeconfig
    cannot be used."""
    kube = connect(options.kube, options.namespace, CONSOLE_RESOURCES, prefix="lbtui console: ")
    return KubeConsole(kube_console_specs(kube, lb_class=options.lb_class), kube)


def kube_console_specs(kube: KubeCluster, *, lb_class: str | None = None) -> list[ActorSpec]:
    """The actors behind ``lbtui console --kubeconfig``: the cluster as the API shows it
    (Services, pools and their usage, who announces what), and configuration edits that
    become writes of the metallb.io objects."""
    return [
        ActorSpec("kube", KubeWatcher, {"kube": kube}),
        ActorSpec(names.CONFIG, ConfigActor, {"store": KubeConfigStore(kube)}),
        ActorSpec("statusobjects", StatusObjectsReader, {"kube": kube}),
        # The console's port asks the allocator's name for allocations and usage.
        ActorSpec(names.ALLOCATOR, StatusAllocations, {"lb_class": lb_class, "kube": kube}),
        ActorSpec(names.CLUSTER, ClusterActor, {"source": KubeClusterSource(kube)}),
    ]
