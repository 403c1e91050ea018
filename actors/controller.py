"""The controller: which actors ``lbtui controller`` runs against a Kubernetes API.

kube (list + watch) → config (metallb.io objects of ``--namespace``) → cluster (Services,
Namespaces) → [leader (a coordination.k8s.io Lease)] → status writers → allocator.

The allocator is the stateful one (MetalLB's semantics, DESIGN rule 7). It starts only once the
watch has listed every Service, and its ``converge_all`` re-claims the addresses already in the
Services' status before it allocates anything, so a restarted controller keeps every address.
With ``--leader-elect`` several replicas may run: only the one holding the Lease allocates and
writes; the others watch, and the one that takes over starts from a fresh allocator that
re-learns everything from the status the previous leader wrote.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from typing import Any

from actors.allocator.actor import AllocatorActor
from actors.base import RuntimeActor
from actors.cluster.kube import KubeApi, KubeCluster, api_error
from actors.cluster.kube_status import micro_time
from actors.events import Event, LeadershipChanged
from actors.runtime import ActorSpec

log = logging.getLogger(__name__)

LEASE_NAME = "lbtui-controller"


# -- leader election -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LeaseView:
    """What a Lease says, and the resourceVersion to replace it with."""

    holder: str
    duration: float
    renew_time: str
    transitions: int
    acquire_time: str
    resource_version: str

    @classmethod
    def of(cls, lease: dict[str, Any]) -> LeaseView:
        spec = lease.get("spec") or {}
        return cls(
            holder=str(spec.get("holderIdentity") or ""),
            duration=float(spec.get("leaseDurationSeconds") or 0),
            renew_time=str(spec.get("renewTime") or ""),
            transitions=int(spec.get("leaseTransitions") or 0),
            acquire_time=str(spec.get("acquireTime") or ""),
            resource_version=str((lease.get("metadata") or {}).get("resourceVersion", "")),
        )


def lease_spec(
    view: LeaseView | None, identity: str, duration: float, wall: float
) -> dict[str, Any]:
    """The spec this candidate writes to take or renew the lease (client-go's record)."""
    now = micro_time(wall)
    renewing = view is not None and view.holder == identity
    return {
        "holderIdentity": identity,
        "leaseDurationSeconds": int(duration),
        "acquireTime": view.acquire_time if renewing and view else now,
        "renewTime": now,
        "leaseTransitions": (view.transitions if renewing else view.transitions + 1)
        if view is not None
        else 0,
    }


def held_by_other(
    view: LeaseView, identity: str, observed_at: float, now: float, default: float
) -> bool:
    """Someone else holds the lease and it has not expired by our own clock: the expiry is
    measured from when *we* last saw it change, so the holders' clocks may disagree."""
    if not view.holder or view.holder == identity:
        return False
    return observed_at + (view.duration or default) > now


class LeaderElector(RuntimeActor):
    """client-go's algorithm: try to acquire or renew every ``retry_period``; a leader that
    cannot renew for ``renew_deadline`` steps down; on stop it releases the lease so a
    standby takes over at once instead of after ``lease_duration``."""

    actor_name = "leader"

    def __init__(
        self,
        api: KubeApi,
        namespace: str,
        identity: str,
        *,
        lease_name: str = LEASE_NAME,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.api = api
        self.namespace = namespace
        self.identity = identity
        self.lease_name = lease_name
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.leader = False
        self.holder = ""
        self.observed: LeaseView | None = None
        self.observed_at = 0.0
        self.renewed_at = 0.0

    def on_start(self) -> None:
        self.tick()

    def on_stop(self) -> None:
        if self.leader:
            self._release()

    def republish(self) -> None:
        self.publish(LeadershipChanged(self.clock.now(), self.identity, self.leader, self.holder))

    def tick(self) -> None:
        now = self.clock.now()
        won = self._try_acquire_or_renew(now)
        if won:
            self.renewed_at = now
            if not self.leader:
                self.leader = True
                log.info("%s became the leader (lease %s)", self.identity, self.lease_name)
                self.republish()
        elif self.leader and now - self.renewed_at >= self.renew_deadline:
            self.leader = False
            log.warning("%s lost the lease %s", self.identity, self.lease_name)
            self.republish()
        self.after(self.retry_period, "tick")

    def _try_acquire_or_renew(self, now: float) -> bool:
        wall = self.clock.wall()
        try:
            lease = self.api.get_lease(self.namespace, self.lease_name)
        except Exception as exc:
            if api_error(exc)[0] != 404:
                return False
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.lease_name, "namespace": self.namespace},
                "spec": lease_spec(None, self.identity, self.lease_duration, wall),
            }
            try:
                created = self.api.create_lease(self.namespace, body)
            except Exception:
                return False  # someone else created it first: next round
            self._observe(LeaseView.of(created), now)
            return True
        view = LeaseView.of(lease)
        if view != self.observed:
            self._observe(view, now)
        self._holder(view.holder)
        if held_by_other(view, self.identity, self.observed_at, now, self.lease_duration):
            return False
        lease["spec"] = lease_spec(view, self.identity, self.lease_duration, wall)
        try:
            written = self.api.replace_lease(self.namespace, self.lease_name, lease)
        except Exception:
            return False  # 409: another candidate won this round
        self._observe(LeaseView.of(written), now)
        self._holder(self.identity)
        return True

    def _observe(self, view: LeaseView, now: float) -> None:
        self.observed = view
        self.observed_at = now

    def _holder(self, holder: str) -> None:
        if holder != self.holder:
            self.holder = holder
            if not self.leader:
                self.republish()

    def _release(self) -> None:
        try:
            lease = self.api.get_lease(self.namespace, self.lease_name)
            if LeaseView.of(lease).holder != self.identity:
                return
            spec = dict(lease.get("spec") or {})
            spec.update({"holderIdentity": "", "leaseDurationSeconds": 1})
            lease["spec"] = spec
            self.api.replace_lease(self.namespace, self.lease_name, lease)
        except Exception as exc:
            log.info("releasing the lease failed (it will expire): %s", exc)
        self.leader = False


class ControllerAllocator(AllocatorActor):
    """The stateful allocator, working only while this replica leads. Taking over starts
    from a fresh allocator, so every address is re-learned from the status first."""

    listens_to = (*AllocatorActor.listens_to, LeadershipChanged)  # type: ignore[assignment]

    def __init__(self, *, leader: bool = True, **kw: Any) -> None:
        super().__init__(**kw)
        self.leader = leader

    def on_event(self, event: Event) -> None:
        if isinstance(event, LeadershipChanged):
            if event.leader == self.leader:
                return
            self.leader = event.leader
            # Whoever led before may have allocated since we last looked: forget our own view.
            self.allocator = None
            self.allocations = {}  # type: ignore[assignment]
            self.usage = {}  # type: ignore[assignment]
            self._published = False
            self.reconcile()
            return
        super().on_event(event)

    def reconcile(self) -> None:
        if self.leader:
            super().reconcile()


def default_identity() -> str:
    """The pod name in a cluster (POD_NAME, or the hostname a pod gets), plus the PID."""
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{os.getpid()}"


def controller_specs(
    kube: KubeCluster,
    *,
    lb_class: str | None = None,
    leader_elect: bool = False,
    identity: str | None = None,
    lease_name: str = LEASE_NAME,
    lease_timing: tuple[float, float, float] = (15.0, 10.0, 2.0),
    sync_timeout: float = 5.0,
    retry: tuple[float, float] = (0.5, 30.0),
    refresh_interval: float = 0.0,
    webhook_mode: str = "disabled",
    webhook_options: dict[str, Any] | None = None,
    ml_secret_name: str = "",
    deployment: str = "controller",
) -> list[ActorSpec]:
    """The actors of ``lbtui controller`` (not started); ``kube`` carries the API and namespace.

    ``ml_secret_name`` (MetalLB's ``--ml-secret-name``): create the speakers' memberlist key
    Secret of that name unless it exists, owned by the Deployment ``deployment``.

    ``refresh_interval``: at most one cluster load per interval (the command line uses 0.1 s,
    so a burst of Services costs a few loads; 0 loads on every change).

    ``webhook_mode`` (MetalLB's ``--webhook-mode``): "enabled" adds the admission and
    conversion webhooks (certificate rotator and HTTPS server, options in
    ``webhook_options``, see :func:`actors.cluster.webhook_server.webhook_specs`);
    "onlywebhook" runs the webhooks without allocation or status writes. ``kube`` must then
    watch the kinds the webhooks read (see ``webhook_server.with_webhook_resources``).
    """
    from actors.cluster.actor import ClusterActor
    from actors.cluster.kube import KubeClusterSource, KubeConfigStore, KubeWatcher
    from actors.cluster.kube_status import (
        ConfigurationStateWriter,
        MemberlistSecretWriter,
        PoolStatusWriter,
        ServiceStatusWriter,
    )
    from actors.cluster.webhook_server import webhook_specs
    from actors.config.actor import ConfigActor

    api = kube.api
    namespace = kube.namespace
    leading = not leader_elect  # without election this replica is the one writer
    retry_kw = {"retry_initial": retry[0], "retry_max": retry[1]}
    watcher = ActorSpec("kube", KubeWatcher, {"kube": kube, "sync_timeout": sync_timeout})
    webhooks = webhook_specs(kube, mode=webhook_mode, **(webhook_options or {}))
    specs = [
        watcher,
        ActorSpec("config", ConfigActor, {"store": KubeConfigStore(kube)}),
        ActorSpec(
            "cluster",
            ClusterActor,
            {"source": KubeClusterSource(kube), "min_interval": refresh_interval},
        ),
    ]
    if webhook_mode == "onlywebhook":
        # No allocation and no writes; config and cluster stay for /readyz (first sync).
        return [*specs, *webhooks]
    if leader_elect:
        duration, deadline, period = lease_timing
        specs.append(
            ActorSpec(
                "leader",
                LeaderElector,
                {
                    "api": api,
                    "namespace": namespace,
                    "identity": identity or default_identity(),
                    "lease_name": lease_name,
                    "lease_duration": duration,
                    "renew_deadline": deadline,
                    "retry_period": period,
                },
            )
        )
    # Writers start before the allocator so they see its very first events.
    specs += [
        ActorSpec("status", ServiceStatusWriter, {"api": api, "leader": leading, **retry_kw}),
        ActorSpec(
            "poolstatus",
            PoolStatusWriter,
            {"api": api, "namespace": namespace, "leader": leading, **retry_kw},
        ),
        ActorSpec(
            "configstate",
            ConfigurationStateWriter,
            {"api": api, "namespace": namespace, "leader": leading, **retry_kw},
        ),
        ActorSpec("allocator", ControllerAllocator, {"lb_class": lb_class, "leader": leading}),
    ]
    if ml_secret_name:
        specs.append(
            ActorSpec(
                "mlsecret",
                MemberlistSecretWriter,
                {
                    "api": api,
                    "namespace": namespace,
                    "secret_name": ml_secret_name,
                    "deployment": deployment,
                    **retry_kw,
                },
            )
        )
    specs += [
        # Last: their first round (certificates, caBundles) must not delay allocation.
        *webhooks,
    ]
    return specs
