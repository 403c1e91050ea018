"""How `lbtui speaker` gets layer 2, and the clear refusals before anything starts."""

from __future__ import annotations

import socket
import threading

import pytest

from actors.l2.actor import L2Announcer, L2AnnouncerActor
from actors.l2.interfaces import DEFAULT_EXCLUDE
from actors.roles import layer2 as wiring
from lbtui.cli import main


def test_parts_are_an_announcer_and_one_actor_spec() -> None:
    announcer, specs = wiring.l2_parts("node-a", refresh=30.0)
    assert isinstance(announcer, L2Announcer)
    [spec] = specs
    assert spec.cls is L2AnnouncerActor
    assert spec.kwargs["announcer"] is announcer
    assert spec.kwargs["exclude"] == DEFAULT_EXCLUDE and spec.kwargs["refresh"] == 30.0
    _, [custom] = wiring.l2_parts("node-a", exclude=["^eth1$"])
    assert custom.kwargs["exclude"] == ("^eth1$",)


def test_bad_patterns_and_periods_are_refused() -> None:
    with pytest.raises(ValueError, match="bad regular expression"):
        wiring.l2_parts("node-a", exclude=["(unclosed"])
    with pytest.raises(ValueError, match="--l2-refresh"):
        wiring.l2_parts("node-a", refresh=0)


def test_without_cap_net_raw_the_speaker_says_so_and_exits(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_socket = socket.socket

    def no_raw(family: int = -1, *args: object, **kw: object) -> socket.socket:
        if family == socket.AF_PACKET:
            raise PermissionError(1, "Operation not permitted")
        return real_socket(family, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(wiring.socket, "socket", no_raw)
    code = main(["speaker", "--node-name", "node-a", "--cluster", "examples/cluster.yaml"])
    assert code == 1
    assert "CAP_NET_RAW" in capsys.readouterr().err


def test_the_raw_socket_probe_is_closed_without_holding_up_the_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Closing a packet socket waits for an RCU grace period: the check does not wait."""
    release, closed = threading.Event(), threading.Event()

    class SlowToClose:
        def __init__(self, *args: object) -> None:
            pass

        def close(self) -> None:
            release.wait(5)
            closed.set()

    monkeypatch.setattr(wiring.socket, "socket", SlowToClose)
    wiring.check_raw_sockets()  # returns while the close still waits
    assert not closed.is_set()
    release.set()
    assert closed.wait(5)


def test_the_l2_collector_exposes_metallbs_exact_series_names() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from actors.l2.metrics import L2Collector
    from actors.l2.responder import GRATUITOUS_SENT, RECEIVES, REQUESTS_RECEIVED, RESPONSES_SENT

    announcer = L2Announcer()
    announcer.counters.add(REQUESTS_RECEIVED, "10.99.0.100", 3)
    announcer.counters.add(RESPONSES_SENT, "10.99.0.100", 3)
    announcer.counters.add(GRATUITOUS_SENT, "fd00:99::100", 5)
    announcer.counters.add(RECEIVES, "16-31", 2)
    registry = CollectorRegistry()
    registry.register(L2Collector(announcer.counters))
    text = generate_latest(registry).decode()
    assert 'metallb_layer2_requests_received{ip="10.99.0.100"} 3.0' in text
    assert 'metallb_layer2_responses_sent{ip="10.99.0.100"} 3.0' in text
    assert 'metallb_layer2_gratuitous_sent{ip="fd00:99::100"} 5.0' in text
    assert 'lbtui_layer2_receives{frames="16-31"} 2.0' in text  # how bursty the requests are
    assert "_total" not in text
