"""``--ignore-exclude-lb`` (MetalLB's IgnoreExcludeLB) on ``plan`` and ``speaker``: a node
labelled node.kubernetes.io/exclude-from-external-load-balancers is left out of the election,
unless the flag says to ignore the label."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from actors.clock import ManualClock
from actors.cluster.files import cluster_from_inputs
from actors.config.build import build_config
from actors.config.loader import load_files
from actors.election.desired import desired_announcements
from actors.election.plan import compute_plan
from actors.model.cluster import EXCLUDE_LB_LABEL
from actors.roles import speaker
from actors.roles.bgp import BgpOptions
from actors.roles.layer2 import L2Options
from lbtui.cli import build_parser, main
from lbtui.commands.speaker import speaker_options

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CONFIG = EXAMPLES / "crds" / "config.yaml"


@pytest.fixture
def only_a_excluded(tmp_path: Path) -> Path:
    """The example cluster with node-a labelled to be excluded."""
    text = (EXAMPLES / "cluster.yaml").read_text()
    text = text.replace(
        "    kubernetes.io/hostname: node-a\n",
        f"    kubernetes.io/hostname: node-a\n    {EXCLUDE_LB_LABEL}: ''\n",
        1,
    )
    path = tmp_path / "cluster.yaml"
    path.write_text(text)
    return path


def _plan_nodes(capsys: pytest.CaptureFixture[str], cluster: Path, *flags: str) -> set[str]:
    code = main(["plan", str(CONFIG), str(cluster), "-o", "json", *flags])
    out, err = capsys.readouterr()
    assert code == 0, err
    body = json.loads(out)
    return {entry["node"] for entry in body["l2"].values()} | set(body["bgp"])


def test_plan_leaves_excluded_nodes_out_unless_told_to_ignore_the_label(
    only_a_excluded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    without = _plan_nodes(capsys, only_a_excluded)
    ignoring = _plan_nodes(capsys, only_a_excluded, "--ignore-exclude-lb")
    assert "node-a" not in without
    assert "node-a" in ignoring


def test_desired_announcements_of_an_excluded_node_follow_the_flag(only_a_excluded: Path) -> None:
    inputs = load_files([CONFIG, only_a_excluded])
    config = build_config(inputs).config
    assert config is not None
    cluster = cluster_from_inputs(inputs)
    plan = compute_plan(config, cluster)
    assert plan.ignore_exclude_lb is False
    allocations = plan.allocations
    excluded = desired_announcements("node-a", config, cluster, allocations, None)
    ignoring = desired_announcements(
        "node-a", config, cluster, allocations, None, ignore_exclude_lb=True
    )
    assert not excluded.l2 and not excluded.bgp
    assert ignoring.l2 or ignoring.bgp


def test_speaker_flag_reaches_the_speaker_actor() -> None:
    parser = build_parser()
    for argv, expected in (([], False), (["--ignore-exclude-lb"], True)):
        args = parser.parse_args(
            ["speaker", "--node-name", "node-a", "--cluster", str(EXAMPLES / "cluster.yaml"), *argv]
        )
        options = speaker_options(args)
        assert options.ignore_exclude_lb is expected
        options = speaker.SpeakerOptions(
            node="node-a",
            cluster_files=(str(EXAMPLES / "cluster.yaml"),),
            config_files=(str(CONFIG),),
            layer2=L2Options(enabled=False),
            bgp=BgpOptions(enabled=False),
            ignore_exclude_lb=expected,
        )
        specs = speaker.build(options, events=io.StringIO(), clock=ManualClock())
        assert specs[-1].kwargs["ignore_exclude_lb"] is expected
