"""Did 2,023 threads stall membership? (issue 18's 6 s stall, item 3 of its last part.)

Run: ``.venv/bin/python tests/bench/stall_threads.py [--seconds 15]``.

The issue's reading of the stall: the status endpoint of the time started a thread per
connection, and 2,000 half-sent requests made 2,023 threads; membership's acks then waited
behind them for the interpreter. This bench puts that server (actors/observability/httpd.py
at ``6921e65^``, read from git: a thread per connection, no cap, no deadline) next to
membership's real transport (actors/membership/transport.py, acking pings on its reader
thread, the interpreter's switch interval at the speaker's 1 ms) in one process, and pings it
from another process every 20 ms (tests/net/ack_prober.py), with

- no connection;
- N idle threads (plain threads blocked on an event: the thread count alone);
- N half-sent requests dripping a header byte a second each (tests/net/attacker.py's
  ``slowhttp``): N threads, each woken once a second to read its byte (the old server given
  a listen backlog that takes them all at once: with its 5 the attack took minutes to get
  there, SYNs dropped and retried);
- the same N dripping connections to the server as it is now (a selector loop, no thread per
  connection) for comparison;

for N = 500 and 2,000. The table gives the process's threads and the ack round trips
(p50/p99/max, milliseconds; the fast profile's probe timeout is 40 ms) and how many pings went
unanswered within 20 ms. The process's CPU time is given too: under the shared machine's load
the wall-clock times carry the other processes' noise, the CPU time does not.

Measured (2026-12-07, 2 shared cores, Python 3.11, 15 s each)::

    load                          N threads  cpu %  sent  lost  p50 ms  p99 ms  max ms
    nothing else                  0       2    1.2   660     0    0.41   37.15   85.72
    idle threads                2000   2002    1.4   677     0    0.45   10.55   43.24
    dripping, thread per conn    500    503    5.9   689     0    0.37   57.39  115.15
    dripping, thread per conn   2000   2003  147.9   436   233    0.53 8225.87 8295.93
    dripping, selector loop     2000      3    7.3   641     0    0.43    24.3   66.28

The reading holds, with a correction: 2,000 threads alone cost nothing, 2,000 threads woken
once a second each are a convoy on the interpreter's lock (1.5 cores busy, the membership
reader waiting 8 s for its turn, a third of the pings lost): the 6 s stall. The selector loop
takes the same 2,000 dripping connections with 3 threads and 7 % of a core.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from tests.bench.procinfo import cpu_seconds, module_at, threads_of  # noqa: E402

UNBOUNDED = "6921e65^"  # the status endpoint's server before it was bounded


def load_httpd(revision: str | None) -> object:
    if revision is None:
        from actors.observability import httpd

        return httpd
    return module_at(revision, "actors/observability/httpd.py", "httpd_unbounded")


def target(mode: str, idle: int, keyfile: str) -> None:
    """The process under test: membership's transport acking pings, plus ``mode``'s load.
    Prints {"membership": port, "http": port}, runs until stdin closes."""
    from actors.membership.keyring import Keyring
    from actors.membership.transport import Transport

    sys.setswitchinterval(0.001)  # the speaker's --switch-interval
    transport = Transport(
        ("127.0.0.1", 0),
        Keyring.from_file(keyfile),
        on_datagram=lambda messages, src: None,
        on_stream=lambda messages, src: (),
        on_stream_reply=lambda messages, src: None,
        node="target",
    )
    port = transport.start()[1]
    release = threading.Event()
    for _ in range(idle if mode == "idle" else 0):
        threading.Thread(target=release.wait, daemon=True).start()
    http_port = 0
    if mode in ("unbounded", "now"):
        module = load_httpd(UNBOUNDED if mode == "unbounded" else None)
        if mode == "unbounded":
            # Its listen backlog of 5 only slowed the attack down (SYNs dropped and retried
            # for minutes): a backlog that takes all N at once gives it its N threads now.
            module.EndpointServer.request_queue_size = 4096  # type: ignore[attr-defined]

        class Handler(module.QuietHandler):  # type: ignore[name-defined,misc]
            def do_GET(self) -> None:
                self.reply(200, b"ok\n")

        server = module.EndpointServer(("127.0.0.1", 0), Handler, label="bench")  # type: ignore[attr-defined]
        server.serve_in_thread("bench")
        http_port = server.bound()[1]
    print(json.dumps({"membership": port, "http": http_port}), flush=True)
    sys.stdin.read()
    release.set()


def run(mode: str, n: int, seconds: float, keyfile: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, __file__, "--target", mode, "--idle", str(n), "--key", keyfile],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    attacker = None
    try:
        assert proc.stdout is not None
        ports = json.loads(proc.stdout.readline())
        if mode in ("unbounded", "now"):
            attacker = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.net.attacker",
                    "slowhttp",
                    f"127.0.0.1:{ports['http']}",
                    "--clients",
                    str(n),
                ],
                stdout=subprocess.PIPE,
                env=env,
                cwd=REPO,
            )
            assert attacker.stdout is not None
            attacker.stdout.readline()
        time.sleep(3.0)  # every thread started, every connection open and dripping
        until = time.monotonic() + 30  # the unbounded server: a thread per connection
        while mode == "unbounded" and threads_of(proc.pid) < n and time.monotonic() < until:
            time.sleep(0.5)
        threads = threads_of(proc.pid)
        cpu0 = cpu_seconds(proc.pid)
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.net.ack_prober",
                f"127.0.0.1:{ports['membership']}",
                "target",
                keyfile,
                str(seconds),
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            check=True,
        ).stdout
        cpu = cpu_seconds(proc.pid) - cpu0
        threads = max(threads, threads_of(proc.pid))
        return {"threads": threads, "cpu": cpu / seconds, **json.loads(out)}
    finally:
        if attacker is not None:
            attacker.kill()
            attacker.wait()
        proc.kill()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--target", choices=("none", "idle", "unbounded", "now"))
    parser.add_argument("--idle", type=int, default=0)
    parser.add_argument("--key")
    args = parser.parse_args()
    if args.target:
        target(args.target, args.idle, args.key)
        return
    from actors.membership.keyring import Keyring, encode_key

    keyfile = Path(tempfile.mkdtemp()) / "ml.key"
    keyfile.write_text(encode_key(Keyring.generate().primary) + "\n")
    cases = [("none", 0)]
    for n in (500, 2000):
        cases += [("idle", n), ("unbounded", n), ("now", n)]
    names = {
        "none": "nothing else",
        "idle": "idle threads",
        "unbounded": "dripping, thread per conn",
        "now": "dripping, selector loop",
    }
    print(
        f"{'load':28} {'N':>5} {'threads':>7} {'cpu %':>6} {'sent':>5} {'lost':>5} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}"
    )
    for mode, n in cases:
        r = run(mode, n, args.seconds, str(keyfile))
        print(
            f"{names[mode]:28} {n:>5} {r['threads']:>7} {r['cpu'] * 100:>6.1f} {r['sent']:>5} "
            f"{r['sent'] - r['acked']:>5} {r['p50']!s:>7} {r['p99']!s:>7} {r['max']!s:>7}",
            flush=True,
        )


if __name__ == "__main__":
    main()
