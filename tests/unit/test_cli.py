"""`lbtui validate` and `lbtui plan` as a user runs them (in-process, real files)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lbtui.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CRDS = str(EXAMPLES / "crds" / "config.yaml")
LEGACY = str(EXAMPLES / "legacy" / "config.yaml")
CLUSTER = str(EXAMPLES / "cluster.yaml")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_examples_are_valid(capsys: pytest.CaptureFixture[str]) -> None:
    for path in (CRDS, LEGACY, CLUSTER):
        code, out, err = run(capsys, "validate", path)
        assert code == 0, out + err
        assert out.startswith("valid:") and err == ""


def test_validate_prints_every_error_one_a_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: a}\n"
        "spec: {addresses: [10.0.0.0/33]}\n---\n"
        "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: p}\n"
        "spec: {myASN: 1, peerASN: 2, peerAddress: 10.0.0.1, holdTime: 2s}\n"
    )
    code, out, err = run(capsys, "validate", str(bad))
    assert code == 1 and err == ""
    lines = out.strip().splitlines()
    assert lines[0] == (
        f"{bad}:4:20: IPAddressPool/a: spec.addresses[0]: invalid CIDR '10.0.0.0/33': "
        "'10.0.0.0/33' does not appear to be an IPv4 or IPv6 network"
    )
    assert lines[1].startswith(f"{bad}:9:63: BGPPeer/p: spec.holdTime: invalid hold time")
    assert lines[2] == "invalid: 2 error(s), 0 warning(s) in 1 file(s)"
    assert len(lines) == 3


def test_validate_unreadable_and_bad_yaml_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "validate", str(tmp_path / "missing.yaml"))
    assert code == 2 and "cannot read" in out
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: v1\nkind: [\n")
    code, out, _ = run(capsys, "validate", str(broken))
    assert code == 2 and f"{broken}:3:" in out and "YAML syntax error" in out


def plan_json(capsys: pytest.CaptureFixture[str], *files: str, extra: tuple[str, ...] = ()) -> dict:
    code, out, err = run(capsys, "plan", *files, "-o", "json", *extra)
    assert code == 0, err
    return json.loads(out)


def test_plan_of_legacy_and_crd_configs_is_identical(capsys: pytest.CaptureFixture[str]) -> None:
    crds = plan_json(capsys, CRDS, CLUSTER)
    legacy = plan_json(capsys, LEGACY, CLUSTER)
    assert crds == legacy
    assert crds["services"]["default/pinned"]["ips"] == ["10.99.0.120"]
    assert crds["services"]["default/wrong-request"]["error"]
    assert "default/other-class" not in crds["services"]
    assert "default/internal" not in crds["services"]
    assert list(crds) == ["services", "l2", "bgp", "pools"]


def test_plan_json_shape(capsys: pytest.CaptureFixture[str]) -> None:
    plan = plan_json(capsys, CRDS, CLUSTER)
    shared = plan["services"]["default/dns-tcp"]["ips"]
    assert shared == plan["services"]["default/dns-udp"]["ips"]
    owner = plan["l2"][shared[0]]
    assert owner["services"] == ["default/dns-tcp", "default/dns-udp"]
    assert owner["node"] in {"node-a", "node-b", "node-c"}
    # local-only's only endpoint is on node-b.
    local_ip = plan["services"]["default/local-only"]["ips"][0]
    assert plan["l2"][local_ip]["node"] == "node-b"
    # peer2 selects rack=a: only node-a sends to it.
    for node, routes in plan["bgp"].items():
        for route in routes:
            assert ("peer2" in route["peers"]) == (node == "node-a")
            assert route["localPref"] == 100
    assert plan["pools"]["reserved"] == {"total": 16, "inUse": 1}


def test_plan_node_down_shows_moves(capsys: pytest.CaptureFixture[str]) -> None:
    before = plan_json(capsys, CRDS, CLUSTER)
    victim = before["l2"][before["services"]["default/pinned"]["ips"][0]]["node"]
    after = plan_json(capsys, CRDS, CLUSTER, extra=("--node-down", victim))
    assert after["nodesDown"] == [victim]
    assert victim not in after["bgp"]
    moved = {m["ip"]: m for m in after["moves"]["l2"]}
    for ip, owner in before["l2"].items():
        if owner["node"] == victim:
            assert moved[ip]["from"] == victim
            assert moved[ip]["to"] != victim
            assert after["l2"][ip]["node"] == moved[ip]["to"]
        else:
            assert ip not in moved  # removing a non-owner never moves an address
    assert after["services"] == before["services"]  # allocation does not depend on liveness


def test_plan_table_marks_moves(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "plan", CRDS, CLUSTER, "--node-down", "node-a")
    assert code == 0
    assert "WHAT IF node-a DOWN" in out
    assert "moved from node-a to" in out


def test_plan_rejects_unknown_node_and_invalid_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "plan", CRDS, CLUSTER, "--node-down", "node-z")
    assert code == 1 and "node-z" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: a}\n"
        "spec: {addresses: []}\n"
    )
    code, _, err = run(capsys, "plan", str(bad))
    assert code == 1 and "IPAddressPool/a: spec.addresses" in err


def test_plan_is_independent_of_object_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    docs = list(yaml.safe_load_all(Path(CLUSTER).read_text()))
    reversed_file = tmp_path / "reversed.yaml"
    reversed_file.write_text(yaml.safe_dump_all(list(reversed(docs))))
    assert plan_json(capsys, CRDS, CLUSTER) == plan_json(capsys, str(reversed_file), CRDS)


def test_plan_on_its_own_output_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    first = plan_json(capsys, CRDS, CLUSTER)
    docs = list(yaml.safe_load_all(Path(CLUSTER).read_text()))
    for doc in docs:
        if doc["kind"] == "Service":
            key = f"{doc['metadata']['namespace']}/{doc['metadata']['name']}"
            ips = first["services"].get(key, {}).get("ips", [])
            doc["status"] = {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]}}
    with_status = tmp_path / "with-status.yaml"
    with_status.write_text(yaml.safe_dump_all(docs))
    assert plan_json(capsys, CRDS, str(with_status)) == first


def test_main_handles_help() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    _ = io.StringIO()


@pytest.mark.parametrize("asked", [False, True], ids=["default", "environment-asks"])
def test_pydantic_plugins_installed_beside_lbtui_see_nothing_unless_asked(
    tmp_path: Path, asked: bool
) -> None:
    """A pydantic plugin is given every object validated (Secrets too): an installed one is
    not loaded by lbtui, unless the environment sets PYDANTIC_DISABLE_PLUGINS itself."""
    site = tmp_path / "site"
    (site / "spyplugin-1.0.dist-info").mkdir(parents=True)
    (site / "spyplugin-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: spyplugin\nVersion: 1.0\n"
    )
    (site / "spyplugin-1.0.dist-info" / "entry_points.txt").write_text(
        "[pydantic]\nspy = spyplugin:plugin\n"
    )
    mark = tmp_path / "loaded"
    (site / "spyplugin.py").write_text(
        f"open({str(mark)!r}, 'w').close()\n"
        "class _Spy:\n"
        "    def new_schema_validator(self, *args, **kwargs):\n"
        "        return None, None, None\n"
        "plugin = _Spy()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(EXAMPLES.parent)])
    if asked:
        env["PYDANTIC_DISABLE_PLUGINS"] = ""  # set, naming no plugin: all of them load
    done = subprocess.run(
        [sys.executable, "-m", "lbtui", "validate", CRDS],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert mark.exists() is asked
