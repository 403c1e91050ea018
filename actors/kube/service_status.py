"""The controller's Service status: :class:`ServiceStatusWriter`, over pure patches.

It writes ``status.loadBalancer.ingress`` and the ``metallb.io/ip-allocated-from-pool``
annotation through the Service's status subresource (:func:`service_status_patch`), while this
controller leads, and posts the Events MetalLB emits on Services: those of
:func:`actors.kube.service_events.allocation_service_events` and ``deprecatedAnnotation``.

Two calls per Service that gets an address (the status patch, annotation included, and the
``IPAllocated`` Event; MetalLB's controller makes a status update, retried on conflict, and the
Event), made through two :class:`~actors.kube.writer.WritePool` (status, and Events apart,
yielding to the status writes: an Event waits while a status write is queued or in flight, so
a burst of 10,000 Services gets every address first and the Events after): a bounded number in
flight, the outcome back in the actor's thread; never two writes of one Service at once. A
failed write is retried with backoff on the injected scheduler, and nothing new is written
meanwhile (a 429 or an API that is away is not answered with more calls).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from actors.cluster.delta import ServiceDelta
from actors.events import AllocationsUpdated, ClusterUpdated, Event, LeadershipChanged
from actors.kube.api import KubeApi, api_error, split_key
from actors.kube.event_recorder import CONTROLLER_COMPONENT, EventRecorder
from actors.kube.service_events import allocation_service_events
from actors.kube.writer import EVENT_WRITERS, WRITERS, ApiWriter, WritePool
from actors.listener import Listener
from actors.model.allocation import Allocation
from actors.model.annotations import ANNOTATION_IP_ALLOCATED_FROM_POOL, DEPRECATED_PREFIX
from actors.model.annotations import STABLE_PREFIX as ANNOTATION_STABLE_PREFIX
from actors.model.cluster import ClusterState, Service

log = logging.getLogger(__name__)


def deprecated_annotations(service: Service) -> tuple[str, ...]:
    return tuple(sorted(a for a in service.metadata.annotations if a.startswith(DEPRECATED_PREFIX)))


def service_status_patch(service: Service, allocation: Allocation | None) -> dict[str, Any] | None:
    """The status-subresource patch that makes ``service`` show ``allocation`` (None: as it is).

    ``allocation`` None means the allocator does not handle the service: a service that
    stopped being a LoadBalancer loses the address and annotation lbtui wrote; a service of
    another loadBalancerClass is left alone.
    """
    current_ips = list(service.ingress_ips)
    current_pool = service.metadata.annotations.get(ANNOTATION_IP_ALLOCATED_FROM_POOL)
    if allocation is None:
        if service.is_load_balancer or current_pool is None:
            return None
        wanted_ips: list[str] = []
        wanted_pool = None
    else:
        wanted_ips = [str(ip) for ip in allocation.ips]
        wanted_pool = allocation.pool if allocation.ips else None
    if wanted_ips == current_ips and wanted_pool == current_pool:
        return None
    patch: dict[str, Any] = {
        "status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in wanted_ips]}},
    }
    if wanted_pool != current_pool:
        patch["metadata"] = {"annotations": {ANNOTATION_IP_ALLOCATED_FROM_POOL: wanted_pool}}
    return patch


def status_patches(
    cluster: ClusterState, allocations: Mapping[str, Allocation]
) -> dict[str, dict[str, Any]]:
    """Every Service whose status differs from the allocations, with the patch to fix it."""
    out = {}
    for key, service in cluster.services.items():
        patch = service_status_patch(service, allocations.get(key))
        if patch is not None:
            out[key] = patch
    return out


class _Skipped(Exception):
    """A write not made: an earlier one failed, and the retry writes it after the backoff."""


def _rv_at_least(seen: str, written: str) -> bool:
    if seen.isdigit() and written.isdigit():
        return int(seen) >= int(written)
    return seen == written


class ServiceStatusWriter(Listener, ApiWriter):
    """Writes Service status and the allocation Events, while this controller leads."""

    actor_name = "status"
    listens_to = (ClusterUpdated, AllocationsUpdated, LeadershipChanged)

    def __init__(
        self,
        api: KubeApi,
        *,
        leader: bool = True,
        component: str = CONTROLLER_COMPONENT,
        writers: int = WRITERS,
        **kw: Any,
    ) -> None:
        super().__init__(api, **kw)
        self.leader = leader
        self.pool = WritePool(writers)
        # The Events have their own, smaller pool, which yields to the status writes: a burst
        # of Events must not compete with the statuses users wait for (2,000 Events in one
        # queue with them delayed 2,000 statuses by 16 s; beside them, still took a third of
        # the API server's writes). Each update's status writes are queued before its Events.
        self.event_pool = WritePool(EVENT_WRITERS, yields_to=self.pool)
        self.events = EventRecorder(api, component, pool=self.event_pool)
        self.cluster: ClusterState | None = None
        self.allocations: Mapping[str, Allocation] | None = None
        # key -> (patch, resourceVersion the write produced): not written again until the
        # watch has shown that version (or a newer one) and it still differs.
        self.written: dict[str, tuple[dict[str, Any], str]] = {}
        # key -> the patch being written now: one write per Service at a time.
        self.in_flight: dict[str, dict[str, Any]] = {}
        self._again = False  # a patch changed while its Service's write was in flight
        # Set by the worker whose write failed: the writes queued behind it are not made
        # (at most the pool's size meet an API that refuses), until the retry.
        self._halted = threading.Event()
        self.writes = 0
        self.failures = 0
        self.examined = 0  # Services _patches looked at so far: the tests' cost counter
        self.considered = 0  # patches sync looked at so far: the same
        self._known: dict[str, tuple[Service, Allocation | None, dict[str, Any] | None]] = {}
        self._pending: dict[str, dict[str, Any]] = {}  # the patches _known holds, by key
        self._annotations_seen: dict[str, Service] = {}
        # The Services changed since _patches and _warn_deprecated last looked: they look
        # only at those (a new allocations map: _patches looks at every one).
        self._patch_delta = ServiceDelta()
        self._warn_delta = ServiceDelta()
        # The keys of the patches sync must look at (None: every one): those _patches found
        # changed, and those whose write came back, since the last sync.
        self._look: set[str] | None = None

    def on_stop(self) -> None:
        self.pool.shutdown()
        self.event_pool.shutdown()

    def on_event(self, event: Event) -> None:
        # The status writes first, then the Events: the Events wait while status writes are
        # queued (WritePool's yields_to), so they must find this update's already queued.
        if isinstance(event, ClusterUpdated):
            self.cluster = event.cluster
            self._patch_delta.note(event)
            self._warn_delta.note(event)
            self.sync()
            self._warn_deprecated()
        elif isinstance(event, AllocationsUpdated):
            before = self.allocations
            self.allocations = event.allocations
            self._patch_delta.forget()
            self.sync()
            if self.leader:
                self._record(before or {}, event.allocations)
        elif isinstance(event, LeadershipChanged):
            self.leader = event.leader
            self.written.clear()
            self._look = None
            self.sync()

    def _warn_deprecated(self) -> None:
        """MetalLB's Warning ``deprecatedAnnotation``, once per service and annotation set."""
        if not self.leader or self.cluster is None:
            return
        services = self.cluster.services
        seen = self._annotations_seen
        keys = self._warn_delta.take()
        if keys is None:
            for key in [k for k in seen if k not in services]:
                del seen[key]
            # Only the services that are not the very objects last looked at.
            differ = [k for k, v in services.items() if seen.get(k) is not v]
        else:
            for key in [k for k in keys if k in seen and k not in services]:
                del seen[key]
            differ = [k for k in sorted(keys) if k in services and seen.get(k) is not services[k]]
        for key in differ:
            service = services[key]
            before = seen.get(key)
            seen[key] = service
            old = deprecated_annotations(before) if before is not None else ()
            for name in deprecated_annotations(service):
                if name in old:
                    continue
                stable = ANNOTATION_STABLE_PREFIX + name.removeprefix(DEPRECATED_PREFIX)
                self.events.record(
                    self.clock.wall(),
                    key,
                    service,
                    "Warning",
                    "deprecatedAnnotation",
                    f'annotation "{name}" is deprecated, use "{stable}" instead',
                )

    def _record(self, before: Mapping[str, Allocation], after: Mapping[str, Allocation]) -> None:
        """The Events for what changed between two allocation maps (services that are gone
        get none, as in MetalLB)."""
        wall = self.clock.wall()
        services = self.cluster.services if self.cluster else {}
        for key, allocation in after.items():
            old = before.get(key)
            if old is allocation:
                continue  # the allocator hands out the same object while nothing changes
            service = services.get(key)
            for e in allocation_service_events(key, service, old, allocation):
                self.events.record(wall, key, service, e.kind, e.reason, e.message)

    def sync(self) -> None:
        if not self.leader or self.cluster is None or self.allocations is None:
            return
        if self.retry.scheduled or self._halted.is_set():
            return  # a write failed: the retry timer syncs, after its backoff
        pending = self._patches()
        look, self._look = self._look, set()
        if look is None:
            patches = list(pending.items())
        else:
            # Only the patches that may be writable now; every other one is in flight, or
            # written and not back through the watch yet, and stays so until its Service
            # changes (_patches finds it again) or its write is back (_written).
            patches = [(k, pending[k]) for k in sorted(look) if k in pending]
        self.considered += len(patches)
        for key, patch in patches:
            flying = self.in_flight.get(key)
            if flying is not None:
                self._again = self._again or flying != patch
                continue  # written once this write is back
            service = self.cluster.services[key]
            done = self.written.get(key)
            seen = service.metadata.resource_version
            if done is not None and done[0] == patch and not _rv_at_least(seen, done[1]):
                continue  # our write is not back through the watch yet
            namespace, name = split_key(key)
            self.in_flight[key] = patch
            self.pool.call(
                self.actor_ref,
                self._patch,
                (namespace, name, patch),
                self._written,
                key,
                patch,
            )

    def _patch(self, namespace: str, name: str, patch: dict[str, Any]) -> Any:
        """One write, in a pool worker."""
        if self._halted.is_set():
            raise _Skipped()
        try:
            return self.api.patch_service_status(namespace, name, patch)
        except Exception as exc:
            if api_error(exc)[0] != 404:
                self._halted.set()
            raise

    def _retry(self) -> None:
        self._halted.clear()
        self._look = None  # the writes skipped or failed meanwhile are due again
        super()._retry()

    def _written(
        self, key: str, patch: dict[str, Any], result: Any, error: BaseException | None
    ) -> None:
        """One write's outcome, in the actor's thread."""
        self.in_flight.pop(key, None)
        if self._look is not None:
            self._look.add(key)
        if isinstance(error, _Skipped):
            self.retry_later()
        elif error is None:
            self.writes += 1
            rv = str(((result or {}).get("metadata") or {}).get("resourceVersion", ""))
            if self.cluster is not None and key in self.cluster.services:
                self.written[key] = (patch, rv)  # (_patches forgets a Service that is gone)
            self.retry.succeeded()
        elif api_error(error)[0] != 404:  # 404: deleted meanwhile; the watch will say so
            self.failures += 1
            if not self.retry.scheduled:
                log.warning("writing the status of %s failed: %s", key, error)
            self.retry_later()  # the API is likely away or busy: everything, later
        if self._again and not self.in_flight:
            self._again = False
            self.sync()

    def _patches(self) -> dict[str, dict[str, Any]]:
        """status_patches (the writer's own map, not to be changed), skipping services whose
        objects are the very ones last found in order: the cluster source and the allocator
        hand out the same objects while nothing changes, so a burst of N services costs N
        identity checks per update (the changed ones only, when the cluster says which), and
        each (Service, Allocation) pair's patch is worked out once."""
        assert self.cluster is not None and self.allocations is not None
        services, allocations = self.cluster.services, self.allocations
        known = self._known
        # Only the keys whose Service or Allocation is not the very object last looked at:
        # of those the cluster says changed since the last look, when it says.
        keys = self._patch_delta.take()
        if keys is None:
            differ = [k for k in known if k not in services]
            differ += [
                k
                for k, v in services.items()
                if (seen := known.get(k)) is None
                or seen[0] is not v
                or seen[1] is not allocations.get(k)
            ]
        else:
            differ = []
            for k in sorted(keys):  # in the cluster's order (by key), as the scan finds them
                seen, v = known.get(k), services.get(k)
                if seen is None:
                    if v is not None:
                        differ.append(k)
                elif v is None or seen[0] is not v or seen[1] is not allocations.get(k):
                    differ.append(k)
        self.examined += len(services) if keys is None else len(keys)
        pending = self._pending
        for key in differ:
            service = services.get(key)
            if service is None:
                known.pop(key, None)
                pending.pop(key, None)
                self.written.pop(key, None)
                continue
            allocation = allocations.get(key)
            patch = service_status_patch(service, allocation)
            known[key] = (service, allocation, patch)
            if patch is None:
                pending.pop(key, None)
            else:
                pending[key] = patch
                if self._look is not None:
                    self._look.add(key)
        return pending
