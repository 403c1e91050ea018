"""Reading YAML at libyaml's speed, with the answers PyYAML's own loader gives.

Go's YAML (kubectl, MetalLB) never reads YAML 1.1 base-60 numbers, so neither do we
(:class:`GoCompatibleLoader`, PyYAML's pure-Python loader, and :class:`GoCompatibleCLoader`,
the same resolver over libyaml). :func:`documents` (objects) and :func:`compose` (node
trees, for marks) read with libyaml; from a document libyaml refuses (a syntax error, an
escaped lone surrogate, its nesting limit of 1000) or composes but cannot construct, PyYAML
reads the rest, its marks the file's own, so errors say what PyYAML says, where it says it,
and what PyYAML reads is read. Where libyaml is more lenient (a tab after a plain scalar) its
reading stands, as it does in Go's YAML, a port of libyaml. :func:`construct` builds a
document in one recursive pass for the plain tags (str, int, float, bool, null, timestamp,
map, seq; an alias yields the same object, as in PyYAML); anything else (merge keys,
``!!set``, unknown tags, unhashable keys) goes to PyYAML's SafeConstructor, whose answer or
error is the reference. ``tests/unit/test_yamlread.py`` fuzzes this against PyYAML's loader.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import IO, Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_PREFIX = "tag:yaml.org,2002:"
STR_TAG, SEQ_TAG, MAP_TAG = _PREFIX + "str", _PREFIX + "seq", _PREFIX + "map"
BASE60_TAGS = (_PREFIX + "int", _PREFIX + "float")
# Keys PyYAML's flatten_mapping rewrites: left to it.
_SPECIAL_KEY_TAGS = frozenset({_PREFIX + "merge", _PREFIX + "value"})
# YAML's line breaks, as libyaml and PyYAML count lines.
LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


class GoCompatibleLoader(yaml.SafeLoader):
    """SafeLoader without YAML 1.1 base-60 numbers, which Go's YAML (kubectl, MetalLB) never
    reads: there ``communities: [64512:30]`` is the string "64512:30", not the int 3870750."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        tag = super().resolve(kind, value, implicit)
        if tag in BASE60_TAGS and ":" in value:
            return STR_TAG
        return tag


# SafeLoader's implicit resolvers by first character ("" for the empty scalar), wildcards last.
_RESOLVERS: dict[str, tuple[tuple[str, re.Pattern[str]], ...]] = {
    first: tuple(pairs) + tuple(yaml.SafeLoader.yaml_implicit_resolvers.get(None, []))
    for first, pairs in yaml.SafeLoader.yaml_implicit_resolvers.items()
    if first is not None
}
_WILDCARD = tuple(yaml.SafeLoader.yaml_implicit_resolvers.get(None, []))


def implicit_resolvers(value: str) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """The (tag, pattern) pairs SafeLoader tries, in order, on a plain scalar."""
    return _RESOLVERS.get(value[:1], _WILDCARD)


# SafeLoader has no path resolvers (yaml_path_resolvers is empty): resolve() below has none.


_NO_PATHS: dict[Any, Any] = {}


class GoCompatibleCLoader(yaml.CSafeLoader):
    """:class:`GoCompatibleLoader`'s answers over libyaml, resolving a scalar's tag in one
    table lookup (libyaml calls this once for every node)."""

    # The composer calls these two for every node, and with no path resolvers they do
    # nothing: C methods that do nothing either (``{}.get(parent, index)``, ``{}.clear()``)
    # cost no Python frame (a tenth of the reading).
    descend_resolver = staticmethod(_NO_PATHS.get)
    ascend_resolver = staticmethod(_NO_PATHS.clear)

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is ScalarNode:
            # (False, False) comes only from an empty node tagged "!", which PyYAML resolves
            # as a plain scalar (null) and libyaml as a quoted one ("").
            if implicit[0] or not implicit[1]:
                tag = _PLAIN_TAGS.get(value)
                if tag is None:
                    tag = _plain_tag(value)
                    if len(_PLAIN_TAGS) < _PLAIN_TAGS_HELD:
                        _PLAIN_TAGS[value] = tag
                return tag
            return STR_TAG
        return SEQ_TAG if kind is SequenceNode else MAP_TAG


def _plain_tag(value: str) -> str:
    for tag, regexp in _RESOLVERS.get(value[:1], _WILDCARD):
        if regexp.match(value):
            return STR_TAG if tag in BASE60_TAGS and ":" in value else tag
    return STR_TAG


# Plain scalars' tags by value: keys and common values repeat in every document of a file.
# The first values seen are kept (a pure function of the value), at most this many.
_PLAIN_TAGS: dict[str, str] = {}
_PLAIN_TAGS_HELD = 4096


Loader = GoCompatibleLoader | GoCompatibleCLoader


# A text, UTF-8 bytes, or a binary file (at its start) that libyaml reads a piece at a time,
# so a big file is never held whole (PyYAML, where it takes over, reads the file again).
Source = str | bytes | IO[bytes]


def compose(text: Source) -> Iterator[tuple[Node, Loader]]:
    """Each document's root node (empty documents skipped) and the loader that composed it.
    Raises what PyYAML raises (yaml.YAMLError, RecursionError, ...) where PyYAML fails."""
    return _read(text, build=False)  # type: ignore[return-value]


def documents(
    text: Source, *, first_line: int = 0, fallback: bool = True
) -> Iterator[tuple[Any, int]]:
    """Each document's Python objects and its 1-based first line, as
    ``GoCompatibleLoader`` reads them; raises what it raises where it fails. ``first_line``
    is added to every line (a piece of a file that starts on that 0-based line). Without
    ``fallback``, where PyYAML would take over, :class:`LibyamlRefused` is raised instead
    (a piece of a file is not PyYAML's to read: it would have read the rest of the file)."""
    if first_line == 0 and fallback:
        return _read(text, build=True)  # type: ignore[return-value]
    return _offset(_read(text, build=True, fallback=fallback), first_line)


def _offset(docs: Iterator[tuple[Any, int]], first_line: int) -> Iterator[tuple[Any, int]]:
    for doc, line in docs:
        yield doc, line + first_line


class LibyamlRefused(Exception):
    """libyaml refused a document (or composed one it could not construct) and PyYAML was
    not to read it."""


_CONSTRUCTION_ERRORS = (yaml.YAMLError, RecursionError, ValueError, TypeError, OverflowError)


def _read(text: Source, build: bool, fallback: bool = True) -> Iterator[tuple[Any, Any]]:
    resume: tuple[int, int] = (0, 0)
    strings: dict[str, str] = {}  # one object per distinct string of the file
    try:
        fast = GoCompatibleCLoader(text)
    except UnicodeEncodeError:  # a lone surrogate: PyYAML's reader says which
        fast = None
    if fast is not None:
        try:
            while True:
                try:
                    if not fast.check_node():
                        return
                    node = fast.get_node()
                    if node is None:
                        continue
                    found = (
                        (_construct_sharing(node, fast, strings), node.start_mark.line + 1)
                        if build
                        else (
                            node,
                            fast,
                        )
                    )
                except _CONSTRUCTION_ERRORS:
                    break  # PyYAML reads this document again, and says what is wrong
                yield found
                resume = (node.end_mark.line, node.end_mark.column)
        finally:
            fast.dispose()
    if not fallback:
        raise LibyamlRefused
    if not isinstance(text, str | bytes):
        text.seek(0)
        text = text.read()
    slow = GoCompatibleLoader(_from(text, *resume))
    try:
        while slow.check_node():
            node = slow.get_node()
            if node is not None:
                yield (
                    (slow.construct_document(node), node.start_mark.line + 1)
                    if build
                    else (
                        node,
                        slow,
                    )
                )
    finally:
        slow.dispose()


def _from(text: str | bytes, line: int, column: int) -> str:
    """``text`` with everything before (line, column) blanked (line breaks kept), so PyYAML's
    marks and positions are the file's own. After a document's root node only blanks, a
    comment or a new document (whose ``---`` is in column 0) can follow on the same line."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if line == 0 and column == 0:
        return text
    offset = 0
    for number, found in enumerate(LINE_BREAK.finditer(text), start=1):
        if number == line:
            offset = found.end()
            break
    offset += column
    return _NOT_A_BREAK.sub(_blank, text[:offset]) + text[offset:]


_NOT_A_BREAK = re.compile("[^\r\n\x85\u2028\u2029]+")


def _blank(match: re.Match[str]) -> str:
    return " " * (match.end() - match.start())


class _Fallback(Exception):
    """This document needs PyYAML's SafeConstructor."""


def scalar_constructors(loader: Loader) -> dict[str, Callable[[ScalarNode], Any]]:
    """The loader's constructors of the plain scalars' tags other than str."""
    return {
        _PREFIX + "null": loader.construct_yaml_null,
        _PREFIX + "bool": loader.construct_yaml_bool,
        _PREFIX + "int": loader.construct_yaml_int,
        _PREFIX + "float": loader.construct_yaml_float,
        _PREFIX + "timestamp": loader.construct_yaml_timestamp,
    }


# Distinct strings a reading keeps to share: past this many the table starts again (keys,
# namespaces, a pool's name come back at once; a uid, seen once, need not be held twice:
# at 50 MB of Services the table alone would be ~20 MB).
_STRINGS_HELD = 1 << 16


def _construct_sharing(node: Node, loader: Loader, strings: dict[str, str]) -> Any:
    if len(strings) > _STRINGS_HELD:
        strings.clear()
    return construct(node, loader, strings)


def construct(node: Node, loader: Loader, strings: dict[str, str] | None = None) -> Any:
    """The document's Python objects, as ``loader.construct_document(node)`` builds them.
    Equal strings are one object, the one first seen in ``strings`` (shared by the documents
    of a file): a namespace, a pool's name or an annotation's key read 100k times is held once.
    """
    if isinstance(loader, GoCompatibleCLoader):
        try:
            return _construct_fast(
                node, scalar_constructors(loader), {} if strings is None else strings
            )
        except (_Fallback, RecursionError, ValueError, TypeError, OverflowError, yaml.YAMLError):
            pass  # the reference constructor gives the answer, or the error
    return loader.construct_document(node)


def _construct_fast(
    root: Node, scalars: dict[str, Callable[[ScalarNode], Any]], strings: dict[str, str]
) -> Any:
    # collections by node: an alias yields the same object. A plain function, not a closure
    # calling itself: that would be a reference cycle keeping each document's objects alive
    # until the cyclic collector runs (paused while a file loads).
    return _build(root, {}, scalars, strings)


def _build(
    node: Node,
    built: dict[int, Any],
    scalars: dict[str, Callable[[ScalarNode], Any]],
    strings: dict[str, str],
) -> Any:
    cls = node.__class__
    if cls is ScalarNode:
        if node.tag == STR_TAG:
            value = node.value
            return strings.setdefault(value, value)
        make = scalars.get(node.tag)
        if make is None:
            raise _Fallback
        return make(node)
    found = built.get(id(node))
    if found is not None:
        return found
    # A string scalar, most of the nodes, is built here, not by a call of its own.
    if cls is MappingNode and node.tag == MAP_TAG:
        mapping: dict[Any, Any] = {}
        built[id(node)] = mapping
        for key_node, value_node in node.value:
            tag = key_node.tag
            if tag == STR_TAG and key_node.__class__ is ScalarNode:
                key = key_node.value
                key = strings.setdefault(key, key)
            else:
                if tag in _SPECIAL_KEY_TAGS:
                    raise _Fallback
                key = _build(key_node, built, scalars, strings)
                if key.__class__ is dict or key.__class__ is list:
                    raise _Fallback  # unhashable: PyYAML says where
            if value_node.tag == STR_TAG and value_node.__class__ is ScalarNode:
                value = value_node.value
                mapping[key] = strings.setdefault(value, value)
            else:
                mapping[key] = _build(value_node, built, scalars, strings)
        return mapping
    if cls is SequenceNode and node.tag == SEQ_TAG:
        sequence: list[Any] = []
        built[id(node)] = sequence
        for child in node.value:
            if child.tag == STR_TAG and child.__class__ is ScalarNode:
                value = child.value
                sequence.append(strings.setdefault(value, value))
            else:
                sequence.append(_build(child, built, scalars, strings))
        return sequence
    raise _Fallback
