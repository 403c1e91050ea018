"""Whether the lab serves: what the election predicts (from the lab's own files) against what
the nodes and the router say.

``lab up`` waits on ``not_ready``; tests and the failover bench wait on it after breaking and
mending nodes. The runtime (``actors``) is imported lazily, by ``expected_owners`` only.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from lbtui.lab import router as routers
from lbtui.lab.probe import l2_owners, next_hops, own_membership, services, views
from lbtui.lab.state import LabState
from lbtui.lab.topology import LabError, LabPlan, in_lan


def not_ready(plan: LabPlan, state: LabState) -> list[str]:
    """Why the lab is not serving yet (empty: every node gossips with all others, every
    layer 2 address has its owner, the router has every node as a next hop)."""
    seen_by = views(plan)
    problems = []
    everyone = set(plan.nodes)
    for node in plan.nodes:
        view = seen_by.get(node)
        if view is None:
            problems.append(f"{node}: no status yet")
            continue
        seen = set(own_membership(view, node).get("alive", []))
        if seen != everyone:
            problems.append(f"{node} sees {', '.join(sorted(seen)) or 'nobody'} alive")
    if problems:
        return problems
    owners = l2_owners(seen_by)
    expected = expected_owners(Path(state.workdir))
    for _service, ip, _port in services(state):
        lan = in_lan(ip)
        if plan.l2 and lan and owners.get(ip, set()) != {expected.get(ip)}:
            who = ", ".join(sorted(owners.get(ip, ()))) or "nobody"
            problems.append(f"{ip}: owned by {who}, not (yet) by {expected.get(ip)}")
        if plan.bgp and not lan:
            hops = next_hops(plan, ip)
            if hops != everyone:
                problems.append(f"{ip}: router next hops {', '.join(sorted(hops)) or '-'}")
    if plan.bgp and not problems:
        # Until BFD is up a cut cable is noticed only by the hold timer.
        bfd = routers.bfd(plan, state)
        waiting = sorted(n for n in plan.nodes if bfd.get(n) != "Up")
        if waiting:
            problems.append(f"BFD with the router not up for {', '.join(waiting)}")
    return problems


def expected_owners(workdir: Path, down: Iterable[str] = ()) -> dict[str, str | None]:
    """The layer 2 owner of every address the election predicts (the lab's own files in
    ``workdir``, ``down`` nodes dead): what every speaker computes once membership agrees."""
    from actors.cluster.files import cluster_from_inputs
    from actors.config.build import build_config
    from actors.config.loader import load_text
    from actors.election.plan import compute_plan

    text = (workdir / "config.yaml").read_text() + "---\n" + (workdir / "cluster.yaml").read_text()
    inputs = load_text(text, str(workdir))
    config = build_config(inputs).config
    if config is None:
        raise LabError(f"{workdir}: the lab's configuration is not valid")
    plan = compute_plan(config, cluster_from_inputs(inputs), down=frozenset(down))
    return {ip: owner.node for ip, owner in plan.l2.items()}
