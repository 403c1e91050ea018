"""Where in a file a field is: ``file:line:column`` for an :class:`Issue`'s field path.

The loader remembers only the line each document starts on; ``lbtui validate`` wants the
offending field itself. :class:`Marks` composes the same texts again (libyaml node trees carry
start marks) and walks an issue's path (``spec.addresses[1]``) down the document found at the
issue's line, as far as the path exists: a missing field points at its parent, an unknown one
at its value. A legacy ConfigMap's ``data.config`` block is composed in turn, so a path inside
it (``data.config.address-pools[0].name``) lands on the line of the ConfigMap file that holds
it. Only validate pays for this, and only for the documents that have an issue.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import yaml

from actors.config.yamlread import LINE_BREAK, compose
from actors.model.issues import Issue

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def path_steps(path: str) -> list[str | int]:
    """``spec.addresses[1]`` -> ``["spec", "addresses", 1]``."""
    return [int(index) if index else key for key, index in _STEP.findall(path)]


def _compose_all(text: str | bytes) -> Iterator[yaml.Node]:
    try:
        for node, _ in compose(text):
            yield node
    except (yaml.YAMLError, RecursionError, ValueError):
        pass  # the loader has reported it; marks are a courtesy


def _line(text: str, number: int) -> str:
    """Line ``number`` (0-based) of ``text``, counted as YAML counts lines."""
    start, count = 0, 0
    for found in LINE_BREAK.finditer(text):
        if count == number:
            return text[start : found.start()]
        start, count = found.end(), count + 1
    return text[start:] if count == number else ""


def _child(node: yaml.Node, step: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode) and isinstance(step, str):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == step:
                return value
    if isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
        return node.value[step]
    return None


class Marks:
    """The texts added so far; the node trees of the documents issues are in, composed again
    (by libyaml) only when an issue is located, and only those documents kept."""

    def __init__(self) -> None:
        self._texts: dict[str, str | bytes | Path] = {}
        self._docs: dict[tuple[str, int], yaml.Node] = {}
        self._tried: set[tuple[str, int]] = set()

    def add(self, text: str | bytes | Path, file: str) -> None:
        """A text, or a file read again only if an issue is located in it (a big file is not
        held meanwhile)."""
        self._texts[file] = text

    def _text(self, file: str) -> str | bytes:
        text = self._texts.get(file, "")
        if isinstance(text, Path):
            try:
                text = self._texts[file] = text.read_bytes()
            except OSError:
                text = self._texts[file] = ""  # gone since: marks are a courtesy
        return text

    def want(self, issues: Iterable[Issue]) -> None:
        """Compose each file once for all these issues' documents (``locate`` alone composes
        the file again for every document not seen yet)."""
        lines: dict[str, set[int]] = {}
        for issue in issues:
            where = (issue.file, issue.line)
            if issue.line is not None and issue.file in self._texts and where not in self._tried:
                self._tried.add(where)  # type: ignore[arg-type]
                lines.setdefault(issue.file, set()).add(issue.line)
        for file, wanted in lines.items():
            for node in _compose_all(self._text(file)):
                line = node.start_mark.line + 1
                if line in wanted:
                    self._docs[(file, line)] = node
                    wanted.discard(line)
                    if not wanted:
                        break

    def locate(self, issue: Issue) -> tuple[int, int] | None:
        """1-based (line, column) of the issue's field, or None when its document is unknown."""
        if issue.line is None:
            return None
        self.want([issue])
        node = self._docs.get((issue.file, issue.line))
        if node is None:
            return None
        steps = path_steps(issue.field)
        line_offset = column_offset = 0
        while steps:
            child = _child(node, steps[0])
            if child is None and isinstance(node, yaml.ScalarNode) and node.style == "|":
                inner = list(_compose_all(node.value))
                if not inner:
                    break
                line_offset += node.start_mark.line + 1
                column_offset = self._indent(issue.file, line_offset)
                node = inner[0]
                continue
            if child is None:
                break
            node = child
            steps.pop(0)
        mark = node.start_mark
        return mark.line + 1 + line_offset, mark.column + 1 + column_offset

    def _indent(self, file: str, line: int) -> int:
        text = self._text(file)
        if isinstance(text, bytes):
            text = self._texts[file] = text.decode("utf-8")
        content = _line(text, line)
        return len(content) - len(content.lstrip(" "))
