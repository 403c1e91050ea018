"""Reaching the Kubernetes API for a role: the connection options and the one connect step.

The speaker, the controller and the kube console connect the same way, as kubectl does:
``--kubeconfig`` if given, else ``$KUBECONFIG`` (a colon-separated list, merged), else the
in-cluster configuration inside a pod, else ``~/.kube/config``; ``--context`` if given, else
the current context (:mod:`actors.kube.kubeconfig`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import msgspec

from actors.roles.errors import OptionsError

if TYPE_CHECKING:
    from actors.kube.cluster import KubeCluster
    from actors.kube.resources import Resource

# At most one cluster load per 100 ms on a real cluster: bursts of changes coalesce.
KUBE_REFRESH_INTERVAL = 0.1


class KubeOptions(msgspec.Struct, frozen=True):
    """Where the API is: a kubeconfig file and context (None: as kubectl finds them)."""

    kubeconfig: str | None = None
    context: str | None = None


def connect(
    options: KubeOptions, namespace: str, resources: Iterable[Resource], *, prefix: str = ""
) -> KubeCluster:
    """The KubeCluster watching ``resources``; OptionsError (unreadable), after ``prefix``,
    if no kubeconfig is found or the one found cannot be used (naming it). The adapter is
    imported here: a role on files never loads it."""
    from actors.kube.api import KubeApi
    from actors.kube.cluster import KubeCluster
    from actors.kube.kubeconfig import KubeconfigNotFound, find_kubeconfig

    try:
        source = find_kubeconfig(options.kubeconfig)
        api = KubeApi.connect(source, options.context)
    except KubeconfigNotFound as exc:
        raise OptionsError(f"{prefix}{exc}", unreadable=True) from exc
    except Exception as exc:  # the client raises ConfigException, OSError, YAML errors...
        raise OptionsError(f"{prefix}{source.describe}: {exc}", unreadable=True) from exc
    return KubeCluster(api, namespace=namespace, resources=resources)
