"""The real thing in a real terminal: ``lbtui demo`` in tmux, driven with send-keys and read
with capture-pane. tmux is in .ci/run's apt-get line; without it this test fails, it does not
skip."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LBTUI = Path(sys.executable).parent / "lbtui"
WIDTH, HEIGHT = 140, 40


class Terminal:
    def __init__(self, name: str) -> None:
        self.name = name

    def tmux(self, *args: str) -> str:
        proc = subprocess.run(
            ["tmux", *args], capture_output=True, text=True, timeout=10, check=False
        )
        if proc.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.name, *keys)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.name)

    def wait_for(self, what: str, found: Callable[[str], object], timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if found(screen):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{what}: not on screen within {timeout}s:\n{screen}")

    def alive(self) -> bool:
        return (
            subprocess.run(
                ["tmux", "has-session", "-t", self.name], capture_output=True, check=False
            ).returncode
            == 0
        )


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    assert shutil.which("tmux"), "tmux is required (it is in .ci/run's apt-get line)"
    scenario = tmp_path / "quiet.yaml"
    scenario.write_text("steps: []\n")  # nothing happens unless we make it happen
    name = f"lbtui-test-{uuid.uuid4().hex[:8]}"
    command = f"{LBTUI} demo --scenario {scenario} --view svc --log-file {tmp_path / 'log'}"
    env = {**os.environ, "TERM": "xterm-256color", "LBTUI_THEME": "colorblind"}
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", name, "-x", str(WIDTH), "-y", str(HEIGHT), command],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=10,
    )
    term = Terminal(name)
    try:
        yield term
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True, check=False)


def row(screen: str, name: str) -> list[str]:
    for line in screen.splitlines():
        cells = line.split()
        if len(cells) > 2 and cells[1] == name:
            return cells
    return []


def owner_of_web(screen: str) -> str | None:
    cells = row(screen, "web")
    nodes = [c.rstrip(",") for c in cells if re.fullmatch(r"node-\d+,?", c)]
    return nodes[0] if nodes else None


def test_demo_console_shows_services_and_follows_a_node_kill(terminal: Terminal) -> None:
    # The services view fills in with addresses and their announcing nodes.
    screen = terminal.wait_for("web with its address", lambda s: owner_of_web(s))
    assert "10.99.0.100" in row(screen, "web")
    assert "10.99.0.104," in row(screen, "dual") and "fd00:99::100" in row(screen, "dual")
    owner = owner_of_web(screen)
    assert owner is not None

    # Kill the owner from the nodes view: filter to its row, K.
    terminal.keys("3")
    terminal.wait_for("nodes view", lambda s: "Nodes" in s and "alive" in s)
    terminal.keys("/")
    terminal.wait_for(
        "the filter prompt", lambda s: any(ln.startswith(" /") for ln in s.splitlines())
    )
    terminal.keys(*owner, "Enter")
    terminal.wait_for(
        "filtered to the owner",
        lambda s: [ln.split()[0] for ln in s.splitlines() if ln.startswith("node-")] == [owner],
    )
    terminal.keys("K")
    terminal.wait_for(f"{owner} dead", lambda s: re.search(rf"{owner}\s+○ dead", s))

    # Back to services: the address moved to a live node.
    terminal.keys("1")
    screen = terminal.wait_for(
        "web announced by another node", lambda s: owner_of_web(s) not in (None, owner)
    )
    assert "10.99.0.100" in row(screen, "web")
    assert "announced" in row(screen, "web")

    # The failover was measured and shows on the overview.
    terminal.keys("0")
    terminal.wait_for("failover history", lambda s: f"{owner} → " in s and "median" in s)

    terminal.keys("C-q")
    deadline = time.monotonic() + 10
    while terminal.alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not terminal.alive(), "the console did not quit on ctrl+q"


def ages(screen: str) -> list[float]:
    """The AGE column of the events view, in seconds."""
    found = []
    for line in screen.splitlines():
        m = re.match(r"\s*(?:(\d+)m)?(\d+(?:\.\d)?)s\s+[A-Z]", line)
        if m:
            found.append(int(m.group(1) or 0) * 60 + float(m.group(2)))
    return found


def test_ages_on_screen_keep_time_with_the_wall_clock(tmp_path: Path) -> None:
    """The demo runs ~25 s in a real terminal: the oldest event's AGE says how long ago the
    demo started, within a few seconds (it once said 2m29s after 30 s, and grew with the
    square of the time). A behaviour check, not a speed one: the tolerance is generous."""
    assert shutil.which("tmux"), "tmux is required (it is in .ci/run's apt-get line)"
    scenario = tmp_path / "quiet.yaml"
    scenario.write_text("steps: []\n")
    name = f"lbtui-clock-{uuid.uuid4().hex[:8]}"
    command = f"{LBTUI} demo --scenario {scenario} --view events --log-file {tmp_path / 'log'}"
    env = {**os.environ, "TERM": "xterm-256color"}
    launched = time.monotonic()
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", name, "-x", "160", "-y", "45", command],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=10,
    )
    term = Terminal(name)
    try:
        term.wait_for("the first events", lambda s: ages(s))
        seen = time.monotonic()
        for target in (10.0, 25.0):
            time.sleep(max(0.0, seen + target - time.monotonic()))
            before = time.monotonic()
            screen = term.screen()
            after = time.monotonic()
            oldest = max(ages(screen))
            # The oldest event happened after the launch and before it was first seen; the
            # screen is redrawn every second, so it may be up to ~1 s behind.
            assert before - seen - 2.0 <= oldest <= after - launched + 2.0, (oldest, screen)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True, check=False)
