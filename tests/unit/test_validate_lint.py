"""``lbtui validate`` as a CI linter: stdin, directories, JSON, --strict, file:line:column,
the whole report on stdout, and no traceback whatever the names hold."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from actors.config.marks import Marks, path_steps
from actors.model.issues import Issue
from lbtui.cli import main
from lbtui.commands import validate

POOL = (
    "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: {name}}}\n"
    "spec:\n  addresses: [{cidr}]\n"
)
WARNED = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_dash_reads_standard_input(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(POOL.format(name="bad_name", cidr="10.0.0.0/24")))
    code, out, err = run(capsys, "validate", "-")
    assert code == 1 and err == ""
    assert out.splitlines()[0].startswith("<stdin>:3:18: IPAddressPool/bad_name: metadata.name:")


def test_a_directory_is_read_recursively_for_yaml_yml_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "b").mkdir()
    (tmp_path / "a" / "one.yaml").write_text(POOL.format(name="one", cidr="10.0.0.0/24"))
    (tmp_path / "a" / "b" / "two.yml").write_text(POOL.format(name="two", cidr="10.0.1.0/24"))
    three = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": "three"},
        "spec": {"addresses": ["10.0.2.0/24"]},
    }
    (tmp_path / "three.json").write_text(json.dumps(three))
    (tmp_path / "notes.txt").write_text("not: [configuration")
    code, out, _ = run(capsys, "validate", str(tmp_path), "-o", "json")
    report = json.loads(out)
    assert code == 0, out
    assert report["files"] == sorted(
        str(tmp_path / p) for p in ("a/one.yaml", "a/b/two.yml", "three.json")
    )
    assert report["summary"]["pools"] == 3


def test_a_directory_without_configuration_is_unreadable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "validate", str(tmp_path))
    assert code == 2 and "no .yaml, .yml, .json file" in out and err == ""


def test_json_report_names_file_line_column_kind_name_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(POOL.format(name="p", cidr="10.0.0.0/33") + "---\n" + WARNED)
    code, out, err = run(capsys, "validate", str(path), "-o", "json")
    assert code == 1 and err == ""
    report = json.loads(out)
    assert set(report) == {"files", "errors", "warnings", "summary"}
    assert report["errors"] == [
        {
            "file": str(path),
            "line": 5,
            "column": 15,
            "kind": "IPAddressPool",
            "name": "p",
            "field": "spec.addresses[0]",
            "message": report["errors"][0]["message"],
        }
    ]
    assert "invalid CIDR '10.0.0.0/33'" in report["errors"][0]["message"]
    assert [w["kind"] for w in report["warnings"]] == ["Deployment"]
    assert report["summary"] == {"valid": False, "errors": 1, "warnings": 1}


def test_strict_turns_warnings_into_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(POOL.format(name="p", cidr="10.0.0.0/24") + "---\n" + WARNED)
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 0 and out.splitlines()[-1].endswith("; 1 warning(s)")
    code, out, _ = run(capsys, "validate", "--strict", str(path))
    assert code == 1
    assert out.splitlines()[0].startswith(f"{path}:8:7: Deployment/x: kind: ")
    assert out.splitlines()[-1] == "invalid: 1 error(s), 0 warning(s) in 1 file(s)"


def test_strict_passes_an_unnumbered_peer_with_bfd(capsys: pytest.CaptureFixture[str]) -> None:
    """Both BGP backends make the session (and its BFD): nothing to warn about."""
    golden = Path(__file__).parent / "golden" / "frr" / "unnumbered.yaml"
    code, out, _ = run(capsys, "validate", "--strict", str(golden))
    assert code == 0 and "warning" not in out, out


def test_errors_inside_a_legacy_configmap_point_into_its_config_block(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cm.yaml"
    path.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config, namespace: metallb-system}\n"
        "data:\n  config: |\n    address-pools:\n    - name: p\n      protocol: layer2\n"
        "      addresses: [10.1.0.0/24]\n      bogus: 1\n"
    )
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 1
    assert out.splitlines()[0].startswith(
        f"{path}:10:14: ConfigMap/config: data.config.address-pools[0].bogus: unknown field"
    )


def test_unreadable_input_as_json_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "validate", str(tmp_path / "missing.yaml"), "-o", "json")
    report = json.loads(out)
    assert code == 2 and report["summary"]["unreadable"] is True
    assert "cannot read" in report["errors"][0]["message"]


@pytest.mark.parametrize("output", ["text", "json"])
def test_a_lone_surrogate_never_breaks_a_strict_utf8_stdout(tmp_path: Path, output: str) -> None:
    path = tmp_path / "s.json"
    path.write_text(
        '{"apiVersion": "metallb.io/v1beta1", "kind": "IPAdressPool", '
        '"metadata": {"name": "\\ud800\\u202e"}, "spec": {"addresses": ["10.0.0.0/24"]}}'
    )
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8", errors="strict")
    args = argparse.Namespace(
        paths=[str(path)], namespace="metallb-system", output=output, strict=False
    )
    assert validate.run(args, out, io.StringIO()) == 1
    out.flush()
    text = raw.getvalue().decode("utf-8")
    assert "IPAdressPool" in text
    if output == "text":
        assert "\\ud800\\u202e" in text and "\u202e" not in text


def test_path_steps_and_marks_fall_back_to_the_deepest_existing_field() -> None:
    assert path_steps("spec.addresses[1]") == ["spec", "addresses", 1]
    assert path_steps("data.config.address-pools[0].name") == [
        "data",
        "config",
        "address-pools",
        0,
        "name",
    ]
    marks = Marks()
    marks.add("kind: X\nspec:\n  a: 1\n", "f")
    missing = Issue("f", "X/x", "spec.b", "required field missing", line=1)
    assert marks.locate(missing) == (3, 3)
    assert marks.locate(Issue("f", "X/x", "spec.a", "bad", line=1)) == (3, 6)
    assert marks.locate(Issue("g", "X/x", "spec.a", "bad", line=1)) is None


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_validate_examples_directory_passes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "validate", str(EXAMPLES))
    assert code == 0, out
    assert err == ""
    summary = out.splitlines()[-1]
    assert summary.startswith("valid: metallb.io resources: ")
    assert "; legacy ConfigMap: 3 pool(s)" in summary
    assert "scenarios" not in out  # lbtui.io DemoScenario files are skipped without a word


def test_crds_and_a_legacy_configmap_are_alternatives_each_validated_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "crds").mkdir()
    (tmp_path / "legacy").mkdir()
    (tmp_path / "crds" / "pool.yaml").write_text(POOL.format(name="p", cidr="10.0.0.0/24"))
    (tmp_path / "legacy" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config, namespace: metallb-system}\n"
        "data:\n  config: |\n    address-pools:\n    - {name: p, protocol: layer2, "
        "addresses: [10.0.0.0/24]}\n"
    )
    code, out, _ = run(capsys, "validate", str(tmp_path), "-o", "json")
    assert code == 0, out
    alternatives = json.loads(out)["summary"]["alternatives"]
    assert alternatives["metallb.io resources"]["pools"] == 1
    assert alternatives["legacy ConfigMap"]["pools"] == 1
    # The same pool twice among the resources is still an error.
    (tmp_path / "crds" / "again.yaml").write_text(POOL.format(name="p", cidr="10.0.1.0/24"))
    code, out, _ = run(capsys, "validate", str(tmp_path))
    assert code == 1 and "duplicate IPAddressPool name 'p'" in out
