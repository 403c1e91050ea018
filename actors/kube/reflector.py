"""List, then watch, forever: the :class:`Reflector` that keeps one :class:`ObjectCache` current.

One thread per resource: list, then watch from the list's resourceVersion; BOOKMARKs move the
resourceVersion on; a watch that ends is resumed from where it was; 410 Gone (expired)
re-lists, and the difference between the old and the new list is applied as changes, so
nothing is missed; any other failure waits (backoff through the injected scheduler, so tests
run it in virtual time) and resumes. While the API is away the cache keeps the last objects:
whatever is announced stays announced. :class:`KubeStats` counts for the metrics.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from actors.kube.api import KubeApi, api_error, short_error
from actors.kube.cache import ObjectCache
from actors.kube.resources import Resource
from actors.util.backoff import backoff_delay

if TYPE_CHECKING:
    from actors.clock import Scheduler

log = logging.getLogger(__name__)


class KubeStats(msgspec.Struct):
    """Counters for the metrics (MetalLB's k8s_client names) and the API's reachability."""

    updates_total: int = 0
    update_errors_total: int = 0
    relists_total: int = 0
    watch_restarts_total: int = 0
    disconnected: set[str] = msgspec.field(default_factory=set)  # resources whose watch is failing


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
        return backoff_delay(self.failures, self.backoff_initial, self.backoff_max, self.rng)

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
                self._expired()
                continue
            except Exception as exc:
                if self._stopped.is_set():
                    return
                status, _ = api_error(exc)
                if status == 410:
                    need_list = True
                    self._expired()
                    continue
                self.failures += 1
                delay = self.backoff()
                self.on_health(self.resource, f"{type(exc).__name__}: {short_error(exc)}")
                log.warning(
                    "watching %s failed (%s); retrying in %.1fs",
                    self.resource.plural,
                    short_error(exc),
                    delay,
                )
                self._sleep(delay)

    def _expired(self) -> None:
        self.stats.relists_total += 1
        log.info("watch of %s expired (410 Gone): listing again", self.resource.plural)

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
                raw = event.get("object")
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
