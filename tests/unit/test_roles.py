"""The role builders: which actors each role runs, in which order, and what they refuse
before anything is made (the commands turn OptionsError into their messages and exit codes)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from actors.clock import ManualClock
from actors.roles import demo, speaker
from actors.roles.bgp import BgpOptions
from actors.roles.errors import OptionsError
from actors.roles.layer2 import L2Options
from actors.roles.membership import MembershipOptions
from actors.roles.observability import MetricsOptions, StatusOptions, status_options

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CLUSTER = str(EXAMPLES / "cluster.yaml")


def file_speaker(**kw: object) -> list[str]:
    kw = {"config_files": (str(EXAMPLES / "crds" / "config.yaml"),), **kw}
    options = speaker.SpeakerOptions(
        node="node-a",
        cluster_files=(CLUSTER,),
        layer2=L2Options(enabled=False),
        **kw,  # type: ignore[arg-type]
    )
    return [s.name for s in speaker.build(options, events=io.StringIO(), clock=ManualClock())]


def test_a_file_speaker_runs_its_sources_then_its_subsystems_then_the_speaker() -> None:
    assert file_speaker(bgp=BgpOptions(enabled=False)) == [
        "eventlog",
        "config",
        "cluster",
        "allocator",
        "failover",
        "speaker/node-a",
    ]
    names = file_speaker(
        state_file="/tmp/state.json",
        membership=MembershipOptions(bind="127.0.0.1:0"),
        metrics=MetricsOptions(port=0),
        status=StatusOptions(("127.0.0.1", 0)),
    )
    assert names == [
        "status",
        "health",
        "metrics",
        "eventlog",
        "config",
        "cluster",
        "allocator",
        "statefile",
        "failover",
        "bfd",
        "bgp",
        "membership",  # the last subsystem: it leaves right after the withdrawal
        "speaker/node-a",
    ]


def test_the_frr_backend_replaces_lbtuis_own_sessions(tmp_path: Path) -> None:
    frr = BgpOptions(backend="frr", frr_config=str(tmp_path / "frr.conf"))
    names = file_speaker(bgp=frr)
    assert "frr" in names and "bgp" not in names and "bfd" not in names
    with pytest.raises(OptionsError, match="--frr-config PATH") as refused:
        file_speaker(bgp=BgpOptions(backend="frr"))
    assert not refused.value.unreadable


def test_a_speaker_refuses_bad_options_before_making_anything(tmp_path: Path) -> None:
    with pytest.raises(OptionsError, match="--ml-bind/--ml-join") as bad:
        file_speaker(membership=MembershipOptions(join="no:port:here"))
    assert not bad.value.unreadable
    missing = str(tmp_path / "missing.yaml")
    with pytest.raises(OptionsError, match=r"missing\.yaml") as unreadable:
        file_speaker(config_files=(missing,))
    assert unreadable.value.unreadable
    with pytest.raises(OptionsError, match="--l2-refresh"):
        speaker.build(
            speaker.SpeakerOptions("n", (CLUSTER,), layer2=L2Options(refresh=0)),
            events=io.StringIO(),
            clock=ManualClock(),
        )


def test_status_options_are_checked_first(tmp_path: Path) -> None:
    assert status_options(None, "/ignored") == StatusOptions()
    with pytest.raises(OptionsError, match=r"--status-addr: .*expected HOST:PORT"):
        status_options("nonsense", None)
    with pytest.raises(OptionsError, match="cannot read") as unreadable:
        status_options(":1", str(tmp_path / "absent"))
    assert unreadable.value.unreadable
    (tmp_path / "token").write_text("  secret\n")
    assert status_options(":1", str(tmp_path / "token")) == StatusOptions(
        ("127.0.0.1", 1), "secret"
    )


def test_the_demo_wires_its_world_and_refuses_a_bad_scenario(tmp_path: Path) -> None:
    clock = ManualClock()
    built = demo.build(demo.DemoOptions(nodes=2), clock=clock, scheduler=clock)
    names = built.runtime.names()
    assert names[:3] == ["config", "cluster", "allocator"]
    assert names[3] == "membership"  # simulated: virtual time
    assert names[-1] == "scenario"
    assert built.cluster.node_names == ("node-1", "node-2")
    # An unnumbered peer in a demo configuration never reaches the host's links.
    bgp = built.runtime._slots["bgp/node-1"].spec.kwargs
    assert bgp["interface_index"]("eth0") is None
    built.runtime.stop()
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps:\n  - {at: 1, kill: node-9}\n")
    with pytest.raises(OptionsError, match=f"{bad}:2: steps\\[0\\]: unknown node 'node-9'"):
        demo.build(demo.DemoOptions(scenario_file=str(bad)), clock=clock, scheduler=clock)
    with pytest.raises(OptionsError, match="cannot read") as unreadable:
        demo.build(demo.DemoOptions(scenario_file=str(tmp_path / "absent.yaml")))
    assert unreadable.value.unreadable
    with pytest.raises(OptionsError, match="at least one node"):
        demo.build(demo.DemoOptions(nodes=0))
