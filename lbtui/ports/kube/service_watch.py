"""The watch of MetalLB's Events about Services (:class:`ServiceEvents`): a Reflector on core/v1
Events whose involved object is a Service, handing what :func:`service_events` finds new to a
sink (the speakers' stream of batches, or the app directly).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from actors.clock import Clock, Scheduler
from lbtui.ports.kube.api import DEFAULT_TIMING, SelectedLister, WatchTiming, core_watch
from lbtui.ports.kube.follower import Sink
from lbtui.ports.kube.service_events import FIRST_EVENTS, EventKey, service_events

log = logging.getLogger(__name__)


class ServiceEvents:
    """Watches MetalLB's Events about Services (IPAllocated, AllocationFailed, nodeAssigned...)
    and hands the new ones to ``sink``: the controller's side of the story, which no speaker
    stream tells."""

    def __init__(
        self,
        api: Any,
        clock: Clock,
        scheduler: Scheduler,
        sink: Sink,
        *,
        timing: WatchTiming = DEFAULT_TIMING,
        first: int = FIRST_EVENTS,
    ) -> None:
        self.clock = clock
        self.sink = sink
        self.first = first
        self.seen: set[EventKey] = set()
        self.synced = False
        self.error = ""
        self.cache, self.reflector = core_watch(
            "events",
            "Event",
            SelectedLister(
                api,
                api.core.list_event_for_all_namespaces,
                field_selector="involvedObject.kind=Service",
            ),
            "",
            scheduler,
            self._changed,
            self._health,
            timing,
        )

    def start(self) -> ServiceEvents:
        self.reflector.start()
        return self

    def stop(self) -> None:
        self.reflector.stop()
        self.reflector.join(2.0)

    def _changed(self, _resource: Any) -> None:
        limit = None if self.synced else self.first  # at start: only the newest
        self.synced = True
        fresh = service_events(
            self.cache.snapshot(), self.seen, self.clock.now(), time.time(), limit=limit
        )
        if fresh:
            self.sink(list(fresh))

    def _health(self, _resource: Any, error: str | None) -> None:
        if error and error != self.error:
            log.warning("watching Service events: %s", error)
        self.error = error or ""
