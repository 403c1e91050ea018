"""Which interfaces a node answers on, read from the kernel, and a watch for link changes.

The rule is MetalLB's (``internal/layer2/announcer.go``): every interface that is up,
broadcast-capable, not NOARP and not enslaved to a bridge or bond, whose name matches none of
the exclusion patterns (MetalLB's default list unless ``--l2-exclude`` says otherwise). An
L2Advertisement that names ``interfaces`` restricts an address to those names; a name it gives
explicitly is used even if an exclusion pattern matches it.

Carrier is tracked apart from eligibility: an interface without carrier still counts as one
the node *would* announce on, which is what link awareness needs to see.

``read_links`` asks the kernel over netlink (two dumps, ``netlink.py``); ``LinkWatcher`` wakes
the actor when links or addresses change, and the actor re-reads (plus a periodic scan, as
MetalLB does).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import select
import socket
import threading
from collections.abc import Callable, Iterable, Sequence

import msgspec

from actors.l2 import netlink

log = logging.getLogger(__name__)

# config/native/exclude-l2-config.yaml in MetalLB
DEFAULT_EXCLUDE: tuple[str, ...] = (
    r"^docker.*",
    r"^cbr.*",
    r"^dummy.*",
    r"^virbr.*",
    r"^lxcbr.*",
    r"^veth.*",
    r"^lo$",
    r"^cali.*",
    r"^tunl.*",
    r"^flannel.*",
    r"^kube-ipvs.*",
    r"^cni.*",
    r"^nodelocaldns.*",
    r"^lxc.*",
)

IFF_UP = 0x1
IFF_BROADCAST = 0x2
IFF_NOARP = 0x80
IFF_LOWER_UP = 0x10000
ARPHRD_ETHER = 1

# Netlink multicast groups: link changes and IPv6 address changes (link-local appearing).
RTMGRP_LINK = 0x1
RTMGRP_IPV6_IFADDR = 0x100


class Link(msgspec.Struct, frozen=True):
    index: int
    name: str
    mac: bytes
    flags: int
    link_type: int = ARPHRD_ETHER
    enslaved: bool = False
    link_local: bytes | None = None  # an IPv6 link-local address, the NA source

    @property
    def up(self) -> bool:
        return bool(self.flags & IFF_UP)

    @property
    def carrier(self) -> bool:
        return self.up and bool(self.flags & IFF_LOWER_UP)

    @property
    def can_answer(self) -> bool:
        """The kind of interface ARP/NDP answers make sense on (up or not)."""
        return (
            self.link_type == ARPHRD_ETHER
            and len(self.mac) == 6
            and self.mac != b"\x00" * 6
            and bool(self.flags & IFF_BROADCAST)
            and not self.flags & IFF_NOARP
            and not self.enslaved
        )


class InterfacePolicy:
    """The exclusion patterns and the eligibility rule, as pure functions of the links."""

    def __init__(self, exclude: Sequence[str] = DEFAULT_EXCLUDE) -> None:
        try:
            self.patterns = tuple(re.compile(p) for p in exclude)
        except re.error as exc:
            raise ValueError(
                f"--l2-exclude: bad regular expression {exc.pattern!r}: {exc}"
            ) from exc

    def excluded(self, name: str) -> bool:
        return any(p.search(name) for p in self.patterns)

    def would_announce(self, links: Iterable[Link]) -> tuple[Link, ...]:
        """The interfaces addresses go to by default, whatever their state (link awareness)."""
        return tuple(
            sorted(
                (li for li in links if li.can_answer and not self.excluded(li.name)),
                key=lambda li: li.name,
            )
        )

    def eligible(self, links: Iterable[Link], named: Sequence[str] = ()) -> tuple[Link, ...]:
        """Where an address is answered: ``named`` interfaces (all eligible ones if empty)
        that are up."""
        if named:
            wanted = set(named)
            chosen: Iterable[Link] = (li for li in links if li.name in wanted and li.can_answer)
        else:
            chosen = self.would_announce(links)
        return tuple(sorted((li for li in chosen if li.up), key=lambda li: li.name))

    def has_carrier(self, links: Iterable[Link]) -> bool:
        """False when every interface the node would announce on has lost carrier."""
        return any(li.carrier for li in self.would_announce(links))


def read_links() -> tuple[Link, ...]:
    """Every link of this network namespace, with its IPv6 link-local address if any."""
    local: dict[int, bytes] = {}
    for index, address in netlink.addresses(socket.AF_INET6):
        if address[:2] == b"\xfe\x80" and len(address) == 16 and index not in local:
            local[index] = address
    links = [
        Link(
            index=raw.index,
            name=raw.name,
            mac=raw.address,
            flags=raw.flags,
            link_type=raw.link_type,
            enslaved=bool(raw.master),
            link_local=local.get(raw.index),
        )
        for raw in netlink.links()
    ]
    return tuple(sorted(links, key=lambda li: li.index))


class LinkWatcher:
    """Calls ``on_change()`` (from its own thread) whenever a link or IPv6 address changes.

    Only wakes: it does not parse netlink messages, the caller re-reads with ``read_links``.
    Bursts of messages make one call.
    """

    def __init__(self, on_change: Callable[[], None]) -> None:
        self.on_change = on_change
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        self._sock.bind((0, RTMGRP_LINK | RTMGRP_IPV6_IFADDR))
        self._sock.setblocking(False)
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="l2-links", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while True:
                ready, _, _ = select.select([self._sock, self._wake_r], [], [])
                if self._wake_r in ready:
                    return
                while True:
                    try:
                        self._sock.recv(65536)
                    except BlockingIOError:
                        break
                    except OSError as exc:  # ENOBUFS: we missed some; re-reading covers it
                        log.debug("netlink: %r", exc)
                        break
                try:
                    self.on_change()
                except Exception:
                    log.exception("link change callback failed")
        finally:
            self._sock.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")
        self._thread.join(timeout=2)
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
