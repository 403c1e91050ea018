"""How routes reach a BGP backend: the BGP half of the Announcer protocol.

The SpeakerActor calls ``announce_bgp``/``withdraw_bgp`` in its own thread; the announcer
records them under a lock and nudges the backend's actor (``RoutesChanged``), which takes
the changes in its own thread. Two backends use it: lbtui's own sessions
(``actors.bgp.actor.BgpSpeakerActor``, with :class:`BgpAnnouncer`) and FRR
(``actors.bgp.frr.writer.FrrConfigWriter``, with :class:`FrrAnnouncer`).
"""

from __future__ import annotations

import threading
from typing import Any

import msgspec
import pykka

from actors.model.route import BGPRoute

RouteKey = tuple[str, tuple[str, ...]]


class RoutesChanged(msgspec.Struct, frozen=True):
    """Nudge: the announcer has changes waiting (one tell per burst, however many routes)."""


class BgpAnnouncer:
    """The BGP half of the Announcer protocol; give it to the SpeakerActor.

    Calls arrive in the speaker's thread. They only record the change under a lock and nudge
    the BGP actor once per burst, so announcing 100k routes is 100k dict writes and one tell.
    The announcer also keeps the full set of routes: a BGP actor restarted by the supervisor
    takes it again when it attaches, and the speaker never has to resend anything.
    """

    #: Nudge only when the speaker has applied a whole change (``flush``), not per burst.
    whole_changes = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: dict[RouteKey, BGPRoute] = {}
        self._pending: dict[RouteKey, BGPRoute | None] = {}
        self._target: pykka.ActorRef[Any] | None = None
        self._nudged = False
        self._synced = False

    # Announcer protocol (layer 2 belongs to another announcer: see CompositeAnnouncer).
    def announce_l2(self, ip: str, interfaces: tuple[str, ...]) -> None:
        pass

    def withdraw_l2(self, ip: str) -> None:
        pass

    def announce_bgp(self, route: BGPRoute) -> None:
        key = (route.prefix, route.peers)
        with self._lock:
            self._routes[key] = route
            self._pending[key] = route
            if not self.whole_changes:
                self._nudge()

    def withdraw_bgp(self, route: BGPRoute) -> None:
        key = (route.prefix, route.peers)
        with self._lock:
            if self._routes.pop(key, None) is None and key not in self._pending:
                return
            self._pending[key] = None
            if not self.whole_changes:
                self._nudge()

    def flush(self) -> None:
        """The speaker has applied one whole change (called after each of its reconciles)."""
        with self._lock:
            if self._pending:
                self._nudge()

    def synced(self) -> None:
        """The speaker has announced everything it wants now (graceful restart's End-of-RIB)."""
        with self._lock:
            if self._synced:
                return
            self._synced = True
            self._nudge(force=True)

    # The BGP actor's side.
    def attach(self, ref: pykka.ActorRef[Any] | None) -> tuple[dict[RouteKey, BGPRoute], bool]:
        """Start nudging ``ref``; returns every route so far and whether the speaker synced."""
        with self._lock:
            self._target = ref
            self._pending = {}
            self._nudged = False
            return dict(self._routes), self._synced

    def detach(self, ref: pykka.ActorRef[Any]) -> None:
        with self._lock:
            if self._target is ref:
                self._target = None

    def take(self) -> tuple[dict[RouteKey, BGPRoute | None], bool]:
        with self._lock:
            pending, self._pending = self._pending, {}
            self._nudged = False
            return pending, self._synced

    def routes(self) -> dict[RouteKey, BGPRoute]:
        with self._lock:
            return dict(self._routes)

    def _nudge(self, force: bool = False) -> None:
        if self._target is None or (self._nudged and not force):
            return
        self._nudged = True
        try:
            self._target.tell(RoutesChanged())
        except pykka.ActorDeadError:
            self._target = None


class FrrAnnouncer(BgpAnnouncer):
    """The BGP half of the Announcer protocol for the FRR backend (``FrrConfigWriter``).

    The writer renders a whole frr.conf from every route each time it is nudged, so it is
    nudged once per change the speaker applied (``flush``), never in the middle of one: FRR
    never reloads a file with half a change in it.
    """

    whole_changes = True
