"""What every console port shares: the :class:`ConsolePort` protocol, :class:`ReadOnlyPort`, and
the kinds of object the console may edit.

The console reaches the runtime only through a port (house rule 1): :mod:`lbtui.ports.local`
(a runtime in this process), :mod:`lbtui.ports.remote` (a headless runtime's status endpoint,
``--connect``) and :mod:`lbtui.ports.kube` (a cluster's API and its speakers). Every call may
block (an ask, an HTTP request), so the console makes them from ``@work(thread=True)`` workers,
never on the UI loop.

This module imports nothing of the runtime but the edit outcome's type.
"""

from __future__ import annotations

from typing import Any, Protocol

from actors.config.store import EditOutcome
from lbtui.bridge import Poster

# The rows the console can edit (view kind -> metallb.io kind), and nothing else.
EDITABLE = {"pool": "IPAddressPool", "peer": "BGPPeer"}


class ReadOnlyPort(Exception):
    """The port cannot change anything (a remote status endpoint, or --readonly)."""


class ConsolePort(Protocol):
    """Everything the console may ask of a runtime."""

    description: str
    readonly: bool
    can_kill: bool

    def start(self, app: Poster) -> None:
        """Begin posting ActorEvent (and SnapshotLoaded) messages to ``app``. May block."""

    def stop(self) -> None: ...

    def now(self) -> float | None:
        """The runtime's clock now, the time its events carry (None: not known yet). Every
        age, since and rate on screen is measured against it when drawn."""

    def document(self, kind: str, name: str) -> dict[str, Any] | None:
        """The metallb.io object as written in the configuration (None: no such object)."""

    def apply_edit(self, doc: dict[str, Any]) -> EditOutcome: ...

    def delete(self, kind: str, name: str) -> EditOutcome: ...

    def kill_node(self, node: str) -> None: ...

    def revive_node(self, node: str) -> None: ...
