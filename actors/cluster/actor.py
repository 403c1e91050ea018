"""ClusterActor: owns one cluster source and publishes its objects as ClusterUpdated.

It also writes allocations back through the source (Service status in the demo and on
Kubernetes), which is how a restarted allocator re-learns every address.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Callable, Collection
from typing import Any

import pykka

from actors.base import RuntimeActor, Tick
from actors.cluster.source import ClusterSource, SourceError
from actors.events import AllocationsUpdated, ClusterUpdated, Event, ServiceChanged, SourceRejected
from actors.listener import Listener
from actors.model.cluster import ClusterState

log = logging.getLogger(__name__)

# Every state a cluster actor publishes gets a number unique in the process (ClusterUpdated's
# ``serial``), so a consumer can tell whether the Services an event says changed are counted
# from the state it last saw.
_serials = itertools.count(1)


def service_changes(
    t: float, before: ClusterState, after: ClusterState, keys: Collection[str] | None = None
) -> list[ServiceChanged]:
    """Which services were added, updated (spec or metadata) or deleted (pure). A service that
    is the very object it was is not compared (the sources keep unchanged objects): the cost is
    that of what changed, plus one lookup per service; with ``keys`` (those that may differ,
    as a source that keeps a journal says), one lookup per key instead."""
    out: list[ServiceChanged] = []
    old_services, new_services = before.services, after.services
    if keys is None:
        differ = [k for k, v in new_services.items() if old_services.get(k) is not v]
        differ += [k for k in old_services if k not in new_services]
    else:
        differ = [k for k in keys if old_services.get(k) is not new_services.get(k)]
    for key in sorted(differ):
        old, new = old_services.get(key), new_services.get(key)
        if old is None:
            out.append(ServiceChanged(t, key, "added"))
        elif new is None:
            out.append(ServiceChanged(t, key, "deleted"))
        elif old.spec != new.spec or old.metadata.annotations != new.metadata.annotations:
            out.append(ServiceChanged(t, key, "updated"))
    return out


class ClusterActor(Listener, RuntimeActor):
    actor_name = "cluster"
    listens_to = (AllocationsUpdated,)

    def __init__(
        self,
        source: ClusterSource,
        *,
        poll_interval: float = 0.0,
        min_interval: float = 0.0,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.source = source
        self.poll_interval = poll_interval
        self.state: ClusterState | None = None
        self.serial = 0  # the number of the state last published (ClusterUpdated.serial)
        self._unsubscribe: Callable[[], None] | None = None
        self._refresh_pending = False
        # A pushing source: at most one load per min_interval (a burst of N changes then costs
        # a few loads, not N); 0 loads at once on every change.
        self.min_interval = min_interval
        self._last_load = float("-inf")

    def on_start(self) -> None:
        # A source that pushes changes (the Kubernetes watch) says when to load again. Subscribe
        # before the first load: a change arriving between the two would otherwise be missed
        # until the next one.
        subscribe = getattr(self.source, "subscribe", None)
        self._unsubscribe = subscribe(self._source_changed) if callable(subscribe) else None
        self._load()
        if self.poll_interval > 0:
            self.after(self.poll_interval, self.poll)

    def on_stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    def _source_changed(self) -> None:
        """Called from the source's thread: coalesce bursts into one load in our thread."""
        if not self._refresh_pending:
            self._refresh_pending = True
            with contextlib.suppress(pykka.ActorDeadError):
                self.actor_ref.tell(Tick(self._refresh_due))

    def _refresh_due(self) -> None:
        wait = self._last_load + self.min_interval - self.clock.now()
        if wait > 0:
            self.after(wait, self.refresh)
        else:
            self.refresh()

    def refresh(self) -> None:
        self._refresh_pending = False
        self._load()

    # -- asks from above ---------------------------------------------------------------------
    def snapshot(self) -> ClusterState | None:
        return self.state

    def republish(self) -> None:
        if self.state is not None:
            self.publish(
                ClusterUpdated(
                    self.clock.now(),
                    self.state,
                    self.source.name,
                    self.serial,
                    self.serial,
                    frozenset(),
                )
            )

    def change(self, mutate: Callable[[Any], None]) -> ClusterState | None:
        """Apply ``mutate(source)`` (demo and scenario edits) and publish the result."""
        mutate(self.source)
        self._load()
        return self.state

    # -- timers and events -------------------------------------------------------------------
    def poll(self) -> None:
        if self.source.changed():
            self._load()
        self.after(self.poll_interval, self.poll)

    def on_event(self, event: Event) -> None:
        if isinstance(event, AllocationsUpdated) and self.source.write_status(event.allocations):
            self._load(quiet=True)

    def _load(self, quiet: bool = False) -> None:
        self._last_load = self.clock.now()
        try:
            state = self.source.load()
        except SourceError as exc:
            for line in exc.errors:
                log.warning("cluster source rejected: %s", line)
            self.publish(SourceRejected(self.clock.now(), self.source.name, exc.errors))
            return
        now = self.clock.now()
        # The Services that may differ from the state last published, when the source says
        # (KubeClusterSource: from its caches' journals); else every one is compared.
        since = getattr(self.source, "services_changed_since", None)
        keys = since(self.state) if callable(since) and self.state is not None else None
        if not quiet:
            previous = self.state or ClusterState()
            for change in service_changes(now, previous, state, keys):
                self.publish(change)
        self.state = state
        since, self.serial = self.serial, next(_serials)
        changed = None if keys is None else frozenset(keys)
        self.publish(ClusterUpdated(now, state, self.source.name, self.serial, since, changed))
