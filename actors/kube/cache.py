"""One resource's objects as last seen: :class:`ObjectCache`.

It keeps only what lbtui reads (no managedFields; of a Node only labels, addresses and
condition states: a Node's heartbeat is not a change), so a notification means something lbtui
cares about changed. Objects are filed under :func:`object_key` (``namespace/name``, or the
name of a cluster-scoped object). Thread-safe: a reflector's thread writes, actors read.

Every change also goes into a journal of keys, so a reader that keeps a cursor
(:meth:`ObjectCache.changes`) reads only the objects that changed since it last looked, not
the whole cache: one watch event costs one object, at 10,000 Services as at 10. The journal is
trimmed when it grows past twice the objects; a reader left behind reads everything once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from actors.kube.resources import Resource


def _without_noise(resource: Resource, obj: dict[str, Any]) -> dict[str, Any]:
    """What lbtui keeps of an object: no managedFields, and of a Node only labels, addresses
    and condition states (its heartbeats rewrite the rest every few seconds)."""
    out = dict(obj)
    out["kind"] = resource.kind
    out["apiVersion"] = obj.get("apiVersion") or resource.api_version
    meta = dict(out.get("metadata") or {})
    meta.pop("managedFields", None)
    out["metadata"] = meta
    if resource.kind == "Node":
        status = obj.get("status") or {}
        out["status"] = {
            "conditions": [
                {"type": c.get("type"), "status": c.get("status")}
                for c in status.get("conditions") or []
                if isinstance(c, dict)
            ],
            "addresses": list(status.get("addresses") or []),
        }
        out.pop("spec", None)
    return out


def _comparable(obj: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k != "resourceVersion"}
    return {**obj, "metadata": meta}


def object_key(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace") or ""
    return f"{namespace}/{meta.get('name', '')}" if namespace else str(meta.get("name", ""))


def _newer(a: str, b: str) -> bool:
    """Whether resourceVersion ``a`` is newer than ``b`` (opaque strings; etcd's are ints)."""
    if a.isdigit() and b.isdigit():
        return int(a) > int(b)
    return a != b


class ObjectCache:
    """One resource's objects as last seen; thread-safe; every change bumps ``generation``."""

    def __init__(self, resource: Resource) -> None:
        self.resource = resource
        self.lock = threading.Lock()
        self.items: dict[str, dict[str, Any]] = {}
        self.resource_version = ""
        self.synced = False
        self.generation = 0
        self._journal: list[str] = []  # keys changed, oldest first
        self._journal_base = 0  # the cursor of _journal[0]

    def _changed(self, key: str) -> None:
        """Record a change of ``key`` (the lock held)."""
        self.generation += 1
        self._journal.append(key)
        if len(self._journal) > 2 * len(self.items) + 1024:
            cut = len(self._journal) // 2
            del self._journal[:cut]
            self._journal_base += cut

    def changes(self, cursor: int | None) -> tuple[set[str] | None, int]:
        """The keys changed since ``cursor`` (None: every object, as for a reader that never
        looked or fell behind the trimmed journal), and the cursor to pass next time."""
        with self.lock:
            end = self._journal_base + len(self._journal)
            if cursor is None or cursor < self._journal_base:
                return None, end
            return set(self._journal[cursor - self._journal_base :]), end

    def replace(self, items: Iterable[dict[str, Any]], resource_version: str) -> bool:
        """A fresh list: whatever differs from the cache is a change (adds, updates, deletes)."""
        fresh = {}
        for raw in items:
            obj = _without_noise(self.resource, raw)
            fresh[object_key(obj)] = obj
        with self.lock:
            old = self.items
            differ = [k for k in old if k not in fresh]
            differ += [
                k
                for k, obj in fresh.items()
                if k not in old or _comparable(obj) != _comparable(old[k])
            ]
            self.items = fresh
            self.resource_version = resource_version
            first = not self.synced
            self.synced = True
            for key in differ:
                self._changed(key)
            if first and not differ:
                self.generation += 1
            return bool(differ) or first

    def apply(self, kind: str, raw: dict[str, Any]) -> bool:
        """One watch event; True if something lbtui reads changed."""
        obj = _without_noise(self.resource, raw)
        key = object_key(obj)
        rv = str(obj["metadata"].get("resourceVersion", ""))
        with self.lock:
            if rv:
                self.resource_version = rv
            old = self.items.get(key)
            if kind == "DELETED":
                if old is None:
                    return False
                del self.items[key]
            else:
                self.items[key] = obj
                if old is not None and _comparable(old) == _comparable(obj):
                    return False
            self._changed(key)
            return True

    def upsert(self, raw: dict[str, Any]) -> bool:
        """An object our own write returned: take it now unless the cache already has newer."""
        obj = _without_noise(self.resource, raw)
        key = object_key(obj)
        with self.lock:
            old = self.items.get(key)
            rv = str(obj["metadata"].get("resourceVersion", ""))
            if old is not None and not _newer(rv, str(old["metadata"].get("resourceVersion", ""))):
                return False
            self.items[key] = obj
            self._changed(key)
            return True

    def forget(self, key: str) -> bool:
        with self.lock:
            if self.items.pop(key, None) is None:
                return False
            self._changed(key)
            return True

    def bookmark(self, resource_version: str) -> None:
        with self.lock:
            self.resource_version = resource_version

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return [self.items[k] for k in sorted(self.items)]

    def get(self, key: str) -> dict[str, Any] | None:
        with self.lock:
            return self.items.get(key)
