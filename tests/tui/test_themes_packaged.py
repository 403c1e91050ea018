"""The themes ship with the package: a wheel built from the source holds themes/*.toml, and the
console installed from it (not from the source tree) finds them without LBTUI_THEMES_DIR."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "actors", "lbtui", "themes")


def test_a_wheel_holds_the_themes_and_the_installed_console_loads_them(tmp_path: Path) -> None:
    # Built from a copy: an in-tree build would leave build/ and *.egg-info in the checkout.
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(path, source / name, symlinks=True, ignore=ignore)
        else:
            shutil.copy2(path, source / name)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(source)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = wheels.glob("lbtui-*.whl")
    shipped = sorted(p.name for p in (ROOT / "themes").glob("*.toml"))
    assert len(shipped) >= 3
    with zipfile.ZipFile(wheel) as archive:
        inside = sorted(Path(n).name for n in archive.namelist() if n.startswith("lbtui/_themes/"))
    assert inside == shipped

    # Installed (files only, the dependencies are this venv's) and run from elsewhere.
    target = tmp_path / "installed"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    env = {k: v for k, v in os.environ.items() if k not in ("LBTUI_THEMES_DIR", "PYTHONPATH")}
    env["PYTHONPATH"] = str(target)
    probe = (
        "import lbtui, lbtui.themes as t; "
        "print(lbtui.__file__); print(t.THEMES_DIR); print(','.join(sorted(t.load_themes())))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    module, themes_dir, names = result.stdout.split()
    assert Path(module).is_relative_to(target)  # the installed copy, not the source tree
    assert Path(themes_dir).is_relative_to(target)
    assert names == "colorblind,dark,light"


def test_the_console_installed_here_finds_the_themes_from_anywhere(tmp_path: Path) -> None:
    # This venv's install (editable in development) seen from outside the source tree, where
    # `lbtui` may be imported as a namespace package.
    env = {k: v for k, v in os.environ.items() if k not in ("LBTUI_THEMES_DIR", "PYTHONPATH")}
    probe = "import lbtui.themes as t; print(','.join(sorted(t.load_themes())))"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "colorblind,dark,light"
