"""Small immutable values shared by every batch instead of made again for each address.

A node kill's batch would otherwise make (and the collector then walk) a frozenset and tuples
per address, all for the same few node names; and ipaddress' formatting is slow. Each table is
bounded: node names are few, and a flood of made-up ones is not kept.
"""

from __future__ import annotations

from typing import Any

EMPTY_SET: frozenset[Any] = frozenset()
_IP_TEXT: dict[Any, str] = {}
_SHARED_MAX = 10_000
_ONE: dict[Any, frozenset[Any]] = {}
_PAIRS: dict[tuple[str, str], tuple[str, str]] = {}
_SINGLES: dict[str, tuple[str]] = {}


def one_set(item: Any) -> frozenset[Any]:
    """frozenset((item,)), one per item."""
    value = _ONE.get(item)
    if value is None:
        if len(_ONE) > _SHARED_MAX:
            _ONE.clear()
        value = _ONE[item] = frozenset((item,))
    return value


def node_protocol(node: str, protocol: str) -> tuple[str, str]:
    """(node, protocol), one per pair."""
    pair = (node, protocol)
    value = _PAIRS.get(pair)
    if value is None:
        if len(_PAIRS) > _SHARED_MAX:
            _PAIRS.clear()
        value = _PAIRS[pair] = pair
    return value


def one_tuple(item: str) -> tuple[str]:
    """(item,), one per item."""
    value = _SINGLES.get(item)
    if value is None:
        if len(_SINGLES) > _SHARED_MAX:
            _SINGLES.clear()
        value = _SINGLES[item] = (item,)
    return value


def ip_text(ip: Any) -> str:
    """``str(ip)``, remembered: ipaddress' formatting is slow and 10k rows ask for it often."""
    text = _IP_TEXT.get(ip)
    if text is None:
        if len(_IP_TEXT) > 200_000:
            _IP_TEXT.clear()
        text = _IP_TEXT[ip] = str(ip)
    return text
