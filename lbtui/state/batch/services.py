"""The batch builder for services: the cluster, the allocations, and each service's row.

A service's row (:class:`~lbtui.state.model.ServiceRow`) is derived: from the cluster's
Service, its allocation and who announces it (the ``announcers`` table, kept by the layer 2
and BGP subjects through :meth:`ServicesBatch._announcer`). Rows a batch may have changed are
marked during the batch and computed once, at its end (:meth:`ServicesBatch.finish`). Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from actors.events import AllocationsUpdated, ClusterUpdated, Event, IpReleased
from actors.model.cluster import ClusterState
from lbtui.state.batch.base import Batch, Handler
from lbtui.state.batch.interned import EMPTY_SET, ip_text, one_set, one_tuple
from lbtui.state.model import EMPTY, ConsoleState, Member, ServiceRow

if TYPE_CHECKING:
    from actors.model.allocation import Allocation


class ServicesBatch(Batch):
    """A batch that keeps the services' rows and who announces each service."""

    def finish(self) -> ConsoleState:
        self._finish_services()
        return super().finish()

    # cluster and allocation
    def _cluster_updated(self, e: ClusterUpdated) -> None:
        before = self.cluster.services if self.cluster is not None else EMPTY
        after = e.cluster.services
        self.cluster = e.cluster
        if before is after:
            return
        rows = self.write("services")
        for key in before.keys() - after.keys():
            if rows.pop(key, None) is not None:
                self.changed_services.add(key)
        for key, service in after.items():
            if before.get(key) is not service or key not in rows:
                self._refresh_service(key)
        members = self.read("members")
        for node in e.cluster.nodes:
            if node not in members:
                state = "unknown" if self.alive is None else liveness(node, self.alive)
                self.write("members")[node] = Member(node, state)

    def _allocations_updated(self, e: AllocationsUpdated) -> None:
        before = self.allocations
        self.allocations = e.allocations
        self.usage = e.usage
        if before is e.allocations:
            return
        for key in before.keys() | e.allocations.keys():
            if before.get(key) != e.allocations.get(key):
                self._refresh_service(key)
        unowned = [ip for ip, entry in self.read("l2").items() if entry.node is None]
        held = {ip_text(ip) for a in e.allocations.values() for ip in a.ips} if unowned else ()
        stale = [ip for ip in unowned if ip not in held]
        if stale:
            l2 = self.write("l2")
            for ip in stale:
                del l2[ip]
                self.changed_l2.add(ip)

    # A service's row follows AllocationsUpdated (the allocator's whole answer); IpAssigned,
    # IpReleased and AllocationFailed say the same thing for the event log.
    def _ip_released(self, e: IpReleased) -> None:
        l2 = self.read("l2")
        for ip in e.ips:
            entry = l2.get(ip)
            if entry is not None and entry.node is None:
                del self.write("l2")[ip]
                self.changed_l2.add(ip)

    # who announces each service
    def _announcer(self, service: str, who: tuple[str, str], *, add: bool) -> None:
        # Called twice per address a batch moves: the table is looked up directly.
        table = self._tables.get("announcers")
        current = (table if table is not None else self.base.announcers).get(service)
        if (current is not None and who in current) == add:
            return  # nothing changes
        if table is None:
            table = self.write("announcers")
        if add:
            updated = current | {who} if current else one_set(who)
        else:
            updated = current - {who} if len(current) > 1 else EMPTY_SET
        if updated:
            table[service] = updated
        else:
            del table[service]
        self._dirty_services.add(service)

    # derived service rows: marked during the batch, computed once at its end
    def _refresh_service(self, key: str) -> None:
        self._dirty_services.add(key)

    def _finish_services(self) -> None:
        if not self._dirty_services:
            return
        rows = self.read("services")
        announcers = self.read("announcers")
        changed: list[tuple[str, ServiceRow | None]] = []
        # Neither services nor allocations changed in this batch (a failover): only who
        # announces a service did, so a row is its old one with new announcers (if those
        # differ, the row does: no comparison needed).
        failover = self.cluster is self.base.cluster and self.allocations is self.base.allocations
        for key in self._dirty_services:
            current = rows.get(key)
            if failover and current is not None:
                row = with_announcers(current, announcers.get(key, EMPTY_SET))
                if row is not current:
                    changed.append((key, row))
                continue
            row = service_row(key, self.cluster, self.allocations, announcers.get(key, EMPTY_SET))
            if row is not current and (row is None or current != row):
                changed.append((key, row))
        self._dirty_services.clear()
        if changed:
            table = self.write("services")
            for key, row in changed:
                if row is None:
                    del table[key]
                else:
                    table[key] = row
                self.changed_services.add(key)


SERVICE_HANDLERS: dict[type[Event], Handler] = {
    ClusterUpdated: ServicesBatch._cluster_updated,
    AllocationsUpdated: ServicesBatch._allocations_updated,
    IpReleased: ServicesBatch._ip_released,
}


def service_row(
    key: str,
    cluster: ClusterState | None,
    allocations: Mapping[str, Allocation],
    who: frozenset[tuple[str, str]],
) -> ServiceRow | None:
    """The row of a LoadBalancer service announced by ``who`` ((node, protocol) pairs); None
    for a service that is not one (or not known)."""
    if cluster is None:
        return None
    service = cluster.services.get(key)
    if service is None or not service.is_load_balancer:
        return None
    allocation = allocations.get(key)
    if allocation is not None:
        ips = tuple(map(ip_text, allocation.ips))
        pool = allocation.pool or ""
        error = allocation.error or ""
    else:
        ips, pool, error = service.ingress_ips, "", ""
    nodes, protocols, status = announced(who, ips, error)
    return ServiceRow(
        key,
        service.namespace,
        service.metadata.name,
        ips,
        pool,
        nodes,
        protocols,
        status,
        error,
    )


def with_announcers(row: ServiceRow, who: frozenset[tuple[str, str]]) -> ServiceRow:
    """The row announced by ``who`` instead (the same row if that changes nothing)."""
    nodes, protocols, status = announced(who, row.ips, row.error)
    if (nodes, protocols, status) == (row.nodes, row.protocols, row.status):
        return row  # announced by the same nodes again (a stop and start in one batch)
    return ServiceRow(
        row.key, row.namespace, row.name, row.ips, row.pool, nodes, protocols, status, row.error
    )


def announced(
    who: frozenset[tuple[str, str]], ips: tuple[str, ...], error: str
) -> tuple[tuple[str, ...], tuple[str, ...], str]:
    """The nodes and protocols announcing a service, and its status."""
    if len(who) == 1:
        ((node, protocol),) = who
        nodes, protocols = one_tuple(node), one_tuple(protocol)
    else:
        nodes = tuple(sorted({node for node, _ in who}))
        protocols = tuple(sorted({protocol for _, protocol in who}))
    if not ips:
        status = "error" if error else "pending"
    else:
        status = "announced" if nodes else "not announced"
    return nodes, protocols, status


def liveness(node: str, alive: frozenset[str]) -> str:
    return "alive" if node in alive else "dead"
