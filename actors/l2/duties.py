"""From what the speaker wants announced and the links, what each interface answers (pure).

``wanted`` maps each address this node owns to the interfaces its L2Advertisements name
(empty: every eligible interface). The result has one :class:`InterfaceDuty` per eligible
interface (a responder exists on each, with or without addresses, as in MetalLB) and, per
address, the interfaces it is answered on: empty means nowhere (MetalLB's ``announceFailed``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from types import MappingProxyType

import msgspec

from actors.l2.interfaces import InterfacePolicy, Link
from actors.l2.responder import InterfaceDuty


class DutyPlan(msgspec.Struct, frozen=True):
    interfaces: Mapping[str, InterfaceDuty]
    answering: Mapping[str, tuple[str, ...]]  # ip -> interface names
    invalid: tuple[str, ...] = ()  # wanted entries that are not IP addresses


def plan_duties(
    wanted: Mapping[str, tuple[str, ...]], links: tuple[Link, ...], policy: InterfacePolicy
) -> DutyPlan:
    default = policy.eligible(links)
    v4: dict[str, dict[bytes, str]] = {}
    v6: dict[str, dict[bytes, str]] = {}
    used: dict[str, Link] = {li.name: li for li in default}
    answering: dict[str, tuple[str, ...]] = {}
    invalid: list[str] = []
    for text, named in sorted(wanted.items()):
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            invalid.append(text)
            continue
        chosen = policy.eligible(links, named) if named else default
        answering[text] = tuple(li.name for li in chosen)
        table = v4 if address.version == 4 else v6
        for li in chosen:
            used[li.name] = li
            table.setdefault(li.name, {})[address.packed] = text
    interfaces = {
        name: InterfaceDuty(
            name=name,
            index=li.index,
            mac=li.mac,
            link_local=li.link_local,
            ipv4=MappingProxyType(v4.get(name, {})),
            ipv6=MappingProxyType(v6.get(name, {})),
        )
        for name, li in sorted(used.items())
    }
    return DutyPlan(MappingProxyType(interfaces), MappingProxyType(answering), tuple(invalid))
