"""MetalLB's address allocator, made deterministic (house rule 7) and cheap at scale.

Pure code: no threads, sockets or clocks. The allocator actor wraps an :class:`Allocator`;
``lbtui plan`` and every ``--cluster`` speaker call :func:`allocate_cluster`. This module
holds the converging: keep, re-claim, top up or allocate, service by service and in rule-7
order. What a service asks is read in demand.py, the pools are indexed and searched in
pools.py (over the free-address bookkeeping of ranges.py), and who holds what is recorded in
holdings.py.

API
---
``Allocation(service, ips, pool, error, cleared, error_kind, notice)``
    What one service holds. ``ips`` is empty when it holds nothing; ``error`` says why it got
    nothing (or, with ``ips`` set, that its requested addresses or its clusterIPs are invalid
    while the addresses it already held are kept, as MetalLB does); ``cleared`` says why
    addresses it held before were dropped. ``error_kind`` (``ERROR_*``) and ``cleared_kind``
    (``CLEARED_*``, derived from the text) say what kind of trouble it is, so that whoever
    tells the user (the controller's Events) can name it as MetalLB does without parsing
    messages. ``notice``: a PreferDualStack service holding one family could not get the
    other from its pool (MetalLB's ``AdditionalAssignFailed``), and why.
``PoolUsage(total, in_use, total_v4, total_v6, in_use_v4, in_use_v6)``
    Per-pool counters, exact ints (a /64 has ``2**64``); ``total`` leaves out .0/.255 in
    ``avoidBuggyIPs`` pools; ``in_use`` counts addresses, not services.
``Allocator(config, lb_class=None)``
    ``converge(service, namespace_labels) -> Allocation | None`` one service: keep, re-claim
    or allocate (None: not a LoadBalancer or another class; whatever it held is released).
    ``converge_all(cluster) -> dict[str, Allocation]`` every service in rule-7 order; releases
    services that are gone.
    ``set_config(config) -> list[str]`` services whose addresses are in no pool any more
    (released; converge them again to re-allocate).
    ``release(service_key)``, ``assigned(service_key)``, ``usage()``.
``allocate_cluster(config, cluster, lb_class=None) -> (allocations, usage)``
    The same as a fresh ``Allocator(...).converge_all(cluster)``; the result depends only on
    the objects, never on their order.

Semantics are MetalLB's (see reference/metallb-semantics.md §2-3) with its random choices made
deterministic: pools by priority then name, services holding addresses first, then those
requesting addresses, then the rest (each by creation time, then namespace/name). A dual-stack
allocation lists IPv4 first, as MetalLB writes it; requested addresses keep the order written.

Deliberate differences from MetalLB, each where it is random, flaps or cannot apply (all of
lbtui's differences are in one table, README.md, "Where lbtui differs from MetalLB"):

- ties between pools of equal priority, and the pools without ``serviceAllocation``, are
  tried by name (MetalLB: Go map order);
- admission checks every ``serviceAllocation`` list that is set, ``namespaceSelectors``
  included, also for requested addresses and ``address-pool`` (MetalLB's Assign skips them);
- a PreferDualStack service holding the one address it requested is not topped up (MetalLB
  adds one, then drops both as "different IP" on the next pass, and so on);
- a service without clusterIPs (hand-written ``--cluster`` files) takes its families from
  ``ipFamilies``, else its requested addresses, else IPv4 (MetalLB refuses it);
- a service without ports still holds its address (MetalLB then forgets the sharing key);
- a range overlapping an earlier one (pools by name, ranges in order) is ignored; the config
  validator rejects such configs anyway.

Cost
----
Finding the lowest free or shareable address never scans (see ranges.py). At 100,000 services
the constant factor is what counts: an address held without a sharing key costs almost
nothing the garbage collector walks (see holdings.py); ``converge_all`` pauses that collector
for its pass; and the common case (no request, no sharing key, one family) takes a short path.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from itertools import chain
from types import MappingProxyType

from actors.allocator.addresses import FAMILY_NAME, V6_TAG, family_of, parse_address, quoted
from actors.allocator.demand import Demand, Port, admits, demand_of, family_fits
from actors.allocator.holdings import Holdings, claim_of
from actors.allocator.pools import PoolIndex
from actors.allocator.ranges import Candidate, Lane, Spot
from actors.model.allocation import (
    ERROR_NO_POOLS,
    NO_FAMILY_PREFIX,
    NOT_ALLOWED_PREFIX,
    Allocation,
    PoolUsage,
)
from actors.model.annotations import LOAD_BALANCER_IPS, annotation
from actors.model.cluster import EPOCH, ClusterState, Service
from actors.model.config import Config, Pool
from actors.util.gc_pause import gc_paused

NO_POOLS = "no address pools configured"
NO_AVAILABLE_IPS = "no available IPs"


class Allocator:
    """Incremental allocator state for one configuration (see the module docstring)."""

    def __init__(
        self, config: Config, lb_class: str | None = None, *, remember: bool = True
    ) -> None:
        self._lb_class = lb_class
        # Whether converge_all keeps what the next pass needs to skip settled services: not
        # for one pass alone (allocate_cluster), where of 100k Services it is 10s of MB.
        self._remember = remember
        self._port_sets: dict[frozenset[Port], frozenset[Port]] = {}
        self._index = PoolIndex(config)
        self._holdings = Holdings(self._index.locator)
        # Service key -> (the Service object, its Allocation) of a service that settled in the
        # last converge_all (see _settles); the namespaces that pass saw. A later pass skips a
        # service whose object and allocation are still those: converging it again would
        # give the same object back, so a watch event costs the services it changed.
        self._settled: dict[str, tuple[Service, Allocation]] = {}
        self._settled_namespaces: Mapping[str, object] = {}
        # The last pass's services mapping and answer, and the keys it left unsettled (plus
        # those released or converged one by one since): the next pass looks only at the
        # services that are not the very objects it saw, and at those keys.
        self._last_services: Mapping[str, Service] | None = None
        self._last_results: dict[str, Allocation] = {}
        self._unsettled: set[str] = set()
        # The keys the last pass looked at (None: every service): nothing else changed.
        self.looked_at: set[str] | None = None
        self.converged = 0  # services converged (not skipped) so far: the tests' cost counter
        self.examined = 0  # services looked at (skipped or not) so far: the same

    # ----- configuration

    def set_config(self, config: Config) -> list[str]:
        """Switch to a new configuration and return the services whose addresses it orphans.

        Held addresses stay with their services when they still lie in one pool (possibly a
        different one); the rest are released. Pool admission is re-checked on the next
        converge, as MetalLB's ReprocessAll does.
        """
        old = self._holdings
        self._settled = {}  # admission and ranges may differ: every service is checked again
        self._last_services = None
        self._index = index = PoolIndex(config)
        self._holdings = holdings = Holdings(index.locator)
        orphans: list[str] = []
        for service in sorted(old.held):
            allocation = old.held[service]
            keys = allocation.address_keys
            located = [index.locator.find(k) for k in keys]
            found = [x for x in located if x is not None]
            pools = {pool.name for pool, _ in found}
            if len(found) != len(located) or len(pools) != 1:
                orphans.append(service)
                continue
            pool = pools.pop()
            if allocation.pool != pool:
                allocation = allocation.replace(pool=pool)
            spots = [spot for _, spot in found]
            claim = claim_of(old.uses[keys[0]], service)
            holdings.commit(service, claim, pool, keys, spots, allocation=allocation)
        return orphans

    @property
    def config(self) -> Config:
        return self._index.config

    # ----- queries

    def assigned(self, service_key: str) -> Allocation | None:
        return self._holdings.held.get(service_key)

    def usage(self) -> dict[str, PoolUsage]:
        return self._index.usage()

    def handles(self, service: Service) -> bool:
        """A LoadBalancer service of this allocator's class (None: class-less ones only)."""
        spec = service.spec
        return spec.type == "LoadBalancer" and spec.load_balancer_class == self._lb_class

    # ----- changes

    def release(self, service_key: str) -> None:
        self._settled.pop(service_key, None)
        self._unsettled.add(service_key)
        self._holdings.release(service_key)

    def converge(self, service: Service, namespace_labels: Mapping[str, str]) -> Allocation | None:
        """Bring one service to its MetalLB end state and return what it holds.

        Existing addresses (held here, else read from ``status.loadBalancer.ingress``) are
        re-claimed if still valid; otherwise they are dropped (``cleared``) and the service is
        allocated again: requested addresses, else the requested pool, else by pool order.
        """
        self._unsettled.add(service.key)
        return self._converge(service, service.key, namespace_labels)

    def converge_all(
        self, cluster: ClusterState, changed: Collection[str] | None = None
    ) -> dict[str, Allocation]:
        """Converge every service of the cluster in rule-7 order; release those that are gone.

        Three passes keep restarts stable and requests unstolen: services holding addresses
        re-claim them (nothing new is allocated yet), then services requesting addresses are
        served, then everything else (including top-ups and re-allocations), each pass in
        (creation time, namespace, name) order.

        ``changed``: the keys of the services that may differ from those of the last pass (a
        superset; None: any may), as the cluster's journal says; then no other is looked at.
        """
        return dict(self.converge_view(cluster, changed))

    def converge_view(
        self, cluster: ClusterState, changed: Collection[str] | None = None
    ) -> Mapping[str, Allocation]:
        """converge_all's answer as a read-only view, valid until the next pass (no copy of
        every allocation for a pass that looked at a few; ``looked_at`` says which)."""
        with gc_paused():
            return self._converge_all(cluster, changed)

    def _converge_all(
        self, cluster: ClusterState, changed: Collection[str] | None
    ) -> Mapping[str, Allocation]:
        held = self._holdings.held
        lb_class = self._lb_class
        services = cluster.services
        # A settled service whose object and allocation are the very ones of the last pass
        # is not converged again (see _settles): its addresses are its own, nothing it reads
        # changed (its Service, the namespaces' labels, the configuration: set_config forgets
        # them all), and converging it would hand back the same Allocation. After a first
        # pass, only the services that are not the very objects of the last one, those gone,
        # and those left unsettled are looked at (``candidates``); a pass with nothing new
        # costs one identity check per service.
        settled = self._settled
        last = self._last_services
        candidates: set[str] | None = None
        if cluster.namespaces != self._settled_namespaces or last is None:
            settled = {}
        elif changed is None:
            candidates = {k for k, v in services.items() if last.get(k) is not v}
            candidates |= last.keys() - services.keys()
            candidates |= self._unsettled
        else:
            # Those gone are among ``changed`` (a delete is a change).
            candidates = {k for k in changed if last.get(k) is not services.get(k)}
            candidates |= self._unsettled
        self.looked_at = candidates
        # (every service is looked at, if only for an identity check, unless ``changed`` says)
        self.examined += len(services) if candidates is None or changed is None else len(candidates)
        results: dict[str, Allocation] = {}
        keep: dict[str, tuple[Service, Allocation]] = {}
        # The keys looked at, to find what is gone: nothing is when nothing is held (a first
        # pass), and of 100k Services the set is ~10 MB.
        seen: set[str] | None = set() if held else None
        # Rule 7's order is (group, created, namespace, name); the service key follows, and as
        # it is unique, sorting these tuples never compares services.
        entries: list[tuple[int, datetime, str, str, str, bool, Service]] = []
        looked_at = (
            services.items()
            if candidates is None
            else [(k, services[k]) for k in candidates if k in services]
        )
        for mapped, s in looked_at:
            spec = s.spec
            if spec.type != "LoadBalancer" or spec.load_balancer_class != lb_class:
                continue
            meta = s.metadata
            namespace = meta.namespace or "default"
            key = f"{namespace}/{meta.name}"  # Service.key, inlined: this loop is hot
            if key == mapped:
                key = mapped  # the cluster's own string: kept by every result, one is enough
            if seen is not None:
                seen.add(key)
            memo = settled.get(key)
            if memo is not None and memo[0] is s and held.get(key) is memo[1]:
                results[key] = memo[1]
                keep[key] = memo
                continue
            annotations = meta.annotations
            requests = bool(
                spec.load_balancer_ip
                or (annotations and annotation(annotations, LOAD_BALANCER_IPS))
            )
            holds = key in held or bool(s.status.load_balancer.ingress)
            group = 0 if holds else 1 if requests else 2
            created = meta.creation_timestamp or EPOCH
            entries.append((group, created, namespace, meta.name, key, requests, s))
        if seen is None:
            gone: set[str] = set()
        else:
            gone = held.keys() - seen if candidates is None else (held.keys() & candidates) - seen
        for key in sorted(gone):
            self.release(key)
        entries.sort()

        self.converged += len(entries)
        labels_of: dict[str, Mapping[str, str]] = {}
        dropped: dict[str, str | None] = {}  # re-claim failed: allocate without re-claiming
        converge = self._converge
        for group, _, namespace, _, key, _, s in entries:
            if group != 0:
                break
            labels = labels_of.get(namespace)
            if labels is None:
                labels = labels_of[namespace] = cluster.namespace_labels(namespace)
            result = converge(s, key, labels, allocate=False)
            if result is None:
                continue
            if result.ips:
                # Re-claimed, and settled: later services can only share its addresses on other
                # ports. Only a PreferDualStack service holding one address may still change
                # (a top-up, once requests are served), so only it is converged again.
                if len(result.ips) == 2 or s.spec.ip_family_policy != "PreferDualStack":
                    results[key] = result
            elif result.error is not None:
                results[key] = result
            else:
                dropped[key] = result.cleared
        requesting = [e for e in entries if e[5]]
        others = (e for e in entries if not e[5])
        for _, _, namespace, _, key, _, s in chain(requesting, others):
            if key in results:
                continue
            labels = labels_of.get(namespace)
            if labels is None:
                labels = labels_of[namespace] = cluster.namespace_labels(namespace)
            if key in dropped:
                result = converge(s, key, labels, reclaim=False, cleared=dropped[key])
            else:
                result = converge(s, key, labels)
            if result is not None:
                results[key] = result
        if not self._remember:
            return MappingProxyType({key: results[key] for key in sorted(results)})
        unsettled: set[str] = set()
        for *_, key, _, s in entries:
            result = results.get(key)
            if result is not None and _settles(s, result) and held.get(key) is result:
                keep[key] = (s, result)
            else:
                unsettled.add(key)
        self._settled_namespaces = cluster.namespaces
        self._last_services = services
        self._unsettled = unsettled
        if candidates is None:
            self._settled = keep
            answer = {key: results[key] for key in sorted(results)}
        else:
            # Everything not looked at is as the last pass left it (neither is shared: they
            # are changed in place).
            merged = self._settled
            answer = self._last_results
            for key in candidates:
                merged.pop(key, None)
                if key not in results:
                    answer.pop(key, None)
            merged.update(keep)
            added = results.keys() - answer.keys()
            answer.update(results)  # a key already there keeps its place in the order
            if added:
                answer = {key: answer[key] for key in sorted(answer)}
        self._last_results = answer
        return MappingProxyType(answer)

    # ----- convergence

    def _converge(
        self,
        service: Service,
        key: str,
        namespace_labels: Mapping[str, str],
        *,
        reclaim: bool = True,
        allocate: bool = True,
        cleared: str | None = None,
    ) -> Allocation | None:
        spec = service.spec
        if spec.type != "LoadBalancer" or spec.load_balancer_class != self._lb_class:
            self.release(key)
            return None
        if not self._index.pools:
            self.release(key)
            return Allocation(key, (), None, NO_POOLS, None, ERROR_NO_POOLS)
        demand = demand_of(service, key, self._intern_ports)
        if demand.error is not None:
            self.release(key)
            return Allocation(key, (), None, demand.error, None, demand.error_kind)

        holdings = self._holdings
        held = key in holdings.held
        if reclaim and (held or service.status.load_balancer.ingress):
            existing, pool, dropped_because = self._reclaim(service, demand, namespace_labels)
            cleared = dropped_because or cleared
            if existing:
                if demand.held_error is not None:
                    # MetalLB keeps serving the current addresses and reports the error.
                    return holdings.held[key].replace(
                        error=demand.held_error,
                        error_kind=demand.held_error_kind,
                        notice=None,
                    )
                # Requested addresses are exactly what the user asked for: never topped up
                # (MetalLB tops them up, then drops both as "different IP" and flaps).
                topping_up = len(existing) == 1 < len(demand.families) and not demand.requested
                if topping_up and allocate:
                    self._top_up(demand, pool, existing[0])
                elif not topping_up and holdings.held[key].notice is not None:
                    holdings.amend(key, None)
                return holdings.held[key]
        elif held:
            self.release(key)
        if not allocate:
            return Allocation(key, (), None, None, cleared)
        return self._allocate(demand, namespace_labels, cleared)

    def _intern_ports(self, ports: frozenset[Port]) -> frozenset[Port]:
        """One shared object per distinct port set: most services expose the same few, and
        every object kept per service is one more for the garbage collector to walk."""
        interned = self._port_sets.setdefault(ports, ports)
        if len(self._port_sets) > 4 * len(self._holdings.held) + 1024:
            self._port_sets = {ports: interned}  # forget the unused; the rest re-intern
        return interned

    def _reclaim(
        self, service: Service, demand: Demand, namespace_labels: Mapping[str, str]
    ) -> tuple[tuple[int, ...], str, str | None]:
        """Re-assign the service's current addresses if still valid; else drop them and say why."""
        key = demand.key
        held = self._holdings.keys_of(key)
        if held is not None:
            existing = held
        else:
            texts = service.ingress_ips
            parsed = [parse_address(text) for text in texts]
            if not parsed:
                return (), "", None
            shown = "[" + " ".join(f'"{t}"' for t in texts) + "]"
            # MetalLB's ipfamily.ForAddresses errors, in its order of checks.
            if len(parsed) > 2:
                return (), "", f"{NO_FAMILY_PREFIX}invalid ips length {len(parsed)} {shown}"
            if None in parsed:
                return (), "", f"{NO_FAMILY_PREFIX}Invalid address {shown}"
            existing = tuple(k for k in parsed if k is not None)
            if len(existing) == 2 and family_of(existing[0]) == family_of(existing[1]):
                return (), "", f"{NO_FAMILY_PREFIX}same address family {shown}"
        if not family_fits(existing, demand):
            self.release(key)
            return (), "", f"current IPs {quoted(existing)} do not match the service's IP family"
        checked = self._check(demand, existing, namespace_labels)
        if isinstance(checked, str):
            self.release(key)
            return (
                (),
                "",
                (
                    f'{NOT_ALLOWED_PREFIX}"{key}" not allowed by config, will attempt for new IP '
                    f"assignment: {checked}"
                ),
            )
        pool, spots = checked
        if demand.pool and pool != demand.pool:
            self.release(key)
            return (), "", "user requested a different pool than the one currently assigned"
        if demand.requested and sorted(demand.requested) != sorted(existing):
            self.release(key)
            return (), "", "user requested a different IP than the one currently assigned"
        self._holdings.commit(demand.key, demand, pool, existing, spots)
        return existing, pool, None

    def _top_up(self, demand: Demand, pool: str, existing: int) -> None:
        """PreferDualStack holding one family: add the other from the same pool if it has one."""
        index = self._index
        lane = index.lanes[pool].get(10 - family_of(existing))
        candidate = index.candidate(lane, demand) if lane else None
        if candidate is None:
            self._holdings.amend(demand.key, _no_second_family(pool, existing))
            return
        _, key, spot = candidate
        spots = [index.locator.spot(existing), spot]
        self._holdings.commit(demand.key, demand, pool, (existing, key), spots)

    def _allocate(
        self, demand: Demand, namespace_labels: Mapping[str, str], cleared: str | None
    ) -> Allocation:
        key = demand.key
        if demand.held_error is not None:
            return Allocation(key, (), None, demand.held_error, cleared, demand.held_error_kind)
        if demand.requested:
            return self._assign_requested(demand, namespace_labels, cleared)
        index = self._index
        if demand.pool:
            pool = index.pools.get(demand.pool)
            if pool is None:
                return Allocation(key, (), None, f'unknown pool "{demand.pool}"', cleared)
            if not admits(pool, demand, namespace_labels):
                error = f"pool {pool.name} not compatible for ip assignment"
                return Allocation(key, (), None, error, cleared)
            if len(demand.families) == 1 and not demand.sharing:
                taken = self._take_free(pool.name, demand, cleared)
                if taken is not None:
                    return taken
            picked = index.pick_in_pool(pool.name, demand)
            if picked is None:
                family = "dual" if len(demand.families) == 2 else FAMILY_NAME[demand.families[0]]
                error = f"no available IPs in pool {pool.name} for {family} IPFamily"
                return Allocation(key, (), None, error, cleared)
            return self._take(demand, pool.name, picked, cleared)

        if len(demand.families) == 1:
            # The common case: walk the family's lanes in pool order, lowest address first.
            family = demand.families[0]
            lanes: Iterable[Lane] = index.open_lanes[family]
            if index.pinned_lanes[family]:
                pinned = index.pinned_lanes[family]
                admitted = [lane for p, lane in pinned if admits(p, demand, namespace_labels)]
                lanes = admitted + list(lanes)
            holdings = self._holdings
            for lane in lanes:
                if demand.sharing:
                    candidate = index.candidate(lane, demand)
                    if candidate is not None:
                        _, address, spot = candidate
                        return holdings.commit(key, demand, lane.pool, (address,), (spot,), cleared)
                else:
                    free = lane.lowest_free()
                    if free is not None:
                        rng, offset = free
                        return holdings.hold_free(key, lane, rng, offset, cleared)
        else:
            for pools in (index.pinned_admitting(demand, namespace_labels), index.open):
                found = index.pick_from(pools, demand)
                if found is not None:
                    return self._take(demand, found[0], found[1], cleared)
        return Allocation(key, (), None, NO_AVAILABLE_IPS, cleared)

    def _take_free(self, pool: str, demand: Demand, cleared: str | None) -> Allocation | None:
        """The common case of a pool asked for (one family, no sharing key): the lowest free
        address of the pool's lane, as pick_in_pool and _take would find and commit it; None
        when there is none (they then say why)."""
        lane = self._index.lanes[pool].get(demand.families[0])
        free = lane.lowest_free() if lane is not None else None
        if lane is None or free is None:
            return None
        return self._holdings.hold_free(demand.key, lane, free[0], free[1], cleared)

    def _assign_requested(
        self, demand: Demand, namespace_labels: Mapping[str, str], cleared: str | None
    ) -> Allocation:
        key = demand.key
        requested = demand.requested
        if {family_of(k) for k in requested} != set(demand.families):
            error = (
                f"requested loadBalancer IP(s) {quoted(requested)} does not match the "
                "ipFamily of the service"
            )
            return Allocation(key, (), None, error, cleared)
        checked = self._check(demand, requested, namespace_labels)
        if isinstance(checked, str):
            return Allocation(key, (), None, checked, cleared)
        pool, spots = checked
        if demand.pool and pool != demand.pool:
            error = (
                f"requested loadBalancer IP(s) {quoted(requested)} is not compatible with "
                f"requested address pool {demand.pool}"
            )
            return Allocation(key, (), None, error, cleared)
        return self._holdings.commit(demand.key, demand, pool, requested, spots, cleared)

    def _take(
        self, demand: Demand, pool: str, picked: list[Candidate], cleared: str | None
    ) -> Allocation:
        if len(picked) == 2 and picked[0][1] >= V6_TAG:
            picked.reverse()  # MetalLB lists a dual-stack allocation IPv4 first
        keys = tuple(c[1] for c in picked)
        allocation = self._holdings.commit(
            demand.key, demand, pool, keys, tuple(c[2] for c in picked), cleared
        )
        if len(keys) < len(demand.families):
            # PreferDualStack settled for one family: say so now, as the next pass's top-up
            # would (so one pass or two give the same answer).
            return self._holdings.amend(demand.key, _no_second_family(pool, keys[0]))
        return allocation

    def _check(
        self, demand: Demand, keys: tuple[int, ...], namespace_labels: Mapping[str, str]
    ) -> tuple[str, list[Spot]] | str:
        """MetalLB's Assign checks for specific addresses: the pool and spots, or an error."""
        if len(keys) > 2:
            return f"more than two addresses {quoted(keys)}"
        if len(keys) == 2 and family_of(keys[0]) == family_of(keys[1]):
            return f"{quoted(keys[:1])} {quoted(keys[1:])} has the same family"
        pool: Pool | None = None
        spots: list[Spot] = []
        locator = self._index.locator
        for k in keys:  # all in one pool
            found = locator.find(k)
            if found is None or (pool is not None and found[0].name != pool.name):
                return f"{quoted(keys)} is not allowed in config"
            pool = found[0]
            spots.append(found[1])
        if pool is None:
            return f"{quoted(keys)} is not allowed in config"
        if not admits(pool, demand, namespace_labels):
            return f"pool {pool.name} not compatible for ip assignment"
        for k in keys:
            error = self._holdings.sharing_error(demand.key, demand, k)
            if error is not None:
                return error
        return pool.name, spots


def _settles(service: Service, result: Allocation) -> bool:
    """Whether converging ``service`` again, unchanged, can only give ``result`` back: it
    holds its addresses with nothing to report (no error, no notice, nothing cleared, which a
    re-claim would reset), and is not a PreferDualStack service that may still be topped up."""
    return (
        bool(result.ips)
        and result.error is None
        and result.notice is None
        and result.cleared is None
        and (len(result.ips) == 2 or service.spec.ip_family_policy != "PreferDualStack")
    )


def _no_second_family(pool: str, existing: int) -> str:
    """Why a PreferDualStack service holding ``existing`` has nothing of the other family."""
    return f"no available IPs in pool {pool} for {FAMILY_NAME[10 - family_of(existing)]} IPFamily"


def allocate_cluster(
    config: Config, cluster: ClusterState, lb_class: str | None = None
) -> tuple[dict[str, Allocation], dict[str, PoolUsage]]:
    """Allocate every LoadBalancer service of ``cluster`` from scratch, in rule-7 order.

    Results are keyed by service key (failures included, with ``error`` set and no ips);
    services that are not LoadBalancers or belong to another class are left out.
    """
    allocator = Allocator(config, lb_class, remember=False)
    allocations = allocator.converge_all(cluster)
    return allocations, allocator.usage()
