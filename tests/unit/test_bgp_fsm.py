"""The pure BGP FSM in virtual time: every timer is a call with a later ``now``."""

from __future__ import annotations

import pytest

from actors.bgp.codec import (
    KEEPALIVE,
    NotificationMessage,
    OpenMessage,
    RouteRefreshMessage,
    UpdateMessage,
    decode_message,
)
from actors.bgp.codec.attributes.base import PathAttributes
from actors.bgp.codec.capabilities import FourOctetAsCapability, MultiprotocolCapability
from actors.bgp.fsm import (
    Action,
    Close,
    Dial,
    Fsm,
    FsmConfig,
    RefreshRequested,
    Send,
    SessionDown,
    SessionUp,
    State,
    StateChanged,
    UpdateReceived,
)

LOCAL_ID = 0x0A63000B  # 10.99.0.11
CAPS = (MultiprotocolCapability(1, 1), MultiprotocolCapability(2, 1), FourOctetAsCapability(64512))


def local_open(bgp_id: int = LOCAL_ID) -> OpenMessage:
    return OpenMessage(64512, 90, bgp_id, CAPS)


def peer_open(bgp_id: int = 0x0A630001, hold: int = 9, asn: int = 64500) -> bytes:
    caps = (MultiprotocolCapability(1, 1), FourOctetAsCapability(asn))
    return OpenMessage(asn, hold, bgp_id, caps).encode()


def sent(actions: list[Action]) -> list[object]:
    return [decode_message(a.data) for a in actions if isinstance(a, Send)]


def notifications(actions: list[Action]) -> list[tuple[int, int]]:
    return [(m.code, m.subcode) for m in sent(actions) if isinstance(m, NotificationMessage)]


def new_fsm(**overrides) -> Fsm:
    return Fsm(FsmConfig(local_asn=64512, peer_asn=64500, hold_time=90, **overrides))


def establish(fsm: Fsm, now: float = 0.0, conn: int = 1, hold: int = 9) -> list[Action]:
    assert fsm.start(now) == [Dial(), StateChanged(State.IDLE, State.CONNECT, "started")]
    fsm.dialing(now, conn)
    up = fsm.connection_up(now, conn, True, local_open())
    assert isinstance(sent(up)[0], OpenMessage) and fsm.state is State.OPEN_SENT
    confirm = fsm.received(now, conn, peer_open(hold=hold))
    assert sent(confirm) == [decode_message(KEEPALIVE)] and fsm.state is State.OPEN_CONFIRM
    actions = fsm.received(now, conn, KEEPALIVE)
    assert fsm.state is State.ESTABLISHED
    return actions


def test_active_session_reaches_established_and_negotiates_hold_time() -> None:
    fsm = new_fsm()
    actions = establish(fsm, hold=9)
    up = next(a for a in actions if isinstance(a, SessionUp))
    assert (up.hold_time, up.keepalive_time) == (9.0, 3.0)  # min(90, 9), keepalive hold/3
    assert up.families == {(1, 1)}  # what both sides speak
    assert up.four_octet_as
    assert StateChanged(State.OPEN_CONFIRM, State.ESTABLISHED, "peer 10.99.0.1 AS 64500") in actions


def test_keepalives_every_third_of_the_hold_time_and_hold_timer_enforced() -> None:
    fsm = new_fsm()
    establish(fsm)
    assert fsm.next_deadline() == 3.0
    assert fsm.advance(3.0) == [Send(1, KEEPALIVE)]
    fsm.received(4.0, 1, KEEPALIVE)  # the peer is alive: hold restarts from 4
    assert fsm.advance(6.0) == [Send(1, KEEPALIVE)]
    assert fsm.advance(9.0) == [Send(1, KEEPALIVE)]
    assert fsm.state is State.ESTABLISHED  # 4 + 9 = 13 is the deadline
    actions = fsm.advance(13.0)
    assert notifications(actions) == [(4, 0)]
    assert Close(1) in actions and any(isinstance(a, SessionDown) for a in actions)
    assert fsm.state is State.IDLE
    assert "Hold Timer Expired" in fsm.last_reason and "retry in 1s" in fsm.last_reason
    assert fsm.advance(14.0)[0] == Dial()  # restarted after the backoff


def test_hold_time_zero_means_no_keepalives_and_no_hold_timer() -> None:
    fsm = new_fsm()
    establish(fsm, hold=0)
    assert fsm.next_deadline() is None
    assert fsm.advance(10_000.0) == [] and fsm.state is State.ESTABLISHED


def test_connect_retry_backs_off_from_one_second_doubling_to_two_minutes() -> None:
    fsm = new_fsm()
    fsm.start(0.0)
    now, conn, delays = 0.0, 1, []
    for _ in range(10):
        fsm.dialing(now, conn)
        actions = fsm.connect_failed(now, conn, "connection refused")
        assert Close(conn) in actions and fsm.state is State.ACTIVE
        deadline = fsm.next_deadline()
        assert deadline is not None
        delays.append(deadline - now)
        now = deadline
        assert fsm.advance(now)[0] == Dial()
        conn += 1
    assert delays == [1, 2, 4, 8, 16, 32, 64, 120, 120, 120]


def test_a_dial_that_hangs_times_out() -> None:
    fsm = new_fsm(connect_timeout=5.0)
    fsm.start(0.0)
    fsm.dialing(0.0, 7)
    actions = fsm.advance(5.0)
    assert Close(7) in actions and fsm.state is State.ACTIVE
    assert "connect timeout" in fsm.last_reason
    # A late completion of the abandoned dial is refused.
    assert fsm.connection_up(5.5, 7, True, local_open()) == [Close(7)]


def test_malformed_input_gets_its_notification_then_restarts_with_backoff() -> None:
    fsm = new_fsm()
    establish(fsm)
    bad = UpdateMessage((), PathAttributes(), ()).encode()[:-4] + b"\x00\x05\x40\x01"
    bad = bad[:16] + len(bad).to_bytes(2, "big") + bad[18:]
    actions = fsm.received(1.0, 1, bad)
    assert notifications(actions) == [(3, 1)]
    assert Close(1) in actions and fsm.state is State.IDLE
    assert fsm.next_deadline() == 2.0  # 1 s backoff
    # The session comes back, is rejected again quickly: the backoff doubles.
    fsm.advance(2.0)
    fsm.dialing(2.0, 2)
    fsm.connection_up(2.0, 2, True, local_open())
    fsm.received(2.0, 2, peer_open())
    fsm.received(2.0, 2, KEEPALIVE)
    fsm.received(3.0, 2, bad)
    assert fsm.next_deadline() == 5.0
    # A session that stayed up for a while resets it.
    fsm.advance(5.0)
    fsm.dialing(5.0, 3)
    fsm.connection_up(5.0, 3, True, local_open())
    fsm.received(5.0, 3, peer_open(hold=0))
    fsm.received(5.0, 3, KEEPALIVE)
    fsm.received(100.0, 3, bad)
    assert fsm.next_deadline() == 101.0


def test_wrong_peer_as_is_refused_with_bad_peer_as() -> None:
    fsm = new_fsm()
    fsm.start(0.0)
    fsm.dialing(0.0, 1)
    fsm.connection_up(0.0, 1, True, local_open())
    actions = fsm.received(0.0, 1, peer_open(asn=65000))
    assert notifications(actions) == [(2, 2)] and fsm.state is State.IDLE


def test_dynamic_external_peers_take_any_as_but_ours() -> None:
    fsm = Fsm(FsmConfig(local_asn=64512, peer_asn=0, external_only=True))
    fsm.start(0.0)
    fsm.dialing(0.0, 1)
    fsm.connection_up(0.0, 1, True, local_open())
    assert notifications(fsm.received(0.0, 1, peer_open(asn=64512))) == [(2, 2)]
    fsm.advance(1.0)
    fsm.dialing(1.0, 2)
    fsm.connection_up(1.0, 2, True, local_open())
    assert notifications(fsm.received(1.0, 2, peer_open(asn=65010))) == []
    assert fsm.state is State.OPEN_CONFIRM


def test_unexpected_messages_are_fsm_errors() -> None:
    fsm = new_fsm()
    fsm.start(0.0)
    fsm.dialing(0.0, 1)
    fsm.connection_up(0.0, 1, True, local_open())
    assert notifications(fsm.received(0.0, 1, KEEPALIVE)) == [(5, 1)]
    fsm = new_fsm()
    establish(fsm)
    assert notifications(fsm.received(1.0, 1, peer_open())) == [(5, 3)]


def test_updates_and_route_refresh_are_reported_in_established() -> None:
    fsm = new_fsm()
    establish(fsm)
    update = UpdateMessage(("10.0.0.0/8",))
    assert fsm.received(1.0, 1, update.encode()) == [UpdateReceived(1, update)]
    assert fsm.received(1.0, 1, RouteRefreshMessage(2, 1).encode()) == [RefreshRequested(1, 2, 1)]


def test_received_notification_is_reported_readably() -> None:
    fsm = new_fsm()
    establish(fsm)
    actions = fsm.received(1.0, 1, NotificationMessage.shutdown("maintenance").encode())
    assert (
        SessionDown('received NOTIFICATION: Cease: Administrative Shutdown ("maintenance")')
        in actions
    )
    assert not notifications(actions)  # never answer a NOTIFICATION with one


def test_stop_sends_cease_with_the_reason_or_nothing_for_graceful_restart() -> None:
    fsm = new_fsm()
    establish(fsm)
    actions = fsm.stop(1.0, "speaker shutting down")
    [note] = [m for m in sent(actions) if isinstance(m, NotificationMessage)]
    assert note.describe() == 'Cease: Administrative Shutdown ("speaker shutting down")'
    assert fsm.state is State.IDLE and fsm.next_deadline() is None
    fsm = new_fsm()
    establish(fsm)
    actions = fsm.stop(1.0, "restarting", notify=False)
    assert not notifications(actions) and Close(1) in actions


def test_bfd_down_takes_the_session_down_at_once() -> None:
    fsm = new_fsm()
    establish(fsm)
    actions = fsm.peer_failed(2.0, "BFD down: control detection time expired")
    assert notifications(actions) == [(6, 10)]
    assert any(isinstance(a, SessionDown) for a in actions) and fsm.state is State.IDLE
    assert fsm.next_deadline() == 3.0


def test_passive_peer_waits_and_never_dials() -> None:
    fsm = new_fsm(passive=True)
    assert fsm.start(0.0) == [
        StateChanged(State.IDLE, State.ACTIVE, "started: waiting for the peer to connect")
    ]
    fsm.connection_up(0.0, 5, False, local_open())
    fsm.received(0.0, 5, peer_open())
    fsm.received(0.0, 5, KEEPALIVE)
    assert fsm.state is State.ESTABLISHED
    actions = fsm.connection_lost(1.0, 5, "connection reset by peer")
    assert fsm.state is State.ACTIVE and not any(isinstance(a, Dial) for a in actions)
    assert fsm.next_deadline() is None


@pytest.mark.parametrize("peer_id_higher", [True, False])
@pytest.mark.parametrize("outbound_open_first", [True, False])
def test_collision_keeps_the_connection_opened_by_the_higher_identifier(
    peer_id_higher: bool, outbound_open_first: bool
) -> None:
    fsm = new_fsm()
    fsm.start(0.0)
    fsm.dialing(0.0, 1)
    fsm.connection_up(0.0, 1, True, local_open())  # ours
    fsm.connection_up(0.0, 2, False, local_open())  # the peer's, accepted
    peer_id = LOCAL_ID + 1 if peer_id_higher else LOCAL_ID - 1
    first, second = (1, 2) if outbound_open_first else (2, 1)
    fsm.received(0.0, first, peer_open(peer_id))
    actions = fsm.received(0.0, second, peer_open(peer_id))
    loser = 1 if peer_id_higher else 2  # the higher identifier's connection survives
    assert notifications(actions) == [(6, 7)] and Close(loser) in actions
    winner = 3 - loser
    assert set(fsm.conns) == {winner}
    fsm.received(0.0, winner, KEEPALIVE)
    assert fsm.state is State.ESTABLISHED and fsm.established_conn == winner


def test_a_connection_arriving_while_established_is_refused() -> None:
    fsm = new_fsm()
    establish(fsm)
    actions = fsm.connection_up(1.0, 9, False, local_open())
    assert notifications(actions) == [(6, 7)] and Close(9) in actions
    assert fsm.state is State.ESTABLISHED and fsm.established_conn == 1


def test_losing_the_tcp_connection_restarts() -> None:
    fsm = new_fsm()
    establish(fsm)
    actions = fsm.connection_lost(1.0, 1, "connection reset by peer")
    assert SessionDown("connection reset by peer") in actions and fsm.state is State.IDLE
    assert fsm.advance(2.0)[0] == Dial()


def test_open_sent_waits_four_minutes_for_the_peer_open() -> None:
    fsm = new_fsm()
    fsm.start(0.0)
    fsm.dialing(0.0, 1)
    fsm.connection_up(0.0, 1, True, local_open())
    assert fsm.next_deadline() == 240.0
    assert notifications(fsm.advance(240.0)) == [(4, 0)]
