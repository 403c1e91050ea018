"""A real client's requests to an HTTP endpoint while 2,000 half-sent requests hold it
(issue 18's slow-client attack), for the endpoint server before and after its loop, side by
side in one run.

Run: ``.venv/bin/python tests/bench/status_under_attack.py [--seconds 15] [--rounds 1]``.

Each variant serves ``GET /state`` (a 20 KB JSON body) in a process of its own:

- ``thread per connection (before)``: actors/observability/httpd.py as it was before its loop
  (read from git, commit ``59be993``): a connection cap of 32, each connection with its thread,
  the oldest waiting one evicted for a new one;
- ``selector loop (now)``: the server as it is: one loop accepts and reads requests, a thread
  per request being handled, the heaviest source's oldest waiting connection gives way.

The attacker is tests/net/attacker.py's ``slowhttp`` (2,000 connections from 127.0.0.1, each
sending a request line and then a header byte a second, reconnecting what the server closes);
the real client connects from 127.0.0.2 every 100 ms, sends ``GET /state`` and times the whole
answer (timeout 10 s). The table gives the real client's latency with and without the attack
and the server process's peak threads and file descriptors, and its CPU time (a share of one
core: unlike the latencies, not distorted by the other processes of a shared machine), and
how many connections the kernel dropped meanwhile from the full accept queue (``nstat``'s
TcpExtListenDrops, for the whole network namespace).

Measured (2026-12-07, 2 cores shared at a load average of ~19, 15 s per row)::

    server                          attack   n   p50 ms  p99 ms  max ms threads fds  cpu %
    thread per connection (before)       -  144     1.0    16.6    40.0      3    5    0.7
    selector loop (now)                  -  144     1.3    10.2    13.7      3    8    1.0
    thread per connection (before)   2,000   56    12.7  1102.6  2188.2     34   37   16.5
    selector loop (now)              2,000   85    10.3   390.7   499.5      3   71    7.0

(Three more runs under attack: before p99 1,045 / 1,073 / 1,205 ms, now 168 / 265 / 408 ms.)
The second above 1 s before is a SYN the kernel dropped from the full accept queue, resent
after 1 s: over 10 s under attack the kernel dropped 19,532 connections before, 167 now.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from tests.bench.procinfo import cpu_seconds, fds_of, module_at, threads_of  # noqa: E402

BEFORE = "59be993"  # the last commit with the thread-per-connection server
BODY = json.dumps({"seq": 1, "items": ["x" * 90] * 200}).encode()


def load_server(variant: str) -> object:
    """The module with EndpointServer and QuietHandler for ``variant``."""
    if variant == "now":
        from actors.observability import httpd

        return httpd
    return module_at(BEFORE, "actors/observability/httpd.py", "httpd_before")


def serve(variant: str) -> None:
    """The server process: print the port, serve until stdin closes."""
    module = load_server(variant)

    class Handler(module.QuietHandler):  # type: ignore[name-defined,misc]
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.reply(200, BODY, "application/json")

    server = module.EndpointServer(("127.0.0.1", 0), Handler, label="bench")  # type: ignore[attr-defined]
    server.serve_in_thread("bench")
    print(server.bound()[1], flush=True)
    sys.stdin.read()
    server.close()


def peak(pid: int) -> tuple[int, int]:
    return threads_of(pid), fds_of(pid)


def listen_drops() -> int:
    """The namespace's count of connections the kernel dropped from a full accept queue
    (``nstat``: TcpExtListenDrops; -1 without nstat)."""
    try:
        out = subprocess.run(
            ["nstat", "-az", "TcpExtListenDrops"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return -1
    return sum(int(line.split()[1]) for line in out.splitlines() if line.startswith("TcpExt"))


def real_request(port: int) -> float | None:
    """Seconds for one whole GET /state from 127.0.0.2, or None (failed or over 10 s)."""
    start = time.monotonic()
    try:
        with socket.create_connection(
            ("127.0.0.1", port), timeout=10, source_address=("127.0.0.2", 0)
        ) as sock:
            sock.sendall(b"GET /state HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
    except OSError:
        return None
    if not reply.startswith(b"HTTP/1.1 200") or not reply.endswith(BODY):
        return None
    return time.monotonic() - start


def measure(port: int, pid: int, seconds: float) -> dict[str, float]:
    times: list[float] = []
    failed = 0
    most = (0, 0)
    cpu = cpu_seconds(pid)
    drops = listen_drops()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        took = real_request(port)
        if took is None:
            failed += 1
        else:
            times.append(took)
        most = max(most, peak(pid))
        time.sleep(0.1)
    cpu = cpu_seconds(pid) - cpu
    drops = listen_drops() - drops
    times.sort()
    return {
        "drops": drops,
        "cpu": cpu / seconds * 100,
        "n": len(times),
        "failed": failed,
        "p50": statistics.median(times) * 1000 if times else float("nan"),
        "p99": times[int(len(times) * 0.99) - 1 if len(times) > 1 else 0] * 1000
        if times
        else float("nan"),
        "max": times[-1] * 1000 if times else float("nan"),
        "threads": most[0],
        "fds": most[1],
    }


def run(variant: str, seconds: float, attacked: bool) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", variant],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    attacker = None
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        if attacked:
            attacker = subprocess.Popen(
                [sys.executable, "-m", "tests.net.attacker", "slowhttp", f"127.0.0.1:{port}"],
                stdout=subprocess.PIPE,
                env=env,
                cwd=REPO,
            )
            assert attacker.stdout is not None
            attacker.stdout.readline()
            time.sleep(3.0)  # every connection opened and sending
        return measure(port, server.pid, seconds)
    finally:
        if attacker is not None:
            attacker.kill()
            attacker.wait()
        server.kill()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--serve", choices=("before", "now"))
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    names = {"before": "thread per connection (before)", "now": "selector loop (now)"}
    print(
        f"{'server':32} {'attack':>7} {'n':>4} {'failed':>6} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8} {'threads':>7} {'fds':>5} {'cpu %':>6} {'SYN drops':>9}"
    )
    for _ in range(args.rounds):
        for attacked in (False, True):
            for variant in ("before", "now"):
                r = run(variant, args.seconds, attacked)
                print(
                    f"{names[variant]:32} {'2,000' if attacked else '-':>7} {r['n']:>4} "
                    f"{r['failed']:>6} {r['p50']:>8.1f} {r['p99']:>8.1f} {r['max']:>8.1f} "
                    f"{r['threads']:>7} {r['fds']:>5} {r['cpu']:>6.1f} {r['drops']:>9}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
