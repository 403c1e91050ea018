"""The runtime's records are msgspec Structs (issue 19: a dataclass costs 0.76 ms to create at
import): they must behave as the frozen dataclasses they were, and secrets stay out of repr."""

from __future__ import annotations

import copy
import ipaddress
import pickle

import msgspec
import pytest

from actors.config.loader import Inputs, LegacyConfigMap, Sourced
from actors.events import AnnouncementStarted, Event, GratuitousSent, MembershipUpdated
from actors.model.config import Community, Peer, SecretRef
from actors.observability.status import StatusBoard


def test_peer_repr_leaves_the_password_out() -> None:
    peer = Peer("r", 64500, 64501, ipaddress.ip_address("10.0.0.1"), password="hunter2")
    text = repr(peer)
    assert "hunter2" not in text and "password=" not in text
    assert text.startswith("Peer(name='r', my_asn=64500, peer_asn=64501, peer_address=IPv4Add")
    assert "password_secret=None, bfd_profile=''" in text
    assert text.endswith("local_asn=None, interface='')")
    # still a field: equality and replace see it
    assert peer != msgspec.structs.replace(peer, password="other")
    assert msgspec.structs.replace(peer, password_secret=SecretRef("s", "ns")).password == "hunter2"


def test_legacy_configmap_repr_leaves_the_text_out() -> None:
    cm = LegacyConfigMap("config", "metallb-system", "peers:\n- password: T0p-S3cret\n", 4)
    assert repr(cm) == "LegacyConfigMap(name='config', namespace='metallb-system', line_offset=4)"
    inputs = Inputs(legacy=[Sourced(cm, "f.yaml", 1)])
    assert "T0p-S3cret" not in repr(inputs)


def test_events_are_frozen_hashable_and_keep_their_json() -> None:
    e = AnnouncementStarted(1.5, "n1", "10.0.0.1", "layer2", "elected", "eth0", ("a/web",))
    with pytest.raises(AttributeError):
        e.ip = "10.0.0.2"  # type: ignore[misc]
    assert e == copy.deepcopy(e) == pickle.loads(pickle.dumps(e))
    assert hash(e) == hash(
        AnnouncementStarted(1.5, "n1", "10.0.0.1", "layer2", "elected", "eth0", ("a/web",))
    )
    assert e.to_json() == {
        "t": 1.5,
        "event": "AnnouncementStarted",
        "node": "n1",
        "ip": "10.0.0.1",
        "protocol": "layer2",
        "reason": "elected",
        "interface": "eth0",
        "services": ["a/web"],
        "peers": [],
    }
    m = MembershipUpdated(2.0, "n1", frozenset({"b", "a"}), frozenset())
    assert m.to_json()["alive"] == ["a", "b"]
    assert isinstance(m, Event) and m.name == "MembershipUpdated"
    assert GratuitousSent(0.0, "n", "ip", (), 2, 1) != GratuitousSent(0.0, "n", "ip", (), 2, 2)


def test_order_and_mutable_records() -> None:
    assert sorted([Community("65000:2"), Community("65000:1")])[0] == Community("65000:1")
    board = StatusBoard()
    board.seq += 1  # mutable, and its lock came from __post_init__
    assert board.seq == 1 and board._cond is not None
    a, b = Inputs(), Inputs()
    a.issues.append(None)  # type: ignore[arg-type]
    assert b.issues == []  # empty defaults are per instance
