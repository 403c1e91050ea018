"""A BGP route as the election computes it and every announcer receives it."""

from __future__ import annotations

import msgspec


class BGPRoute(msgspec.Struct, frozen=True):
    """One route a node sends to some of its peers."""

    prefix: str
    peers: tuple[str, ...]
    communities: tuple[str, ...]
    local_pref: int
    services: tuple[str, ...]
