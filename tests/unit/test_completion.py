"""`lbtui --version` and `lbtui completion bash|zsh|fish`, run by the real shells: bash
and zsh call the generated `_lbtui` as `complete -F` would, fish answers `complete -C`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from lbtui.cli import build_parser, main
from lbtui.commands.completion import tree

ROOT = Path(__file__).resolve().parents[2]


def lbtui(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "lbtui", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_version_is_the_package_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"lbtui {version('lbtui')}\n"


def test_the_tree_holds_every_command_and_flag_of_the_parser() -> None:
    nodes = {n.path: n for n in tree(build_parser())}
    assert {"validate", "plan", "speaker", "controller", "console", "lab", "completion"} <= set(
        nodes[""].subcommands
    )
    assert "lab up" in nodes and "lab fail" in nodes
    backend = next(o for o in nodes["speaker"].options if "--bgp-backend" in o.flags)
    assert backend.takes_value and backend.choices == ("native", "frr")
    kubeconfig = next(o for o in nodes["controller"].options if "--kubeconfig" in o.flags)
    assert kubeconfig.files == "file"
    verbose = next(o for o in nodes["speaker"].options if "--verbose" in o.flags)
    assert not verbose.takes_value and verbose.flags == ("-v", "--verbose")
    assert nodes["completion"].positional_choices == ("bash", "zsh", "fish")
    assert nodes["validate"].positional_files


# (what is typed, split as bash splits it) -> what must be offered (at least) / exactly
CASES = [
    (["lbtui", ""], {"validate", "plan", "demo", "speaker", "console", "completion"}, False),
    (["lbtui", "sp"], {"speaker"}, True),
    (["lbtui", "--ver"], {"--version"}, True),
    (["lbtui", "speaker", "--bgp-b"], {"--bgp-backend"}, True),
    (["lbtui", "speaker", "--bgp-backend", ""], {"native", "frr"}, True),
    (["lbtui", "speaker", "--bgp-backend", "=", "f"], {"frr"}, True),
    (["lbtui", "speaker", "--node-name", "plan", "--log-l"], {"--log-level"}, True),
    (["lbtui", "speaker", "--log-level", ""], {"debug", "info", "warn", "error"}, True),
    (["lbtui", "demo", "--log-format", ""], {"text", "json"}, True),
    (["lbtui", "completion", ""], {"bash", "zsh", "fish"}, True),
    (["lbtui", "lab", "f"], {"fail"}, True),
    (["lbtui", "lab", "up", "--mo"], {"--mode"}, True),
    (["lbtui", "validate", "exam"], {"examples"}, True),  # files, in the repository's root
]


def bash_script(script: str) -> str:
    lines = [
        script,
        "t() {",
        '  COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _lbtui',
        '  printf "%s\\n" "${COMPREPLY[*]}"',
        "}",
    ]
    for words, _, _ in CASES:
        lines.append("t " + " ".join(f"'{w}'" for w in words))
    return "\n".join(lines)


def check(replies: list[str], *, matched_by_shell: bool = False) -> None:
    """``matched_by_shell``: zsh's compgen offers every candidate and compadd keeps those
    that start with what is typed; done here as compadd would."""
    assert len(replies) == len(CASES), replies
    for (words, wanted, exact), reply in zip(CASES, replies, strict=True):
        offered = set(reply.split())
        if matched_by_shell:
            typed = "" if words[-1] == "=" else words[-1]
            offered = {o for o in offered if o.startswith(typed)}
        if exact:
            assert offered == wanted, (words, reply)
        else:
            assert wanted <= offered, (words, reply)


def test_bash_completes_commands_flags_choices_and_files() -> None:
    script = lbtui("completion", "bash")
    assert script.returncode == 0, script.stderr
    done = subprocess.run(
        ["bash", "--norc", "-c", bash_script(script.stdout)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    check(done.stdout.splitlines())


def test_zsh_completes_through_bashcompinit() -> None:
    assert shutil.which("zsh"), "zsh is required (scripts/test installs it)"
    script = lbtui("completion", "zsh")
    assert "bashcompinit" in script.stdout
    done = subprocess.run(
        ["zsh", "-f", "-c", bash_script(script.stdout)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    check(done.stdout.splitlines(), matched_by_shell=True)


def test_fish_completes_with_help() -> None:
    assert shutil.which("fish"), "fish is required (scripts/test installs it)"
    script = lbtui("completion", "fish")
    asks = ["lbtui sp", "lbtui speaker --bgp-backend ", "lbtui lab up --mo", "lbtui completion "]
    commands = ["source"] + [f"complete -C '{a}'; echo ---" for a in asks]
    done = subprocess.run(
        ["fish", "--no-config", "-c", "; ".join(commands)],
        input=script.stdout,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answers = [
        [line.split("\t")[0] for line in block.strip().splitlines()]
        for block in done.stdout.split("---")[:-1]
    ]
    assert answers == [["speaker"], ["frr", "native"], ["--mode"], ["bash", "fish", "zsh"]]
    assert "speaker\tannounce on one node" in done.stdout  # the subcommand's help


def test_an_unknown_shell_is_refused() -> None:
    done = lbtui("completion", "tcsh")
    assert done.returncode == 2 and "invalid choice: 'tcsh'" in done.stderr
