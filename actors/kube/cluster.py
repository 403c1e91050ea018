"""The caches of one process and the actor that runs them.

- :class:`KubeCluster`: one :class:`ObjectCache` per watched resource, their reflectors, and
  who to tell about changes ("cluster" and "config" subscribers) and about the API going away
  or coming back. Shared by the actors of a role like the wire is.
- :class:`KubeWatcher`: the actor that starts and stops the reflectors and waits for the first
  sync, so the actors started after it find a synced cache (the controller must see every
  Service's status before it allocates anything).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import msgspec

from actors.base import RuntimeActor
from actors.config.build import DEFAULT_NAMESPACE
from actors.events import ApiConnectionChanged
from actors.kube.api import KubeApi
from actors.kube.cache import ObjectCache
from actors.kube.reflector import KubeStats, Reflector
from actors.kube.resources import SPEAKER_RESOURCES, Resource, Role

if TYPE_CHECKING:
    from actors.clock import Scheduler

log = logging.getLogger(__name__)

# How long the watcher's start waits for the first lists: less than the runtime's readiness
# ask (10 s), so an API that is down at start delays nothing else; the sources then say
# "waiting for the first list" until it answers, and catch up by themselves.
SYNC_TIMEOUT = 5.0

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


class _Health(msgspec.Struct, frozen=True):
    connected: bool
    detail: str
