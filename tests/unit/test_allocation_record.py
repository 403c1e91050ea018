"""The allocator's compact record (issue 19): :class:`Allocation` keeps one address as its int,
and behaves as the frozen dataclass it was (constructor, attributes, equality, repr, replace).
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
from ipaddress import IPv4Address, IPv6Address

import pytest

from actors.model.allocation import V6_TAG, Allocation, ipv4_text

V4 = IPv4Address("10.0.0.7")
V6 = IPv6Address("fd00::7")
SCOPED = IPv6Address("fe80::1%eth0")

ALLOCATIONS = [
    Allocation("ns/a", (V4,), "p"),
    Allocation("ns/a", (V6,), "p"),
    Allocation("ns/a", (V4, V6), "p"),
    Allocation("ns/a", (SCOPED,), "p"),
    Allocation("ns/a", (), None, "no available IPs"),
    Allocation("ns/a", (V4,), "p", None, "user requested a different pool", notice="n"),
    Allocation("ns/a", (V4,), "p", "bad", None, "invalid-request"),
    Allocation.of_keys("ns/a", (int(V4),), "p"),
    Allocation.of_keys("ns/a", (int(V4), int(V6) | V6_TAG), "p", "cleared"),
]


@pytest.mark.parametrize("a", ALLOCATIONS, ids=repr)
def test_an_allocation_gives_back_what_it_was_given(a: Allocation) -> None:
    again = Allocation(a.service, a.ips, a.pool, a.error, a.cleared, a.error_kind, a.notice)
    assert again == a and hash(again) == hash(a)
    assert pickle.loads(pickle.dumps(a)) == a and copy.deepcopy(a) == a
    assert a.replace() == a
    assert a.address_keys == tuple(int(ip) if ip.version == 4 else int(ip) | V6_TAG for ip in a.ips)
    assert all(type(ip) in (IPv4Address, IPv6Address) for ip in a.ips)
    assert a.ips_text == ", ".join(a.ip_texts) == ", ".join(map(str, a.ips))
    assert repr(a) == (
        f"Allocation(service={a.service!r}, ips={a.ips!r}, pool={a.pool!r}, error={a.error!r}, "
        f"cleared={a.cleared!r}, error_kind={a.error_kind!r}, notice={a.notice!r})"
    )


def test_an_allocation_is_the_dataclass_it_was() -> None:
    a = Allocation(service="ns/a", ips=[V4], pool="p")  # type: ignore[arg-type]
    assert a.ips == (V4,) and a.error is None and a.cleared is None and a.notice is None
    assert a.error_kind == "" and a.cleared_kind == ""
    assert a.replace(pool="q").pool == "q" and a.pool == "p"
    assert a.replace(ips=(V6,)).ips == (V6,)
    assert a != Allocation("ns/a", (IPv6Address(int(V4)),), "p")  # the family counts
    assert a.replace(cleared="current IP for x").cleared_kind == "not-allowed"
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.pool = "q"  # type: ignore[misc]
    with pytest.raises(TypeError):
        a.replace(nope=1)
    match a:
        case Allocation(service, ips, pool):
            assert (service, ips, pool) == ("ns/a", (V4,), "p")


@pytest.mark.parametrize("a", ALLOCATIONS, ids=repr)
def test_ip_texts_are_the_addresses_as_str_writes_them(a: Allocation) -> None:
    assert a.ip_texts == tuple(str(ip) for ip in a.ips)


@pytest.mark.parametrize("value", [0, 1, 255, 256, 0x0A000007, 0x7F000001, 0xC0A80001, 2**32 - 1])
def test_ipv4_text_is_str_of_the_address(value: int) -> None:
    assert ipv4_text(value) == str(IPv4Address(value))
