"""Reaching the Kubernetes API for a role: the connection options and the one connect step.

The speaker, the controller and the kube console connect the same way: ``--kubeconfig`` and
``--context`` if given, else the in-cluster configuration inside a pod, else ``~/.kube/config``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from actors.kube.api import KubeApi
from actors.kube.cluster import KubeCluster
from actors.kube.resources import Resource
from actors.roles.errors import OptionsError

# At most one cluster load per 100 ms on a real cluster: bursts of changes coalesce.
KUBE_REFRESH_INTERVAL = 0.1


@dataclass(frozen=True)
class KubeOptions:
    """Where the API is: a kubeconfig file and context (None: in-cluster or the default)."""

    kubeconfig: str | None = None
    context: str | None = None


def connect(
    options: KubeOptions, namespace: str, resources: Iterable[Resource], *, prefix: str = ""
) -> KubeCluster:
    """The KubeCluster watching ``resources``; OptionsError (unreadable), naming the
    kubeconfig or ``<in-cluster config>`` after ``prefix``, if it cannot be used."""
    try:
        api = KubeApi.connect(options.kubeconfig, options.context)
    except Exception as exc:  # the client raises ConfigException, OSError, YAML errors...
        where = options.kubeconfig or "<in-cluster config>"
        raise OptionsError(f"{prefix}{where}: {exc}", unreadable=True) from exc
    return KubeCluster(api, namespace=namespace, resources=resources)
