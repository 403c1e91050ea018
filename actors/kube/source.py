"""The Kubernetes cluster source: list + watch with the official ``kubernetes`` client.

Pieces, from the wire up:

- :class:`KubeApi`: the few calls lbtui makes, over the client's typed API classes, always
  returning the API's own JSON (camelCase dicts, exactly what the YAML files hold), so the
  objects go through the same loader (:func:`actors.config.loader.load_documents`) and the same
  validation as files do.
- :class:`ObjectCache`: one resource's objects as last seen, with its resourceVersion. It keeps
  only what lbtui reads (a Node's heartbeat is not a change), so a notification means something
  lbtui cares about changed.
- :class:`Reflector`: one thread per resource: list, then watch from the list's
  resourceVersion; BOOKMARKs move the resourceVersion on; a watch that ends is resumed from
  where it was; 410 Gone (expired) re-lists, and the difference between the old and the new
  list is applied as changes, so nothing is missed; any other failure waits (backoff through
  the injected scheduler, so tests run it in virtual time) and resumes. While the API is away
  the cache keeps the last objects: whatever is announced stays announced.
- :class:`KubeCluster`: the caches of one process, their reflectors and who to tell about
  changes ("cluster" and "config" subscribers). Shared by the actors below like the wire is.
- :class:`KubeWatcher`: the actor that starts and stops the reflectors and waits for the first
  sync, so the actors started after it find a synced cache (the controller must see every
  Service's status before it allocates anything).
- :class:`KubeClusterSource`: a ClusterSource that pushes (``subscribe``) instead of being
  polled; :class:`KubeConfigStore`: the ConfigActor's store over the metallb.io objects of
  ``--namespace``; an edit is a create/replace/delete of the custom resource, and the API
  server's refusal comes back as the edit's issues.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import json
import logging
import os
import random
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from actors.base import RuntimeActor
from actors.cluster.source import SourceError
from actors.config.build import DEFAULT_NAMESPACE, BuildResult, build_config
from actors.config.loader import Inputs, load_documents
from actors.config.store import CONFIG_KINDS, PersistRejected
from actors.events import ApiConnectionChanged
from actors.model.allocation import Allocation
from actors.model.annotations import ANNOTATION_IP_ALLOCATED_FROM_POOL
from actors.model.cluster import ClusterState, EndpointSlice, Namespace, Node, Service
from actors.model.issues import Issue

if TYPE_CHECKING:
    from actors.clock import Scheduler

log = logging.getLogger(__name__)

Role = Literal["cluster", "config"]
METALLB_GROUP = "metallb.io"
LEGACY_CONFIGMAP = "config"
# How long the watcher's start waits for the first lists: less than the runtime's readiness
# ask (10 s), so an API that is down at start delays nothing else; the sources then say
# "waiting for the first list" until it answers, and catch up by themselves.
SYNC_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Resource:
    """One kind lbtui lists and watches."""

    plural: str
    kind: str
    group: str
    version: str
    #: "all": every namespace (or cluster-scoped); "config": only the configuration namespace
    scope: Literal["all", "config"]
    roles: frozenset[Role]
    field_selector: str = ""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


def _res(plural: str, kind: str, group: str, version: str, scope: Any, *roles: Role) -> Resource:
    return Resource(plural, kind, group, version, scope, frozenset(roles))


SERVICES = _res("services", "Service", "", "v1", "all", "cluster")
ENDPOINT_SLICES = _res(
    "endpointslices", "EndpointSlice", "discovery.k8s.io", "v1", "all", "cluster"
)
# Node labels also resolve node selectors while validating (the LOCAL_PREF rule).
NODES = _res("nodes", "Node", "", "v1", "all", "cluster", "config")
NAMESPACES = _res("namespaces", "Namespace", "", "v1", "all", "cluster")
SECRETS = _res("secrets", "Secret", "", "v1", "config", "config")
LEGACY_CONFIGMAPS = Resource(
    "configmaps",
    "ConfigMap",
    "",
    "v1",
    "config",
    frozenset({"config"}),
    field_selector=f"metadata.name={LEGACY_CONFIGMAP}",
)
POOLS = _res("ipaddresspools", "IPAddressPool", METALLB_GROUP, "v1beta1", "config", "config")
L2_ADVERTISEMENTS = _res(
    "l2advertisements", "L2Advertisement", METALLB_GROUP, "v1beta1", "config", "config"
)
BGP_ADVERTISEMENTS = _res(
    "bgpadvertisements", "BGPAdvertisement", METALLB_GROUP, "v1beta1", "config", "config"
)
COMMUNITIES = _res("communities", "Community", METALLB_GROUP, "v1beta1", "config", "config")
BFD_PROFILES = _res("bfdprofiles", "BFDProfile", METALLB_GROUP, "v1beta1", "config", "config")
BGP_PEERS = _res("bgppeers", "BGPPeer", METALLB_GROUP, "v1beta2", "config", "config")

CONFIG_RESOURCES = (
    POOLS,
    L2_ADVERTISEMENTS,
    BGP_ADVERTISEMENTS,
    COMMUNITIES,
    BFD_PROFILES,
    BGP_PEERS,
)
#: The controller allocates: it needs Services, Namespaces (pool namespace selectors), the
#: pools (and community aliases, which pools' validation may refer to), as MetalLB's does.
CONTROLLER_RESOURCES = (SERVICES, NAMESPACES, POOLS, COMMUNITIES, LEGACY_CONFIGMAPS)
#: A speaker (and the console) read everything.
SPEAKER_RESOURCES = (
    SERVICES,
    ENDPOINT_SLICES,
    NODES,
    NAMESPACES,
    SECRETS,
    LEGACY_CONFIGMAPS,
    *CONFIG_RESOURCES,
)
RESOURCE_BY_KIND = {r.kind: r for r in SPEAKER_RESOURCES}
#: The console on a cluster also watches who announces what (the speakers' status objects).
SERVICE_L2_STATUSES = _res(
    "servicel2statuses", "ServiceL2Status", METALLB_GROUP, "v1beta1", "config", "cluster"
)
SERVICE_BGP_STATUSES = _res(
    "servicebgpstatuses", "ServiceBGPStatus", METALLB_GROUP, "v1beta1", "config", "cluster"
)
CONSOLE_RESOURCES = (*SPEAKER_RESOURCES, SERVICE_L2_STATUSES, SERVICE_BGP_STATUSES)


# -- the API ---------------------------------------------------------------------------------


def transient(exc: BaseException) -> bool:
    """Whether a failed call is worth retrying (the API away or overloaded, not a refusal)."""
    from kubernetes.client.exceptions import ApiException

    if isinstance(exc, ApiException):
        return exc.status in (0, 408, 429) or exc.status >= 500
    return True


def api_error(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """The HTTP status and the ``Status`` body of a failed call (0 and {} if none)."""
    from kubernetes.client.exceptions import ApiException

    if not isinstance(exc, ApiException):
        return 0, {}
    body: dict[str, Any] = {}
    if exc.body:
        with contextlib.suppress(ValueError, TypeError):
            parsed = json.loads(exc.body)
            body = parsed if isinstance(parsed, dict) else {}
    return int(exc.status or 0), body


class KubeApi:
    """The official client, configured from a kubeconfig file or from inside a pod."""

    def __init__(self, api_client: Any, *, request_timeout: float = 10.0) -> None:
        from kubernetes import client

        self.api_client = api_client
        self.request_timeout = request_timeout
        self.core = client.CoreV1Api(api_client)
        self.discovery = client.DiscoveryV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.coordination = client.CoordinationV1Api(api_client)
        self.host = str(api_client.configuration.host)

    @classmethod
    def connect(
        cls, kubeconfig: str | None = None, context: str | None = None, **kw: Any
    ) -> KubeApi:
        """``kubeconfig`` if given; else in-cluster when in a pod; else ``~/.kube/config``."""
        from kubernetes import client, config

        configuration = client.Configuration()
        if kubeconfig:
            config.load_kube_config(
                config_file=kubeconfig, context=context, client_configuration=configuration
            )
        elif os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config(client_configuration=configuration)
        else:
            config.load_kube_config(context=context, client_configuration=configuration)
        # One long-lived connection per watched resource, plus the writes.
        configuration.connection_pool_maxsize = 32
        return cls(client.ApiClient(configuration), **kw)

    # -- list and watch ----------------------------------------------------------------------
    def _list_call(
        self, resource: Resource, namespace: str
    ) -> tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]:
        kwargs: dict[str, Any] = {}
        if resource.field_selector:
            kwargs["field_selector"] = resource.field_selector
        if resource.group == METALLB_GROUP:
            args = (resource.group, resource.version, namespace, resource.plural)
            return self.custom.list_namespaced_custom_object, args, kwargs
        table: dict[str, tuple[Callable[..., Any], tuple[Any, ...]]] = {
            "services": (self.core.list_service_for_all_namespaces, ()),
            "endpointslices": (self.discovery.list_endpoint_slice_for_all_namespaces, ()),
            "nodes": (self.core.list_node, ()),
            "namespaces": (self.core.list_namespace, ()),
            "secrets": (self.core.list_namespaced_secret, (namespace,)),
            "configmaps": (self.core.list_namespaced_config_map, (namespace,)),
        }
        func, args = table[resource.plural]
        return func, args, kwargs

    def list(self, resource: Resource, namespace: str) -> tuple[list[dict[str, Any]], str]:
        func, args, kwargs = self._list_call(resource, namespace)
        response = func(
            *args, _preload_content=False, _request_timeout=self.request_timeout, **kwargs
        )
        body = json.loads(response.data)
        return list(body.get("items") or []), str(body["metadata"].get("resourceVersion", ""))

    def watch(
        self, resource: Resource, namespace: str, resource_version: str, timeout: int
    ) -> tuple[Any, Any]:
        """(stream of ``{"type", "raw_object"}`` events, the Watch to stop it)."""
        from kubernetes import watch

        func, args, kwargs = self._list_call(resource, namespace)
        watcher = watch.Watch(return_type="object")
        stream = watcher.stream(
            func,
            *args,
            resource_version=resource_version,
            timeout_seconds=timeout,
            allow_watch_bookmarks=True,
            _request_timeout=(self.request_timeout, timeout + self.request_timeout),
            **kwargs,
        )
        return stream, watcher

    # -- writes ------------------------------------------------------------------------------
    def _json(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call one client method for the raw JSON: lbtui reads plain dicts, not models."""
        response = call(
            *args, _preload_content=False, _request_timeout=self.request_timeout, **kwargs
        )
        data = response.data
        return json.loads(data) if data else None

    def _custom(
        self, method: str, version: str, namespace: str, plural: str, *args: Any, **kwargs: Any
    ) -> Any:
        call = getattr(self.custom, method)
        return self._json(call, METALLB_GROUP, version, namespace, plural, *args, **kwargs)

    def patch_service_status(self, namespace: str, name: str, body: dict[str, Any]) -> dict:
        return self._json(self.core.patch_namespaced_service_status, name, namespace, body)

    def create_event(self, namespace: str, body: dict[str, Any]) -> None:
        self._json(self.core.create_namespaced_event, namespace, body)

    def list_pods(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        body = self._json(self.core.list_namespaced_pod, namespace, label_selector=label_selector)
        return list(body.get("items") or [])

    def get_pod(self, namespace: str, name: str) -> dict[str, Any]:
        return self._json(self.core.read_namespaced_pod, name, namespace)

    def custom_list(
        self, plural: str, namespace: str, label_selector: str = "", version: str = "v1beta1"
    ) -> list[dict[str, Any]]:
        body = self._custom(
            "list_namespaced_custom_object",
            version,
            namespace,
            plural,
            label_selector=label_selector or None,
        )
        return list(body.get("items") or [])

    def custom_create(
        self, plural: str, namespace: str, body: dict[str, Any], version: str = "v1beta1"
    ) -> dict[str, Any]:
        return self._custom("create_namespaced_custom_object", version, namespace, plural, body)

    def custom_get(
        self, plural: str, namespace: str, name: str, version: str = "v1beta1"
    ) -> dict[str, Any]:
        return self._custom("get_namespaced_custom_object", version, namespace, plural, name)

    def custom_replace(
        self, plural: str, namespace: str, name: str, body: dict[str, Any], version: str = "v1beta1"
    ) -> dict[str, Any]:
        return self._custom(
            "replace_namespaced_custom_object", version, namespace, plural, name, body
        )

    def custom_patch_status(
        self, plural: str, namespace: str, name: str, body: dict[str, Any], version: str = "v1beta1"
    ) -> dict[str, Any]:
        return self._custom(
            "patch_namespaced_custom_object_status", version, namespace, plural, name, body
        )

    def custom_delete(
        self, plural: str, namespace: str, name: str, version: str = "v1beta1"
    ) -> None:
        self._custom("delete_namespaced_custom_object", version, namespace, plural, name)

    def get_lease(self, namespace: str, name: str) -> dict[str, Any]:
        return self._json(self.coordination.read_namespaced_lease, name, namespace)

    def create_lease(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._json(self.coordination.create_namespaced_lease, namespace, body)

    def replace_lease(self, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._json(self.coordination.replace_namespaced_lease, name, namespace, body)


# -- the cache -------------------------------------------------------------------------------


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

    def replace(self, items: Iterable[dict[str, Any]], resource_version: str) -> bool:
        """A fresh list: whatever differs from the cache is a change (adds, updates, deletes)."""
        fresh = {}
        for raw in items:
            obj = _without_noise(self.resource, raw)
            fresh[object_key(obj)] = obj
        with self.lock:
            changed = set(fresh) != set(self.items) or any(
                _comparable(obj) != _comparable(self.items[key]) for key, obj in fresh.items()
            )
            self.items = fresh
            self.resource_version = resource_version
            first = not self.synced
            self.synced = True
            if changed or first:
                self.generation += 1
            return changed or first

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
            self.generation += 1
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
            self.generation += 1
            return True

    def forget(self, key: str) -> bool:
        with self.lock:
            if self.items.pop(key, None) is None:
                return False
            self.generation += 1
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


@dataclass
class KubeStats:
    """Counters for the metrics (MetalLB's k8s_client names) and the API's reachability."""

    updates_total: int = 0
    update_errors_total: int = 0
    relists_total: int = 0
    watch_restarts_total: int = 0
    disconnected: set[str] = field(default_factory=set)  # resources whose watch is failing


class Expired(Exception):
    """The watch's resourceVersion is too old (410 Gone): list again."""


class Reflector:
    """List, then watch, forever; one thread. See the module docstring."""

    def __init__(
        self,
        resource: Resource,
        cache: ObjectCache,
        api: KubeApi,
        namespace: str,
        scheduler: Scheduler,
        on_change: Callable[[Resource], None],
        on_health: Callable[[Resource, str | None], None],
        *,
        watch_timeout: int = 300,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        rng: random.Random | None = None,
        stats: KubeStats | None = None,
    ) -> None:
        self.resource = resource
        self.stats = stats or KubeStats()
        self.cache = cache
        self.api = api
        self.namespace = namespace
        self.scheduler = scheduler
        self.on_change = on_change
        self.on_health = on_health
        self.watch_timeout = watch_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.rng = rng or random.Random()
        self.failures = 0
        self.backing_off = False
        self.wake_due = 0.0
        self._stopped = threading.Event()
        self._wake = threading.Event()
        self._watch: Any = None
        self._thread = threading.Thread(
            target=self._run, name=f"reflector-{resource.plural}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        watcher = self._watch
        if watcher is not None:
            with contextlib.suppress(Exception):
                watcher.stop()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def backoff(self) -> float:
        """Doubling from ``backoff_initial`` to ``backoff_max``, with ±10% jitter so that many
        speakers do not all come back at the same instant after an outage."""
        base = min(self.backoff_max, self.backoff_initial * 2 ** max(0, self.failures - 1))
        return base * (0.9 + 0.2 * self.rng.random())

    def _sleep(self, delay: float) -> None:
        """Wait on the injected scheduler (virtual time in tests), or until stopped."""
        self._wake.clear()
        if self._stopped.is_set():  # stop() may have set the event just before the clear
            return
        handle = self.scheduler.call_later(delay, self._wake.set)
        self.wake_due = float(getattr(handle, "due", 0.0))
        self.backing_off = True
        self._wake.wait()
        self.backing_off = False
        handle.cancel()

    def _run(self) -> None:
        need_list = True
        while not self._stopped.is_set():
            try:
                if need_list:
                    items, rv = self.api.list(self.resource, self.namespace)
                    if self._stopped.is_set():
                        return
                    if self.cache.replace(items, rv):
                        self.on_change(self.resource)
                    need_list = False
                    self._healthy()
                self._watch_once()
                self.stats.watch_restarts_total += 1
                self._healthy()
            except Expired:
                need_list = True
                self.stats.relists_total += 1
                continue
            except Exception as exc:
                if self._stopped.is_set():
                    return
                status, _ = api_error(exc)
                if status == 410:
                    need_list = True
                    self.stats.relists_total += 1
                    continue
                self.failures += 1
                delay = self.backoff()
                self.on_health(self.resource, f"{type(exc).__name__}: {_short(exc)}")
                log.warning(
                    "watching %s failed (%s); retrying in %.1fs",
                    self.resource.plural,
                    _short(exc),
                    delay,
                )
                self._sleep(delay)

    def _healthy(self) -> None:
        if self.failures:
            self.failures = 0
        self.on_health(self.resource, None)

    def _watch_once(self) -> None:
        stream, watcher = self.api.watch(
            self.resource, self.namespace, self.cache.resource_version, self.watch_timeout
        )
        self._watch = watcher
        try:
            for event in stream:
                if self._stopped.is_set():
                    return
                kind = event.get("type")
                raw = event.get("raw_object")
                if not isinstance(raw, dict):
                    continue
                if kind == "BOOKMARK":
                    rv = (raw.get("metadata") or {}).get("resourceVersion")
                    if rv:
                        self.cache.bookmark(str(rv))
                    continue
                if kind == "ERROR":
                    if raw.get("code") == 410:
                        raise Expired()
                    raise RuntimeError(f"watch error: {raw.get('message', raw)}")
                if kind in ("ADDED", "MODIFIED", "DELETED") and self.cache.apply(kind, raw):
                    self.on_change(self.resource)
        finally:
            self._watch = None
            with contextlib.suppress(Exception):
                watcher.stop()


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


Subscriber = Callable[[], None]


class KubeCluster:
    """The caches of one process, their reflectors, and who to tell when they change."""

    def __init__(
        self,
        api: KubeApi,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        resources: Iterable[Resource] = SPEAKER_RESOURCES,
        watch_timeout: int = 300,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        self.api = api
        self.namespace = namespace
        self.resources = tuple(resources)
        self.caches = {r.plural: ObjectCache(r) for r in self.resources}
        self.watch_timeout = watch_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stats = KubeStats()
        self._lock = threading.Lock()
        self._synced = threading.Condition(self._lock)
        self._subscribers: dict[Role, list[Subscriber]] = {"cluster": [], "config": []}
        self._health_subscribers: list[Callable[[bool, str], None]] = []
        self._reflectors: list[Reflector] = []

    @property
    def name(self) -> str:
        return f"kube:{self.api.host}"

    # -- lifecycle (the KubeWatcher actor calls these) ---------------------------------------
    def start(self, scheduler: Scheduler) -> None:
        if self._reflectors:
            return
        for resource in self.resources:
            namespace = self.namespace if resource.scope == "config" else ""
            reflector = Reflector(
                resource,
                self.caches[resource.plural],
                self.api,
                namespace,
                scheduler,
                self._changed,
                self._health,
                watch_timeout=self.watch_timeout,
                backoff_initial=self.backoff_initial,
                backoff_max=self.backoff_max,
                stats=self.stats,
            )
            self._reflectors.append(reflector)
            reflector.start()

    def stop(self) -> None:
        reflectors, self._reflectors = self._reflectors, []
        for r in reflectors:
            r.stop()
        for r in reflectors:
            r.join(2.0)

    def wait_synced(self, timeout: float) -> bool:
        with self._synced:
            return self._synced.wait_for(self.all_synced, timeout)

    def backing_off(self, after: float = float("-inf")) -> int:
        """How many reflectors wait to retry at a time later than ``after`` (tests step
        virtual time with this)."""
        return sum(1 for r in self._reflectors if r.backing_off and r.wake_due > after)

    def all_synced(self) -> bool:
        return all(c.synced for c in self.caches.values())

    def synced(self, role: Role) -> bool:
        return all(c.synced for c in self.caches.values() if role in c.resource.roles)

    def unsynced(self, role: Role) -> list[str]:
        return [
            c.resource.plural
            for c in self.caches.values()
            if role in c.resource.roles and not c.synced
        ]

    @property
    def connected(self) -> bool:
        with self._lock:
            return not self.stats.disconnected

    # -- subscriptions -----------------------------------------------------------------------
    def subscribe(self, role: Role, callback: Subscriber) -> Callable[[], None]:
        with self._lock:
            self._subscribers[role].append(callback)

        def unsubscribe() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._subscribers[role].remove(callback)

        return unsubscribe

    def on_health(self, callback: Callable[[bool, str], None]) -> None:
        with self._lock:
            self._health_subscribers.append(callback)

    def _changed(self, resource: Resource) -> None:
        with self._lock:
            self.stats.updates_total += 1
            callbacks = [cb for role in resource.roles for cb in self._subscribers[role]]
            self._synced.notify_all()
        for callback in callbacks:
            try:
                callback()
            except Exception:  # a subscriber's bug must not stop the watch
                log.exception("cluster change subscriber failed")

    def _health(self, resource: Resource, error: str | None) -> None:
        with self._lock:
            before = not self.stats.disconnected
            if error is None:
                self.stats.disconnected.discard(resource.plural)
            else:
                self.stats.update_errors_total += 1
                self.stats.disconnected.add(resource.plural)
            after = not self.stats.disconnected
            callbacks = list(self._health_subscribers) if before != after else []
            self._synced.notify_all()
        for callback in callbacks:
            callback(after, error or "")

    # -- reads -------------------------------------------------------------------------------
    def objects(self, role: Role) -> list[dict[str, Any]]:
        return [
            obj
            for cache in self.caches.values()
            if role in cache.resource.roles
            for obj in cache.snapshot()
        ]

    def cache_for(self, kind: str) -> ObjectCache | None:
        for cache in self.caches.values():
            if cache.resource.kind == kind:
                return cache
        return None


class KubeWatcher(RuntimeActor):
    """Starts the reflectors, waits (bounded) for the first sync, stops them on the way out.

    Publishes ApiConnectionChanged when the API goes away or comes back; the caches keep the
    last objects in between, so nothing announced is withdrawn because of an outage.
    """

    actor_name = "kube"

    def __init__(self, kube: KubeCluster, *, sync_timeout: float = SYNC_TIMEOUT, **kw: Any) -> None:
        super().__init__(**kw)
        self.kube = kube
        self.sync_timeout = sync_timeout
        self.connected: bool | None = None

    def on_start(self) -> None:
        ref = self.actor_ref

        def health(connected: bool, detail: str) -> None:
            with contextlib.suppress(Exception):
                ref.tell(_Health(connected, detail))

        self.kube.on_health(health)
        self.kube.start(self.scheduler)
        if not self.kube.wait_synced(self.sync_timeout):
            log.warning(
                "the API server has not answered every list yet (%s); going on with what we have",
                ", ".join(r for role in ("cluster", "config") for r in self.kube.unsynced(role)),
            )

    def on_stop(self) -> None:
        self.kube.stop()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, _Health):
            if message.connected != self.connected:
                self.connected = message.connected
                self.publish(
                    ApiConnectionChanged(
                        self.clock.now(), self.kube.name, message.connected, message.detail
                    )
                )
            return None
        return super().on_receive(message)

    def republish(self) -> None:
        if self.connected is not None:
            self.publish(ApiConnectionChanged(self.clock.now(), self.kube.name, self.connected, ""))


@dataclass(frozen=True, slots=True)
class _Health:
    connected: bool
    detail: str


# -- cluster source --------------------------------------------------------------------------


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
        target = {
            "Service": inputs.services,
            "EndpointSlice": inputs.endpoint_slices,
            "Node": inputs.nodes,
            "Namespace": inputs.namespaces,
        }[kind]
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


def allocations_from_status(
    cluster: ClusterState, lb_class: str | None = None
) -> dict[str, Allocation]:
    """What a speaker announces on a real cluster: the addresses in each Service's status, as
    the controller wrote them (MetalLB's speaker never allocates). The pool comes from the
    controller's annotation; without it the election finds the pool holding the addresses."""
    import ipaddress

    out: dict[str, Allocation] = {}
    for key, service in cluster.services.items():
        if not service.is_load_balancer or service.spec.load_balancer_class != lb_class:
            continue
        ips = []
        for text in service.ingress_ips:
            with contextlib.suppress(ValueError):
                ips.append(ipaddress.ip_address(text))
        if not ips:
            continue
        pool = service.metadata.annotations.get(ANNOTATION_IP_ALLOCATED_FROM_POOL) or None
        out[key] = Allocation(key, tuple(ips), pool)
    return dict(sorted(out.items()))


# -- configuration store ---------------------------------------------------------------------

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
    message = body.get("message") or _short(exc)
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


class KubeSecrets:
    """BGPPeer ``passwordSecret`` lookups in the watched Secrets (a SecretLookup for the BGP
    actor on a real cluster). ``kube`` is the KubeCluster, or a callable returning it once
    the command line has connected. The password is never logged."""

    def __init__(self, kube: KubeCluster | Callable[[], KubeCluster | None]) -> None:
        self._kube = kube

    def __call__(self, ref: Any) -> str | None:
        kube = self._kube() if callable(self._kube) else self._kube
        cache = kube.cache_for("Secret") if kube is not None else None
        secret = cache.get(f"{ref.namespace}/{ref.name}") if cache is not None else None
        if secret is None:
            return None
        string_data = secret.get("stringData") or {}
        if "password" in string_data:
            return str(string_data["password"])
        encoded = (secret.get("data") or {}).get("password")
        if encoded is None:
            return None
        try:
            return base64.b64decode(str(encoded), validate=True).decode()
        except (binascii.Error, ValueError, UnicodeDecodeError):
            log.warning("Secret %s/%s: password is not valid base64", ref.namespace, ref.name)
            return None


def _identity(doc: Mapping[str, Any]) -> tuple[str, str]:
    meta = doc.get("metadata") or {}
    return str(doc.get("kind", "")), str(meta.get("name", ""))
