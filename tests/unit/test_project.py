"""House rules checked mechanically: layering, lint, and the README's promises."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_runtime_never_imports_the_console_or_textual() -> None:
    """house rule 1: actors/ never imports textual or lbtui (this test fails if it does)."""
    offenders = []
    for path in sorted((ROOT / "actors").rglob("*.py")):
        for name in imported_modules(path):
            if name.split(".")[0] in {"textual", "lbtui"}:
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def test_headless_commands_never_load_textual() -> None:
    code = (
        "import sys, lbtui.cli as c; "
        "c.main(['validate', 'examples/crds/config.yaml']); "
        "c.main(['plan', 'examples/crds/config.yaml', 'examples/cluster.yaml', '-o', 'json']); "
        "import actors.roles.demo, actors.speaker.actor, actors.runtime; "
        "sys.exit(1 if 'textual' in sys.modules else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_import_linter_contract_holds() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "importlinter.cli", "--config", "pyproject.toml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if "No module named importlinter.cli" in proc.stderr:
        proc = subprocess.run(
            # No cache: a stale one once kept reporting an import that was gone.
            [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_is_clean() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "actors", "lbtui", "tests"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def readme_block(index: int) -> str:
    text = (ROOT / "README.md").read_text()
    blocks = text.split("```sh\n")[1:]
    lines = [
        ln for ln in blocks[index].split("```")[0].splitlines() if ln and not ln.startswith("#")
    ]
    assert len(lines) == 1, lines
    return lines[0]


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    test_command = readme_block(1)
    assert test_command == "./scripts/test"
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in ci


def test_readme_quick_start_runs_the_demo() -> None:
    assert readme_block(0).endswith("lbtui demo")


DOC_PATH = re.compile(r"`((?:actors|lbtui|tests|examples|themes)/[\w./-]*)(?:: ([\w.]+))?")


def doc_references(name: str) -> list[tuple[str, str | None]]:
    """The repository paths (and ``path: function`` hops) a document names in backticks."""
    text = (ROOT / name).read_text()
    return [(m.group(1), m.group(2)) for m in DOC_PATH.finditer(text.replace("\n   ", " "))]


def test_the_architecture_page_names_only_what_exists() -> None:
    """ARCHITECTURE.md is the newcomer's map: every path it names exists, and every
    ``file: function`` hop of the one-Service walk names a def or class in that file."""
    missing = []
    for doc in ("ARCHITECTURE.md", "README.md"):
        for path, name in doc_references(doc):
            target = ROOT / path.rstrip(".")
            if not target.exists():
                missing.append(f"{doc}: {path}")
                continue
            if name and target.is_file():
                source = target.read_text()
                for part in name.split("."):
                    if not re.search(rf"^\s*(def|class) {part}\b|^{part} = ", source, re.M):
                        missing.append(f"{doc}: {path}: {name} ({part})")
    assert missing == []


def test_readme_commands_work_as_written_after_the_quick_start() -> None:
    """The commands after the quick start run in its venv: the README says to activate it (or
    to write .venv/bin/lbtui), never `sudo lbtui` (sudo drops an activated venv's PATH); and
    each offline `lbtui validate`/`lbtui plan` it shows exits 0 from the repository's root."""
    import shlex

    text = (ROOT / "README.md").read_text()
    assert ". .venv/bin/activate" in text and "sudo lbtui" not in text
    ran = []
    for block in text.split("```sh\n")[2:]:
        # A command continued with a backslash is one line; a comment line is no command.
        body = block.split("```")[0].replace("\\\n", " ")
        for line in body.splitlines():
            if line.lstrip().startswith("#"):
                continue
            words = shlex.split(line.split("  #")[0])
            if words[:2] not in (["lbtui", "validate"], ["lbtui", "plan"]):
                continue
            paths = [w for w in words[2:] if "/" in w]
            if not all((ROOT / p).exists() for p in paths):
                continue  # a user's own directory, shown as an example
            done = subprocess.run(
                [sys.executable, "-m", "lbtui", *words[1:]],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert done.returncode == 0, (line, done.stdout, done.stderr)
            ran.append(line)
    assert len(ran) >= 5, ran
