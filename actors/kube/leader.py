"""Leader election on a coordination.k8s.io Lease, the way client-go's leaderelection does it."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

import msgspec

from actors.base import RuntimeActor
from actors.events import LeadershipChanged
from actors.kube.api import KubeApi, api_error, micro_time

log = logging.getLogger(__name__)

LEASE_NAME = "lbtui-controller"


class LeaseView(msgspec.Struct, frozen=True):
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
        self.after(self.retry_period, self.tick)

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


def default_identity() -> str:
    """The pod name in a cluster (POD_NAME, or the hostname a pod gets), plus the PID."""
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{os.getpid()}"
