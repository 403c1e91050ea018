"""Which interfaces answer (MetalLB's rules) and what each answers for (pure planning)."""

from __future__ import annotations

import ipaddress

import pytest

from actors.l2.duties import plan_duties
from actors.l2.interfaces import (
    ARPHRD_ETHER,
    IFF_BROADCAST,
    IFF_LOWER_UP,
    IFF_NOARP,
    IFF_UP,
    InterfacePolicy,
    Link,
)

UP = IFF_UP | IFF_BROADCAST | IFF_LOWER_UP


def link(index: int, name: str, flags: int = UP, **kw: object) -> Link:
    return Link(index, name, bytes([2, 0, 0, 0, 0, index]), flags, **kw)  # type: ignore[arg-type]


LINKS = (
    link(1, "lo", IFF_UP | IFF_LOWER_UP, link_type=772),
    link(2, "eth0"),
    link(3, "eth1", IFF_BROADCAST),  # administratively down
    link(4, "docker0"),
    link(5, "veth12ab"),
    link(6, "bond-slave", enslaved=True),
    link(7, "wg0", IFF_UP | IFF_LOWER_UP | IFF_NOARP),
    link(8, "eth2", IFF_UP | IFF_BROADCAST),  # up, no carrier
    link(9, "cali123"),
    link(10, "tun0", IFF_UP | IFF_LOWER_UP, link_type=65534),
)


def names(links: tuple[Link, ...]) -> list[str]:
    return [li.name for li in links]


def test_metallb_default_rules() -> None:
    policy = InterfacePolicy()
    assert names(policy.eligible(LINKS)) == ["eth0", "eth2"]
    assert names(policy.would_announce(LINKS)) == ["eth0", "eth1", "eth2"]
    assert policy.has_carrier(LINKS)


def test_exclusion_list_can_be_replaced() -> None:
    assert names(InterfacePolicy([r"^eth0$"]).eligible(LINKS)) == [
        "cali123",
        "docker0",
        "eth2",
        "veth12ab",
    ]
    with pytest.raises(ValueError, match="bad regular expression"):
        InterfacePolicy(["("])


def test_named_interfaces_win_over_the_exclusion_list_but_not_over_the_rules() -> None:
    policy = InterfacePolicy()
    assert names(policy.eligible(LINKS, ("docker0", "eth1", "bond-slave", "nope"))) == ["docker0"]


def test_carrier_lost_everywhere_means_no_carrier() -> None:
    policy = InterfacePolicy()
    dark = tuple(
        Link(li.index, li.name, li.mac, li.flags & ~IFF_LOWER_UP, li.link_type, li.enslaved)
        for li in LINKS
    )
    assert not policy.has_carrier(dark)
    assert policy.has_carrier((*dark, link(11, "eth3")))
    assert not policy.has_carrier((*dark, link(12, "docker1")))  # excluded: does not count


def v4(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


def test_duties_per_interface_and_answering_per_address() -> None:
    wanted = {
        "10.99.0.100": (),
        "fd00:99::100": (),
        "10.99.0.101": ("eth2",),
        "10.99.0.102": ("eth9",),
        "bogus": (),
    }
    plan = plan_duties(wanted, LINKS, InterfacePolicy())
    assert plan.answering == {
        "10.99.0.100": ("eth0", "eth2"),
        "10.99.0.101": ("eth2",),
        "10.99.0.102": (),
        "fd00:99::100": ("eth0", "eth2"),
    }
    assert plan.invalid == ("bogus",)
    assert sorted(plan.interfaces) == ["eth0", "eth2"]
    eth0, eth2 = plan.interfaces["eth0"], plan.interfaces["eth2"]
    assert dict(eth0.ipv4) == {v4("10.99.0.100"): "10.99.0.100"}
    assert dict(eth2.ipv4) == {v4("10.99.0.100"): "10.99.0.100", v4("10.99.0.101"): "10.99.0.101"}
    assert dict(eth0.ipv6) == {v4("fd00:99::100"): "fd00:99::100"}
    assert (eth0.index, eth0.mac) == (2, bytes([2, 0, 0, 0, 0, 2]))


def test_an_interface_named_only_by_an_advertisement_gets_a_responder_too() -> None:
    plan = plan_duties({"10.99.0.100": ("docker0",)}, LINKS, InterfacePolicy())
    assert plan.answering == {"10.99.0.100": ("docker0",)}
    assert sorted(plan.interfaces) == ["docker0", "eth0", "eth2"]
    assert not plan.interfaces["eth0"].ipv4


def test_arp_ether_type_constant_is_ethernet() -> None:
    assert ARPHRD_ETHER == 1
