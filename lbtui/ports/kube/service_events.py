"""Which of MetalLB's core/v1 Events about Services are news, on the console's clock (pure).

The controller's IPAllocated and AllocationFailed and the speakers' nodeAssigned become
ServiceEventObserved: the controller's side of the story, which no speaker stream tells.
:mod:`lbtui.ports.kube.service_watch` feeds it the Events the API holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from actors.events import ServiceEventObserved
from lbtui.ports.kube.catchup import json_number

METALLB_COMPONENTS = frozenset({"metallb-controller", "metallb-speaker"})
FIRST_EVENTS = 200  # of the events the API still holds when the console starts, the newest


EventKey = tuple[str, int, str]


def service_events(
    objects: Iterable[Mapping[str, Any]],
    seen: set[EventKey],
    now: float,
    wall: float,
    *,
    components: frozenset[str] = METALLB_COMPONENTS,
    limit: int | None = None,
) -> list[ServiceEventObserved]:
    """The Events about Services from MetalLB's components not seen yet (``seen`` is updated,
    and keeps only what ``objects`` still hold), oldest first, on the console's clock (``now``
    is its time at wall-clock ``wall``).

    An Event repeated (its count grows) is news again. ``limit`` keeps only the newest."""
    fresh: list[tuple[float, ServiceEventObserved]] = []
    present: set[EventKey] = set()
    for obj in objects:
        involved = obj.get("involvedObject")
        source = obj.get("source")
        if not isinstance(involved, dict) or not isinstance(source, dict):
            continue
        component = str(obj.get("reportingComponent") or source.get("component") or "")
        if involved.get("kind") != "Service" or component not in components:
            continue
        meta = obj.get("metadata") or {}
        count = int(json_number(obj.get("count")) or 1)
        key = (str(meta.get("uid") or meta.get("name") or ""), count, str(obj.get("lastTimestamp")))
        present.add(key)
        if key in seen:
            continue
        seen.add(key)
        stamp = _epoch(obj.get("lastTimestamp") or obj.get("eventTime") or "") or wall
        fresh.append(
            (
                stamp,
                ServiceEventObserved(
                    now - max(0.0, wall - stamp),
                    f"{involved.get('namespace', '')}/{involved.get('name', '')}",
                    str(obj.get("reason") or ""),
                    str(obj.get("message") or ""),
                    str(obj.get("type") or "Normal"),
                    component,
                    str(source.get("host") or obj.get("reportingInstance") or ""),
                    count,
                ),
            )
        )
    seen.intersection_update(present)  # what the API expired is forgotten
    fresh.sort(key=lambda pair: pair[0])
    if limit is not None:
        fresh = fresh[-limit:] if limit else []
    return [event for _, event in fresh]


def _epoch(stamp: Any) -> float | None:
    """Seconds since the epoch of an RFC 3339 time (None if it is not one)."""
    from datetime import datetime

    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
