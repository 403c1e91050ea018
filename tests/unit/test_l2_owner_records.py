"""The L2 election's compact records (issue 19): :class:`L2Owner` (one service kept as its key,
a message saying only that key as its reason, the usual interfaces and announcers implicitly)
and :class:`L2Owners` (owners by address, their text made when asked) behave as the frozen
dataclass and the dict they replaced.
"""

from __future__ import annotations

import dataclasses
import pickle
from ipaddress import ip_address
from pathlib import Path

import pytest

from actors.allocator.converge import allocate_cluster
from actors.cluster.files import cluster_from_inputs
from actors.config.build import build_config
from actors.config.loader import load_files
from actors.election.l2 import (
    L2Decision,
    L2Owner,
    L2Owners,
    l2_decisions,
    l2_owners,
    owners_from,
)
from actors.election.plan import known_nodes
from actors.model.allocation import Allocation


def owner(**changes: object) -> L2Owner:
    fields: dict[str, object] = {
        "ip": "10.0.0.7",
        "node": None,
        "services": ("ns/a",),
        "interfaces": (),
        "reason": "noEndpoints",
        "message": "ns/a has no serving endpoint",
    }
    fields.update(changes)
    return L2Owner(**fields)  # type: ignore[arg-type]


OWNERS = [
    owner(),
    owner(message="something else"),
    owner(services=("ns/a", "ns/b")),
    owner(services=("ns/b", "ns/a"), message="ns/a has no serving endpoint"),
    owner(reason="unknownService", message="ns/a is not a known Service"),
    owner(node="n1", reason="announced", message="n1 is the only eligible node"),
    owner(node="n1", reason="announced", message="m", announcers=("n1",)),
    owner(node="n1", reason="announced", message="m", announcers=("n1", "n2")),
    owner(node="n1", reason="announced", message="m", interfaces=("eth0",)),
    owner(ip="fd00::7"),
    owner(ip="010.0.0.7"),
    owner(ip="not an address"),
]


@pytest.mark.parametrize("o", OWNERS, ids=repr)
def test_an_owner_gives_back_what_it_was_given(o: L2Owner) -> None:
    names = ("ip", "node", "services", "interfaces", "reason", "message", "announcers")
    again = L2Owner(*(getattr(o, name) for name in names))
    assert again == o and hash(again) == hash(o)
    assert pickle.loads(pickle.dumps(o)) == o
    assert o.services_text == ", ".join(o.services)
    inner = ", ".join(f"{name}={getattr(o, name)!r}" for name in names)
    assert repr(o) == f"L2Owner({inner})"
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.node = "x"  # type: ignore[misc]


def test_an_owner_keeps_the_fields_it_was_given() -> None:
    assert owner().announcers == () and owner().interfaces == ()
    # The dataclass's default: none given, none kept, even with a node.
    assert owner(node="n1", reason="announced", message="m").announcers == ()
    assert owner(node="n1", reason="announced", message="m", announcers=("n1",)).announcers == (
        "n1",
    )
    assert owner(ip="010.0.0.7").ip == "010.0.0.7"
    assert owner(services=("ns/b", "ns/a")).message == "ns/a has no serving endpoint"


def decision(service: str, ip: str, node: str | None = None) -> L2Decision:
    reason, message = ("announced", f"{node} won") if node else ("noEndpoints", "")
    if not node:
        message = f"{service} has no serving endpoint"
    return L2Decision(service, (ip_address(ip),), "p", node, reason, message)


def test_owners_are_keyed_by_text_in_address_order() -> None:
    owners = owners_from(
        [
            decision("ns/a", "10.0.0.10", "n1"),
            decision("ns/b", "fd00::1"),
            decision("ns/c", "10.0.0.9"),
            decision("ns/d", "10.0.0.10", "n2"),
            decision("ns/e", "9.0.0.1"),
        ]
    )
    assert isinstance(owners, L2Owners)
    assert list(owners) == ["9.0.0.1", "10.0.0.9", "10.0.0.10", "fd00::1"]
    assert [o.ip for o in owners.values()] == list(owners)
    assert [ip for ip, _ in owners.items()] == list(owners) and len(owners) == 4
    assert owners["10.0.0.10"].services == ("ns/a", "ns/d")
    assert owners["10.0.0.10"].announcers == ("n1", "n2")
    assert owners["fd00::1"].message == "ns/b has no serving endpoint"
    assert "fd00::1" in owners and "fd00:0::1" not in owners and "010.0.0.9" not in owners
    assert "10.0.0.1" not in owners and "nonsense" not in owners and owners.get(7) is None  # type: ignore[call-overload]
    as_dict = dict(owners.items())
    assert owners == as_dict and repr(owners) == repr(as_dict)
    del owners["10.0.0.9"]
    assert list(owners) == ["9.0.0.1", "10.0.0.10", "fd00::1"] and len(owners) == 3
    with pytest.raises(KeyError):
        del owners["10.0.0.9"]
    with pytest.raises(KeyError):
        owners["fd00:0::1"]


def test_retain_keeps_the_owners_asked_for_in_their_order() -> None:
    owners = owners_from(
        [
            decision("ns/a", "10.0.0.10", "n1"),
            decision("ns/b", "fd00::1"),
            decision("ns/c", "10.0.0.9"),
            decision("ns/d", "9.0.0.1", "n2"),
        ]
    )
    owners.retain(lambda o: o.node is not None or o.ip == "fd00::1")
    assert list(owners) == ["9.0.0.1", "10.0.0.10", "fd00::1"] and len(owners) == 3
    assert "10.0.0.9" not in owners
    owners.retain(lambda o: False)
    assert list(owners) == [] and len(owners) == 0


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize(
    "down", [frozenset(), frozenset({"node-b"}), frozenset({"node-a", "node-c"})]
)
def test_owners_without_the_decisions_are_those_of_the_decisions(down: frozenset[str]) -> None:
    """l2_owners makes a vote without a decision where no node takes part (no endpoints,
    unknown service or pool, no address): the owners are those of the full decisions."""
    inputs = load_files([str(EXAMPLES / "crds" / "config.yaml"), str(EXAMPLES / "cluster.yaml")])
    config = build_config(inputs).config
    assert config is not None
    cluster = cluster_from_inputs(inputs)
    allocations, _ = allocate_cluster(config, cluster)
    # Every kind of verdict: an address no pool holds, a service the cluster does not know,
    # and one with no address.
    assignments = {
        **allocations,
        "default/ghost": Allocation("default/ghost", (ip_address("10.99.0.200"),), "l2-pool"),
        "default/api": Allocation("default/api", (ip_address("172.16.9.9"),), None),
        "default/web": Allocation("default/web", (), None),
    }
    alive = known_nodes(cluster) - down
    fast = l2_owners(config, cluster, assignments, alive)
    full = owners_from(l2_decisions(config, cluster, assignments, alive).values())
    assert list(fast.items()) == list(full.items())
    reasons = {o.reason for o in fast.values()}
    assert {"announced", "noEndpoints", "unknownService", "unknownPool"} <= reasons
