"""Who holds which address: the allocator's ledger, and the sharing rules it keeps.

:class:`Holdings` records, for one configuration, what every service holds (its
:class:`Allocation`, which gives it as address keys too) and, per address, its holder: the one
service holding it without a sharing key, else a :class:`Use` listing the services that share
it and their ports. Committing and releasing keep the lanes (ranges.py) in step: an address
is occupied while anyone holds it, and an address held under a sharing key sits in its lane's
shareable groups under the ports in use on it. :meth:`Holdings.sharing_error` is MetalLB's
check that a service may join an address others hold.

Cost: a service holding an address without a sharing key costs the Allocation it is given
and otherwise only ints, strings and tuples of ints, which the cyclic garbage collector does
not walk.

Pure; every check is done by the caller (converge.py) before it commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple, Protocol

from actors.allocator.addresses import address_of
from actors.allocator.demand import NO_PORTS, Port
from actors.allocator.ranges import Lane, Locator, MinSet, Range, Spot, position
from actors.model.allocation import Allocation


def _union(port_sets: Iterable[frozenset[Port]]) -> frozenset[Port]:
    sets = list(port_sets)
    return sets[0] if len(sets) == 1 else frozenset().union(*sets)


class Use:
    """An address held under a sharing key, and the services on it.

    An address held without one can have no other holder: ``Holdings.uses`` maps it to the
    holder's service key alone, which spares two objects per address for the garbage collector.
    """

    __slots__ = ("backend", "lane", "offset", "portset", "rng", "services", "sharing")

    def __init__(
        self, spot: Spot, sharing: str, backend: str, service: str, ports: frozenset[Port]
    ) -> None:
        self.lane, self.rng, self.offset = spot
        self.sharing = sharing
        self.backend = backend
        self.services: dict[str, frozenset[Port]] = {service: ports}
        self.portset = ports  # every port in use on the address

    def holder(self, port: Port) -> str | None:
        for service, ports in self.services.items():
            if port in ports:
                return service
        return None


class Claim(Protocol):
    """How a service uses its addresses: what sharing checks and port bookkeeping need."""

    @property
    def sharing(self) -> str: ...
    @property
    def backend(self) -> str: ...
    @property
    def ports(self) -> frozenset[Port]: ...


class HeldClaim(NamedTuple):
    """The claim of a held address, re-applied as is on set_config."""

    sharing: str
    backend: str
    ports: frozenset[Port]


_UNSHARED = HeldClaim("", "", NO_PORTS)


def claim_of(use: Use | str, service: str) -> Claim:
    """How ``service`` holds the address ``use`` describes (see ``Holdings.uses``)."""
    if isinstance(use, str):
        return _UNSHARED
    return HeldClaim(use.sharing, use.backend, use.services[service])


class Holdings:
    """What every service holds, and who holds every address, under one configuration."""

    __slots__ = ("held", "locator", "uses")

    def __init__(self, locator: Locator) -> None:
        self.locator = locator
        # Address key -> the one service holding it without a sharing key, else its Use.
        self.uses: dict[int, Use | str] = {}
        # Service key -> what it holds (its address keys: ``keys_of``; a second dict of them
        # was ~90 bytes a service).
        self.held: dict[str, Allocation] = {}

    def keys_of(self, service: str) -> tuple[int, ...] | None:
        """What ``service`` holds as address keys, or None if it holds nothing here."""
        held = self.held.get(service)
        return None if held is None else held.address_keys

    def release(self, service: str) -> None:
        held = self.held.pop(service, None)
        if held is None:
            return
        for key in held.address_keys:
            self._leave(service, key)

    def amend(self, service: str, notice: str | None) -> Allocation:
        """Set the notice of what ``service`` holds (the same object when it is unchanged)."""
        held = self.held[service]
        if held.notice != notice:
            held = self.held[service] = held.replace(notice=notice)
        return held

    def sharing_error(self, service: str, claim: Claim, address: int) -> str | None:
        """Why ``service`` may not hold ``address`` as ``claim`` says, or None if it may."""
        use = self.uses.get(address)
        if use is None:
            return None
        if isinstance(use, str):  # held without a sharing key: never shared
            if use == service:
                return None
            return f'can\'t change sharing key for "{service}", address also in use by {use}'
        others = sorted(s for s in use.services if s != service)
        if not others:
            return None  # alone on the address: the service may change its key or ports
        compatible = (
            use.sharing != "" and use.sharing == claim.sharing and use.backend == claim.backend
        )
        if not compatible:
            return (
                f'can\'t change sharing key for "{service}", address also in use by '
                f"{','.join(others)}"
            )
        for port in sorted(claim.ports):
            holder = use.holder(port)
            if holder is not None and holder != service:
                return f'port {port[0]}/{port[1]} is already in use on "{address_of(address)}"'
        return None

    # ----- bookkeeping

    def hold_free(
        self, service: str, lane: Lane, rng: Range, offset: int, cleared: str | None
    ) -> Allocation:
        """commit for the common case: a free address, no sharing key, nothing held before."""
        address = rng.first + offset
        allocation = Allocation.of_keys(service, (address,), lane.pool, cleared)
        lane.occupy(rng, offset)
        self.uses[address] = service
        self.held[service] = allocation
        return allocation

    def commit(
        self,
        service: str,
        claim: Claim,
        pool: str,
        keys: tuple[int, ...],
        spots: Sequence[Spot],
        cleared: str | None = None,
        allocation: Allocation | None = None,
    ) -> Allocation:
        """Record that ``service`` holds ``keys`` (every check was done by the caller)."""
        old = self.held.get(service)
        if old is not None:
            old_keys = old.address_keys
            for key in old_keys:
                if key not in keys:
                    self._leave(service, key)
            if (
                allocation is None
                and old_keys == keys
                and old.pool == pool
                and old.cleared == cleared
                and old.error is None
            ):
                allocation = old  # unchanged: keep the same object
        if allocation is None:
            allocation = Allocation.of_keys(service, keys, pool, cleared)
        for key, spot in zip(keys, spots, strict=True):
            self._join(service, claim, key, spot)
        self.held[service] = allocation
        return allocation

    def _join(self, service: str, claim: Claim, key: int, spot: Spot) -> None:
        sharing = claim.sharing
        use = self.uses.get(key)
        if use is None:
            lane, rng, offset = spot
            lane.occupy(rng, offset)
            if sharing:
                use = self.uses[key] = Use(spot, sharing, claim.backend, service, claim.ports)
                self._group(use, key)
            else:
                self.uses[key] = service
            return
        if isinstance(use, str):
            # Held without a sharing key, so only by this service (the caller checked).
            if sharing:
                use = self.uses[key] = Use(spot, sharing, claim.backend, service, claim.ports)
                self._group(use, key)
            return
        backend = claim.backend
        ports = claim.ports
        if use.services.get(service) == ports and use.sharing == sharing and use.backend == backend:
            return  # re-claimed unchanged
        self._ungroup(use, key)
        if not sharing:
            self.uses[key] = service  # alone on it (the caller checked)
            return
        use.sharing = sharing
        use.backend = backend
        use.services[service] = ports
        use.portset = _union(use.services.values())
        self._group(use, key)

    def _leave(self, service: str, key: int) -> None:
        use = self.uses.get(key)
        if isinstance(use, str):
            if use == service:
                del self.uses[key]
                lane, rng, offset = self.locator.spot(key)
                lane.vacate(rng, offset)
            return
        if use is None or service not in use.services:
            return
        self._ungroup(use, key)
        del use.services[service]
        if not use.services:
            del self.uses[key]
            use.lane.vacate(use.rng, use.offset)
            return
        use.portset = _union(use.services.values())
        self._group(use, key)

    @staticmethod
    def _group(use: Use, key: int) -> None:
        groups = use.lane.groups.setdefault((use.sharing, use.backend), {})
        members = groups.get(use.portset)
        if members is None:
            members = groups[use.portset] = MinSet()
        members.add(key, position(use.rng, use.offset))

    @staticmethod
    def _ungroup(use: Use, key: int) -> None:
        groups = use.lane.groups.get((use.sharing, use.backend))
        if groups is not None:
            members = groups.get(use.portset)
            if members is not None:
                members.discard(key)
