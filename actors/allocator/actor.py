"""AllocatorActor: turns (configuration, cluster) into allocations, and says what changed.

Two modes:
- stateful (controller, demo): one incremental Allocator; addresses are written back into the
  cluster source as Service status by the ClusterActor, so a restart re-learns them;
- stateless (``lbtui speaker --cluster``): a fresh ``allocate_cluster`` of the files every time,
  so every speaker reading the same files computes the same answer (house rule 7) whatever
  its history.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from actors.allocator.converge import Allocator, allocate_cluster
from actors.base import RuntimeActor
from actors.cluster.delta import ServiceDelta
from actors.events import (
    AllocationFailed,
    AllocationsUpdated,
    ClusterUpdated,
    ConfigApplied,
    Event,
    IpAssigned,
    IpReleased,
)
from actors.listener import Listener
from actors.model.allocation import Allocation, PoolUsage
from actors.model.cluster import ClusterState
from actors.model.config import Config


def allocation_events(
    t: float, before: Mapping[str, Allocation], after: Mapping[str, Allocation]
) -> list[Event]:
    """The human-visible difference between two allocation maps (pure). An allocation that is
    the very object it was (the allocator hands out the same one while nothing changes) is
    not looked at: the cost is that of what changed, plus one lookup per service."""
    events: list[Event] = []
    differ = [k for k, v in after.items() if before.get(k) is not v]
    differ += [k for k in before if k not in after]
    for key in sorted(differ):
        old, new = before.get(key), after.get(key)
        old_ips = tuple(str(ip) for ip in old.ips) if old else ()
        new_ips = tuple(str(ip) for ip in new.ips) if new else ()
        if old_ips and old_ips != new_ips:
            released = tuple(ip for ip in old_ips if ip not in new_ips)
            if released:
                reason = "service deleted" if new is None else (new.cleared or "reallocated")
                events.append(IpReleased(t, key, released, reason))
        if new is None:
            continue
        if new_ips and new_ips != old_ips:
            events.append(IpAssigned(t, key, new_ips, new.pool or ""))
        if new.error and (old is None or old.error != new.error):
            events.append(AllocationFailed(t, key, new.error))
    return events


class AllocatorActor(Listener, RuntimeActor):
    actor_name = "allocator"
    listens_to = (ConfigApplied, ClusterUpdated)

    def __init__(self, *, stateless: bool = False, lb_class: str | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.stateless = stateless
        self.lb_class = lb_class
        self.config: Config | None = None
        self.cluster: ClusterState | None = None
        self.allocator: Allocator | None = None
        self.allocations: Mapping[str, Allocation] = MappingProxyType({})
        self.usage: Mapping[str, PoolUsage] = MappingProxyType({})
        self._published = False
        # The Services changed since the allocator's last pass: it looks only at those.
        self._delta = ServiceDelta()

    def on_event(self, event: Event) -> None:
        if isinstance(event, ConfigApplied):
            if event.config == self.config:
                # The same configuration again (on Kubernetes, every pool status write the
                # controller makes reloads it): nothing to re-check, so nothing to converge.
                return
            self.config = event.config
            if self.allocator is not None:
                self.allocator.set_config(event.config)
        elif isinstance(event, ClusterUpdated):
            self.cluster = event.cluster
            self._delta.note(event)
        self.reconcile()

    def snapshot(self) -> tuple[Mapping[str, Allocation], Mapping[str, PoolUsage]]:
        return self.allocations, self.usage

    def republish(self) -> None:
        if self._published:
            self.publish(AllocationsUpdated(self.clock.now(), self.allocations, self.usage))

    def reconcile(self) -> None:
        if self.config is None or self.cluster is None:
            return
        looked_at: set[str] | None = None
        if self.stateless:
            allocations, usage = allocate_cluster(self.config, self.cluster, self.lb_class)
        else:
            if self.allocator is None:
                self.allocator = Allocator(self.config, self.lb_class)
            allocations = self.allocator.converge_view(self.cluster, self._delta.take())
            looked_at = self.allocator.looked_at
            usage = self.allocator.usage()
        if looked_at is None or not self._published:
            changed = dict(allocations) != dict(self.allocations)
        else:
            # The allocator's last answer equals what was published (each pass that changed
            # it was published), and this pass changed only the services it looked at.
            before = self.allocations
            changed = any(allocations.get(k) != before.get(k) for k in looked_at)
        changed = changed or dict(usage) != dict(self.usage)
        if not changed and self._published:
            return
        now = self.clock.now()
        for event in allocation_events(now, self.allocations, allocations):
            self.publish(event)
        self.allocations = MappingProxyType(dict(allocations))
        self.usage = MappingProxyType(dict(usage))
        self._published = True
        self.publish(AllocationsUpdated(now, self.allocations, self.usage))
