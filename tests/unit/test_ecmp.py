"""The ECMP calculator against exact values (actors/election/ecmp.py)."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.election.ecmp import (
    SCHEMES,
    ecmp_impacts,
    flows_moved,
    flows_stranded,
    percent,
    summary,
)


def hops(n: int) -> list[str]:
    return [f"n{i}" for i in range(n)]


@pytest.mark.parametrize("n", range(2, 9))
@pytest.mark.parametrize("dead", ["first", "middle", "last"])
def test_modulo_moves_all_but_one_nth_whichever_node_dies(n: int, dead: str) -> None:
    before = hops(n)
    index = {"first": 0, "middle": n // 2, "last": n - 1}[dead]
    after = [h for i, h in enumerate(before) if i != index]
    assert flows_moved("modulo", before, after) == Fraction(n - 1, n)


@pytest.mark.parametrize("n", range(2, 9))
def test_resilient_moves_only_the_dead_nodes_share(n: int) -> None:
    before = hops(n)
    for index in range(n):
        after = [h for i, h in enumerate(before) if i != index]
        assert flows_moved("resilient", before, after) == Fraction(1, n)
        assert flows_stranded(before, after) == Fraction(1, n)


@pytest.mark.parametrize(
    ("n", "index", "moved"),
    [
        (2, 0, Fraction(1, 2)),
        (2, 1, Fraction(1, 2)),
        (3, 0, Fraction(1, 2)),  # b [1/3,2/3) -> [0,1/2): keeps 1/6; c keeps 1/3
        (3, 1, Fraction(1, 3)),  # the middle one: a and c keep their whole thirds
        (3, 2, Fraction(1, 2)),
        (4, 3, Fraction(1, 2)),  # 1/4 + 1/6 + 1/12 kept
        (4, 1, Fraction(1, 3)),  # kept: a 1/4, c [1/2,2/3) 1/6, d [3/4,1) 1/4
    ],
)
def test_hash_threshold_moves_depend_on_the_position(n: int, index: int, moved: Fraction) -> None:
    before = hops(n)
    after = [h for i, h in enumerate(before) if i != index]
    assert flows_moved("threshold", before, after) == moved


def test_modulo_against_brute_force_hashing() -> None:
    """The closed form agrees with hashing many random flows (within sampling noise)."""
    rng = random.Random(7)
    before, after = hops(5), ["n0", "n1", "n3", "n4"]
    flows = [rng.getrandbits(32) for _ in range(20000)]
    moved = sum(1 for h in flows if before[h % 5] != after[h % 4]) / len(flows)
    assert abs(moved - float(flows_moved("modulo", before, after))) < 0.02


def test_edges() -> None:
    assert flows_moved("modulo", [], ["a"]) == 0
    assert flows_moved("threshold", ["a", "b"], []) == 1
    assert flows_moved("resilient", ["a", "b"], ["a", "b"]) == 0
    assert flows_moved("modulo", ["a", "b"], ["a", "b"]) == 0
    # A node coming back: resilient hands it its share from everyone, 1/3 of flows move.
    assert flows_moved("resilient", ["a", "b"], ["a", "b", "c"]) == Fraction(1, 3)
    with pytest.raises(ValueError, match="unknown ECMP hash"):
        flows_moved("random", ["a"], ["b"])


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.data())
def test_every_scheme_moves_at_least_the_flows_of_lost_next_hops(n: int, data) -> None:  # type: ignore[no-untyped-def]
    before = hops(n)
    kept = data.draw(st.lists(st.sampled_from(before), unique=True))
    after = [h for h in before if h in kept]
    stranded = flows_stranded(before, after)
    for scheme in SCHEMES:
        moved = flows_moved(scheme, before, after)
        assert stranded <= moved <= 1
    assert flows_moved("resilient", before, after) == (stranded if after else 1)


def test_impacts_and_summary() -> None:
    impacts = ecmp_impacts([("10.0.0.1/32", ("a", "b", "c"), ("a", "c"))])
    (impact,) = impacts
    assert impact.moved == {
        "modulo": Fraction(2, 3),
        "threshold": Fraction(1, 3),
        "resilient": Fraction(1, 3),
    }
    assert impact.to_json()["flowsOnLostNextHops"] == pytest.approx(1 / 3)
    assert summary(impacts) == "modulo 66.7% · threshold 33.3% · resilient 33.3%"
    assert summary(()) == ""
    # A prefix left without next hops loses every flow whatever the scheme: not averaged in.
    lost = ecmp_impacts([("10.0.0.2/32", ("a",), ())])
    assert summary((*impacts, *lost)) == summary(impacts)
    assert percent(Fraction(1, 2)) == "50.0%"


def test_plan_ecmp_hash_on_the_examples(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from lbtui.cli import main

    files = ["examples/crds/config.yaml", "examples/cluster.yaml"]
    args = ["plan", *files, "--node-down", "node-b", "--ecmp-hash", "modulo", "-o", "json"]
    assert main([*args, "--ecmp-hash", "resilient"]) == 0
    body = json.loads(capsys.readouterr().out)
    rows = {row["prefix"]: row for row in body["ecmp"]}
    three = rows["192.0.2.0/24"]
    assert three["down"] == "node-b"
    assert three["nextHopsAfter"] == ["node-a", "node-c"]
    assert three["flowsMoved"] == {
        "modulo": pytest.approx(2 / 3),
        "resilient": pytest.approx(1 / 3),
    }
    assert main(["plan", *files, "--ecmp-hash", "threshold"]) == 0
    text = capsys.readouterr().out
    assert "ECMP: FLOWS THE ROUTER MOVES" in text
    assert "THRESHOLD" in text and "MODULO" not in text
