"""Where in a file a field is: ``file:line:column`` for an :class:`Issue`'s field path.

The loader remembers only the line each document starts on; ``lbtui validate`` wants the
offending field itself. :class:`Marks` composes the same texts again (libyaml node trees carry
start marks) and walks an issue's path (``spec.addresses[1]``) down the document found at the
issue's line, as far as the path exists: a missing field points at its parent, an unknown one
at its value. A legacy ConfigMap's ``data.config`` block is composed in turn, so a path inside
it (``data.config.address-pools[0].name``) lands on the line of the ConfigMap file that holds
it. Only validate pays for this: the node trees are kept for the one report.
"""

from __future__ import annotations

import re

import yaml

from actors.config.loader import GoCompatibleLoader
from actors.model.issues import Issue

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def path_steps(path: str) -> list[str | int]:
    """``spec.addresses[1]`` -> ``["spec", "addresses", 1]``."""
    return [int(index) if index else key for key, index in _STEP.findall(path)]


def _compose_all(text: str) -> list[yaml.Node]:
    loader = GoCompatibleLoader(text)
    nodes = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                nodes.append(node)
    except (yaml.YAMLError, RecursionError, ValueError):
        pass  # the loader has reported it; marks are a courtesy
    finally:
        loader.dispose()
    return nodes


def _child(node: yaml.Node, step: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode) and isinstance(step, str):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == step:
                return value
    if isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
        return node.value[step]
    return None


class Marks:
    """The documents of the texts added so far, by (file, starting line)."""

    def __init__(self) -> None:
        self._docs: dict[tuple[str, int], yaml.Node] = {}
        self._texts: dict[str, list[str]] = {}

    def add(self, text: str, file: str) -> None:
        self._texts[file] = text.splitlines()
        for node in _compose_all(text):
            self._docs[(file, node.start_mark.line + 1)] = node

    def locate(self, issue: Issue) -> tuple[int, int] | None:
        """1-based (line, column) of the issue's field, or None when its document is unknown."""
        if issue.line is None:
            return None
        node = self._docs.get((issue.file, issue.line))
        if node is None:
            return None
        steps = path_steps(issue.field)
        line_offset = column_offset = 0
        while steps:
            child = _child(node, steps[0])
            if child is None and isinstance(node, yaml.ScalarNode) and node.style == "|":
                inner = _compose_all(node.value)
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
        lines = self._texts.get(file, [])
        if line >= len(lines):
            return 0
        text = lines[line]
        return len(text) - len(text.lstrip(" "))
