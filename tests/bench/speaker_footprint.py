"""Speaker footprint: resident memory when idle and time from start to ready, before and after.

Run as root: ``.venv/bin/python tests/bench/speaker_footprint.py [--baseline REF] [--runs N]``.

Each variant runs ``python -m lbtui speaker --node-name node-a --cluster examples/cluster.yaml
--config examples/crds/config.yaml`` (file mode, layer 2 on, native BGP) in a network
namespace of its own with a veth ``eth0`` (so the responder really opens its packet sockets
and sends its gratuitous ARPs), ``--runs`` times, one after the other:

- ``ready``: from spawning the process to its ``RuntimeReady`` line on stdout (the interpreter's
  start and every import included);
- ``CPU``: the process's user + system time when it was seen ready (what the start costs,
  less moved by other processes' load than the wall-clock time);
- ``RSS``: VmRSS after ``--idle`` seconds of idling past ready; ``peak``: VmHWM then.

Bytecode is cached (in a temporary ``PYTHONPYCACHEPREFIX``, even where the environment says
PYTHONDONTWRITEBYTECODE) and each variant runs once unmeasured first, as an installed package
starts: without it every start compiles all of lbtui's sources again (about 0.9 s of CPU).

Variants, in one table: Python's own floor (an interpreter that imports nothing and sleeps),
the speaker of ``--baseline`` (default ``main``, exported with ``git archive``) and the
speaker of this checkout. Medians of the runs; the machine's load moves the times, so compare
within one run of this script.
"""

from __future__ import annotations

import argparse
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from tests.bench.procinfo import cpu_seconds  # noqa: E402

ARGS = (
    "-m",
    "lbtui",
    "speaker",
    "--node-name",
    "node-a",
    "--cluster",
    "examples/cluster.yaml",
    "--config",
    "examples/crds/config.yaml",
)
FLOOR = ("-c", "import sys, time; print('RuntimeReady', flush=True); time.sleep(3600)")


@dataclass
class Sample:
    ready: float
    cpu: float
    rss_kb: int
    peak_kb: int
    threads: int


def status(pid: int) -> dict[str, str]:
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.split()[0] if value.split() else ""
    return fields


def namespace(tag: str) -> str:
    name = f"lbfoot-{os.getpid()}-{tag}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    for command in (
        "link set lo up",
        "link add eth0 address 02:99:00:00:00:01 type veth peer name peer0",
        "link set eth0 up",
        "link set peer0 up",
        "addr add 10.99.0.11/24 dev eth0",
    ):
        subprocess.run(["ip", "-n", name, *command.split()], check=True)
    return name


def measure(tree: Path, args: tuple[str, ...], tag: str, idle: float, pycache: Path) -> Sample:
    netns = namespace(tag)
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONPYCACHEPREFIX": str(pycache)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    try:
        start = time.perf_counter()
        proc = subprocess.Popen(
            ["ip", "netns", "exec", netns, sys.executable, *args],
            cwd=tree,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert proc.stdout is not None
            ready = None
            deadline = start + 60
            while ready is None:
                if not select.select(
                    [proc.stdout], [], [], max(0.0, deadline - time.perf_counter())
                )[0]:
                    raise SystemExit(f"{tag}: not ready within 60 s")
                line = proc.stdout.readline()
                if not line:
                    raise SystemExit(f"{tag}: exited {proc.wait()} before ready")
                if "RuntimeReady" in line:
                    ready = time.perf_counter() - start
            cpu = cpu_seconds(proc.pid)
            time.sleep(idle)
            fields = status(proc.pid)
            return Sample(
                ready, cpu, int(fields["VmRSS"]), int(fields["VmHWM"]), int(fields["Threads"])
            )
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=False)


def export(ref: str, into: Path) -> str:
    """``ref``'s tree under ``into``; returns its short hash."""
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", ref],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", ref], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return commit


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", default="main", help="git ref to compare with")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle", type=float, default=3.0, help="seconds idle after ready")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("tests/bench/speaker_footprint.py needs root (a network namespace)")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        commit = export(args.baseline, base)
        variants = (
            ("python floor", REPO, FLOOR),
            (f"speaker {args.baseline} ({commit})", base, ARGS),
            ("speaker this checkout", REPO, ARGS),
        )
        pycache = base / "pycache"
        samples: dict[str, list[Sample]] = {name: [] for name, _, _ in variants}
        for n, (_name, tree, argv) in enumerate(variants):  # warm the bytecode cache
            measure(tree, argv, f"w{n}", 0.0, pycache / str(n))
        for run in range(args.runs):  # interleaved, so load hits every variant alike
            for n, (name, tree, argv) in enumerate(variants):
                sample = measure(tree, argv, f"{run}{n}", args.idle, pycache / str(n))
                samples[name].append(sample)
    print(f"\nSpeaker footprint, file mode, medians of {args.runs} runs, {args.idle:g} s idle")
    print(
        f"{'':34} {'ready (s)':>10} {'CPU (s)':>8} {'RSS (MB)':>9} {'peak (MB)':>10} {'threads':>8}"
    )
    for name, runs in samples.items():
        print(
            f"{name:34} {statistics.median(s.ready for s in runs):>10.3f} "
            f"{statistics.median(s.cpu for s in runs):>8.2f} "
            f"{statistics.median(s.rss_kb for s in runs) / 1024:>9.1f} "
            f"{statistics.median(s.peak_kb for s in runs) / 1024:>10.1f} "
            f"{statistics.median(s.threads for s in runs):>8.0f}"
        )


if __name__ == "__main__":
    main()
