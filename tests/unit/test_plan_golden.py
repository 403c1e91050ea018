"""``lbtui plan``'s output, byte for byte, on a mixed input (issue 19: the plan was made cheaper;
its output must not change).

``golden/plan/mixed.yaml`` holds the examples' CRDs, the Services and EndpointSlices of
examples/cluster.yaml twice, and Services asking for each pool (the allocator's short path, an
unknown pool): layer 2 and BGP, shared and dual-stack addresses, Local policy, services without
endpoints, refused requests. Each ``mixed.<case>.out`` was written by the plan before issue 19's
changes; ``LBTUI_UPDATE_GOLDEN=1`` writes them anew (for a deliberate change of the output).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lbtui.cli import main

GOLDEN = Path(__file__).parent / "golden" / "plan"
CASES = {
    "table": [],
    "json": ["-o", "json"],
    "down-table": ["--node-down", "node-b", "--ecmp-hash", "modulo", "--ecmp-hash", "resilient"],
    "down-json": [
        "-o",
        "json",
        "--node-down",
        "node-a",
        "--node-down",
        "node-c",
        "--ecmp-hash",
        "threshold",
    ],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_plan_writes_the_golden_output(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["plan", *CASES[case], str(GOLDEN / "mixed.yaml")])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    golden = GOLDEN / f"mixed.{case}.out"
    if os.environ.get("LBTUI_UPDATE_GOLDEN"):
        golden.write_text(out)
    assert out == golden.read_text()
