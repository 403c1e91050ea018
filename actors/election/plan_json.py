"""``lbtui plan -o json``'s text, written a few thousand entries at a time.

Byte for byte what ``json.dump(plan.to_json(), out, indent=2)`` writes (issue 19): of 100k
Services, ``to_json`` held the whole document as dicts and lists (~80 MB more than the plan)
and the json module writes an indented document with its pure-Python encoder (~15 us an
entry). Here the services and the layer 2 owners, the entries there is one of per Service,
are each written by one format with the json module's own string encoder; the rest (BGP
routes, pools, a what-if's moves, ECMP rows) is small, or held already, and is written by
the json module a part at a time, re-indented where it sits.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from json.encoder import encode_basestring_ascii as _text  # json.dump's, ensure_ascii=True
from typing import Any

from actors.election.l2 import L2Owner
from actors.model.allocation import Allocation

ENTRIES_PER_CHUNK = 2048


def json_chunks(parts: Iterable[tuple[str, Any]]) -> Iterator[str]:
    """One JSON object of ``parts`` ((key, value) pairs, in order) as ``json.dump(...,
    indent=2)`` writes it, without a trailing line break. A value may be an
    :class:`Entries` (written an entry at a time) or anything the json module writes."""
    yield "{"
    first = True
    for key, value in parts:
        yield ("\n  " if first else ",\n  ") + _text(key) + ": "
        first = False
        if isinstance(value, Entries):
            yield from value.chunks()
        else:
            yield json.dumps(value, indent=2).replace("\n", "\n  ")
    yield "}" if first else "\n}"


class Entries:
    """A JSON object at depth 1 whose members are written by ``entry(key, value)`` (the
    member's text at its indent, without the separator), a few thousand at a time."""

    def __init__(self, items: Iterable[tuple[str, Any]], entry: Any) -> None:
        self._items = items
        self._entry = entry

    def chunks(self) -> Iterator[str]:
        made = (self._entry(key, value) for key, value in self._items)
        first = True
        while batch := list(islice(made, ENTRIES_PER_CHUNK)):
            yield ("{\n" if first else ",\n") + ",\n".join(batch)
            first = False
        yield "{}" if first else "\n  }"


def _scalar(value: str | None) -> str:
    return "null" if value is None else _text(value)


def _list(texts: Iterable[str], indent: str) -> str:
    """A list of strings at ``indent`` (its members one level deeper)."""
    inner = f",\n{indent}  ".join(map(_text, texts))
    return f"[\n{indent}  {inner}\n{indent}]" if inner else "[]"


def service_entry(key: str, a: Allocation) -> str:
    """One member of ``"services"``: the service's addresses, pool and error."""
    return (
        f"    {_text(key)}: {{\n"
        f'      "ips": {_list(a.ip_texts, "      ")},\n'
        f'      "pool": {_scalar(a.pool)},\n'
        f'      "error": {_scalar(a.error)}\n'
        "    }"
    )


def owner_entry(ip: str, owner: L2Owner) -> str:
    """One member of ``"l2"``: the address's node and services."""
    return (
        f"    {_text(ip)}: {{\n"
        f'      "node": {_scalar(owner.node)},\n'
        f'      "services": {_list(owner.services, "      ")}\n'
        "    }"
    )


def bgp_entry(node: str, routes: list[dict[str, Any]]) -> str:
    """One member of ``"bgp"``: a node's routes (few: written by the json module)."""
    return f"    {_text(node)}: " + json.dumps(routes, indent=2).replace("\n", "\n    ")


def sorted_items(mapping: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """``sorted(mapping.items())`` without a list of pairs (the keys sorted, then looked up)."""
    return ((key, mapping[key]) for key in sorted(mapping))
