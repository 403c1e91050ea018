"""The controller's IPAddressPool status: :class:`PoolStatusWriter` over :func:`pool_status`.

``status`` holds assignedIPv4/6 and availableIPv4/6, as MetalLB's PoolStatusReconciler writes
them (int64 counters: a /64 is "MaxInt64"), written while this controller leads.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from actors.events import AllocationsUpdated, Event, LeadershipChanged
from actors.kube.api import KubeApi, api_error
from actors.kube.writer import ApiWriter
from actors.listener import Listener
from actors.model.allocation import PoolUsage

log = logging.getLogger(__name__)

INT64_MAX = 2**63 - 1  # MetalLB's counters are int64: a /64 is "MaxInt64"


def pool_status(usage: PoolUsage) -> dict[str, int]:
    """IPAddressPool status as MetalLB's PoolStatusReconciler writes it."""
    return {
        "assignedIPv4": min(usage.in_use_v4, INT64_MAX),
        "assignedIPv6": min(usage.in_use_v6, INT64_MAX),
        "availableIPv4": min(usage.total_v4 - usage.in_use_v4, INT64_MAX),
        "availableIPv6": min(usage.total_v6 - usage.in_use_v6, INT64_MAX),
    }


class PoolStatusWriter(Listener, ApiWriter):
    actor_name = "poolstatus"
    listens_to = (AllocationsUpdated, LeadershipChanged)

    def __init__(
        self,
        api: KubeApi,
        namespace: str,
        *,
        leader: bool = True,
        **kw: Any,
    ) -> None:
        super().__init__(api, namespace, **kw)
        self.leader = leader
        self.usage: Mapping[str, PoolUsage] = MappingProxyType({})
        self.written: dict[str, dict[str, int]] = {}

    def on_event(self, event: Event) -> None:
        if isinstance(event, AllocationsUpdated):
            self.usage = event.usage
        elif isinstance(event, LeadershipChanged):
            self.leader = event.leader
            self.written.clear()
        self.sync()

    def sync(self) -> None:
        if not self.leader:
            return
        for pool, usage in sorted(self.usage.items()):
            status = pool_status(usage)
            if self.written.get(pool) == status:
                continue
            try:
                self.api.custom_patch_status(
                    "ipaddresspools", self.namespace, pool, {"status": status}
                )
            except Exception as exc:
                if api_error(exc)[0] == 404:
                    continue  # the pool is not (or no longer) an object in the API
                log.warning("writing the status of IPAddressPool %s failed: %s", pool, exc)
                self.retry_later()
                return
            self.written[pool] = status
        self.retry.succeeded()
