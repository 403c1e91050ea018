"""Who answers for each layer 2 address: the election's reason codes, :class:`L2Owner` (one
address, its node and services, in a compact record: a plan of 100k Services holds one each)
and :class:`L2Owners`, the mapping from address text to owner that :mod:`actors.election.l2`
returns, which keeps its IPv4 keys as ints.
"""

from __future__ import annotations

from collections.abc import Callable, ItemsView, Iterable, Iterator, Mapping, ValuesView
from ipaddress import IPv4Address, ip_address

from actors.model.allocation import ipv4_text, ipv4_text_width
from actors.model.compact import CompactRecord
from actors.model.config import IPAddress

# Service-level reason codes (MetalLB's where it has them; it says "notOwner" for several).
ANNOUNCED = "announced"
NO_IPS = "noIPs"
UNKNOWN_SERVICE = "unknownService"
UNKNOWN_POOL = "unknownPool"
NO_ENDPOINTS = "noEndpoints"
SHARED_IP_WITH_SERVICE_SELECTOR = "sharedIPWithServiceSelector"
NO_MATCHING_ADVERTISEMENT = "noMatchingAdvertisement"
NO_AVAILABLE_NODES = "noAvailableNodes"


# Messages that say no more than the service's key: an owner keeps only their reason.
KEY_MESSAGES = {
    UNKNOWN_SERVICE: "{} is not a known Service",
    NO_ENDPOINTS: "{} has no serving endpoint",
}


class L2Owner(CompactRecord):
    """Who answers for one address, and for which services.

    ``L2Owner(ip, node, services, interfaces, reason, message, announcers=())``, frozen.
    ``announcers``: every node that answers for the address: one normally, several only if
    services sharing the address elected differently (MetalLB would then answer from all).

    Small (issue 19: ``lbtui plan`` of 100k Services holds one each): one service is kept as
    its key, a message saying only that key as its reason, and the usual interfaces and
    announcers (all interfaces; the owner alone) not at all; the attributes give them back.
    """

    __slots__ = ("_extra", "_ip", "_message", "_services", "node", "reason")
    __match_args__ = (
        "ip",
        "node",
        "services",
        "interfaces",
        "reason",
        "message",
        "announcers",
    )

    node: str | None
    reason: str
    _ip: int | str  # an IPv4 address as its int (its allocation's), else the text
    _services: str | tuple[str, ...]  # one service's key, else all of them
    _message: str | None  # None: KEY_MESSAGES[reason] of the first service
    _extra: tuple[tuple[str, ...], tuple[str, ...]] | None  # (interfaces, announcers)

    def __init__(
        self,
        ip: str,
        node: str | None,
        services: tuple[str, ...],
        interfaces: tuple[str, ...],
        reason: str,
        message: str,
        announcers: tuple[str, ...] = (),
    ) -> None:
        services = tuple(services)
        first = services[0] if services else ""
        make_owner(
            self,
            _ip_slot(ip),
            node,
            services,
            tuple(interfaces),
            reason,
            short_message(reason, first, message),
            tuple(announcers),
        )

    @property
    def ip(self) -> str:
        ip = self._ip
        return ipv4_text(ip) if type(ip) is int else ip  # type: ignore[return-value,arg-type]

    @property
    def services(self) -> tuple[str, ...]:
        services = self._services
        return (services,) if type(services) is str else services  # type: ignore[return-value]

    @property
    def services_text(self) -> str:
        """The services as one text, ``", ".join(services)``."""
        services = self._services
        return services if type(services) is str else ", ".join(services)  # type: ignore[return-value,arg-type]

    @property
    def message(self) -> str:
        message = self._message
        if message is None:
            services = self._services
            first = services if type(services) is str else services[0]
            return KEY_MESSAGES[self.reason].format(first)
        return message

    @property
    def interfaces(self) -> tuple[str, ...]:
        extra = self._extra
        return () if extra is None else extra[0]

    @property
    def announcers(self) -> tuple[str, ...]:
        extra = self._extra
        if extra is None:
            return () if self.node is None else (self.node,)
        return extra[1]


_set = object.__setattr__


def _ip_slot(text: str) -> int | str:
    """An IPv4 address's int when ``text`` is its usual form, else ``text``."""
    try:
        ip = IPv4Address(text)
    except ValueError:
        return text
    return int(ip) if str(ip) == text else text


def make_owner(
    owner: L2Owner,
    ip: int | str,
    node: str | None,
    services: tuple[str, ...],
    interfaces: tuple[str, ...],
    reason: str,
    message: str | None,
    announcers: tuple[str, ...],
) -> L2Owner:
    """Fill ``owner``; ``message`` is already short (see :func:`short_message`)."""
    _set(owner, "_ip", ip)
    _set(owner, "node", node)
    _set(owner, "_services", services[0] if len(services) == 1 else services)
    _set(owner, "reason", reason)
    _set(owner, "_message", message)
    usual = () if node is None else (node,)
    extra = None if not interfaces and announcers == usual else (interfaces, announcers)
    _set(owner, "_extra", extra)
    return owner


def short_message(reason: str, service: str, message: str) -> str | None:
    """None for a message :data:`KEY_MESSAGES` gives back from the reason and the service."""
    template = KEY_MESSAGES.get(reason)
    if template is not None and message == template.format(service):
        return None
    return message


class L2Owners(Mapping[str, L2Owner]):
    """Owners keyed by IP text, in address order (IPv4 then IPv6, each by value).

    Small (issue 19): the owners are held by address (an IPv4 address as its int, the one its
    allocation holds) and their text is made when asked, not kept: of 100k addresses, ~6 MB.
    ``del owners[ip]`` drops one (the plan keeps only layer-2 pools' addresses).
    """

    __slots__ = ("_order", "_owners")

    def __init__(self, owners: dict[int | IPAddress, L2Owner], order: list[int | IPAddress]):
        self._owners = owners  # by address, in any order
        self._order = order  # the addresses in order (some perhaps deleted since)

    @staticmethod
    def _address(text: str) -> int | IPAddress | None:
        try:
            ip = ip_address(text)
        except ValueError:
            return None
        return int(ip) if type(ip) is IPv4Address else ip

    def __getitem__(self, text: str) -> L2Owner:
        address = self._address(text) if isinstance(text, str) else None
        owner = None if address is None else self._owners.get(address)
        if owner is None or owner.ip != text:  # the same address written otherwise: not a key
            raise KeyError(text)
        return owner

    def __delitem__(self, text: str) -> None:
        self[text]  # KeyError unless a key
        del self._owners[self._address(text)]  # type: ignore[arg-type]

    def retain(self, keep: Callable[[L2Owner], bool]) -> None:
        """Drop every owner ``keep`` refuses, in place (the order stays), without making
        each address's text (the plan drops those of pools not in layer 2 mode)."""
        owners = self._owners
        for address in [address for address, owner in owners.items() if not keep(owner)]:
            del owners[address]

    def ip_text_width(self) -> int:
        """The length of the longest address text (key) among the owners (0 for none),
        without making the texts of IPv4 addresses (``lbtui plan``'s table pads to it)."""
        others = 0

        def ipv4() -> Iterator[int]:
            nonlocal others
            for owner in self._owners.values():
                ip = owner._ip
                if type(ip) is int:
                    yield ip
                else:
                    others = max(others, len(ip))  # type: ignore[arg-type]

        widest = ipv4_text_width(ipv4())
        return max(widest, others)

    def unordered(self) -> Iterable[L2Owner]:
        """The owners in no particular order (cheaper than :meth:`values`)."""
        return self._owners.values()

    def __iter__(self) -> Iterator[str]:
        return (owner.ip for owner in self._in_order())

    def __len__(self) -> int:
        return len(self._owners)

    def _in_order(self) -> Iterator[L2Owner]:
        owners = self._owners
        for address in self._order:
            owner = owners.get(address)
            if owner is not None:
                yield owner

    def _items_in_order(self) -> Iterator[tuple[str, L2Owner]]:
        owners = self._owners
        for address in self._order:
            owner = owners.get(address)
            if owner is not None:
                yield ipv4_text(address) if type(address) is int else owner.ip, owner

    def items(self) -> ItemsView[str, L2Owner]:
        return _OwnerItems(self)

    def values(self) -> ValuesView[L2Owner]:
        return _OwnerValues(self)

    def __repr__(self) -> str:
        return repr(dict(self.items()))


class _OwnerItems(ItemsView[str, L2Owner]):
    _mapping: L2Owners

    def __iter__(self) -> Iterator[tuple[str, L2Owner]]:
        return self._mapping._items_in_order()


class _OwnerValues(ValuesView[L2Owner]):
    _mapping: L2Owners

    def __iter__(self) -> Iterator[L2Owner]:
        return self._mapping._in_order()
