"""A file that is JSON, read by Python's json module with the answers PyYAML gives.

``kubectl get -o json`` writes JSON, and JSON is YAML's flow style: libyaml reads it at ~5 MB/s
through PyYAML, the json module at ~100 MB/s. :func:`json_documents` reads a text that is one
JSON value with the json module and gives what :func:`actors.config.yamlread.documents` gives
(the same objects, the line of the value's first character), or ``None`` for YAML to read it,
wherever the two could differ or JSON has an error to report (YAML's reading says where).

Where they could differ, and so YAML reads it: numbers (resolved here as PyYAML resolves the
plain scalar: ``1e5`` is the string "1e5", ``1.5E+3`` a float, ``NaN`` a string); a tab, a
character YAML does not print, a raw NEL/LS/PS (line breaks to YAML, folded inside strings); an
escaped surrogate; a key followed by a line break before its colon, or longer than libyaml's
1024-character simple key (from 170 characters, 1024 written as \\u escapes); anything after
the value. Equal strings are one object, as in the YAML reading.
"""

from __future__ import annotations

import json
import re
from typing import Any

from yaml.nodes import ScalarNode
from yaml.reader import Reader

from actors.config.yamlread import (
    BASE60_TAGS,
    LINE_BREAK,
    GoCompatibleLoader,
    implicit_resolvers,
    scalar_constructors,
)

# What YAML would read differently from JSON, or refuse: left to YAML.
_NOT_FOR_JSON = re.compile(
    "[\t\x85\u2028\u2029]"  # a tab; NEL, LS, PS (line breaks to YAML)
    r"|\\u[dD][89abAB]"  # an escaped surrogate (libyaml refuses, PyYAML reads it)
    r'|"[ \r\n]*[\r\n][ \r\n]*:'  # a key, a line break, its colon: not a YAML simple key
)
_NON_PRINTABLE = Reader.NON_PRINTABLE
# Keys from this many characters go to the YAML path: written with six-character \u escapes,
# such a key may reach libyaml's 1024-character limit for a simple key in the file.
_LONG_KEY = 170
_START = re.compile(r"[ \r\n]*")


class _NotJson(Exception):
    """YAML reads this text."""


_CONSTRUCTORS = scalar_constructors(GoCompatibleLoader(""))


def _plain(text: str) -> Any:
    """A JSON number (or NaN, Infinity) as PyYAML reads the same plain scalar."""
    for tag, regexp in implicit_resolvers(text):
        if regexp.match(text):
            if tag in BASE60_TAGS and ":" in text:
                return text
            make = _CONSTRUCTORS.get(tag)
            if make is None:
                raise _NotJson  # a tag JSON cannot write (not reached: numbers only)
            return make(ScalarNode(tag, text))
    return text


def json_documents(text: str | bytes) -> list[tuple[Any, int]] | None:
    """The one document of a JSON text and its line, as YAML reads it; ``None`` if the text
    is not JSON or may read differently as YAML (see the module docstring)."""
    if isinstance(text, bytes):
        if not text.lstrip(b" \r\n").startswith((b"{", b"[")):
            return None
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            return None
    start = _START.match(text)
    assert start is not None  # matches the empty string
    if not text.startswith(("{", "["), start.end()):
        return None
    if _NOT_FOR_JSON.search(text) or _NON_PRINTABLE.search(text):
        return None
    strings: dict[str, str] = {}
    share = strings.setdefault

    def mapping(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out = {}
        for key, value in pairs:
            if len(key) >= _LONG_KEY:
                raise _NotJson
            out[share(key, key)] = share(value, value) if value.__class__ is str else value
        return out

    try:
        value = json.loads(
            text,
            object_pairs_hook=mapping,
            parse_float=_plain,
            parse_int=_plain,
            parse_constant=_plain,
        )
    except (ValueError, RecursionError, _NotJson, OverflowError, TypeError):
        return None
    return [(value, 1 + len(LINE_BREAK.findall(text, 0, start.end())))]
