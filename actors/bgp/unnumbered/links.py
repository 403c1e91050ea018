"""What the BGP speaker actor holds for its unnumbered peers: the interfaces they name, the
router found on each (``discovery.LinkDiscovery``), our advertisements and solicitations
(``discovery.Advertising``) and the ICMPv6 socket that carries them (``link.IcmpLink``,
opened only while some peer is unnumbered, injected for tests). Whenever we solicit, the
kernel's neighbour table is read too (``neighbours.routers``): a router it knows counts as
heard.

Not an actor and no thread of its own: the actor calls it from its thread, on configuration
changes, on what the socket hears (``LinkHeard``, told to the actor), on inbound connections
and on its timer.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterable
from typing import Protocol

from actors.bgp.unnumbered import ndp, neighbours
from actors.bgp.unnumbered.discovery import Advertising, LinkDiscovery, is_link_local
from actors.bgp.unnumbered.link import IcmpLink, LinkHeard, interface_mac

log = logging.getLogger(__name__)


class LinkIo(Protocol):
    def advertise(self, ifindex: int, mac: bytes = b"") -> None: ...

    def solicit(self, ifindex: int, mac: bytes = b"") -> None: ...

    def stop(self) -> None: ...


LinkFactory = Callable[[Callable[[LinkHeard], None]], LinkIo]


def ifindex_of(name: str) -> int | None:
    try:
        return socket.if_nametoindex(name)
    except (OSError, ValueError):  # no such interface; a name no interface can have
        return None


class UnnumberedLinks:
    def __init__(
        self,
        deliver: Callable[[LinkHeard], None],
        *,
        link_factory: LinkFactory = IcmpLink,
        ifindex: Callable[[str], int | None] = ifindex_of,
        mac: Callable[[str], bytes] = interface_mac,
        ra_interval: float | None = None,
        routers: Callable[[int], list[str]] = neighbours.routers,
    ) -> None:
        self._deliver = deliver
        self._factory = link_factory
        self._ifindex_of = ifindex
        self._mac_of = mac
        self._routers = routers
        self.discovery = LinkDiscovery()
        self.advertising = Advertising(**({"interval": ra_interval} if ra_interval else {}))
        self.io: LinkIo | None = None
        self.io_error: str | None = None
        self.ifindexes: dict[str, int] = {}  # interface -> index, as last resolved

    # -- configuration ------------------------------------------------------------------------
    def watch(self, now: float, interfaces: Iterable[str]) -> bool:
        """Serve exactly these interfaces. Returns whether an interface's index changed."""
        wanted = set(interfaces)
        self.discovery.watch(wanted)
        self.advertising.watch(now, wanted)
        if not wanted:
            self.stop()
            self.io_error = None  # the next unnumbered peer tries the socket again
        elif self.io is None and self.io_error is None:  # tried once (not on every event)
            try:
                self.io = self._factory(self._deliver)
                self.io_error = None
            except OSError as exc:  # no CAP_NET_RAW: sessions still dial found routers
                self.io_error = f"cannot open an ICMPv6 socket: {exc.strerror or exc}"
                log.warning("bgp: unnumbered peers: %s", self.io_error)
        return self._resolve(wanted)

    def _resolve(self, interfaces: Iterable[str]) -> bool:
        changed = False
        found = {}
        for name in interfaces:
            index = self._ifindex_of(name)
            if index is not None:
                found[name] = index
        if found != self.ifindexes:
            changed = True
            self.ifindexes = found
        return changed

    def remote(self, interface: str) -> tuple[tuple[str, int] | None, str]:
        """``((link-local address, ifindex), "")`` to dial, or ``(None, why not)``."""
        index = self.ifindexes.get(interface)
        if index is None:
            return None, f"unnumbered BGP over {interface}: no such interface"
        address = self.discovery.neighbour(interface)
        if address is None:
            why = (
                f"unnumbered BGP over {interface}: waiting for the router's IPv6 link-local "
                "address (router advertisement or connection)"
            )
            if self.io_error:
                why += f"; {self.io_error}"
            return None, why
        return (address, index), ""

    # -- what happens -------------------------------------------------------------------------
    def _name(self, ifindex: int) -> str | None:
        return next((n for n, i in self.ifindexes.items() if i == ifindex), None)

    def heard(self, now: float, message: LinkHeard) -> bool:
        """The socket heard an advertisement or solicitation. Returns whether the router
        chosen on that interface changed (the actor then re-reconciles its sessions)."""
        name = self._name(message.ifindex)
        if name is None:
            return False
        if message.kind == ndp.ROUTER_SOLICITATION:
            self.advertising.solicitation_heard(now, name)
            return False
        return self._found(now, name, message.address, "its router advertisement")

    def _found(self, now: float, name: str, address: str, how: str) -> bool:
        if not self.discovery.heard(now, name, address):
            return False
        self.advertising.need_neighbour(now, name, False)
        log.info("bgp: unnumbered peer on %s: router %s, from %s", name, address, how)
        return True

    def inbound(self, now: float, remote: str, scope_id: int) -> bool:
        """An inbound connection from a link-local address: it names the router as well as
        an advertisement does. Returns whether the chosen router changed."""
        name = self._name(scope_id) if scope_id else None
        if name is None or not is_link_local(remote):
            return False
        return self._found(now, name, remote, "its connection")

    def session_state(self, now: float, interface: str, established: bool) -> None:
        """Keep the router while its session is up; solicit while it is not."""
        self.discovery.set_in_use(interface, established)
        self.advertising.need_neighbour(now, interface, not established)

    def due(self, now: float) -> bool:
        """Send the advertisements and solicitations due now (and read the kernel's routers
        when soliciting). Returns whether the sessions need another look: an interface's
        index changed (interfaces come and go) or a router was found."""
        changed = self._resolve(self.advertising.interfaces())
        for kind, name in self.advertising.due(now):
            index = self.ifindexes.get(name)
            if index is None:
                continue
            if kind == "solicit":
                for address in self._routers(index):
                    changed |= self._found(now, name, address, "the kernel's neighbour table")
            if self.io is None:
                continue
            mac = self._mac_of(name)
            if kind == "advertise":
                self.io.advertise(index, mac)
            else:
                self.io.solicit(index, mac)
        return changed

    def next_deadline(self) -> float | None:
        return self.advertising.next_deadline()

    def stop(self) -> None:
        if self.io is not None:
            self.io.stop()
            self.io = None
