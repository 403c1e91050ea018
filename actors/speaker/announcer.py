"""How a speaker makes the network reach an address: the Announcer protocol.

The SpeakerActor decides *what* its node announces (from the election core) and tells an
Announcer to do it. The real ones live with their protocols: ``actors.l2.actor.L2Announcer``
(ARP/NDP), ``actors.bgp.announcer`` (lbtui's own BGP sessions, or FRR through its
frr.conf); this module has the protocol, the simulated network the demo runs on, a dry-run
announcer that only records, and the composite that gives L2 and BGP calls to two of them.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Literal, Protocol

import msgspec

from actors.model.route import BGPRoute


class Announcer(Protocol):
    """An announcer may also have ``synced()``: the speaker calls it once, after its first
    complete reconcile (everything it wants announced has been handed over). The BGP
    announcer needs it for graceful restart: End-of-RIB must not go before that.

    It may also have ``flush()``: the speaker calls it after applying each change (every
    reconcile, withdrawal or crash), so an announcer that rewrites a whole file from all its
    routes (FRR) does so once per change, never with half of one."""

    def announce_l2(self, ip: str, interfaces: tuple[str, ...]) -> None:
        """Start answering ARP/NDP for ``ip`` (empty interfaces: every eligible one)."""

    def withdraw_l2(self, ip: str) -> None:
        """Stop answering for ``ip`` at once."""

    def announce_bgp(self, route: BGPRoute) -> None:
        """Send (or update) ``route`` to its peers."""

    def withdraw_bgp(self, route: BGPRoute) -> None:
        """Withdraw ``route`` from the peers it was sent to."""


def call_optional(announcer: object, hook: Literal["synced", "flush"]) -> None:
    """Call one of the Announcer protocol's optional methods, on an announcer that has it."""
    method = getattr(announcer, hook, None)
    if method is not None:
        method()


class SegmentView(msgspec.Struct, frozen=True):
    """A snapshot of the simulated network."""

    l2: dict[str, tuple[str, ...]]  # ip -> nodes answering ARP/NDP for it
    routes: dict[str, tuple[str, ...]]  # prefix -> next-hop nodes the route collector holds


class SimulatedNetwork:
    """The demo's network: one L2 segment and one route collector, shared by all speakers.

    It is the only mutable object shared between actors, standing in for the wire; it is
    locked, and tests read it to see what a client or a router would see.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._l2: dict[str, set[str]] = defaultdict(set)
        # prefix -> (node, peers) -> route
        self._routes: dict[str, dict[tuple[str, tuple[str, ...]], BGPRoute]] = defaultdict(dict)
        self.gratuitous_sent: dict[str, int] = defaultdict(int)

    def answer(self, node: str, ip: str) -> None:
        with self._lock:
            self._l2[ip].add(node)
            self.gratuitous_sent[ip] += 1

    def stop_answering(self, node: str, ip: str) -> None:
        with self._lock:
            self._l2[ip].discard(node)
            if not self._l2[ip]:
                del self._l2[ip]

    def advertise(self, node: str, route: BGPRoute) -> None:
        with self._lock:
            self._routes[route.prefix][(node, route.peers)] = route

    def withdraw(self, node: str, route: BGPRoute) -> None:
        with self._lock:
            self._routes[route.prefix].pop((node, route.peers), None)
            if not self._routes[route.prefix]:
                del self._routes[route.prefix]

    def forget_node(self, node: str) -> None:
        """A node vanished (killed): its answers and its routes go with it."""
        with self._lock:
            for ip in [ip for ip, nodes in self._l2.items() if node in nodes]:
                self._l2[ip].discard(node)
                if not self._l2[ip]:
                    del self._l2[ip]
            for prefix, by in list(self._routes.items()):
                for key in [k for k in by if k[0] == node]:
                    del by[key]
                if not by:
                    del self._routes[prefix]

    def view(self) -> SegmentView:
        with self._lock:
            return SegmentView(
                l2={ip: tuple(sorted(nodes)) for ip, nodes in sorted(self._l2.items())},
                routes={
                    p: tuple(sorted({n for n, _ in by})) for p, by in sorted(self._routes.items())
                },
            )


class SimulatedAnnouncer:
    """One node's announcer on the :class:`SimulatedNetwork`."""

    def __init__(self, node: str, network: SimulatedNetwork) -> None:
        self.node = node
        self.network = network

    def announce_l2(self, ip: str, interfaces: tuple[str, ...]) -> None:
        self.network.answer(self.node, ip)

    def withdraw_l2(self, ip: str) -> None:
        self.network.stop_answering(self.node, ip)

    def announce_bgp(self, route: BGPRoute) -> None:
        self.network.advertise(self.node, route)

    def withdraw_bgp(self, route: BGPRoute) -> None:
        self.network.withdraw(self.node, route)


class RecordingAnnouncer:
    """Announces nothing on the wire; remembers what it was told (dry runs, state files)."""

    def __init__(self) -> None:
        self.l2: dict[str, tuple[str, ...]] = {}
        self.bgp: dict[tuple[str, tuple[str, ...]], BGPRoute] = {}

    def announce_l2(self, ip: str, interfaces: tuple[str, ...]) -> None:
        self.l2[ip] = interfaces

    def withdraw_l2(self, ip: str) -> None:
        self.l2.pop(ip, None)

    def announce_bgp(self, route: BGPRoute) -> None:
        self.bgp[(route.prefix, route.peers)] = route

    def withdraw_bgp(self, route: BGPRoute) -> None:
        self.bgp.pop((route.prefix, route.peers), None)


class CompositeAnnouncer:
    """Layer 2 calls to one announcer, BGP calls to another (a speaker doing both; the BGP
    one is lbtui's own sessions or FRR)."""

    def __init__(self, l2: Announcer, bgp: Announcer) -> None:
        self.l2 = l2
        self.bgp = bgp

    def announce_l2(self, ip: str, interfaces: tuple[str, ...]) -> None:
        self.l2.announce_l2(ip, interfaces)

    def withdraw_l2(self, ip: str) -> None:
        self.l2.withdraw_l2(ip)

    def announce_bgp(self, route: BGPRoute) -> None:
        self.bgp.announce_bgp(route)

    def withdraw_bgp(self, route: BGPRoute) -> None:
        self.bgp.withdraw_bgp(route)

    def synced(self) -> None:
        for part in (self.l2, self.bgp):
            call_optional(part, "synced")

    def flush(self) -> None:
        for part in (self.l2, self.bgp):
            call_optional(part, "flush")
