"""The ClusterSource of a real cluster: :class:`KubeClusterSource` over the watch caches.

It pushes changes (``subscribe``) instead of being polled, parses each object with the same
loader as the YAML files (:func:`actors.config.loader.load_documents`), parses an unchanged
object (same resourceVersion) only once, and skips (and says once) an object the models cannot
read instead of refusing the whole cluster. It never writes status: the controller's
:class:`actors.kube.service_status.ServiceStatusWriter` does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from actors.cluster.source import SourceError
from actors.config.loader import load_documents
from actors.kube.cache import object_key
from actors.kube.cluster import KubeCluster, Subscriber
from actors.model.allocation import Allocation
from actors.model.cluster import ClusterState, EndpointSlice, Namespace, Node, Service

log = logging.getLogger(__name__)

_CLUSTER_MODELS: dict[str, type[Any]] = {
    "Service": Service,
    "EndpointSlice": EndpointSlice,
    "Node": Node,
    "Namespace": Namespace,
}


class KubeClusterSource:
    """A ClusterSource over the caches: pushes changes (``subscribe``), never polled."""

    def __init__(self, kube: KubeCluster) -> None:
        self.kube = kube
        self.name = kube.name
        # (kind, key) -> (resourceVersion, parsed): unchanged objects are not parsed again.
        self._parsed: dict[tuple[str, str], tuple[str, Any]] = {}
        self.rejected: dict[tuple[str, str], str] = {}

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        return self.kube.subscribe("cluster", callback)

    def changed(self) -> bool:
        return False

    def load(self) -> ClusterState:
        if not self.kube.synced("cluster"):
            waiting = ", ".join(self.kube.unsynced("cluster"))
            raise SourceError((f"{self.name}: waiting for the first list of {waiting}",))
        found: dict[str, list[Any]] = {k: [] for k in _CLUSTER_MODELS}
        seen: set[tuple[str, str]] = set()
        for raw in self.kube.objects("cluster"):
            kind = raw.get("kind", "")
            if kind not in _CLUSTER_MODELS:
                continue
            key = (kind, object_key(raw))
            seen.add(key)
            rv = str(raw["metadata"].get("resourceVersion", ""))
            memo = self._parsed.get(key)
            if memo is not None and memo[0] == rv and rv:
                found[kind].append(memo[1])
                continue
            parsed = self._parse(kind, raw, key)
            if parsed is not None:
                self._parsed[key] = (rv, parsed)
                found[kind].append(parsed)
        for stale in set(self._parsed) - seen:
            del self._parsed[stale]
        return ClusterState.of(
            services=found["Service"],
            endpoint_slices=found["EndpointSlice"],
            nodes=found["Node"],
            namespaces=found["Namespace"],
        )

    def _parse(self, kind: str, raw: dict[str, Any], key: tuple[str, str]) -> Any:
        inputs = load_documents([(raw, 0)], self.name)
        target = inputs.of_cluster_kind(kind)
        if target:
            self.rejected.pop(key, None)
            return target[0].obj
        # One object the models cannot read is skipped (and said once), not the whole cluster.
        problem = "; ".join(str(i) for i in inputs.issues) or "unreadable"
        if self.rejected.get(key) != problem:
            log.warning("ignoring %s/%s: %s", kind, key[1], problem)
            self.rejected[key] = problem
        return None

    def write_status(self, allocations: Mapping[str, Allocation]) -> bool:
        # The controller's ServiceStatusWriter writes status (with retries and events).
        return False
