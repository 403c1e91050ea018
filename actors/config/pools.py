"""IPAddressPools: from validated resources to :class:`Pool` s, and the overlap check.

Each pool's ``addresses`` are parsed (a bad entry is reported and left out), its
``serviceAllocation`` lists are checked for duplicates, and every range of every pool is
checked against all the others for overlap. The result keeps each pool with the resource it
came from (:class:`PoolDraft`), so that advertisements can report against it.
"""

from __future__ import annotations

import msgspec

from actors.config import crds
from actors.config.parsing import host_bits_hint, parse_address_range
from actors.config.report import Report, Resource
from actors.model.config import AddressRange, Pool, ServiceAllocation, frozen_labels


class PoolDraft(msgspec.Struct, frozen=True):
    pool: Pool
    source: Resource


def build_pools(report: Report, items: list[Resource]) -> dict[str, PoolDraft]:
    drafts: dict[str, PoolDraft] = {}
    claimed: list[tuple[AddressRange, str, Resource, str]] = []
    for res in items:
        assert isinstance(res.obj, crds.IPAddressPool)
        spec = res.obj.spec
        ranges: list[AddressRange] = []
        for i, text in enumerate(spec.addresses):
            try:
                rng = parse_address_range(text)
            except ValueError as exc:
                report.error(res, f"spec.addresses[{i}]", str(exc))
                continue
            hint = host_bits_hint(text)
            if hint is not None:
                report.warn(res, f"spec.addresses[{i}]", hint)
            ranges.append(rng)
            claimed.append((rng, res.obj.name, res, f"spec.addresses[{i}]"))
        allocation = None
        if spec.service_allocation is not None:
            sa = spec.service_allocation
            if len(set(sa.namespaces)) != len(sa.namespaces):
                report.error(res, "spec.serviceAllocation.namespaces", "duplicate namespace")
            report.check_selectors(
                res, "spec.serviceAllocation.namespaceSelectors", sa.namespace_selectors
            )
            report.check_selectors(
                res, "spec.serviceAllocation.serviceSelectors", sa.service_selectors
            )
            allocation = ServiceAllocation(
                priority=sa.priority,
                namespaces=frozenset(sa.namespaces),
                namespace_selectors=sa.namespace_selectors,
                service_selectors=sa.service_selectors,
            )
        pool = Pool(
            name=res.obj.name,
            ranges=tuple(ranges),
            auto_assign=spec.auto_assign,
            avoid_buggy_ips=spec.avoid_buggy_ips,
            allocation=allocation,
            labels=frozen_labels(res.obj.metadata.labels),
        )
        drafts[pool.name] = PoolDraft(pool, res)
    _check_overlaps(report, claimed)
    return drafts


def _check_overlaps(report: Report, claimed: list[tuple[AddressRange, str, Resource, str]]) -> None:
    # Sweep ranges sorted by start: each overlaps at most with the furthest-reaching earlier
    # one, so this is O(n log n) rather than comparing every pair.
    ordered = sorted(claimed, key=lambda c: (c[0].version, int(c[0].first), int(c[0].last)))
    reach: tuple[AddressRange, str] | None = None
    for rng, pool, res, path in ordered:
        if reach is not None and reach[0].overlaps(rng):
            other, other_pool = reach
            where = "the same pool" if other_pool == pool else f"pool {other_pool!r}"
            report.error(res, path, f"CIDR {rng.text!r} overlaps with {other.text!r} in {where}")
        if reach is None or reach[0].version != rng.version or int(rng.last) > int(reach[0].last):
            reach = (rng, pool)
