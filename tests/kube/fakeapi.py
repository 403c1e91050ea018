"""A small Kubernetes API server for tests, keeping the protocol the official client relies on.

stdlib only (ThreadingHTTPServer, HTTP/1.1 keep-alive, chunked watch streams). What it keeps:
- one global resourceVersion counter; every write bumps it and is recorded in a history;
- list (``metadata.resourceVersion`` of the list) and watch from a resourceVersion: the events
  after it, then live ones, until ``timeoutSeconds``; BOOKMARKs when asked for; a watch from a
  compacted resourceVersion gets the ``ERROR`` event with code 410 (Expired);
- create (with ``generateName``), replace (PUT, with the resourceVersion precondition: 409),
  merge, strategic-merge (treated as a merge) and JSON patches, delete;
- the status subresource: writes to the object ignore ``status``, writes to ``/status`` change
  only ``status`` (Services also take metadata, as the real strategy allows);
- the pods/proxy subresource (``pods/NAME:PORT/proxy/PATH``): the request goes on to the pod's
  ``status.podIP`` and the answer streams back chunked; 503 when the pod cannot be reached;
- label and field selectors (equality, inequality, existence), ``Status`` error bodies,
  validators that answer 422 Invalid with causes, injected failures, and a whole-server outage
  (listener closed, open connections cut) that ``up()`` ends on the same port;
- CRD conversion webhooks, once the kind's CustomResourceDefinition (with ``strategy: Webhook``)
  exists: objects written in another version are converted to the storage version, and read
  ones (get, list; not watch events) to the version asked for, by the webhook (same TLS checks);
- validating admission webhooks, as kube-apiserver calls them, once a
  ValidatingWebhookConfiguration exists: each write its rules match is POSTed as an
  AdmissionReview over HTTPS, the certificate verified against the webhook's ``caBundle`` and
  the Service's DNS name (``<name>.<namespace>.svc``; :meth:`FakeKubeApi.serve_webhook_service`
  says where that Service's endpoint listens); ``allowed: false`` refuses the write with the
  webhook's message, an unreachable webhook refuses it under ``failurePolicy: Fail``.

Watch events are deliberately split across chunk boundaries (and several share one chunk), as a
real server's may be.
"""

from __future__ import annotations

import contextlib
import copy
import http.client
import json
import queue
import random
import re
import socket
import string
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass(frozen=True)
class Kind:
    group: str  # "" for the core group
    versions: tuple[str, ...]
    plural: str
    kind: str
    namespaced: bool = True
    status: bool = False  # has the status subresource

    @property
    def store_key(self) -> tuple[str, str]:
        return (self.group, self.plural)

    def api_version(self, version: str | None = None) -> str:
        v = version or self.versions[-1]
        return f"{self.group}/{v}" if self.group else v


KINDS: tuple[Kind, ...] = (
    Kind("", ("v1",), "services", "Service", status=True),
    Kind("", ("v1",), "nodes", "Node", namespaced=False, status=True),
    Kind("", ("v1",), "namespaces", "Namespace", namespaced=False, status=True),
    Kind("", ("v1",), "secrets", "Secret"),
    Kind("", ("v1",), "configmaps", "ConfigMap"),
    Kind("", ("v1",), "events", "Event"),
    Kind("", ("v1",), "pods", "Pod", status=True),
    Kind("discovery.k8s.io", ("v1",), "endpointslices", "EndpointSlice"),
    Kind("coordination.k8s.io", ("v1",), "leases", "Lease"),
    Kind("apps", ("v1",), "deployments", "Deployment", status=True),
    Kind("metallb.io", ("v1beta1",), "ipaddresspools", "IPAddressPool", status=True),
    Kind("metallb.io", ("v1beta1",), "l2advertisements", "L2Advertisement", status=True),
    Kind("metallb.io", ("v1beta1",), "bgpadvertisements", "BGPAdvertisement", status=True),
    Kind("metallb.io", ("v1beta1",), "communities", "Community", status=True),
    Kind("metallb.io", ("v1beta1",), "bfdprofiles", "BFDProfile", status=True),
    Kind("metallb.io", ("v1beta1", "v1beta2"), "bgppeers", "BGPPeer", status=True),
    Kind("metallb.io", ("v1beta1",), "servicel2statuses", "ServiceL2Status", status=True),
    Kind("metallb.io", ("v1beta1",), "servicebgpstatuses", "ServiceBGPStatus", status=True),
    Kind("metallb.io", ("v1beta1",), "configurationstates", "ConfigurationState", status=True),
    Kind(
        "admissionregistration.k8s.io",
        ("v1",),
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
        namespaced=False,
    ),
    Kind(
        "apiextensions.k8s.io",
        ("v1",),
        "customresourcedefinitions",
        "CustomResourceDefinition",
        namespaced=False,
    ),
)
BY_PATH = {(k.group, k.plural): k for k in KINDS}
BY_KIND = {(k.group, k.kind): k for k in KINDS}

Validator = Callable[[Kind, dict[str, Any], dict[str, Any] | None], list[tuple[str, str]]]


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, causes: list[dict] | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.causes = code, reason, message, causes or []

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.causes:
            out["details"] = {"causes": self.causes}
        return out


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (null deletes, objects merge, everything else replaces)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def json_patch(target: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    doc = copy.deepcopy(target)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent: Any = doc
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent.setdefault(part, {})
        last = parts[-1]
        kind = op["op"]
        if kind == "test":
            value = parent[int(last)] if isinstance(parent, list) else parent.get(last)
            if value != op["value"]:
                raise ApiError(422, "Invalid", f"test operation failed at {op['path']}")
        elif kind == "remove":
            del parent[int(last) if isinstance(parent, list) else last]
        elif isinstance(parent, list):
            if last == "-":
                parent.append(op["value"])
            elif kind == "add":
                parent.insert(int(last), op["value"])
            else:
                parent[int(last)] = op["value"]
        else:
            parent[last] = op["value"]
    return doc


def _labels_match(labels: dict[str, str], selector: str) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.split("=", 1)
            if labels.get(key.strip().rstrip("=")) != value.strip().lstrip("="):
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def _fields_match(obj: dict[str, Any], selector: str) -> bool:
    meta = obj.get("metadata", {})
    for term in filter(None, (t.strip() for t in selector.split(","))):
        negate = "!=" in term
        key, value = term.split("!=" if negate else "=", 1)
        actual = {"metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace")}
        if key.strip() not in actual:
            continue
        if (actual[key.strip()] == value.strip().lstrip("=")) == negate:
            return False
    return True


@dataclass
class _Watcher:
    kind: Kind
    namespace: str | None
    labels: str
    fields: str
    events: queue.Queue[tuple[int, str, dict[str, Any]] | None]

    def wants(self, kind: Kind, obj: dict[str, Any]) -> bool:
        if kind.store_key != self.kind.store_key:
            return False
        meta = obj.get("metadata", {})
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return False
        return _labels_match(meta.get("labels") or {}, self.labels) and _fields_match(
            obj, self.fields
        )


class Store:
    """Objects, the resourceVersion counter and the event history; thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.rv = 100
        self.objects: dict[tuple[str, str], dict[tuple[str, str], dict[str, Any]]] = {
            k.store_key: {} for k in KINDS
        }
        self.history: list[tuple[int, Kind, str, dict[str, Any]]] = []
        self.compacted = 0
        self.watchers: list[_Watcher] = []
        self.validators: list[Validator] = []
        self.requests: list[tuple[str, str, str]] = []  # (method, path, content-type)
        # Validating webhooks: where each webhook Service listens, and what they answered.
        self.webhook_services: dict[tuple[str, str], tuple[str, int]] = {}
        self.admission_warnings: list[str] = []
        self.admission_reviews: list[tuple[str, str, bool]] = []  # (webhook, operation, allowed)
        self.conversions: list[tuple[str, str]] = []  # (from, to) done by a conversion webhook

    # -- writes -------------------------------------------------------------------------------
    def _record(self, kind: Kind, event: str, obj: dict[str, Any]) -> None:
        snapshot = copy.deepcopy(obj)
        self.history.append((self.rv, kind, event, snapshot))
        for w in list(self.watchers):
            if w.wants(kind, snapshot):
                w.events.put((self.rv, event, snapshot))

    def _validate(self, kind: Kind, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        causes = []
        for validator in self.validators:
            for field_path, message in validator(kind, obj, old):
                causes.append(
                    {"reason": "FieldValueInvalid", "message": message, "field": field_path}
                )
        if causes:
            name = obj.get("metadata", {}).get("name", "")
            text = "; ".join(f"{c['field']}: {c['message']}" for c in causes)
            raise ApiError(422, "Invalid", f'{kind.kind} "{name}" is invalid: {text}', causes)

    def create(self, kind: Kind, namespace: str | None, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            obj = copy.deepcopy(body)
            meta = obj.setdefault("metadata", {})
            if kind.namespaced:
                ns = namespace or meta.get("namespace") or "default"
                if meta.get("namespace") and meta["namespace"] != ns:
                    raise ApiError(400, "BadRequest", "the namespace of the object does not match")
                meta["namespace"] = ns
            if not meta.get("name"):
                prefix = meta.get("generateName")
                if not prefix:
                    raise ApiError(422, "Invalid", "name or generateName is required")
                suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
                meta["name"] = prefix + suffix
            key = (meta.get("namespace", ""), meta["name"])
            self._absent(kind, key)
            self._validate(kind, obj, None)
        # Admission runs outside the store's lock, as in kube-apiserver: a webhook may read
        # the API while it reviews.
        call_validating_webhooks(self, "CREATE", kind, obj, None)
        with self.lock:
            self._absent(kind, key)  # created meanwhile by someone else
            self.rv += 1
            obj["apiVersion"] = obj.get("apiVersion") or kind.api_version()
            obj["kind"] = kind.kind
            meta["resourceVersion"] = str(self.rv)
            meta["uid"] = f"uid-{self.rv}"
            meta.setdefault("creationTimestamp", _now())
            meta["generation"] = 1
            self.objects[kind.store_key][key] = obj
            self._record(kind, "ADDED", obj)
            return copy.deepcopy(obj)

    def _absent(self, kind: Kind, key: tuple[str, str]) -> None:
        if key in self.objects[kind.store_key]:
            raise ApiError(409, "AlreadyExists", f'{kind.plural} "{key[1]}" already exists')

    def get(self, kind: Kind, namespace: str | None, name: str) -> dict[str, Any]:
        with self.lock:
            obj = self.objects[kind.store_key].get((namespace or "", name))
            if obj is None:
                raise ApiError(404, "NotFound", f'{kind.plural} "{name}" not found')
            return copy.deepcopy(obj)

    def replace(
        self,
        kind: Kind,
        namespace: str | None,
        name: str,
        body: dict[str, Any],
        subresource: str = "",
    ) -> dict[str, Any]:
        key = (namespace or "", name)
        wanted_rv = body.get("metadata", {}).get("resourceVersion")
        while True:
            with self.lock:
                old = self._current(kind, key, wanted_rv)
                new = self._admit(kind, old, body, subresource)
            if not subresource:  # rules name "ipaddresspools", not "ipaddresspools/status"
                call_validating_webhooks(self, "UPDATE", kind, new, old)  # outside the lock
            with self.lock:
                current = self._current(kind, key, wanted_rv)
                if current["metadata"]["resourceVersion"] != old["metadata"]["resourceVersion"]:
                    continue  # written meanwhile: admit again against it (GuaranteedUpdate)
                if new == old:
                    return copy.deepcopy(old)  # a no-op write does not bump the resourceVersion
                self._validate(kind, new, old)
                self.rv += 1
                new["metadata"]["resourceVersion"] = str(self.rv)
                if new.get("spec") != old.get("spec"):
                    new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
                self.objects[kind.store_key][key] = new
                self._record(kind, "MODIFIED", new)
                return copy.deepcopy(new)

    def _current(self, kind: Kind, key: tuple[str, str], wanted_rv: str | None) -> dict[str, Any]:
        """The stored object (a copy), if it exists and is at ``wanted_rv`` when one is given."""
        old = self.objects[kind.store_key].get(key)
        if old is None:
            raise ApiError(404, "NotFound", f'{kind.plural} "{key[1]}" not found')
        if wanted_rv and wanted_rv != old["metadata"]["resourceVersion"]:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {kind.plural} "{key[1]}": the object has '
                "been modified; please apply your changes to the latest version and try again",
            )
        return copy.deepcopy(old)

    def _admit(
        self, kind: Kind, old: dict[str, Any], body: dict[str, Any], subresource: str
    ) -> dict[str, Any]:
        """What a write may change: the status subresource splits object and status."""
        body = copy.deepcopy(body)
        new: dict[str, Any]
        if subresource == "status":
            new = copy.deepcopy(old)
            if "status" in body:
                new["status"] = body["status"]
            else:
                new.pop("status", None)
            if kind.kind == "Service":  # the Service status strategy keeps metadata changes
                for field_name in ("annotations", "labels"):
                    value = body.get("metadata", {}).get(field_name)
                    if value:
                        new["metadata"][field_name] = value
                    else:
                        new["metadata"].pop(field_name, None)
            return new
        new = body
        meta = new.setdefault("metadata", {})
        for field_name in ("name", "namespace", "uid", "creationTimestamp", "generation"):
            if field_name in old["metadata"]:
                meta[field_name] = old["metadata"][field_name]
        meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        new["apiVersion"] = old["apiVersion"] if not new.get("apiVersion") else new["apiVersion"]
        new["kind"] = kind.kind
        if kind.status:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        return new

    def patch(
        self,
        kind: Kind,
        namespace: str | None,
        name: str,
        patch: Any,
        content_type: str,
        subresource: str = "",
    ) -> dict[str, Any]:
        with self.lock:
            current = self.get(kind, namespace, name)
            if "json-patch" in content_type:
                if not isinstance(patch, list):
                    raise ApiError(400, "BadRequest", "a JSON patch must be a list of operations")
                merged = json_patch(current, patch)
            elif "merge-patch" in content_type:
                if not isinstance(patch, dict):
                    raise ApiError(400, "BadRequest", "a merge patch must be an object")
                merged = merge_patch(current, patch)
            else:
                raise ApiError(415, "UnsupportedMediaType", f"unsupported patch {content_type}")
            wanted_rv = (
                patch.get("metadata", {}).get("resourceVersion")
                if isinstance(patch, dict)
                else None
            )
            if not wanted_rv:
                merged.setdefault("metadata", {})["resourceVersion"] = current["metadata"][
                    "resourceVersion"
                ]
        try:
            return self.replace(kind, namespace, name, merged, subresource)
        except ApiError as exc:
            if exc.code != 409 or wanted_rv:
                raise
            # Changed between our read and the write: patch the newer object instead.
            return self.patch(kind, namespace, name, patch, content_type, subresource)

    def delete(self, kind: Kind, namespace: str | None, name: str) -> dict[str, Any]:
        key = (namespace or "", name)
        with self.lock:
            found = copy.deepcopy(self.objects[kind.store_key].get(key))
        if found is not None:
            call_validating_webhooks(self, "DELETE", kind, None, found)  # outside the lock
        with self.lock:
            obj = self.objects[kind.store_key].pop(key, None)
            if obj is None:
                raise ApiError(404, "NotFound", f'{kind.plural} "{name}" not found')
            self.rv += 1
            obj["metadata"]["resourceVersion"] = str(self.rv)
            self._record(kind, "DELETED", obj)
            return copy.deepcopy(obj)

    # -- reads --------------------------------------------------------------------------------
    def list(
        self, kind: Kind, namespace: str | None, labels: str = "", fields: str = ""
    ) -> tuple[list[dict[str, Any]], int]:
        with self.lock:
            items = [
                copy.deepcopy(o)
                for (ns, _), o in sorted(self.objects[kind.store_key].items())
                if (namespace is None or ns == namespace)
                and _labels_match(o["metadata"].get("labels") or {}, labels)
                and _fields_match(o, fields)
            ]
            return items, self.rv

    def compact(self) -> None:
        """Forget the history: every watch from an older resourceVersion now gets 410."""
        with self.lock:
            self.history.clear()
            self.compacted = self.rv


class FakeKubeApi:
    """The server: ``start()``, ``url``, ``down()``/``up()`` for outages, ``store`` for edits."""

    def __init__(self, bookmark_interval: float = 0.5) -> None:
        self.store = Store()
        self.bookmark_interval = bookmark_interval
        self.port = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._failures: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()
        # TokenReview / SubjectAccessReview (what a metrics endpoint's authn/authz filter asks):
        # bearer token -> the user it authenticates; (user, nonResourceURL, verb) allowed.
        self.tokens: dict[str, dict[str, Any]] = {}
        self.access: set[tuple[str, str, str]] = set()
        self.reviews: list[dict[str, Any]] = []

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> FakeKubeApi:
        server = _Server(("127.0.0.1", self.port), _Handler)
        server.api = self
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, daemon=True, kwargs={"poll_interval": 0.05}
        )
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def down(self) -> None:
        """An outage: the listener closes and every open connection is cut."""
        server, self._server = self._server, None
        if server is None:
            return
        server.stopping = True
        server.shutdown()
        server.server_close()
        server.cut_connections()
        with self.store.lock:
            for w in list(self.store.watchers):
                w.events.put(None)

    def up(self) -> None:
        if self._server is None:
            for _ in range(50):
                try:
                    self.start()
                    return
                except OSError:
                    time.sleep(0.05)
            raise RuntimeError(f"cannot bind port {self.port} again")

    stop = down

    @property
    def is_up(self) -> bool:
        return self._server is not None

    def write_kubeconfig(self, path: str | Path) -> str:
        text = f"""apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: {self.url}
contexts:
- name: fake
  context: {{cluster: fake, user: tester}}
current-context: fake
users:
- name: tester
  user: {{token: not-a-secret}}
"""
        Path(path).write_text(text)
        return str(path)

    def allow_token(self, token: str, username: str, groups: tuple[str, ...] = ()) -> None:
        """A TokenReview of ``token`` authenticates it as ``username``."""
        self.tokens[token] = {
            "username": username,
            "uid": f"uid-{username}",
            "groups": list(groups),
        }

    def allow_access(self, username: str, path: str, verb: str = "get") -> None:
        """A SubjectAccessReview of ``username`` for (nonResourceURL ``path``, ``verb``) allows."""
        self.access.add((username, path, verb))

    def _review(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """The answer to a TokenReview or SubjectAccessReview POST (None: not a review)."""
        spec = body.get("spec") or {}
        if path == "/apis/authentication.k8s.io/v1/tokenreviews":
            user = self.tokens.get(str(spec.get("token", "")))
            status: dict[str, Any] = {"authenticated": user is not None}
            if user is not None:
                status["user"] = user
            else:
                status["error"] = "invalid bearer token"
        elif path == "/apis/authorization.k8s.io/v1/subjectaccessreviews":
            attrs = spec.get("nonResourceAttributes") or {}
            wanted = (str(spec.get("user", "")), attrs.get("path", ""), attrs.get("verb", ""))
            allowed = wanted in self.access
            status = {"allowed": allowed}
            if not allowed:
                status["reason"] = "no RBAC policy matched"
        else:
            return None
        self.reviews.append({"kind": body.get("kind", ""), "spec": spec})
        return {**body, "status": status}

    def enforce_crd_schemas(self, path: str | Path) -> None:
        """Refuse metallb.io writes their CRD's schema refuses (422, one cause per field)."""
        from tests.kube.schema import causes, crd_schemas, transition_violations

        schemas = crd_schemas(str(path))

        def validate(kind: Kind, obj: dict[str, Any], old: Any) -> list[tuple[str, str]]:
            schema = schemas.get(kind.kind) if kind.group == "metallb.io" else None
            if not schema:
                return []
            found = causes(schema, obj)
            if old is not None:  # an update: the `self == oldSelf` rules too
                found += transition_violations(schema, obj, old)
            return found

        self.store.validators.append(validate)

    def serve_webhook_service(self, namespace: str, name: str, host: str, port: int) -> None:
        """Where Service ``namespace/name`` (a webhook's ``clientConfig.service``) listens:
        the fake has no kube-proxy, so the test says which endpoint the Service leads to."""
        self.store.webhook_services[(namespace, name)] = (host, port)

    def fail(self, method: str, path_contains: str, code: int = 500, times: int = 1) -> None:
        """The next ``times`` matching requests fail with ``code``."""
        with self._lock:
            self._failures.extend([(method, path_contains, code)] * times)

    def _injected_failure(self, method: str, path: str) -> int | None:
        with self._lock:
            for i, (m, part, code) in enumerate(self._failures):
                if m == method and part in path:
                    del self._failures[i]
                    return code
        return None

    # -- object helpers for tests -------------------------------------------------------------
    def kind(self, kind: str, group: str | None = None) -> Kind:
        for k in KINDS:
            if k.kind == kind and (group is None or k.group == group):
                return k
        raise KeyError(kind)

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        kind = self.kind(obj["kind"])
        return self.store.create(kind, obj.get("metadata", {}).get("namespace"), obj)

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        k = self.kind(kind)
        return self.store.get(k, namespace if k.namespaced else None, name)

    def try_get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        try:
            return self.get(kind, name, namespace)
        except ApiError:
            return None

    def update(self, obj: dict[str, Any]) -> dict[str, Any]:
        k = self.kind(obj["kind"])
        meta = obj["metadata"]
        body = copy.deepcopy(obj)
        body["metadata"].pop("resourceVersion", None)
        return self.store.replace(
            k, meta.get("namespace") if k.namespaced else None, meta["name"], body
        )

    def merge(
        self,
        kind: str,
        name: str,
        patch: dict[str, Any],
        namespace: str | None = None,
        subresource: str = "",
    ) -> dict[str, Any]:
        k = self.kind(kind)
        ns = namespace if k.namespaced else None
        return self.store.patch(k, ns, name, patch, "application/merge-patch+json", subresource)

    def delete(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        k = self.kind(kind)
        return self.store.delete(k, namespace if k.namespaced else None, name)

    def items(
        self, kind: str, namespace: str | None = None, labels: str = ""
    ) -> list[dict[str, Any]]:
        return self.store.list(self.kind(kind), namespace, labels)[0]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default listen backlog is 5: a controller opening 24 connections at once
    # on a loaded machine overflowed it and met resets; a real API server listens with far more.
    request_queue_size = 128
    api: FakeKubeApi

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stopping = False
        self.connections: set[socket.socket] = set()
        self.conn_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.conn_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.conn_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hang up on watches all the time; that is not an error here

    def cut_connections(self) -> None:
        with self.conn_lock:
            conns = list(self.connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


def _route(path: str) -> tuple[Kind, str, str | None, str | None, str]:
    """(kind, version, namespace, name, subresource) for an API path; ApiError if none."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise ApiError(404, "NotFound", f"the server could not find the requested resource {path}")
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    elif rest[0] == "namespaces" and len(rest) == 2 and group == "":
        rest = ["namespaces", rest[1]]
    kind = BY_PATH.get((group, rest[0]))
    if kind is None or version not in kind.versions:
        raise ApiError(404, "NotFound", f"the server could not find the requested resource {path}")
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else ""
    if sub and not (sub == "status" and kind.status):
        raise ApiError(404, "NotFound", f"no subresource {sub} on {kind.plural}")
    if kind.namespaced is False:
        namespace = None
    return kind, version, namespace, name, sub


_POD_PROXY = re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/]+)/proxy(/.*)?$")
# Hop-by-hop headers, and the API server's own credentials: never forwarded to the pod.
_NOT_FORWARDED = frozenset(
    {"authorization", "connection", "keep-alive", "transfer-encoding", "te", "upgrade", "host"}
)


def _pod_proxy_route(path: str) -> tuple[str, str, str, int, str] | None:
    """(namespace, pod, scheme, port, path on the pod) of a pods/proxy request, else None.

    The pod part is ``name``, ``name:port`` or ``scheme:name:port`` (the port a number here;
    kube-apiserver also takes a container port's name)."""
    match = _POD_PROXY.match(path)
    if match is None:
        return None
    namespace, target, rest = unquote(match[1]), unquote(match[2]), match[3] or "/"
    parts = target.split(":")
    scheme = parts.pop(0) if len(parts) == 3 else "http"
    name = parts[0]
    port = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 80
    return namespace, name, scheme, port, rest


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without this, Nagle's algorithm and the
    # client's delayed ACK add 40 ms to every response (a real API server does not do that).
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # -- plumbing -----------------------------------------------------------------------------
    def _send_json(self, code: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else {}

    def _dispatch(self, method: str) -> None:
        api = self.server.api
        url = urlsplit(self.path)
        api.store.requests.append((method, url.path, self.headers.get("Content-Type", "")))
        try:
            if self.server.stopping:
                raise ApiError(503, "ServiceUnavailable", "shutting down")
            injected = api._injected_failure(method, url.path)
            if injected is not None:
                if method in ("POST", "PUT", "PATCH"):
                    self._read_body()
                raise ApiError(injected, "InternalError", "injected failure")
            if method == "POST" and url.path.endswith("reviews"):
                answer = api._review(url.path, self._read_body())
                if answer is not None:
                    self._send_json(201, answer)
                    return
            proxied = _pod_proxy_route(url.path)
            if proxied is not None:
                self._pod_proxy(method, *proxied, url.query)
                return
            kind, version, namespace, name, sub = _route(url.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            self._handle(method, kind, version, namespace, name, sub, query)
        except ApiError as exc:
            self._send_json(exc.code, exc.body())
        except (ConnectionError, OSError):
            self.close_connection = True

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # -- the API ------------------------------------------------------------------------------
    def _handle(
        self,
        method: str,
        kind: Kind,
        version: str,
        namespace: str | None,
        name: str | None,
        sub: str,
        query: dict[str, str],
    ) -> None:
        store = self.server.api.store
        served = kind.api_version(version)

        def out(obj: dict[str, Any]) -> dict[str, Any]:
            if kind.group and len(kind.versions) > 1:
                return convert_with_webhook(store, kind, obj, served)
            obj["apiVersion"] = served
            return obj

        if name is None:
            if method == "GET" and query.get("watch") in ("true", "1"):
                self._watch(kind, served, namespace, query)
            elif method == "GET":
                items, rv = store.list(
                    kind, namespace, query.get("labelSelector", ""), query.get("fieldSelector", "")
                )
                if kind.group == "":  # built-in lists carry no kind/apiVersion per item
                    for item in items:
                        item.pop("kind", None)
                        item.pop("apiVersion", None)
                else:
                    items = [out(i) for i in items]
                self._send_json(
                    200,
                    {
                        "kind": f"{kind.kind}List",
                        "apiVersion": served,
                        "metadata": {"resourceVersion": str(rv)},
                        "items": items,
                    },
                )
            elif method == "POST":
                body = self._read_body()
                body = convert_with_webhook(store, kind, body, kind.api_version())
                self._send_json(201, out(store.create(kind, namespace, body)))
            else:
                raise ApiError(405, "MethodNotAllowed", f"{method} on a collection")
            return
        if method == "GET":
            self._send_json(200, out(store.get(kind, namespace, name)))
        elif method == "PUT":
            body = convert_with_webhook(store, kind, self._read_body(), kind.api_version())
            self._send_json(200, out(store.replace(kind, namespace, name, body, sub)))
        elif method == "PATCH":
            body = self._read_body()
            content_type = self.headers.get("Content-Type", "")
            self._send_json(200, out(store.patch(kind, namespace, name, body, content_type, sub)))
        elif method == "DELETE":
            self._read_body()
            self._send_json(200, out(store.delete(kind, namespace, name)))
        else:
            raise ApiError(405, "MethodNotAllowed", method)

    def _watch(self, kind: Kind, served: str, namespace: str | None, query: dict[str, str]) -> None:
        store = self.server.api.store
        rv_text = query.get("resourceVersion", "")
        timeout = float(query.get("timeoutSeconds") or 30)
        bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
        watcher = _Watcher(
            kind,
            namespace,
            query.get("labelSelector", ""),
            query.get("fieldSelector", ""),
            queue.Queue(),
        )
        backlog: list[tuple[int, str, dict[str, Any]]] = []
        expired = False
        with store.lock:
            if rv_text in ("", "0"):
                items, rv = store.list(kind, namespace, watcher.labels, watcher.fields)
                backlog = [(rv, "ADDED", i) for i in items]
            else:
                since = int(rv_text)
                if since < store.compacted:
                    expired = True
                else:
                    backlog = [
                        (r, e, o)
                        for r, k, e, o in store.history
                        if r > since and watcher.wants(k, o)
                    ]
            if not expired:
                store.watchers.append(watcher)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            if expired:
                status = ApiError(
                    410, "Expired", f"too old resource version: {rv_text} ({store.compacted})"
                ).body()
                self._chunks([json.dumps({"type": "ERROR", "object": status}).encode() + b"\n"])
                self._end_chunks()
                return
            self._chunks([self._line(served, e, o) for _, e, o in backlog], coalesce=True)
            deadline = time.monotonic() + timeout
            next_bookmark = time.monotonic() + self.server.api.bookmark_interval
            while not self.server.stopping:
                now = time.monotonic()
                if now >= deadline:
                    break
                wait = min(deadline, next_bookmark if bookmarks else deadline) - now
                try:
                    item = watcher.events.get(timeout=max(0.01, min(wait, 0.2)))
                except queue.Empty:
                    if bookmarks and time.monotonic() >= next_bookmark:
                        next_bookmark = time.monotonic() + self.server.api.bookmark_interval
                        with store.lock:
                            current = store.rv
                        mark = {
                            "kind": kind.kind,
                            "apiVersion": served,
                            "metadata": {"resourceVersion": str(current)},
                        }
                        self._chunks(
                            [json.dumps({"type": "BOOKMARK", "object": mark}).encode() + b"\n"]
                        )
                    continue
                if item is None:
                    break
                _, event, obj = item
                self._chunks([self._line(served, event, obj)])
            if self.server.stopping:
                self.close_connection = True  # cut: no terminating chunk
                return
            self._end_chunks()
        finally:
            with store.lock:
                if watcher in store.watchers:
                    store.watchers.remove(watcher)

    # -- pods/proxy ---------------------------------------------------------------------------
    def _pod_proxy(
        self, method: str, namespace: str, name: str, scheme: str, port: int, path: str, query: str
    ) -> None:
        """As kube-apiserver: forward to the pod's IP and port, stream the answer back chunked,
        503 when the pod cannot be reached. The caller's Authorization is the API's, not the
        pod's: it is not forwarded."""
        pod = self.server.api.store.get(self.server.api.kind("Pod"), namespace, name)
        ip = (pod.get("status") or {}).get("podIP")
        if not ip:
            raise ApiError(503, "ServiceUnavailable", f"pod {name} has no IP address")
        if scheme != "http":
            raise ApiError(503, "ServiceUnavailable", f"scheme {scheme} is not supported here")
        body = b""
        if method in ("POST", "PUT", "PATCH"):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _NOT_FORWARDED}
        upstream = http.client.HTTPConnection(ip, port, timeout=30)
        try:
            try:
                upstream.request(method, path + (f"?{query}" if query else ""), body, headers)
                response = upstream.getresponse()
            except OSError as exc:
                raise ApiError(
                    503,
                    "ServiceUnavailable",
                    f"error trying to reach service: dial tcp {ip}:{port}: {exc}",
                ) from exc
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in _NOT_FORWARDED and key.lower() != "content-length":
                    self.send_header(key, value)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            while not self.server.stopping:
                try:
                    data = response.read1(65536)
                except OSError:
                    break
                if not data:
                    break
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            if self.server.stopping:
                self.close_connection = True
                return
            self._end_chunks()
        finally:
            upstream.close()

    @staticmethod
    def _line(served: str, event: str, obj: dict[str, Any]) -> bytes:
        obj = copy.deepcopy(obj)
        obj["apiVersion"] = served
        return json.dumps({"type": event, "object": obj}).encode() + b"\n"

    def _chunks(self, lines: list[bytes], coalesce: bool = False) -> None:
        """Write lines as chunks that never line up with the lines."""
        if not lines:
            return
        pieces: Iterator[bytes]
        if coalesce:
            blob = b"".join(lines)
            pieces = (blob[i : i + 97] for i in range(0, len(blob), 97))
        else:
            pieces = (p for line in lines for p in (line[: len(line) // 2], line[len(line) // 2 :]))
        for piece in pieces:
            if piece:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.flush()

    def _end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


# -- validating admission webhooks -----------------------------------------------------------

WEBHOOK_CONFIGURATIONS = ("admissionregistration.k8s.io", "validatingwebhookconfigurations")


def _rule_matches(rule: dict[str, Any], kind: Kind, version: str, operation: str) -> bool:
    def has(values: Any, value: str) -> bool:
        return isinstance(values, list) and ("*" in values or value in values)

    return (
        has(rule.get("apiGroups"), kind.group)
        and has(rule.get("resources"), kind.plural)
        and has(rule.get("operations"), operation)
        and has(rule.get("apiVersions"), version)
    )


def _matching_version(hook: dict[str, Any], kind: Kind, version: str, operation: str) -> str:
    """The version the webhook is called with ("" if its rules do not match): the request's
    own, or under ``matchPolicy: Equivalent`` (the default) another version of the kind."""
    rules = [r for r in hook.get("rules") or [] if isinstance(r, dict)]
    if any(_rule_matches(r, kind, version, operation) for r in rules):
        return version
    if hook.get("matchPolicy", "Equivalent") == "Equivalent":
        for other in kind.versions:
            if any(_rule_matches(r, kind, other, operation) for r in rules):
                return other
    return ""


def call_validating_webhooks(
    store: Store,
    operation: str,
    kind: Kind,
    new: dict[str, Any] | None,
    old: dict[str, Any] | None,
) -> None:
    """kube-apiserver's validating admission: every matching webhook must allow the write."""
    with store.lock:
        configurations = copy.deepcopy(list(store.objects[WEBHOOK_CONFIGURATIONS].values()))
    if not configurations:
        return
    target = new if new is not None else old or {}
    version = str(target.get("apiVersion", "")).rsplit("/", 1)[-1] or kind.versions[-1]
    for configuration in configurations:
        for hook in configuration.get("webhooks") or []:
            matched = _matching_version(hook, kind, version, operation)
            if matched:
                _call_webhook(store, hook, operation, kind, matched, new, old)


def _call_webhook(
    store: Store,
    hook: dict[str, Any],
    operation: str,
    kind: Kind,
    version: str,
    new: dict[str, Any] | None,
    old: dict[str, Any] | None,
) -> None:
    import uuid

    name = hook.get("name", "")
    client = hook.get("clientConfig") or {}
    target = new if new is not None else old or {}
    meta = target.get("metadata") or {}
    uid = str(uuid.uuid4())
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": kind.group, "version": version, "kind": kind.kind},
            "resource": {"group": kind.group, "version": version, "resource": kind.plural},
            "requestKind": {"group": kind.group, "version": version, "kind": kind.kind},
            "name": meta.get("name", ""),
            "namespace": meta.get("namespace", ""),
            "operation": operation,
            "userInfo": {"username": "tester"},
            "object": new,
            "oldObject": old,
            "dryRun": False,
        },
    }
    timeout = float(hook.get("timeoutSeconds") or 10)
    try:
        response = _post_to_webhook(store, client, review, timeout)
    except Exception as exc:
        if hook.get("failurePolicy", "Fail") == "Ignore":
            return
        raise ApiError(
            500,
            "InternalError",
            f'Internal error occurred: failed calling webhook "{name}": failed to call webhook: '
            f"{exc}",
        ) from exc
    allowed = bool(response.get("allowed"))
    store.admission_reviews.append((name, operation, allowed))
    store.admission_warnings.extend(str(w) for w in response.get("warnings") or [])
    if not allowed:
        status = response.get("status") or {}
        denied = f'admission webhook "{name}" denied the request'
        message = status.get("message") or status.get("reason") or ""
        raise ApiError(
            int(status.get("code") or 400),
            str(status.get("reason") or ""),
            f"{denied}: {message}" if message else denied,
        )


def _post_to_webhook(
    store: Store, client: dict[str, Any], review: dict[str, Any], timeout: float
) -> dict[str, Any]:
    """POST a review as kube-apiserver does, to ``clientConfig.url`` or the Service (its DNS
    name checked against ``caBundle``): the review's ``response``."""
    import base64
    import ssl

    uid = review["request"]["uid"]
    if "url" in client:
        split = urlsplit(client["url"])
        host, port, server_name = split.hostname or "", split.port or 443, split.hostname or ""
        path, shown = split.path or "/", client["url"]
    else:
        service = client.get("service") or {}
        server_name = f"{service.get('name')}.{service.get('namespace')}.svc"
        port = int(service.get("port") or 443)
        path = service.get("path") or "/"
        shown = f"https://{server_name}:{port}{path}?timeout={int(timeout)}s"
        endpoint = store.webhook_services.get((service.get("namespace"), service.get("name")))
        host, port = endpoint or (server_name, port)
    try:
        context = ssl.create_default_context()
        if client.get("caBundle"):
            context = ssl.create_default_context(
                cadata=base64.b64decode(client["caBundle"]).decode()
            )
        raw = socket.create_connection((host, port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as Go's net/http
        try:
            tls = context.wrap_socket(raw, server_hostname=server_name)
        except BaseException:
            raw.close()
            raise
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
        connection.sock = tls
        try:
            body = json.dumps(review).encode()
            connection.request(
                "POST",
                f"{path}?timeout={int(timeout)}s",
                body,
                {"Content-Type": "application/json", "Accept": "application/json"},
            )
            reply = connection.getresponse()
            data = reply.read()
            if reply.status != 200:
                raise RuntimeError(f"the server responded with HTTP {reply.status}: {data[:200]!r}")
            response = json.loads(data)["response"]
            if response.get("uid") != uid:
                raise RuntimeError(f"expected response.uid={uid!r}, got {response.get('uid')!r}")
        finally:
            connection.close()
    except Exception as exc:
        raise RuntimeError(f'Post "{shown}": {exc}') from exc
    return response


def convert_with_webhook(
    store: Store, kind: Kind, obj: dict[str, Any], desired: str
) -> dict[str, Any]:
    """``obj`` in ``desired`` (group/version): by the CRD's conversion webhook when the CRD is
    installed with ``strategy: Webhook``, else by changing apiVersion alone."""
    import uuid

    if not isinstance(obj, dict) or obj.get("apiVersion") in (None, desired):
        if isinstance(obj, dict):
            obj["apiVersion"] = desired
        return obj
    crd = store.objects[("apiextensions.k8s.io", "customresourcedefinitions")].get(
        ("", f"{kind.plural}.{kind.group}")
    )
    conversion = ((crd or {}).get("spec") or {}).get("conversion") or {}
    if conversion.get("strategy") != "Webhook":
        obj["apiVersion"] = desired
        return obj
    client = (conversion.get("webhook") or {}).get("clientConfig") or {}
    review = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "ConversionReview",
        "request": {"uid": str(uuid.uuid4()), "desiredAPIVersion": desired, "objects": [obj]},
    }
    failed = f"conversion webhook for {desired}, Kind={kind.kind} failed"
    try:
        response = _post_to_webhook(store, client, review, 30.0)
    except Exception as exc:
        raise ApiError(500, "InternalError", f"{failed}: {exc}") from exc
    store.conversions.append((str(obj.get("apiVersion")), desired))
    result = response.get("result") or {}
    converted = response.get("convertedObjects") or []
    if result.get("status") != "Success" or len(converted) != 1:
        raise ApiError(500, "InternalError", f"{failed}: {result.get('message', result)}")
    return converted[0]
