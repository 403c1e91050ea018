"""What the allocator hands out: one service's :class:`Allocation` and one pool's
:class:`PoolUsage`, with the kinds of error and drop an Allocation reports (see
actors/allocator/converge.py for how they are computed).

An Allocation is small (issue 19: ``lbtui plan`` of 100k Services holds one each): one
address is kept as its integer key (``V6_TAG`` marks IPv6, as the allocator's keys do) and
``ips`` makes its address object when asked; the four fields that are nearly always empty
share one slot. It behaves as the frozen dataclass it was: the same constructor, attributes,
equality, repr, and ``replace``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import cache
from ipaddress import IPv4Address, IPv6Address
from itertools import islice, repeat
from operator import add, and_, rshift
from socket import inet_ntoa
from typing import Any

import msgspec

from actors.model.compact import CompactRecord
from actors.model.config import IPAddress

# An address as one int: IPv4 as its int, IPv6 as its int with bit 128 set (the allocator's
# address keys, actors/allocator/addresses.py).
V6_TAG = 1 << 128

# What kind of error an Allocation reports (``error_kind``).
ERROR_ALLOCATION = ""  # no address could be had (pools, requests refused, sharing, ...)
ERROR_REQUEST = "invalid-request"  # the requested addresses do not parse / cannot be asked for
ERROR_NOT_ENOUGH_CLUSTER_IPS = "not-enough-cluster-ips"  # RequireDualStack, one clusterIP
ERROR_CLUSTER_IP_FAMILY = "cluster-ip-family"  # the clusterIPs give no address family
ERROR_NO_POOLS = "no-pools"  # the configuration has no pool: MetalLB posts no Event for it
# What kind of drop an Allocation's ``cleared`` reports (``cleared_kind``).
CLEARED_OTHER = ""  # a changed request, pool or family: MetalLB clears silently
CLEARED_NOT_ALLOWED = "not-allowed"  # the configuration no longer admits the addresses
CLEARED_NO_IP_FAMILY = "no-ip-family"  # the addresses in the status have no address family
# The allocator starts these drops so; cleared_kind tells them apart by it.
NOT_ALLOWED_PREFIX = "current IP for "
# MetalLB's ipfamily.ForAddresses errors start so; the drop's text is that error.
NO_FAMILY_PREFIX = "IPFamilyForAddresses: "


_NOTHING_MORE = (None, None, ERROR_ALLOCATION, None)


class Allocation(CompactRecord):
    """What one service holds after convergence (see the module docstring).

    ``Allocation(service, ips, pool, error=None, cleared=None, error_kind="", notice=None)``,
    frozen; ``replace(**changes)`` is :func:`dataclasses.replace` for it.
    """

    __slots__ = ("_ips", "_more", "pool", "service")
    __match_args__ = ("service", "ips", "pool", "error", "cleared", "error_kind", "notice")

    service: str
    pool: str | None
    # One address: its key (an int); else the tuple of addresses (none, two, or a scoped one).
    _ips: int | tuple[IPAddress, ...]
    # (error, cleared, error_kind, notice), or None when all four are empty.
    _more: tuple[str | None, str | None, str, str | None] | None

    def __init__(
        self,
        service: str,
        ips: tuple[IPAddress, ...],
        pool: str | None,
        error: str | None = None,
        cleared: str | None = None,
        error_kind: str = ERROR_ALLOCATION,
        notice: str | None = None,
    ) -> None:
        ips = tuple(ips)
        packed: int | tuple[IPAddress, ...] = ips
        if len(ips) == 1:
            ip = ips[0]
            if type(ip) is IPv4Address:
                packed = int(ip)
            elif type(ip) is IPv6Address and ip.scope_id is None:
                packed = int(ip) | V6_TAG
        _init(self, service, packed, pool, error, cleared, error_kind, notice)

    @classmethod
    def of_keys(
        cls, service: str, keys: tuple[int, ...], pool: str | None, cleared: str | None = None
    ) -> Allocation:
        """What ``service`` holds as address keys (the allocator's): one is kept as it is."""
        new = cls.__new__(cls)
        packed = keys[0] if len(keys) == 1 else tuple(map(address_of_key, keys))
        _init(new, service, packed, pool, None, cleared, ERROR_ALLOCATION, None)
        return new

    @property
    def ips(self) -> tuple[IPAddress, ...]:
        packed = self._ips
        if type(packed) is int:
            return (address_of_key(packed),)
        return packed  # type: ignore[return-value]

    @property
    def ip_texts(self) -> tuple[str, ...]:
        """``ips`` as text (``str`` of each), an IPv4 address without its address object."""
        packed = self._ips
        if type(packed) is int and packed < V6_TAG:
            return (ipv4_text(packed),)
        return tuple(str(ip) for ip in self.ips)

    @property
    def ips_text(self) -> str:
        """``", ".join(ip_texts)``: the addresses as one text."""
        packed = self._ips
        if type(packed) is int and packed < V6_TAG:
            return ipv4_text(packed)
        return ", ".join(self.ip_texts)

    @property
    def address_keys(self) -> tuple[int, ...]:
        """``ips`` as address keys (see ``V6_TAG``): what the allocator counts in."""
        packed = self._ips
        if type(packed) is int:
            return (packed,)
        return tuple(int(ip) if ip.version == 4 else int(ip) | V6_TAG for ip in packed)

    @property
    def error(self) -> str | None:
        more = self._more
        return None if more is None else more[0]

    @property
    def cleared(self) -> str | None:
        more = self._more
        return None if more is None else more[1]

    @property
    def error_kind(self) -> str:
        more = self._more
        return ERROR_ALLOCATION if more is None else more[2]

    @property
    def notice(self) -> str | None:
        more = self._more
        return None if more is None else more[3]

    @property
    def cleared_kind(self) -> str:
        """What kind of drop ``cleared`` reports (derived, so it never outlives the text)."""
        cleared = self.cleared
        if cleared is None:
            return CLEARED_OTHER
        if cleared.startswith(NOT_ALLOWED_PREFIX):
            return CLEARED_NOT_ALLOWED
        if cleared.startswith(NO_FAMILY_PREFIX):
            return CLEARED_NO_IP_FAMILY
        return CLEARED_OTHER

    def replace(self, **changes: Any) -> Allocation:
        """A copy with ``changes`` (field names as the constructor's)."""
        fields = {name: getattr(self, name) for name in self.__match_args__}
        unknown = changes.keys() - fields.keys()
        if unknown:
            raise TypeError(f"Allocation has no field(s) {', '.join(sorted(unknown))}")
        fields.update(changes)
        return Allocation(**fields)

    def _fields(self) -> tuple[Any, ...]:
        # The slots themselves: equal exactly when the public fields are, and cheaper.
        return (self.service, self._ips, self.pool, self._more)


def ipv4_text(value: int) -> str:
    """``str(IPv4Address(value))`` for a valid IPv4 int, without the object (twice as fast;
    ``lbtui plan`` of 100k Services writes each address twice)."""
    return inet_ntoa(value.to_bytes(4, "big"))


def ipv4_text_width(values: Iterable[int]) -> int:
    """The length of the longest :func:`ipv4_text` of ``values`` (0 for none), without making
    the texts: each address's halves (``a.b``) looked up in a table of their texts' lengths.
    ``lbtui plan``'s table pads its columns to their widest cell (of 100k addresses: ~15 ms,
    where making the texts is ~120). Taken a few thousand at a time: no list of them all."""
    halves = _half_widths()
    widest = -1
    values = iter(values)
    while some := list(islice(values, 4096)):
        high = map(halves.__getitem__, map(rshift, some, repeat(16)))
        low = map(halves.__getitem__, map(and_, some, repeat(0xFFFF)))
        widest = max(widest, max(map(add, high, low)))
    return widest + 1  # the dot between the halves


@cache
def _half_widths() -> bytes:
    """``len(f"{a}.{b}")`` at index ``a * 256 + b``, for octets a and b."""
    digits = [len(str(octet)) for octet in range(256)]
    return bytes(a + b + 1 for a in digits for b in digits)


def ips_text_width(allocations: Iterable[Allocation]) -> int:
    """The length of the longest ``a.ips_text or "-"`` of ``allocations`` (0 for none):
    ``lbtui plan``'s IPS column, without the text of each single IPv4 address."""
    others = 0

    def single_ipv4() -> Iterator[int]:
        nonlocal others
        for allocation in allocations:
            packed = allocation._ips
            if type(packed) is int and packed < V6_TAG:
                yield packed
            else:
                others = max(others, len(allocation.ips_text or "-"))

    widest = ipv4_text_width(single_ipv4())
    return max(widest, others)


def address_of_key(key: int) -> IPAddress:
    """The address an address key stands for (see ``V6_TAG``)."""
    if key < V6_TAG:
        return IPv4Address(key)
    return IPv6Address(key ^ V6_TAG)


_set = object.__setattr__


def _init(
    new: Allocation,
    service: str,
    packed: int | tuple[IPAddress, ...],
    pool: str | None,
    error: str | None,
    cleared: str | None,
    error_kind: str,
    notice: str | None,
) -> None:
    _set(new, "service", service)
    _set(new, "_ips", packed)
    _set(new, "pool", pool)
    more = (error, cleared, error_kind, notice)
    _set(new, "_more", None if more == _NOTHING_MORE else more)


class PoolUsage(msgspec.Struct, frozen=True):
    """Addresses of one pool: how many it has and how many are held, per family."""

    total: int
    in_use: int
    total_v4: int
    total_v6: int
    in_use_v4: int
    in_use_v6: int
