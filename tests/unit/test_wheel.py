"""The wheel holds what an installed lbtui reads at run time: the console's stylesheet, the
themes and the lab's configuration and cluster (examples/lab, through lbtui/lab/_examples),
so `lbtui lab up` works from `pip install lbtui-*.whl`. Built for real (pip wheel, in a copy
of the tree); the lab's files are then read from the unpacked wheel alone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TREE = ("pyproject.toml", "README.md", "actors", "lbtui", "themes", "examples/lab")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in TREE:  # a copy: the build leaves build/ and *.egg-info behind
        target = source / name
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, target, symlinks=True, ignore=ignore)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target)
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = out.glob("lbtui-*.whl")
    return built


def ignore(directory: str, names: list[str]) -> list[str]:
    return [n for n in names if n in ("__pycache__", ".pytest_cache") or n.endswith(".pyc")]


@pytest.mark.slow
def test_the_wheel_holds_the_lab_themes_and_stylesheet(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in sorted((ROOT / "examples" / "lab").glob("*.yaml")):
        assert f"lbtui/lab/_examples/{path.name}" in names
    for path in sorted((ROOT / "themes").glob("*.toml")):
        assert f"lbtui/_themes/{path.name}" in names
    assert "lbtui/app.tcss" in names
    assert not [n for n in names if n.startswith(("tests/", "examples/"))]


@pytest.mark.slow
def test_the_lab_reads_its_files_from_an_installed_wheel(wheel: Path, tmp_path: Path) -> None:
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    probe = (
        "import lbtui.lab.topology as t\n"
        "plan = t.plan_lab('lblabw', 2, 'both', 'bird')\n"
        "print(t.EXAMPLES)\n"
        "print(len(t.lab_config(plan)) > 0, len(t.lab_cluster(plan)) > 0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # not the source tree
        env={**os.environ, "PYTHONPATH": str(unpacked)},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    where, sizes = done.stdout.splitlines()
    assert Path(where) == unpacked / "lbtui" / "lab" / "_examples"
    assert sizes == "True True"
