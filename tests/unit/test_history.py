"""The announcement history (actors/observability/history.py) and ``GET /history`` on the
status endpoint.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from actors.clock import ManualClock
from actors.events import (
    AnnouncementStarted,
    AnnouncementStopped,
    FailoverMeasured,
    NodeLeft,
    SplitBrainDetected,
)
from actors.observability.history import AnnouncementHistory
from actors.observability.status import StatusActor

VIP = "10.99.90.100"
PREFIX = "10.99.91.10/32"


def story() -> list[Any]:
    return [
        AnnouncementStarted(1.0, "n1", VIP, "layer2", "n1 sorts first", "eth0", ("d/web",)),
        AnnouncementStarted(1.0, "n2", PREFIX, "bgp", "advertised to router", "", ("d/b",), ("r",)),
        NodeLeft(5.0, "n1", "dead", observer="n2"),  # not an announcement: not recorded
        AnnouncementStarted(5.1, "n2", VIP, "layer2", "failover from n1 (dead)", "eth0"),
        FailoverMeasured(5.11, "n2", VIP, "layer2", "n1", 0.61, "dead", 0.6),
        SplitBrainDetected(6.0, "n2", VIP, "eth0", "02:00:00:00:00:01", "02:00:00:00:00:02"),
        AnnouncementStopped(7.0, "n2", VIP, "layer2", "n1 elected", "eth0"),
    ]


def test_who_announced_what_when_and_why() -> None:
    history = AnnouncementHistory()
    for event in story():
        history.record(event, wall=1_000_000.0 + event.t)
    assert [(e.seq, e.node, e.action) for e in history.query(ip=VIP)] == [
        (1, "n1", "announced"),
        (3, "n2", "announced"),
        (4, "n2", "failover"),
        (5, "n2", "conflict"),
        (6, "n2", "withdrawn"),
    ]
    failover = history.query(action="failover")[0]
    assert failover.seconds == pytest.approx(0.61)
    assert failover.reason == "from n1 (dead): first packet after 0.610s"
    assert history.query(ip=VIP, node="n2", action="announced")[0].reason.startswith("failover")
    # A host route is found by its address too.
    (route,) = history.query(ip="10.99.91.10")
    assert (route.ip, route.peers, route.services) == (PREFIX, ("r",), ("d/b",))
    assert [e.seq for e in history.query(since=4)] == [5, 6]
    assert [e.seq for e in history.query(limit=2)] == [5, 6]
    assert history.query(limit=0) == []
    assert history.query(protocol="bgp")[0].to_json() == {
        "seq": 2,
        "t": 1.0,
        "wall": 1_000_001.0,
        "node": "n2",
        "ip": PREFIX,
        "protocol": "bgp",
        "action": "announced",
        "reason": "advertised to router",
        "services": ["d/b"],
        "peers": ["r"],
    }


def test_bounded_newest_kept() -> None:
    history = AnnouncementHistory(limit=3)
    for i in range(10):
        history.record(AnnouncementStarted(float(i), "n1", f"10.0.0.{i}", "layer2", "x"), 0.0)
    assert len(history) == 3
    assert (history.recorded, history.dropped) == (10, 7)
    assert [e.seq for e in history.query()] == [8, 9, 10]
    with pytest.raises(ValueError):
        AnnouncementHistory(limit=0)


@pytest.fixture
def endpoint() -> Iterator[str]:
    clock = ManualClock()
    clock.advance(100.0)
    ref = StatusActor.start(address=("127.0.0.1", 0), clock=clock)
    proxy = ref.proxy()
    host, port = proxy.bound().get(timeout=5)
    for event in story():
        proxy.on_event(event).get(timeout=5)
    try:
        yield f"http://{host}:{port}"
    finally:
        ref.stop()


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_get_history_on_the_status_endpoint(endpoint: str) -> None:
    status, body = get(f"{endpoint}/history")
    assert status == 200
    assert (body["recorded"], body["dropped"]) == (6, 0)
    assert [e["action"] for e in body["entries"]] == [
        "announced",
        "announced",
        "announced",
        "failover",
        "conflict",
        "withdrawn",
    ]
    # Monotonic times become Unix times through the endpoint's clock (ManualClock: now 100).
    assert body["entries"][0]["wall"] == pytest.approx(ManualClock().wall() + 1.0)
    status, body = get(f"{endpoint}/history?ip={VIP}&node=n2&since=3&limit=2")
    assert [e["seq"] for e in body["entries"]] == [5, 6]
    status, body = get(f"{endpoint}/history?limit=many")
    assert status == 400 and "limit" in body["error"]
