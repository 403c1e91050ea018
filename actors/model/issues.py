"""A problem found in configuration or cluster input, named by file, object and field."""

from __future__ import annotations

from typing import Literal

import msgspec

Severity = Literal["error", "warning"]


class Issue(msgspec.Struct, frozen=True):
    file: str
    obj: str  # "Kind/name", or "" when the problem is with the file itself
    field: str  # dotted path inside the object, e.g. "spec.addresses[1]"; "" when not one field
    message: str
    severity: Severity = "error"
    line: int | None = None

    def __str__(self) -> str:
        parts = [self.file or "<input>"]
        if self.obj:
            parts.append(self.obj)
        if self.field:
            parts.append(self.field)
        prefix = "warning: " if self.severity == "warning" else ""
        return printable(": ".join(parts) + ": " + prefix + self.message)


def printable(text: str) -> str:
    """``text`` with every character a terminal should not be handed escaped as ``\\uXXXX``:
    lone surrogates (which no encoder accepts), controls, bidi overrides (U+202E)."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)


def _escape(ch: str) -> str:
    code = ord(ch)
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else f"\\U{code:08x}"
    )


class UnreadableInput(Exception):
    """A file that cannot be read or is not YAML: nothing in it can be trusted."""

    def __init__(self, file: str, message: str, line: int | None = None) -> None:
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {message}")
        self.file = file
        self.line = line
