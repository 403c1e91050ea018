"""``lbtui plan -o json``'s text: what ``json.dump(plan.to_json(), indent=2)`` wrote, written
a part at a time (issue 19: of 100k Services, the document is never held whole).

Generated plans (those of test_plan_table: one or several addresses, IPv6, no pool, errors,
owners with and without a node, several services, BGP routes, texts the json module escapes)
and what-ifs with moves and extra members.
"""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.election.plan import Plan, WhatIf
from tests.unit.test_plan_table import ODD, TEXT, plans


def _written(chunks: object) -> str:
    return "".join(chunks) + "\n"  # type: ignore[call-overload]


@settings(max_examples=300, deadline=None)
@given(plans(), st.dictionaries(ODD, st.one_of(ODD, st.integers(), st.none()), max_size=3))
def test_a_plan_is_written_as_json_dump_writes_it(
    drawn: tuple[Plan, dict[str, str]], more: dict[str, object]
) -> None:
    plan, _ = drawn
    assert _written(plan.json_chunks()) == json.dumps(plan.to_json(), indent=2) + "\n"
    body = plan.to_json()
    extra = [(k, v) for k, v in more.items() if k not in body]
    body.update(extra)
    assert _written(plan.json_chunks(extra)) == json.dumps(body, indent=2) + "\n"


@settings(max_examples=200, deadline=None)
@given(
    plans(),
    st.frozensets(TEXT, max_size=3),
    st.lists(st.tuples(TEXT, st.one_of(st.none(), TEXT), st.one_of(st.none(), TEXT)), max_size=3),
    st.lists(
        st.tuples(TEXT, st.lists(TEXT, max_size=2).map(tuple), st.lists(TEXT).map(tuple)),
        max_size=2,
    ),
)
def test_a_what_if_is_written_as_json_dump_writes_it(
    drawn: tuple[Plan, dict[str, str]],
    down: frozenset[str],
    l2_moves: list[tuple[str, str | None, str | None]],
    bgp_changes: list[tuple[str, tuple[str, ...], tuple[str, ...]]],
) -> None:
    plan, _ = drawn
    after = Plan(plan.allocations, plan.usage, plan.l2, plan.bgp, down=down)
    report = WhatIf(plan, after, tuple(l2_moves), tuple(bgp_changes))
    extra = [("ecmp", [{"down": "a,b", "flowsMoved": {"modulo": 0.5}}])]
    body = report.to_json()
    body["ecmp"] = extra[0][1]
    assert _written(report.json_chunks(extra)) == json.dumps(body, indent=2) + "\n"


def test_an_empty_plan() -> None:
    plan = Plan({}, {}, {}, {})  # type: ignore[arg-type]
    assert _written(plan.json_chunks()) == json.dumps(plan.to_json(), indent=2) + "\n"
