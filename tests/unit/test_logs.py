"""`--log-level` and `--log-format` (lbtui/commands/logs.py): the levels, one JSON object a
line, secrets masked whatever the format, and every long-running command taking them."""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lbtui.cli import build_parser
from lbtui.commands.logs import JsonFormatter, redact, setup_logging

ROOT = Path(__file__).resolve().parents[2]
LONG_RUNNING = (
    ["speaker", "--node-name", "a"],
    ["controller"],
    ["demo"],
    ["console"],
    ["lab", "console"],
)


@pytest.fixture
def root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)


def logged(*argv: str) -> str:
    """What lines logged at every level come out as, under ``lbtui speaker ARGV``'s setup."""
    stream = io.StringIO()
    args = build_parser().parse_args(["speaker", "--node-name", "a", *argv])
    setup_logging(args, stream)
    log = logging.getLogger("actors.test")
    log.debug("a debug line")
    log.info("an info line")
    log.warning("a warning line")
    log.error("an error line")
    return stream.getvalue()


@pytest.mark.parametrize("command", LONG_RUNNING, ids=lambda c: " ".join(c[:2]))
def test_every_long_running_command_takes_the_options(command: list[str]) -> None:
    args = build_parser().parse_args([*command, "--log-level", "warn", "--log-format", "json"])
    assert (args.log_level, args.log_format) == ("warn", "json")
    assert build_parser().parse_args(command).log_format == "text"


def test_levels_keep_what_is_at_least_as_severe(root_logger: None) -> None:
    assert "an info line" in logged() and "a debug line" not in logged()
    assert "a debug line" in logged("--log-level", "debug")
    assert "a debug line" in logged("-v")  # -v is --log-level debug
    warn = logged("--log-level", "warn")
    assert "an info line" not in warn and "a warning line" in warn
    error = logged("--log-level", "error")
    assert error.count("\n") == 1 and "an error line" in error


def test_json_is_one_object_a_line(root_logger: None) -> None:
    lines = logged("--log-format", "json", "--log-level", "debug").splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["level"] for r in records] == ["debug", "info", "warn", "error"]
    for r in records:
        assert set(r) == {"time", "level", "logger", "message"}
        assert r["logger"] == "actors.test"
        assert datetime.fromisoformat(r["time"]).utcoffset().total_seconds() == 0
    assert records[1]["message"] == "an info line"


def test_json_time_is_each_records_own() -> None:
    """The clock moves between records: each line says when it was logged, to the ms."""
    fmt = JsonFormatter()
    first = logging.LogRecord("x", logging.INFO, __file__, 1, "one", None, None)
    later = logging.LogRecord("x", logging.INFO, __file__, 1, "two", None, None)
    first.created, later.created = 1_700_000_000.0, 1_700_000_061.25
    times = [json.loads(fmt.format(r))["time"] for r in (first, later)]
    assert times == ["2023-11-14T22:13:20.000Z", "2023-11-14T22:14:21.250Z"]


def test_json_carries_the_exception(root_logger: None) -> None:
    stream = io.StringIO()
    setup_logging(argparse.Namespace(log_level="info", log_format="json"), stream)
    try:
        raise ValueError("bad peer")
    except ValueError:
        logging.getLogger("actors.test").exception("failed")
    (record,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert record["message"] == "failed" and "ValueError: bad peer" in record["exception"]


SECRETS = [
    ("Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.payload.sig", "eyJhbGciOiJSUzI1NiJ9"),
    ("sending bearer abcdefgh12345678 to the API", "abcdefgh12345678"),
    ("peer p1: password=hunter2 port 179", "hunter2"),
    ('{"token": "s3cr3t-t0k3n", "node": "a"}', "s3cr3t-t0k3n"),
    ("memberlist secretKey: c2VjcmV0a2V5", "c2VjcmV0a2V5"),
    ("--ml-secret-key deadbeefcafe", "deadbeefcafe"),
]


@pytest.mark.parametrize(("text", "secret"), SECRETS)
def test_secrets_are_masked(text: str, secret: str) -> None:
    masked = redact(text)
    assert secret not in masked and "<redacted>" in masked


def test_what_is_not_a_secret_stays() -> None:
    for text in (
        "peer p1 up after 3s",
        "pool lan: 10.0.0.0/24",
        "node a holds 10.0.0.1",
        "in test_no_secret_reaches_the_log\n    raise RuntimeError()",
        "the token bucket refills",
    ):
        assert redact(text) == text


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_secret_reaches_the_log_in_either_format(root_logger: None, log_format: str) -> None:
    stream = io.StringIO()
    setup_logging(argparse.Namespace(log_level="debug", log_format=log_format), stream)
    log = logging.getLogger("actors.kube.api")
    log.info("GET /api with Authorization: Bearer %s", "tok-1234567890abcdef")
    try:
        raise RuntimeError("login failed: password=hunter2")
    except RuntimeError:
        log.exception("connect")
    written = stream.getvalue()
    assert "tok-1234567890abcdef" not in written and "hunter2" not in written
    assert "Bearer <redacted>" in written and "password=<redacted>" in written
    assert "in test_no_secret_reaches_the_log_in_either_format" in written  # the traceback


def test_a_second_setup_replaces_the_first(root_logger: None) -> None:
    first, second = io.StringIO(), io.StringIO()
    setup_logging(argparse.Namespace(log_level="info", log_format="text"), first)
    setup_logging(argparse.Namespace(log_level="info", log_format="json"), second)
    logging.getLogger("actors.test").info("once")
    assert first.getvalue() == "" and json.loads(second.getvalue())["message"] == "once"


def test_demo_headless_logs_json_on_stderr_and_events_on_stdout() -> None:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "lbtui", "demo", "--headless", "--duration", "2"),
            *("--log-format", "json", "--log-level", "debug"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines, "the demo logs at debug level"
    for line in lines:
        record = json.loads(line)  # every stderr line is one JSON object
        assert {"time", "level", "logger", "message"} <= set(record)
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert events and all(event.get("event") for event in events)
    # Each event at its time since the start and the same instant on the wall clock, to the
    # millisecond, so several speakers' (or one speaker's several lives') events line up.
    walls = [datetime.fromisoformat(event["time"].replace("Z", "+00:00")) for event in events]
    assert all(
        event["time"].endswith("Z") and wall.tzinfo == UTC
        for wall, event in zip(walls, events, strict=True)
    )
    starts = [w.timestamp() - e["t"] for w, e in zip(walls, events, strict=True)]
    assert max(starts) - min(starts) <= 0.002, starts  # one origin: t and time agree
    assert abs(walls[0].timestamp() - time.time()) < 120


def test_an_unknown_level_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(["speaker", "--log-level", "loud"])
    assert done.value.code == 2
    assert "invalid choice: 'loud'" in capsys.readouterr().err
