"""The ConfigActor's store on a real cluster: :class:`KubeConfigStore` over the metallb.io
objects of ``--namespace`` (plus the legacy ConfigMap, the Secrets holding BGP passwords and
Node labels), as the watch caches hold them.

An edit is a create/replace/delete of the custom resource, with optimistic concurrency (the
document keeps its resourceVersion); the API server's refusal comes back as the edit's issues
(:func:`issues_from_api_error`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from actors.config.build import BuildResult, build_config
from actors.config.loader import Inputs, load_documents
from actors.config.store import CONFIG_KINDS, PersistRejected
from actors.kube.api import api_error, short_error
from actors.kube.cluster import KubeCluster, Subscriber
from actors.kube.resources import RESOURCE_BY_KIND
from actors.model.issues import Issue

API_FILE = "kube"


def issues_from_api_error(exc: BaseException, obj: str) -> tuple[Issue, ...]:
    """The API server's refusal as issues: one per cause (field and message), else its message."""
    status, body = api_error(exc)
    causes = (body.get("details") or {}).get("causes") or []
    issues = tuple(
        Issue(API_FILE, obj, str(c.get("field", "")), str(c.get("message", "")))
        for c in causes
        if isinstance(c, dict)
    )
    if issues:
        return issues
    message = body.get("message") or short_error(exc)
    prefix = f"API server refused ({status}): " if status else "API server unreachable: "
    return (Issue(API_FILE, obj, "", prefix + str(message)),)


def _config_document(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as a user would write it: no status, no server-managed metadata but the
    resourceVersion."""
    meta = obj.get("metadata") or {}
    doc: dict[str, Any] = {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        # resourceVersion stays: an edit of this document is refused (409) if the object
        # changed in between, instead of silently undoing someone else's change.
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "labels", "annotations", "resourceVersion")
            if k in meta
        },
    }
    for field_name in ("spec", "data", "stringData", "type"):
        if field_name in obj:
            doc[field_name] = obj[field_name]
    return doc


class KubeConfigStore:
    """The ConfigActor's store over the API: the metallb.io objects of ``--namespace`` (plus
    the legacy ConfigMap, the Secrets holding BGP passwords and Node labels).

    Like ConfigStore, a store is an immutable snapshot; ``reload()`` takes a fresh one and
    ``with_document``/``without_document`` return a candidate whose ``persist`` performs the
    write. The API server may still refuse a candidate the local validation accepted (its CRD
    schema, an admission webhook, a concurrent change): ``persist`` raises PersistRejected.
    """

    files: Mapping[str, Any] = MappingProxyType({})  # nothing on disk to watch

    def __init__(
        self,
        kube: KubeCluster,
        docs: list[dict[str, Any]] | None = None,
        pending: tuple[str, dict[str, Any]] | None = None,
    ) -> None:
        self.kube = kube
        self.namespace = kube.namespace
        self._docs = docs
        self._pending = pending

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        return self.kube.subscribe("config", callback)

    def _documents(self) -> list[dict[str, Any]]:
        if self._docs is None:
            self._docs = [
                _config_document(o) if o.get("kind") in CONFIG_KINDS else o
                for o in self.kube.objects("config")
            ]
        return self._docs

    def reload(self) -> KubeConfigStore:
        return KubeConfigStore(self.kube)

    def inputs(self) -> Inputs:
        return load_documents(((doc, 0) for doc in self._documents()), API_FILE)

    def build(self) -> tuple[Inputs, BuildResult]:
        if not self.kube.synced("config"):
            waiting = ", ".join(self.kube.unsynced("config"))
            issue = Issue(API_FILE, "", "", f"waiting for the first list of {waiting}")
            return Inputs(), BuildResult(None, [issue])
        inputs = self.inputs()
        nodes = [n.obj for n in inputs.nodes]
        result = build_config(inputs, namespace=self.namespace, nodes=nodes)
        load_errors = [i for i in inputs.issues if i.severity == "error"]
        if load_errors:
            return inputs, BuildResult(None, [*inputs.issues, *result.issues])
        return inputs, BuildResult(result.config, [*inputs.issues, *result.issues])

    def document(self, kind: str, name: str) -> dict[str, Any] | None:
        if kind not in CONFIG_KINDS:
            return None  # Secrets (BGP passwords) and the like are never handed out
        for doc in self._documents():
            if doc.get("kind") == kind and (doc.get("metadata") or {}).get("name") == name:
                return copy.deepcopy(doc)
        return None

    def with_document(self, doc: dict[str, Any]) -> tuple[KubeConfigStore, str]:
        kind = str(doc.get("kind", "")) if isinstance(doc, dict) else ""
        meta = doc.get("metadata") if isinstance(doc, dict) else None
        name = str(meta.get("name", "")) if isinstance(meta, dict) else ""
        if kind not in CONFIG_KINDS:
            raise ValueError(f"only metallb.io configuration can be edited, not {kind!r}")
        if not name:
            raise ValueError("metadata.name is required")
        doc = copy.deepcopy(doc)
        doc["metadata"]["namespace"] = self.namespace
        docs = [d for d in self._documents() if _identity(d) != (kind, name)]
        docs.append(doc)
        return KubeConfigStore(self.kube, docs, ("apply", doc)), f"{API_FILE}:{kind}/{name}"

    def without_document(self, kind: str, name: str) -> tuple[KubeConfigStore, str]:
        existing = self.document(kind, name)
        if existing is None:
            raise KeyError(f"{kind}/{name} not found")
        docs = [d for d in self._documents() if _identity(d) != (kind, name)]
        return KubeConfigStore(self.kube, docs, ("delete", existing)), f"{API_FILE}:{kind}/{name}"

    def persist(self, path: str) -> str:
        """Perform the pending write. Returns "" (the API keeps no backup file)."""
        if self._pending is None:
            return ""
        action, doc = self._pending
        kind = str(doc["kind"])
        name = str(doc["metadata"]["name"])
        resource = RESOURCE_BY_KIND[kind]
        version = resource.version
        cache = self.kube.caches.get(resource.plural)
        try:
            if action == "delete":
                self.kube.api.custom_delete(resource.plural, self.namespace, name, version)
                if cache is not None:
                    cache.forget(f"{self.namespace}/{name}")
            else:
                body = copy.deepcopy(doc)
                body["apiVersion"] = resource.api_version
                current = cache.get(f"{self.namespace}/{name}") if cache is not None else None
                if current is None:
                    written = self.kube.api.custom_create(
                        resource.plural, self.namespace, body, version
                    )
                else:
                    # Optimistic concurrency: a change made meanwhile by someone else is a 409.
                    rv = current["metadata"].get("resourceVersion")
                    body["metadata"].setdefault("resourceVersion", rv)
                    written = self.kube.api.custom_replace(
                        resource.plural, self.namespace, name, body, version
                    )
                if cache is not None:
                    cache.upsert(written)
                # What this store now says is what the server stored, resourceVersion and
                # defaults included: the next edit of it is checked against this version.
                if self._docs is not None:
                    self._docs = [
                        _config_document(written) if _identity(d) == (kind, name) else d
                        for d in self._docs
                    ]
        except Exception as exc:
            raise PersistRejected(issues_from_api_error(exc, f"{kind}/{name}")) from exc
        self._pending = None
        return ""


def _identity(doc: Mapping[str, Any]) -> tuple[str, str]:
    meta = doc.get("metadata") or {}
    return str(doc.get("kind", "")), str(meta.get("name", ""))
