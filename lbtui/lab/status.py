"""``lab status``: the lab's topology, processes, owners, next hops and router sessions, as
JSON (``lab_status``) and for people (``status_text``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lbtui.lab import router as routers
from lbtui.lab.netns import alive
from lbtui.lab.probe import (
    client_neighbour,
    l2_owners,
    link_states,
    next_hops,
    own_membership,
    services,
    views,
)
from lbtui.lab.state import LabState, Process
from lbtui.lab.topology import CLIENT_IP, LabPlan, in_lan


def lab_status(plan: LabPlan, state: LabState) -> dict[str, Any]:
    """Everything ``lab status`` shows, as JSON."""
    seen_by = views(plan, timeout=0.5)
    nodes = []
    links = link_states(plan)
    for node in plan.nodes:
        host = plan.host(node)
        speaker = state.process("speaker", node)
        httpd = state.process("httpd", node)
        view = seen_by.get(node) or {}
        membership = own_membership(view, node)
        nodes.append(
            {
                "node": node,
                "namespace": host.netns,
                "ip": host.ip,
                "mac": host.mac,
                "speaker": _proc_state(speaker),
                "http": _proc_state(httpd),
                "link": links.get(host.port, "?"),
                "failed": state.failed.get(node, ""),
                "alive": sorted(membership.get("alive", [])),
                "announces": sorted(
                    f"{a['ip']} ({'L2' if a['protocol'] == 'layer2' else 'BGP'})"
                    for a in view.get("announcements", [])
                    if a.get("node") == node
                ),
            }
        )
    entries = []
    owners = l2_owners(seen_by)
    for service, ip, port in services(state):
        entry: dict[str, Any] = {"service": service, "ip": ip, "port": port}
        if in_lan(ip):
            entry["mode"] = "layer2"
            entry["owners"] = sorted(owners.get(ip, ()))
            entry["clientNeighbour"] = client_neighbour(plan, ip)
        else:
            entry["mode"] = "bgp"
            entry["nextHops"] = sorted(next_hops(plan, ip))
        entries.append(entry)
    body: dict[str, Any] = {
        "name": state.name,
        "mode": state.mode,
        "router": state.router if plan.bgp else "none (layer 2 only)",
        "complete": state.complete,
        "created": state.created,
        "client": {"namespace": plan.host("client").netns, "ip": CLIENT_IP},
        "nodes": nodes,
        "services": entries,
    }
    if plan.bgp:
        body["sessions"] = routers.sessions(plan, state)
        body["bfd"] = routers.bfd(plan, state)
        body["routerProcesses"] = [_proc_state(p) for p in state.processes if p.role == "router"]
    return body


def _proc_state(proc: Process | None) -> str:
    if proc is None:
        return "-"
    return f"running (pid {proc.pid})" if alive(proc.pid, proc.start) else "not running"


def status_text(body: dict[str, Any]) -> str:
    """``lab status``, for people."""
    lines = [
        f"lab {body['name']}: mode {body['mode']}, router {body['router']}"
        + ("" if body["complete"] else "  (INCOMPLETE: lab up did not finish; lab down)"),
        f"client {body['client']['ip']} in {body['client']['namespace']}",
        "",
        _columns(
            ("NODE", "ADDRESS", "MAC", "LINK", "SPEAKER", "HTTP", "SEES ALIVE", "ANNOUNCES"),
            [
                (
                    n["node"] + (f" [{n['failed']}]" if n["failed"] else ""),
                    n["ip"],
                    n["mac"],
                    n["link"],
                    n["speaker"],
                    n["http"],
                    ",".join(n["alive"]) or "-",
                    ", ".join(n["announces"]) or "-",
                )
                for n in body["nodes"]
            ],
        ),
        "",
    ]
    rows = []
    for s in body["services"]:
        if s["mode"] == "layer2":
            who = f"owner {','.join(s['owners']) or 'none'}; client ARP -> {s['clientNeighbour']}"
        else:
            who = f"router next hops {','.join(s['nextHops']) or 'none'}"
        rows.append((s["service"], f"{s['ip']}:{s['port']}", s["mode"], who))
    lines.append(_columns(("SERVICE", "ADDRESS", "MODE", "SERVED BY"), rows))
    if "sessions" in body:
        sessions = ", ".join(f"{n} {st}" for n, st in sorted(body["sessions"].items()))
        bfd = ", ".join(f"{n} {st}" for n, st in sorted(body.get("bfd", {}).items()))
        lines += ["", f"router BGP sessions: {sessions or 'none'}; BFD: {bfd or 'none'}"]
    return "\n".join(lines) + "\n"


def _columns(header: tuple[str, ...], rows: Iterable[tuple[str, ...]]) -> str:
    rows = list(rows)
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    )
