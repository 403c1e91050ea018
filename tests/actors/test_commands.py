"""The headless commands as processes: `lbtui demo --headless` and `lbtui speaker --cluster`."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LBTUI = [sys.executable, "-m", "lbtui"]


@contextlib.contextmanager
def demo_process() -> Iterator[subprocess.Popen[str]]:
    """`lbtui demo --headless` that is killed whatever happens in the test."""
    proc = subprocess.Popen(
        [*LBTUI, "demo", "--headless"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)


def wait_until_ready(proc: subprocess.Popen[str]) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line)
        if '"RuntimeReady"' in line:
            return lines
    raise AssertionError("the demo ended before it was ready")


def events_of(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def live_announcements(events: list[dict]) -> set[tuple[str, str, str]]:
    live: set[tuple[str, str, str]] = set()
    for e in events:
        key = (e.get("node"), e.get("ip"), e.get("protocol"))
        if e["event"] == "AnnouncementStarted":
            live.add(key)
        elif e["event"] == "AnnouncementStopped":
            live.discard(key)
    return live


def test_demo_headless_runs_for_its_duration_and_tells_a_plausible_story() -> None:
    proc = subprocess.run(
        [*LBTUI, "demo", "--headless", "--duration", "5"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    events = events_of(proc.stdout)
    names = [e["event"] for e in events]
    assert names[0] == "ActorStarted"
    for expected in (
        "ConfigApplied",
        "IpAssigned",
        "AnnouncementStarted",
        "RuntimeReady",
        "NodeSuspected",
        "NodeLeft",
        "RuntimeStopped",
    ):
        assert expected in names, expected
    assert all(isinstance(e["t"], float | int) for e in events)
    failovers = [
        e
        for e in events
        if e["event"] == "AnnouncementStarted" and e["reason"].startswith("failover from node-1")
    ]
    assert failovers, "the built-in scenario kills node-1 at t=3"
    assert live_announcements(events) == set()
    assert names[-1] == "RuntimeStopped"


def test_sigterm_stops_within_two_seconds_with_everything_withdrawn() -> None:
    with demo_process() as proc:
        lines = wait_until_ready(proc)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=10)
        elapsed = time.monotonic() - started
    assert proc.returncode == 0
    assert elapsed < 2.0, f"took {elapsed:.2f}s"
    events = events_of("".join(lines) + rest)
    assert any(e["event"] == "AnnouncementStarted" for e in events)
    assert live_announcements(events) == set()
    assert events[-1] == {**events[-1], "event": "RuntimeStopped", "reason": "SIGTERM"}


def test_bad_scenario_is_reported_with_file_and_line(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("steps:\n  - {at: 1, kill: node-1}\n  - {at: 2, explode: node-2}\n")
    proc = subprocess.run(
        [*LBTUI, "demo", "--headless", "--duration", "1", "--scenario", str(scenario)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1
    assert f"{scenario}:3: steps[1]" in proc.stderr
    assert proc.stdout == ""


def test_file_speakers_agree_and_write_their_state(tmp_path: Path) -> None:
    cluster = tmp_path / "cluster.yaml"
    shutil.copy(EXAMPLES / "cluster.yaml", cluster)
    config = EXAMPLES / "crds" / "config.yaml"
    plan = json.loads(
        subprocess.run(
            [*LBTUI, "plan", str(config), str(cluster), "-o", "json"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    expected = {node: set() for node in ("node-a", "node-b", "node-c")}
    for ip, owner in plan["l2"].items():
        if owner["node"]:
            expected[owner["node"]].add(ip)
    procs = {}
    for node in expected:
        # No raw sockets and no BGP sessions: this test is about agreeing, not the wire, and
        # must not answer ARP on the host's own interfaces.
        procs[node] = subprocess.Popen(
            [
                *LBTUI,
                "speaker",
                "--node-name",
                node,
                "--cluster",
                str(cluster),
                "--config",
                str(config),
                "--state-file",
                str(tmp_path / f"{node}.json"),
                "--poll",
                "0.2",
                "--no-l2",
                "--no-bgp",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    try:

        def announced(node: str) -> dict | None:
            path = tmp_path / f"{node}.json"
            return json.loads(path.read_text()) if path.exists() else None

        deadline = time.monotonic() + 90  # generous: CI machines may be loaded
        states: dict[str, dict] = {}
        while time.monotonic() < deadline:
            states = {n: s for n in expected if (s := announced(n)) is not None}
            if len(states) == 3 and all(
                set(states[n]["announcing"]["layer2"]) == expected[n] for n in expected
            ):
                break
            time.sleep(0.1)
        # Every speaker announces exactly what lbtui plan predicts for its node ...
        assert {n: set(s["announcing"]["layer2"]) for n, s in states.items()} == expected
        # ... from the same allocation (house rule 7).
        assert (
            states["node-a"]["services"]
            == states["node-b"]["services"]
            == states["node-c"]["services"]
        )
        assert {k: v["ips"] for k, v in states["node-a"]["services"].items()} == {
            k: v["ips"] for k, v in plan["services"].items()
        }
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            out, err = proc.communicate(timeout=30)
            assert proc.returncode == 0, err
            assert live_announcements(events_of(out)) == set()


def test_speaker_reloads_changed_cluster_files(tmp_path: Path) -> None:
    import yaml

    cluster = tmp_path / "cluster.yaml"
    shutil.copy(EXAMPLES / "cluster.yaml", cluster)
    state = tmp_path / "state.json"
    proc = subprocess.Popen(
        [
            *LBTUI,
            "speaker",
            "--no-l2",  # host namespace: never answer ARP on the machine's own network
            "--no-bgp",  # ... nor dial the example's BGP peers from it
            "--node-name",
            "node-b",
            "--cluster",
            str(cluster),
            "--config",
            str(EXAMPLES / "crds" / "config.yaml"),
            "--state-file",
            str(state),
            "--poll",
            "0.1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    try:

        def wait_for(pred, timeout: float = 60.0) -> dict:
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                if state.exists():
                    data = json.loads(state.read_text())
                    if pred(data):
                        return data
                time.sleep(0.05)
            raise AssertionError("state never matched")

        wait_for(lambda d: "default/web" in d["services"])
        docs = [
            d
            for d in yaml.safe_load_all(cluster.read_text())
            if not (d["kind"] == "Service" and d["metadata"]["name"] == "web")
        ]
        cluster.write_text(yaml.safe_dump_all(docs))
        wait_for(lambda d: "default/web" not in d["services"])
        cluster.write_text("kind: [\n")  # broken: reported, the running state stays
        time.sleep(0.5)
        assert "default/api" in json.loads(state.read_text())["services"]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _err = proc.communicate(timeout=10)
    assert any(
        e["event"] == "SourceRejected" and f"{cluster}:2:" in e["errors"][0] for e in events_of(out)
    )


def test_sigusr1_dumps_every_thread_stack_and_keeps_running() -> None:
    with demo_process() as proc:
        wait_until_ready(proc)
        proc.send_signal(signal.SIGUSR1)
        time.sleep(0.5)
        assert proc.poll() is None, "SIGUSR1 must not stop the runtime"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    # faulthandler's dump: one block per thread, the actors' threads among them.
    assert err.count("Thread 0x") >= 5
    assert "pykka" in err
