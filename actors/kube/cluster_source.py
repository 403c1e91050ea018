"""The ClusterSource of a real cluster: :class:`KubeClusterSource` over the watch caches.

It pushes changes (``subscribe``) instead of being polled, parses each object with the same
loader as the YAML files (:func:`actors.config.loader.load_documents`), parses an unchanged
object (same resourceVersion) only once, and skips (and says once) an object the models cannot
read instead of refusing the whole cluster. A load reads only the objects whose keys the caches'
journals list since the last load (:meth:`ObjectCache.changes`), and keeps every unchanged
object the very object it was, so whoever compares two ClusterStates by identity (the
allocator, the status writer, ``service_changes``) pays for what changed. It never writes
status: the controller's :class:`actors.kube.service_status.ServiceStatusWriter` does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from actors.cluster.source import SourceError
from actors.config.loader import load_documents
from actors.kube.cache import ObjectCache, object_key
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
        # Per kind: the parsed objects by key (sorted), and each cache's journal cursor.
        self._tables: dict[str, dict[str, Any]] = {k: {} for k in _CLUSTER_MODELS}
        self._cursors: dict[str, int | None] = {}
        self._state = ClusterState()
        # The keys of the Services that may differ between the state the last load returned
        # and the one it returned before (None: every one may): see services_changed_since.
        self._before: ClusterState | None = None
        self._changed_services: frozenset[str] | None = None
        self.parsed = 0  # objects parsed so far: the tests' cost counter

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        return self.kube.subscribe("cluster", callback)

    def changed(self) -> bool:
        return False

    def load(self) -> ClusterState:
        if not self.kube.synced("cluster"):
            waiting = ", ".join(self.kube.unsynced("cluster"))
            raise SourceError((f"{self.name}: waiting for the first list of {waiting}",))
        changed: set[str] = set()
        services: frozenset[str] | None = frozenset()
        for cache in self.kube.caches.values():
            kind = cache.resource.kind
            if "cluster" not in cache.resource.roles or kind not in _CLUSTER_MODELS:
                continue
            plural = cache.resource.plural
            keys, self._cursors[plural] = cache.changes(self._cursors.get(plural))
            if keys is None:
                self._reload(kind, cache.snapshot())
                changed.add(kind)
            elif keys:
                self._update(kind, keys, cache)
                changed.add(kind)
            if kind == "Service":
                services = None if keys is None else frozenset(keys)
        self._before, self._changed_services = self._state, services
        if not changed:
            return self._state
        state = self._state
        tables = self._tables
        self._state = ClusterState(
            services=(
                MappingProxyType(dict(tables["Service"]))
                if "Service" in changed
                else state.services
            ),
            endpoint_slices=(
                tuple(tables["EndpointSlice"].values())
                if "EndpointSlice" in changed
                else state.endpoint_slices
            ),
            nodes=MappingProxyType(dict(tables["Node"])) if "Node" in changed else state.nodes,
            namespaces=(
                MappingProxyType(dict(tables["Namespace"]))
                if "Namespace" in changed
                else state.namespaces
            ),
        )
        return self._state

    def services_changed_since(self, state: ClusterState) -> frozenset[str] | None:
        """The keys of the Services that may differ between ``state`` and the state the last
        load returned (None: unknown, every one may): known when ``state`` is that one, or
        the one the load before returned (as for the ClusterActor, its only reader)."""
        if state is self._state:
            return frozenset()
        return self._changed_services if state is self._before else None

    def _reload(self, kind: str, objects: list[dict[str, Any]]) -> None:
        """Every object of ``kind`` (the first load, or after falling behind the journal)."""
        table: dict[str, Any] = {}
        for raw in objects:
            key = object_key(raw)
            parsed = self._parse_memo(kind, key, raw)
            if parsed is not None:
                table[key] = parsed
        for stale in [k for k in self._parsed if k[0] == kind and k[1] not in table]:
            del self._parsed[stale]
        self._tables[kind] = table

    def _update(self, kind: str, keys: set[str], cache: ObjectCache) -> None:
        """The objects of ``kind`` whose keys changed; the table stays sorted by key."""
        table = self._tables[kind]
        resort = False
        for key in keys:
            raw = cache.get(key)
            parsed = None if raw is None else self._parse_memo(kind, key, raw)
            if parsed is None:
                self._parsed.pop((kind, key), None)
                table.pop(key, None)
                continue
            resort = resort or key not in table
            table[key] = parsed
        if resort:
            self._tables[kind] = dict(sorted(table.items()))

    def _parse_memo(self, kind: str, key: str, raw: dict[str, Any]) -> Any:
        rv = str(raw["metadata"].get("resourceVersion", ""))
        memo = self._parsed.get((kind, key))
        if memo is not None and memo[0] == rv and rv:
            return memo[1]
        parsed = self._parse(kind, raw, (kind, key))
        if parsed is not None:
            self._parsed[(kind, key)] = (rv, parsed)
        return parsed

    def _parse(self, kind: str, raw: dict[str, Any], key: tuple[str, str]) -> Any:
        self.parsed += 1
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
