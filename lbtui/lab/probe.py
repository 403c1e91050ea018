"""What the running lab says: each node's status endpoint, the router's and the client's
kernels, the bridge's ports, and the services in the lab's cluster file.

Status endpoints are read from inside the client's namespace (where a user's requests come from);
kernels are read with ``ip -j`` in their namespace. Nothing here changes the lab.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from lbtui.lab.netns import entered, run
from lbtui.lab.state import LabState
from lbtui.lab.topology import METRICS_PORT, LabPlan, service_addresses


def services(state: LabState) -> list[tuple[str, str, int]]:
    """(service, address, port) of the lab's services (its cluster.yaml)."""
    cluster = (Path(state.workdir) / "cluster.yaml").read_text()
    return service_addresses(cluster)


# -- the nodes' status endpoints -------------------------------------------------------------


def views(plan: LabPlan, timeout: float = 1.0) -> dict[str, Any]:
    """Each node's ``GET /state`` (nodes that do not answer are left out), read from
    inside the client's namespace."""
    out: dict[str, Any] = {}
    with entered(plan.host("client").netns):
        for node in plan.nodes:
            try:
                with urllib.request.urlopen(
                    f"{plan.status_url(node)}/state", timeout=timeout
                ) as response:
                    out[node] = json.load(response)
            except (OSError, ValueError):
                continue
    return out


def fetch(plan: LabPlan, node: str, path: str, timeout: float = 2.0) -> Any:
    """``GET path`` from one node's status endpoint (or its /metrics, as text)."""
    url = (
        f"http://{plan.host(node).ip}:{METRICS_PORT}/metrics"
        if path == "/metrics"
        else f"{plan.status_url(node)}{path}"
    )
    with (
        entered(plan.host("client").netns),
        urllib.request.urlopen(url, timeout=timeout) as response,
    ):
        data = response.read()
    return data.decode() if path == "/metrics" else json.loads(data)


def own_membership(view: dict[str, Any], node: str) -> dict[str, Any]:
    """A node's own membership view from its ``GET /state`` (one view per observer)."""
    found = view.get("membership") or []
    for entry in found if isinstance(found, list) else [found]:
        if isinstance(entry, dict) and entry.get("observer") in (node, ""):
            return entry
    return {}


def l2_owners(views: dict[str, Any]) -> dict[str, set[str]]:
    """Address -> the nodes that say they answer for it (each node speaks for itself)."""
    owners: dict[str, set[str]] = {}
    for node, view in views.items():
        for a in view.get("announcements", []):
            if a.get("protocol") == "layer2" and a.get("node") == node:
                owners.setdefault(a["ip"], set()).add(node)
    return owners


# -- the kernels and the bridge --------------------------------------------------------------


def next_hops(plan: LabPlan, address: str) -> set[str]:
    """The nodes the router's kernel sends ``address`` to (ECMP next hops)."""
    by_ip = {plan.host(n).ip: n for n in plan.nodes}
    out = run(["ip", "-n", plan.host("router").netns, "-j", "route", "show", address], check=False)
    hops: set[str] = set()
    for route in json.loads(out or "[]"):
        gateways = [h.get("gateway") for h in route.get("nexthops", [])]
        gateways.append(route.get("gateway"))
        hops |= {by_ip[g] for g in gateways if g in by_ip}
    return hops


def client_neighbour(plan: LabPlan, address: str) -> str | None:
    """The node whose MAC the client's kernel holds for ``address``, if any."""
    out = run(["ip", "-n", plan.host("client").netns, "-j", "neigh", "show", address], check=False)
    by_mac = {plan.host(n).mac: n for n in plan.nodes}
    for entry in json.loads(out or "[]"):
        mac = entry.get("lladdr")
        if mac:
            return by_mac.get(mac, mac)
    return None


def link_states(plan: LabPlan) -> dict[str, str]:
    """Bridge port -> "up" | "down" (administrative state, as `lab fail --how link` sets)."""
    out = run(["ip", "-n", plan.switch, "-j", "link", "show"], check=False)
    states = {}
    for link in json.loads(out or "[]"):
        states[link.get("ifname", "")] = "up" if "UP" in link.get("flags", []) else "down"
    return states
