"""The names the role builders give the actors that others ask by name.

One place for them, so the console's ports and the demo's kill switch name an actor the way
its builder did, and a rename is one edit caught by the linter, not a KeyError at run time.
Ask them with :meth:`actors.runtime.Runtime.ask`, naming the method by reference.
"""

from __future__ import annotations

CONFIG = "config"
CLUSTER = "cluster"
ALLOCATOR = "allocator"
MEMBERSHIP = "membership"
SPEAKER_PREFIX = "speaker/"


def speaker(node: str) -> str:
    """The speaker actor of ``node`` (one per node; the demo runs several in one process)."""
    return SPEAKER_PREFIX + node


def bgp(node: str) -> str:
    """The BGP speaker actor of ``node`` in the demo (one per simulated node)."""
    return "bgp/" + node


def speaker_node(name: str) -> str | None:
    """The node of a speaker actor's name, or None for any other actor."""
    return name[len(SPEAKER_PREFIX) :] if name.startswith(SPEAKER_PREFIX) else None
