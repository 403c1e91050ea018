"""The lab's traffic generator: many concurrent TCP connections to the service addresses.

Each of ``connections`` workers keeps one HTTP/1.1 keep-alive connection to its target and
sends requests at ``rate`` per second; every answer names the node that served it. When a
request fails (reset, timeout, closed, refused) the worker records it with the node its
connection was on, and opens a new connection. So a failover's effect on users is visible:
which connections broke, where they had been, and how long each service went unanswered.

``python -m lbtui.lab.traffic --target IP:PORT [...] --seconds S --connections C``, run in
the client's namespace (``lbtui lab traffic`` enters it). Times are CLOCK_MONOTONIC, the same
in every namespace, so a test can line them up with the moment it broke something.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import json
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

REQUEST = b"GET / HTTP/1.1\r\nHost: lab\r\nUser-Agent: lbtui-lab\r\n\r\n"
MAX_RECORDS = 5000  # errors and connections kept in the report (counts are always exact)


@dataclass
class Connection:
    id: int
    target: str
    opened: float
    node: str | None = None
    answers: int = 0
    closed: float | None = None
    end: str = "open"  # open | the error that ended it

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "target": self.target,
            "opened": round(self.opened, 6),
            "closed": None if self.closed is None else round(self.closed, 6),
            "node": self.node,
            "answers": self.answers,
            "end": self.end,
        }


@dataclass
class Report:
    """Everything one run saw; ``to_json`` adds the summaries."""

    targets: list[str]
    connections_wanted: int
    started: float
    seconds: float
    ok: int = 0
    answered: Counter[str] = field(default_factory=Counter)
    # target -> node -> answers: which nodes serve each address (ECMP spreads a BGP one)
    answered_for: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    errors: list[dict[str, Any]] = field(default_factory=list)
    error_kinds: Counter[str] = field(default_factory=Counter)
    # target -> [first answer, last answer, longest gap, gap start]
    gaps: dict[str, list[float]] = field(default_factory=dict)
    timeline: dict[int, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    connections: list[Connection] = field(default_factory=list)
    connection_count: int = 0
    ended: float = 0.0

    def answer(self, conn: Connection, node: str, t: float) -> None:
        self.ok += 1
        self.answered[node] += 1
        self.answered_for[conn.target][node] += 1
        self.timeline[int(t - self.started)][node] += 1
        gap = self.gaps.get(conn.target)
        if gap is None:
            self.gaps[conn.target] = [t, t, 0.0, t]
        else:
            if t - gap[1] > gap[2]:
                gap[2], gap[3] = t - gap[1], gap[1]
            gap[1] = t

    def error(self, target: str, node: str | None, kind: str, detail: str, t: float) -> None:
        self.error_kinds[kind] += 1
        self.timeline[int(t - self.started)]["errors"] += 1
        if len(self.errors) < MAX_RECORDS:
            self.errors.append(
                {"t": round(t, 6), "target": target, "node": node, "kind": kind, "detail": detail}
            )

    def to_json(self) -> dict[str, Any]:
        end = self.ended or time.monotonic()
        elapsed = max(1e-9, end - self.started)
        for target in self.targets:  # silence until the end is a gap too
            gap = self.gaps.setdefault(target, [self.started, self.started, 0.0, self.started])
            if end - gap[1] > gap[2]:
                gap[2], gap[3] = end - gap[1], gap[1]
        errors_by_node: Counter[str] = Counter(str(e["node"]) for e in self.errors)
        return {
            "targets": self.targets,
            "connections": self.connections_wanted,
            "started": round(self.started, 6),
            "seconds": round(elapsed, 3),
            "requests": self.ok,
            "rps": round(self.ok / elapsed, 1),
            "errors": sum(self.error_kinds.values()),
            "errorKinds": dict(self.error_kinds),
            "resets": self.error_kinds.get("reset", 0),
            "answeredBy": dict(sorted(self.answered.items())),
            "answeredByTarget": {
                target: dict(sorted(self.answered_for.get(target, Counter()).items()))
                for target in self.targets
            },
            # The node each failed connection had been talking to ("None": never answered).
            "errorsByNode": dict(sorted(errors_by_node.items())),
            "outage": {
                target: {
                    "longestGap": round(gap[2], 3),
                    "gapStart": round(gap[3], 6),
                    "lastAnswer": round(gap[1], 6),
                }
                for target, gap in sorted(self.gaps.items())
            },
            "timeline": [
                {"second": s, **dict(sorted(c.items()))} for s, c in sorted(self.timeline.items())
            ],
            "errorList": self.errors,
            "connectionCount": self.connection_count,
            "connectionList": [c.to_json() for c in self.connections],
        }


def classify(exc: BaseException) -> str:
    if isinstance(exc, ConnectionResetError):
        return "reset"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, asyncio.IncompleteReadError | BrokenPipeError):
        return "closed"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, OSError) and exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "unreachable"
    return "error"


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float
) -> str:
    writer.write(REQUEST)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = await asyncio.wait_for(reader.readexactly(length), timeout) if length else b""
    return body.decode(errors="replace").strip() or "?"


async def _worker(
    report: Report,
    number: int,
    target: str,
    deadline: float,
    interval: float,
    timeout: float,
) -> None:
    host, _, port = target.rpartition(":")
    ids = iter(range(number, 1 << 30, max(1, report.connections_wanted)))
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host.strip("[]"), int(port)), timeout
            )
        except (OSError, TimeoutError) as exc:
            report.error(target, None, classify(exc), f"connect: {exc!r}", time.monotonic())
            await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
            continue
        conn = Connection(next(ids), target, time.monotonic())
        report.connection_count += 1
        if len(report.connections) < MAX_RECORDS:
            report.connections.append(conn)
        try:
            while time.monotonic() < deadline:
                node = await _exchange(reader, writer, timeout)
                now = time.monotonic()
                conn.node, conn.answers = node, conn.answers + 1
                report.answer(conn, node, now)
                await asyncio.sleep(interval)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            now = time.monotonic()
            kind = classify(exc)
            conn.end, conn.closed = kind, now
            report.error(target, conn.node, kind, repr(exc), now)
        finally:
            writer.transport.abort()  # no lingering FIN exchange: the next one starts now
        if conn.closed is None:
            conn.closed = time.monotonic()


async def run_traffic(
    targets: Sequence[str],
    *,
    seconds: float = 10.0,
    connections: int = 20,
    rate: float = 20.0,
    timeout: float = 1.0,
) -> Report:
    """Traffic for ``seconds``: ``connections`` workers spread over ``targets`` (IP:PORT)."""
    if not targets:
        raise ValueError("no target to send traffic to")
    started = time.monotonic()
    report = Report(list(targets), connections, started, seconds)
    deadline = started + seconds
    interval = 1.0 / rate if rate > 0 else 0.0
    await asyncio.gather(
        *(
            _worker(report, i, targets[i % len(targets)], deadline, interval, timeout)
            for i in range(connections)
        )
    )
    report.ended = time.monotonic()
    return report


def summary_text(body: dict[str, Any]) -> str:
    """The human form of a report."""
    lines = [
        f"traffic to {', '.join(body['targets'])}: {body['connections']} connections, "
        f"{body['seconds']:.1f} s",
        f"  requests  {body['requests']} answered ({body['rps']:.0f}/s), "
        f"{body['errors']} failed"
        + (
            ": " + ", ".join(f"{k} {v}" for k, v in sorted(body["errorKinds"].items()))
            if body["errors"]
            else ""
        ),
        "  answered  " + (", ".join(f"{n} {c}" for n, c in body["answeredBy"].items()) or "-"),
    ]
    if body["errors"]:
        lines.append(
            "  failed on "
            + ", ".join(
                f"{'(connecting)' if n == 'None' else n} {c}"
                for n, c in body["errorsByNode"].items()
            )
            + "   (the node each broken connection was on)"
        )
    for target, outage in body["outage"].items():
        lines.append(
            f"  {target}: longest time without an answer {outage['longestGap']:.3f} s"
            f" (from {outage['gapStart'] - body['started']:.2f} s)"
        )
    lines.append(f"  connections opened: {body['connectionCount']}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="TCP traffic to the lab's service addresses")
    parser.add_argument("--target", action="append", required=True, metavar="IP:PORT")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--rate", type=float, default=20.0, help="requests/s per connection")
    parser.add_argument("--timeout", type=float, default=1.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    report = asyncio.run(
        run_traffic(
            args.target,
            seconds=args.seconds,
            connections=args.connections,
            rate=args.rate,
            timeout=args.timeout,
        )
    )
    body = report.to_json()
    with contextlib.suppress(BrokenPipeError):
        if args.json:
            json.dump(body, sys.stdout)
            sys.stdout.write("\n")
        else:
            sys.stdout.write(summary_text(body))
    return 0


if __name__ == "__main__":
    sys.exit(main())
