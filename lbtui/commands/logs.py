"""Logging for every long-running command: ``--log-level debug|info|warn|error`` and
``--log-format text|json`` (``-v`` stays as a short ``--log-level debug``).

Headless commands (``speaker``, ``controller``, ``demo --headless``) log to stderr, since
stdout carries their JSON-lines events; the console commands (``console``, ``demo``, ``lab
console``) own the terminal and log to ``--log-file``, or nowhere. ``json`` writes one JSON
object per line: ``time`` (RFC 3339, UTC, milliseconds), ``level``, ``logger``, ``message``
(and ``exception`` when there is one), as log collectors expect.

Whatever the format, a filter on the handler masks secrets before anything is written:
bearer tokens, ``Authorization`` headers, ``password``/``token``/``secret`` values. The
handler is ours alone: set up twice (tests call ``main`` again and again), it replaces its
own earlier handler and leaves other handlers on the root logger (pytest's) alone.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from typing import Any, TextIO

from actors.clock import rfc3339

#: ``--log-level`` choices, MetalLB's words; the Python levels they mean.
LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}
FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
_LEVEL_NAMES = {logging.WARNING: "warn", logging.CRITICAL: "error"}

REDACTED = "<redacted>"
_SECRETS = (
    # Authorization: Bearer <token> / Basic <credentials>, and a bare "Bearer <token>".
    re.compile(r"(?i)(\bauthorization[\"']?\s*[:=]\s*[\"']?(?:bearer|basic)\s+)[^\s\"',}]+"),
    re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    # password=..., "token": "...", secretKey: ... (a key, then : or =, then the value).
    re.compile(
        r"(?i)(\b[\w-]*(?:password|passwd|token|secret)[\w-]*[\"']?[ \t]*[:=][ \t]*[\"']?)"
        r"(?!<redacted>)[^\s\"',}]+"
    ),
    # --ml-secret-key VALUE, --token VALUE: a flag on a command line that is logged.
    re.compile(r"(?i)(--[\w-]*(?:password|token|secret)[\w-]*[ \t]+)(?!-)[^\s\"',}]+"),
)


def redact(text: str) -> str:
    """``text`` with every secret-looking value replaced by ``<redacted>``."""
    for pattern in _SECRETS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


class RedactSecrets(logging.Filter):
    """Masks secrets in the message (its arguments merged in) and in the exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: log what there is rather than nothing
            message = f"{record.msg} {record.args}"
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and exception)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": rfc3339(record.created),
            "level": _LEVEL_NAMES.get(record.levelno, record.levelname.lower()),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False)


def add_logging_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-level",
        choices=tuple(LEVELS),
        default=None,
        help="the least severe messages logged (default: info)",
    )
    parser.add_argument(
        "--log-format",
        choices=FORMATS,
        default="text",
        help="text lines, or one JSON object per line (time, level, logger, message)",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="the same as --log-level debug"
    )


def level_of(args: argparse.Namespace) -> int:
    if getattr(args, "log_level", None):
        return LEVELS[args.log_level]
    return logging.DEBUG if getattr(args, "verbose", False) else logging.INFO


#: The name of the handler this module installs, so that a second setup replaces it.
HANDLER_NAME = "lbtui"


def _install(handler: logging.Handler, level: int, log_format: str) -> None:
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RedactSecrets())
    handler.set_name(HANDLER_NAME)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Whatever ``sys.stderr`` is when a record is written (a test may swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def setup_logging(args: argparse.Namespace, stream: TextIO | None = None) -> None:
    """A headless command's logs on ``stream`` (default stderr: stdout carries events)."""
    handler = logging.StreamHandler(stream) if stream is not None else _Stderr()
    _install(handler, level_of(args), getattr(args, "log_format", "text"))


def setup_console_logging(args: argparse.Namespace) -> None:
    """The console owns the terminal: logs go to ``--log-file``, or nowhere."""
    log_file = getattr(args, "log_file", None)
    if log_file:
        handler: logging.Handler = logging.FileHandler(log_file, encoding="utf-8")
        _install(handler, level_of(args), getattr(args, "log_format", "text"))
    else:
        _install(logging.NullHandler(), logging.WARNING, "text")
