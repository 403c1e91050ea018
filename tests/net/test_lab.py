"""``lbtui lab`` end to end (root): a real network in namespaces, broken on purpose.

- up then down leaves no namespace, link (they all live in the lab's namespaces) or process
  behind, also when ``lab up`` itself was killed half way;
- layer 2, with traffic running: killing the owner's speaker breaks only the connections that
  were on it, and cutting its cable leaves the service unanswered no longer than membership
  takes to notice (plus one request timeout);
- BGP: killing a node's speaker removes exactly its next hop from the router's kernel route,
  and cutting its cable does too, through BFD;
- `lab console` shows the lab in a real terminal (tmux);
- chaos: random kills, cable cuts, stops and heals with traffic running: two nodes never
  answer ARP for the address together longer than 100 ms (asked every 20 ms), and in the end
  there is exactly one owner and the full ECMP set, and nothing left once the lab is down.

Times are printed (``pytest -s``); tests/bench/failover.py measures them properly.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from actors.membership.profile import FAST
from lbtui.lab.lab import Lab
from lbtui.lab.probe import client_neighbour, l2_owners, next_hops
from lbtui.lab.router import router_query, sessions
from tests.net.lab_rig import (
    BGP_VIP,
    L2_VIP,
    LBTUI,
    REPO,
    Asker,
    Footprint,
    Sampler,
    handover_events,
    lab_cli,
    traffic,
    wait_until,
)

pytestmark = pytest.mark.net

NODES = 3
#: How long membership may take to tell everyone a node is gone: the longest suspicion
#: (no confirmations) plus one probe interval.
MEMBERSHIP_BOUND = FAST.suspicion_bounds(NODES)[1] + FAST.probe_interval
REQUEST_TIMEOUT = 1.0  # lab traffic's default
#: Two nodes never answer ARP for one address together longer than this (issue 18): a node
#: whose cable returns stays out of elections until its view merged (Membership.hold); a
#: restarted speaker publishes nothing before it joined. Was 2.3 s (a membership period).
SPLIT_BRAIN_BOUND = 0.1
SAMPLE = 0.02  # how often the chaos test asks who answers ARP


def predicted_owner(lab: Lab, alive: tuple[str, ...]) -> str:
    """The layer 2 owner the election core predicts for the lab's address."""
    down = frozenset(lab.plan().nodes) - frozenset(alive)
    owner = lab.expected_owners(down)[L2_VIP]
    assert owner is not None
    return owner


def test_up_then_down_leaves_nothing_even_after_a_crash(tmp_path: Path) -> None:
    name = "lblabud"
    lab = Lab(name, tmp_path)
    try:
        # FRR as the router this time (the other tests use BIRD): zebra, bfdd and bgpd.
        up = lab_cli(tmp_path, name, "up", "--nodes", "2", "--mode", "both", "--router", "frr")
        assert up.returncode == 0, up.stderr
        assert "router next hops n1,n2" in up.stdout
        footprint = Footprint.of(lab, lab.state())
        assert len(footprint.namespaces) == 5 and len(footprint.processes) == 7
        again = lab_cli(tmp_path, name, "up")
        assert again.returncode == 1 and "is up already" in again.stderr
        down = lab_cli(tmp_path, name, "down")
        assert down.returncode == 0, down.stderr
        assert "removed 5 namespace(s)" in down.stdout
        assert footprint.left() == []
        assert lab_cli(tmp_path, name, "down").stdout == "nothing to remove\n"

        # lab up killed half way: its speakers already run, it never finished.
        proc = subprocess.Popen(
            [*LBTUI, "lab", "up", "--name", name, "--dir", str(tmp_path), "--mode", "l2"],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(
            lambda: lab.store.exists() and any(p.role == "speaker" for p in lab.state().processes),
            30,
            "lab up to start a speaker",
            step=0.01,
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        crashed = lab.state()
        assert not crashed.complete
        footprint = Footprint.of(lab, crashed)
        assert footprint.left(), "the crashed lab left things to clean up"
        refused = lab_cli(tmp_path, name, "up")
        assert refused.returncode == 1 and "lab down" in refused.stderr
        assert "INCOMPLETE" in lab_cli(tmp_path, name, "status").stdout
        down = lab_cli(tmp_path, name, "down")
        assert down.returncode == 0, down.stderr
        assert footprint.left() == []
    finally:
        lab.down()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    directory = tmp_path_factory.mktemp("lab")
    lab = Lab("lblabt", directory)
    lab.down()  # a lab a killed run left behind
    lab.up(nodes=NODES, mode="both", router="bird")
    footprint = Footprint.of(lab, lab.state())
    try:
        yield lab
    finally:
        lab.down()
        assert footprint.left() == []


def heal_all(lab: Lab) -> None:
    for node in lab.plan().nodes:
        lab.heal(node)
    wait_until(lambda: not lab.not_ready(), 30, "the healed lab to serve again", step=0.2)


def test_l2_owner_failure_breaks_only_its_connections(lab: Lab) -> None:
    plan = lab.plan()
    directory = lab.store.dir
    owner = predicted_owner(lab, plan.nodes)
    assert l2_owners(lab.views()) == {L2_VIP: {owner}}
    successor = predicted_owner(lab, tuple(n for n in plan.nodes if n != owner))

    # A crashed speaker: its node still serves the connections it has until the client's
    # neighbour entry moves (the successor's gratuitous ARP); then they are reset.
    with traffic(directory, lab.name, 6, f"{L2_VIP}:80") as report:
        time.sleep(2.5)
        killed = time.monotonic()
        lab.fail(owner, "kill")
    assert report["started"] < killed
    assert report["errorsByNode"] == {owner: report["errors"]}, report["errorList"][:5]
    assert report["errors"] >= 1  # the connections on the dead node did break ...
    assert set(report["answeredBy"]) == {owner, successor}  # ... and new ones landed
    assert client_neighbour(plan, L2_VIP) == successor
    # Who announced the address when and why, from every node that answers (lab history).
    merged = lab_cli(directory, lab.name, "history", "--ip", L2_VIP, "--json")
    entries = [(e["node"], e["action"], e["reason"]) for e in json.loads(merged.stdout)]
    assert (successor, "announced", f"failover from {owner} (dead)") in entries
    history = [e for e in json.loads(merged.stdout) if e["action"] == "failover"]
    assert history[-1]["node"] == successor
    assert history[-1]["reason"].startswith(f"from {owner} (dead)")
    metrics = lab.fetch(successor, "/metrics")
    assert 'lbtui_failover_seconds_count{cause="dead",protocol="layer2"}' in metrics
    print(
        f"\nkill: {report['errors']} connections reset, all on {owner}; "
        f"{history[-1]['seconds']:.3f} s from suspicion to first gratuitous ARP"
    )
    heal_all(lab)
    owner = predicted_owner(lab, plan.nodes)

    # A cut cable: the owner vanishes; the service is back once membership has noticed.
    with traffic(directory, lab.name, 7, f"{L2_VIP}:80") as report:
        time.sleep(2.5)
        cut = time.monotonic()
        lab.fail(owner, "link")
    gap = report["outage"][f"{L2_VIP}:80"]
    assert gap["gapStart"] >= cut - 0.2  # the silence began with the cut ...
    assert gap["longestGap"] <= MEMBERSHIP_BOUND + REQUEST_TIMEOUT  # ... and was that short
    assert set(report["errorsByNode"]) <= {owner, "None"}
    print(
        f"link: unanswered for {gap['longestGap']:.3f} s "
        f"(bound {MEMBERSHIP_BOUND:.1f} s + {REQUEST_TIMEOUT:.0f} s request timeout)"
    )
    heal_all(lab)


def test_bgp_killing_a_node_removes_only_its_next_hop(lab: Lab) -> None:
    plan = lab.plan()
    everyone = set(plan.nodes)
    assert next_hops(plan, BGP_VIP) == everyone
    victim = plan.nodes[1]
    killed = time.monotonic()
    lab.fail(victim, "kill")
    wait_until(lambda: next_hops(plan, BGP_VIP) == everyone - {victim}, 10, "hop removed")
    took = time.monotonic() - killed
    # ... and only it, for good: the others' sessions are untouched.
    for _ in range(10):
        assert next_hops(plan, BGP_VIP) == everyone - {victim}
        time.sleep(0.1)
    states = sessions(plan, lab.state())
    assert {n for n, s in states.items() if s == "Established"} == everyone - {victim}
    print(f"\nBGP kill: next hop {victim} gone from the router's kernel after {took:.3f} s")
    heal_all(lab)
    assert next_hops(plan, BGP_VIP) == everyone

    # A cut cable says nothing: BFD (the lab's BFDProfile, with BIRD) notices, not the hold
    # timer, and again only that node goes.
    lab.fail(victim, "link")
    wait_until(lambda: next_hops(plan, BGP_VIP) == everyone - {victim}, 10, "hop removed")
    assert "BFD session down" in router_query(plan, lab.state(), f"show protocols all {victim}")
    heal_all(lab)


def test_lab_console_shows_the_lab(lab: Lab) -> None:
    """``lbtui lab console`` in a real terminal: it follows every node's status endpoint from
    inside the client's namespace, merged, and shows who owns the address; after the owner is
    killed it shows the node that took over (whichever node died: no single speaker's view)."""
    from tests.tui.test_terminal import Terminal

    term = Terminal(f"lblabt-console-{os.getpid()}")
    command = " ".join(
        [*LBTUI, "lab", "console", "--name", lab.name, "--dir", str(lab.store.dir), "--view", "l2"]
    )
    term.tmux("new-session", "-d", "-s", term.name, "-x", "140", "-y", "30", command)

    def owned_by(node: str) -> Callable[[str], bool]:
        return lambda text: any(
            line.split()[:2] == [L2_VIP, node] for line in text.splitlines() if line.strip()
        )

    try:
        nodes = lab.plan().nodes
        owner = predicted_owner(lab, nodes)
        # The owner can show as soon as one speaker's stream is up, before the others'
        # (under load the third connected after it): wait for both.
        term.wait_for(
            "the lab's address, its owner and every speaker streaming",
            lambda text: (
                owned_by(owner)(text) and f"speakers: {len(nodes)}/{len(nodes)} streaming" in text
            ),
        )
        lab.fail(owner, "kill")
        survivors = tuple(n for n in nodes if n != owner)
        successor = predicted_owner(lab, survivors)
        term.wait_for(
            f"{successor} owning the address, and the dead speaker's stream gone",
            lambda text: (
                owned_by(successor)(text)
                and f"speakers: {len(survivors)}/{len(nodes)} streaming" in text
            ),
        )
        term.keys("C-q")
        wait_until(lambda: not term.alive(), 10, "the console to quit")
    finally:
        if term.alive():
            term.tmux("kill-session", "-t", term.name)
        heal_all(lab)


def test_chaos(lab: Lab) -> None:
    """20 random failures and heals over about 30 s, with traffic to both services."""
    seed = int(os.environ.get("LBTUI_CHAOS_SEED", time.time() % 10_000))
    print(f"\nchaos seed {seed} (LBTUI_CHAOS_SEED={seed} repeats this run)")
    rng = random.Random(seed)
    plan = lab.plan()
    failed: dict[str, str] = {}
    asker = Asker(plan)
    sampler = Sampler(asker, L2_VIP, period=SAMPLE)
    log = []
    try:
        with traffic(lab.store.dir, lab.name, 36, f"{L2_VIP}:80", f"{BGP_VIP}:80") as report:
            time.sleep(1.5)
            for _ in range(20):
                healthy = [n for n in plan.nodes if n not in failed]
                if failed and (len(healthy) == 1 or rng.random() < 0.4):
                    node = rng.choice(sorted(failed))
                    lab.heal(node)
                    del failed[node]
                    log.append(f"heal {node}")
                else:
                    node = rng.choice(healthy)
                    how = rng.choice(("kill", "link", "stop"))
                    lab.fail(node, how)
                    failed[node] = how
                    log.append(f"{how} {node}")
                time.sleep(rng.uniform(1.0, 2.0))
            for node in list(failed):
                lab.heal(node)
            wait_until(lambda: not lab.not_ready(), 30, "the lab to serve again", step=0.2)
            ready = time.monotonic()
        time.sleep(max(0.0, ready + 1.0 - time.monotonic()))
        final = [(t, nodes) for t, nodes in sampler.samples if t >= ready]
    finally:
        sampler.stop()
    print(f"  events: {', '.join(log)}")
    print(f"  traffic: {report['requests']} answered, {report['errors']} failed")
    doubles = sampler.double_answers()
    workdir = Path(lab.state().workdir)
    for start, end, who in doubles:
        print(f"  {', '.join(sorted(who))} answered ARP together for {end - start:.2f} s")
        if end - start > SPLIT_BRAIN_BOUND:  # why: the speakers' own account of it
            for line in handover_events(workdir, L2_VIP, start - 2.0, end + 0.5):
                print(f"    {line}")
    print(f"  samples every {SAMPLE:.2f} s, the longest gap {sampler.longest_gap():.3f} s")
    alarms = sum(
        f.read_text().count('"event":"SplitBrainDetected"') for f in workdir.glob("*.events.jsonl")
    )
    print(f"  split-brain alarms raised by the speakers: {alarms}")
    # A node coming back (a cut cable mended, a speaker restarted) does not answer beside the
    # owner: at most a handover's overlap, measured to within one sample.
    assert all(end - start <= SPLIT_BRAIN_BOUND for start, end, _ in doubles), doubles
    # In the end: one owner, the predicted one, alone on the wire; every node a next hop.
    owner = predicted_owner(lab, plan.nodes)
    assert l2_owners(lab.views()) == {L2_VIP: {owner}}
    others = [(round(t - ready, 3), sorted(nodes)) for t, nodes in final if nodes != {owner}]
    assert final and not others, (owner, len(final), others[:20])
    assert asker.who_has(L2_VIP, 0.3) == {owner}
    asker.close()
    assert next_hops(plan, BGP_VIP) == set(plan.nodes)
    # And the services answer, from the owner and from every node behind the router. The
    # router hashes each connection (its 5-tuple) onto one next hop: 10 connections to the
    # BGP address missed a node 1 run in 20 on a healthy lab (2/40 measured; 3 x (2/3)^10 =
    # 5%), the seed-7180 failure; 45 miss one with a chance of 4e-8.
    with traffic(
        lab.store.dir, lab.name, 2, f"{L2_VIP}:80", f"{BGP_VIP}:80", connections=90
    ) as after:
        pass
    assert after["errors"] == 0, after["errorList"][:5]
    by_target = after["answeredByTarget"]
    assert set(by_target[f"{L2_VIP}:80"]) == {owner}, by_target
    assert set(by_target[f"{BGP_VIP}:80"]) == set(plan.nodes), by_target
    assert client_neighbour(plan, L2_VIP) == owner
