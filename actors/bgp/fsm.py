"""The BGP finite state machine (RFC 4271 §8) for one peer, as pure code.

No sockets and no clock: every input carries ``now`` (virtual or real seconds) and returns the
actions to carry out (dial, send, close, session up/down, state changes). Timers are deadlines
kept here; the caller asks :meth:`Fsm.next_deadline` and calls :meth:`Fsm.advance` then, so a
hold-timer expiry in a test is a call with a later ``now``, never a sleep.

Beyond a single connection it handles:
- passive and active peers: an active FSM dials and also accepts the peer's connection;
  two connections at once are resolved by BGP Identifier (§6.8, Connection Collision
  Detection), the connection opened by the higher identifier surviving;
- connect retry with backoff: 1 s doubling up to 2 min, back to 1 s once a session stayed
  established for ``stable_after`` seconds (so a peer that accepts then rejects us is not
  hammered every second);
- the hold timer enforced on receive: any message from the peer restarts it, and its expiry
  sends NOTIFICATION Hold Timer Expired; keepalives every min(keepalive, hold/3);
- malformed input: the NOTIFICATION the codec names, close, restart after the backoff.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from actors.bgp.codec import (
    KEEPALIVE,
    BGPError,
    KeepaliveMessage,
    NotificationMessage,
    OpenMessage,
    RouteRefreshMessage,
    UpdateMessage,
    decode_message,
)
from actors.bgp.codec.errors import CeaseSubcode, ErrorCode, FsmSubcode, OpenSubcode


class State(StrEnum):
    IDLE = "Idle"
    CONNECT = "Connect"
    ACTIVE = "Active"
    OPEN_SENT = "OpenSent"
    OPEN_CONFIRM = "OpenConfirm"
    ESTABLISHED = "Established"


_RANK = {
    State.IDLE: 0,
    State.ACTIVE: 1,
    State.CONNECT: 1,
    State.OPEN_SENT: 2,
    State.OPEN_CONFIRM: 3,
    State.ESTABLISHED: 4,
}

# -- actions ----------------------------------------------------------------------------------


class Dial(msgspec.Struct, frozen=True):
    """Open an outbound TCP connection; report it back with :meth:`Fsm.dialing`."""


class Send(msgspec.Struct, frozen=True):
    """Send a control message (OPEN, KEEPALIVE, NOTIFICATION) ahead of queued updates."""

    conn: int
    data: bytes


class Close(msgspec.Struct, frozen=True):
    """Close the connection once what was sent on it has gone out."""

    conn: int


class SessionUp(msgspec.Struct, frozen=True):
    conn: int
    peer_open: OpenMessage
    local_open: OpenMessage
    hold_time: float
    keepalive_time: float
    families: frozenset[tuple[int, int]]
    four_octet_as: bool


class SessionDown(msgspec.Struct, frozen=True):
    reason: str


class UpdateReceived(msgspec.Struct, frozen=True):
    conn: int
    update: UpdateMessage


class RefreshRequested(msgspec.Struct, frozen=True):
    conn: int
    afi: int
    safi: int


class StateChanged(msgspec.Struct, frozen=True):
    old: State
    new: State
    reason: str


Action = (
    Dial | Send | Close | SessionUp | SessionDown | UpdateReceived | RefreshRequested | StateChanged
)


class FsmConfig(msgspec.Struct, frozen=True):
    local_asn: int
    peer_asn: int  # 0: any (the route collector takes whoever connects)
    # dynamicASN "external": any AS but our own.
    external_only: bool = False
    hold_time: int = 90
    keepalive_time: float = 30.0
    passive: bool = False
    connect_timeout: float = 10.0
    backoff_initial: float = 1.0
    backoff_max: float = 120.0
    # Hold time while waiting for the peer's OPEN (RFC 4271 §8.2.2 suggests 4 minutes).
    open_hold_time: float = 240.0
    stable_after: float = 30.0


class _Conn(msgspec.Struct):
    id: int
    outbound: bool
    local_open: OpenMessage
    phase: State = State.OPEN_SENT
    peer_open: OpenMessage | None = None
    hold: float = 0.0
    keepalive: float = 0.0
    hold_deadline: float | None = None
    keepalive_deadline: float | None = None
    four_octet_as: bool = True


class Fsm(msgspec.Struct):
    config: FsmConfig
    state: State = State.IDLE
    admin_up: bool = False
    dial_conn: int | None = None
    dial_deadline: float | None = None
    retry_deadline: float | None = None
    backoff: float = 0.0
    established_conn: int | None = None
    established_at: float = 0.0
    last_reason: str = ""
    conns: dict[int, _Conn] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.backoff = self.config.backoff_initial

    # -- admin ----------------------------------------------------------------------------------
    def start(self, now: float) -> list[Action]:
        """ManualStart: dial at once (active) or wait for the peer (passive)."""
        if self.admin_up:
            return []
        self.admin_up = True
        return self._begin(now, "started")

    def stop(
        self,
        now: float,
        reason: str,
        *,
        notify: bool = True,
        subcode: int = CeaseSubcode.ADMINISTRATIVE_SHUTDOWN,
    ) -> list[Action]:
        """ManualStop: Cease (unless ``notify`` is False: graceful restart), close, Idle."""
        self.admin_up = False
        out = self._close_all(reason, notify, subcode)
        self.retry_deadline = None
        out += self._enter(State.IDLE, reason)
        return out

    def peer_failed(
        self, now: float, reason: str, subcode: int = CeaseSubcode.BFD_DOWN
    ) -> list[Action]:
        """An outside detector (BFD) says the peer is gone: down at once, retry with backoff."""
        if not self.conns and self.dial_conn is None:
            return []
        out = self._close_all(reason, True, subcode)
        return out + self._after_failure(now, reason)

    # -- connections ----------------------------------------------------------------------------
    def dialing(self, now: float, conn: int) -> None:
        """The Dial action was carried out: ``conn`` is the pending outbound connection."""
        self.dial_conn = conn
        self.dial_deadline = now + self.config.connect_timeout

    def connection_up(
        self, now: float, conn: int, outbound: bool, local_open: OpenMessage
    ) -> list[Action]:
        """A TCP connection is up (our dial completed, or the peer's was accepted)."""
        if not self.admin_up:
            return [Close(conn)]
        if outbound:
            if conn != self.dial_conn:
                return [Close(conn)]  # a dial we gave up on
            self.dial_conn = None
            self.dial_deadline = None
        if self.established_conn is not None:
            # §6.8: a collision with an Established session closes the newcomer.
            return self._reject(conn, CeaseSubcode.CONNECTION_COLLISION_RESOLUTION)
        self.retry_deadline = None
        self.conns[conn] = _Conn(
            conn,
            outbound,
            local_open,
            hold_deadline=now + self.config.open_hold_time,
        )
        out: list[Action] = [Send(conn, local_open.encode())]
        return out + self._sync_state("connection up (outbound)" if outbound else "accepted")

    def connect_failed(self, now: float, conn: int, reason: str) -> list[Action]:
        if conn != self.dial_conn:
            return []
        self.dial_conn = None
        self.dial_deadline = None
        if self.conns or not self.admin_up:
            return [Close(conn)]
        return [Close(conn), *self._wait_retry(now, State.ACTIVE, f"connect failed: {reason}")]

    def connection_lost(self, now: float, conn: int, reason: str) -> list[Action]:
        if conn == self.dial_conn:
            return self.connect_failed(now, conn, reason)
        c = self.conns.pop(conn, None)
        if c is None:
            return []
        out: list[Action] = [Close(conn)]
        if c.phase is State.ESTABLISHED:
            return out + self._session_lost(now, reason)
        if self.conns:
            return out + self._sync_state(reason)
        return out + self._after_failure(now, reason)

    # -- messages -------------------------------------------------------------------------------
    def received(self, now: float, conn: int, message: bytes) -> list[Action]:
        """One whole message (as FrameReader cut it) arrived on ``conn``."""
        c = self.conns.get(conn)
        if c is None:
            return []
        try:
            msg = decode_message(message, c.four_octet_as)
        except BGPError as exc:
            return self._fail(now, c, exc)
        return self._handle(now, c, msg)

    def framing_error(self, now: float, conn: int, error: BGPError) -> list[Action]:
        """The byte stream itself is broken (bad marker or length)."""
        c = self.conns.get(conn)
        if c is None:
            return [Close(conn)]
        return self._fail(now, c, error)

    def _handle(
        self,
        now: float,
        c: _Conn,
        msg: OpenMessage
        | UpdateMessage
        | NotificationMessage
        | KeepaliveMessage
        | RouteRefreshMessage,
    ) -> list[Action]:
        if isinstance(msg, NotificationMessage):
            return self._drop(now, c, f"received NOTIFICATION: {msg.describe()}")
        if c.hold > 0 and c.phase is not State.OPEN_SENT:
            c.hold_deadline = now + c.hold
        if c.phase is State.OPEN_SENT:
            if isinstance(msg, OpenMessage):
                return self._open_received(now, c, msg)
            return self._fail(now, c, _fsm_error(FsmSubcode.UNEXPECTED_IN_OPEN_SENT, msg))
        if c.phase is State.OPEN_CONFIRM:
            if isinstance(msg, KeepaliveMessage):
                return self._establish(now, c)
            return self._fail(now, c, _fsm_error(FsmSubcode.UNEXPECTED_IN_OPEN_CONFIRM, msg))
        # Established
        if isinstance(msg, UpdateMessage):
            return [UpdateReceived(c.id, msg)]
        if isinstance(msg, RouteRefreshMessage):
            return [RefreshRequested(c.id, msg.afi, msg.safi)]
        if isinstance(msg, KeepaliveMessage):
            return []
        return self._fail(now, c, _fsm_error(FsmSubcode.UNEXPECTED_IN_ESTABLISHED, msg))

    def _open_received(self, now: float, c: _Conn, peer: OpenMessage) -> list[Action]:
        cfg = self.config
        if (cfg.peer_asn and peer.asn != cfg.peer_asn) or (
            cfg.external_only and peer.asn == cfg.local_asn
        ):
            return self._fail(
                now,
                c,
                BGPError(
                    ErrorCode.OPEN_MESSAGE,
                    OpenSubcode.BAD_PEER_AS,
                    (min(peer.asn, 0xFFFF)).to_bytes(2, "big"),
                    f"peer says AS {peer.asn}, expected {cfg.peer_asn}",
                ),
            )
        if cfg.local_asn == cfg.peer_asn and peer.bgp_id == c.local_open.bgp_id:
            return self._fail(
                now,
                c,
                BGPError(
                    ErrorCode.OPEN_MESSAGE,
                    OpenSubcode.BAD_BGP_IDENTIFIER,
                    b"",
                    f"peer uses our own BGP identifier {peer.router_id}",
                ),
            )
        c.peer_open = peer
        c.four_octet_as = peer.four_octet_as
        # Collision detection (§6.8) against a connection that already has the peer's OPEN.
        for other in list(self.conns.values()):
            if other is c or other.phase is State.OPEN_SENT:
                continue
            local_id = c.local_open.bgp_id
            keep_outbound = local_id > peer.bgp_id
            loser = c if c.outbound != keep_outbound else other
            if other.phase is State.ESTABLISHED:
                loser = c
            out = self._reject(loser.id, CeaseSubcode.CONNECTION_COLLISION_RESOLUTION)
            if loser is c:
                return out + self._sync_state("connection collision: kept the other")
            out += self._confirm(now, c)
            return out + self._sync_state("connection collision: kept this one")
        return self._confirm(now, c) + self._sync_state("OPEN received")

    def _confirm(self, now: float, c: _Conn) -> list[Action]:
        assert c.peer_open is not None
        cfg = self.config
        hold = float(min(cfg.hold_time, c.peer_open.hold_time))
        c.hold = hold
        c.keepalive = min(cfg.keepalive_time, hold / 3) if hold else 0.0
        c.phase = State.OPEN_CONFIRM
        c.hold_deadline = now + hold if hold else None
        c.keepalive_deadline = now + c.keepalive if c.keepalive else None
        return [Send(c.id, KEEPALIVE)]

    def _establish(self, now: float, c: _Conn) -> list[Action]:
        assert c.peer_open is not None
        out: list[Action] = []
        for other in list(self.conns.values()):
            if other is not c:
                out += self._reject(other.id, CeaseSubcode.CONNECTION_COLLISION_RESOLUTION)
        c.phase = State.ESTABLISHED
        self.established_conn = c.id
        self.established_at = now
        families = c.local_open.families & c.peer_open.families
        # The state change first, so "Established" is reported before any route goes out.
        out += self._sync_state(f"peer {c.peer_open.router_id} AS {c.peer_open.asn}")
        out.append(
            SessionUp(
                c.id,
                c.peer_open,
                c.local_open,
                c.hold,
                c.keepalive,
                families,
                c.four_octet_as and c.local_open.four_octet_as,
            )
        )
        return out

    # -- timers ---------------------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        deadlines = [d for d in (self.dial_deadline, self.retry_deadline) if d is not None]
        for c in self.conns.values():
            deadlines += [d for d in (c.hold_deadline, c.keepalive_deadline) if d is not None]
        return min(deadlines) if deadlines else None

    def advance(self, now: float) -> list[Action]:
        """Fire every timer due at ``now``."""
        out: list[Action] = []
        if self.dial_deadline is not None and self.dial_deadline <= now:
            conn = self.dial_conn
            assert conn is not None
            out += self.connect_failed(now, conn, "connect timeout")
        for c in list(self.conns.values()):
            if c.id not in self.conns:
                continue  # closed by an earlier action in this round
            if c.hold_deadline is not None and c.hold_deadline <= now:
                held = c.hold if c.phase is not State.OPEN_SENT else self.config.open_hold_time
                error = BGPError(
                    ErrorCode.HOLD_TIMER_EXPIRED, 0, b"", f"nothing received for {held:g}s"
                )
                out += self._fail(now, c, error)
                continue
            if c.keepalive_deadline is not None and c.keepalive_deadline <= now:
                c.keepalive_deadline = now + c.keepalive
                out.append(Send(c.id, KEEPALIVE))
        if self.retry_deadline is not None and self.retry_deadline <= now:
            self.retry_deadline = None
            if self.admin_up and not self.conns and self.dial_conn is None:
                out += self._begin(now, "retrying")
        return out

    # -- internals ------------------------------------------------------------------------------
    def _begin(self, now: float, reason: str) -> list[Action]:
        if self.config.passive:
            return self._enter(State.ACTIVE, f"{reason}: waiting for the peer to connect")
        return [Dial(), *self._enter(State.CONNECT, reason)]

    def _fail(self, now: float, c: _Conn, error: BGPError) -> list[Action]:
        """Send the NOTIFICATION for ``error`` on ``c``, close it, restart with backoff."""
        self.conns.pop(c.id, None)
        reason = f"sent NOTIFICATION: {error}"
        notification = NotificationMessage.from_error(error).encode()
        out: list[Action] = [Send(c.id, notification), Close(c.id)]
        if c.phase is State.ESTABLISHED:
            return out + self._session_lost(now, reason)
        if self.conns:
            return out + self._sync_state(reason)
        return out + self._after_failure(now, reason)

    def _drop(self, now: float, c: _Conn, reason: str) -> list[Action]:
        self.conns.pop(c.id, None)
        out: list[Action] = [Close(c.id)]
        if c.phase is State.ESTABLISHED:
            return out + self._session_lost(now, reason)
        if self.conns:
            return out + self._sync_state(reason)
        return out + self._after_failure(now, reason)

    def _reject(self, conn: int, subcode: int) -> list[Action]:
        self.conns.pop(conn, None)
        notification = NotificationMessage(ErrorCode.CEASE, subcode)
        return [Send(conn, notification.encode()), Close(conn)]

    def _session_lost(self, now: float, reason: str) -> list[Action]:
        self.established_conn = None
        if now - self.established_at >= self.config.stable_after:
            self.backoff = self.config.backoff_initial
        out: list[Action] = [SessionDown(reason)]
        out += self._close_all(reason, True, CeaseSubcode.UNSPECIFIC)
        return out + self._after_failure(now, reason)

    def _after_failure(self, now: float, reason: str) -> list[Action]:
        if not self.admin_up:
            return self._enter(State.IDLE, reason)
        if self.config.passive:
            return self._enter(State.ACTIVE, reason)
        return self._wait_retry(now, State.IDLE, reason)

    def _wait_retry(self, now: float, state: State, reason: str) -> list[Action]:
        delay = self.backoff
        self.backoff = min(self.backoff * 2, self.config.backoff_max)
        self.retry_deadline = now + delay
        return self._enter(state, f"{reason}; retry in {delay:g}s")

    def _close_all(self, reason: str, notify: bool, subcode: int) -> list[Action]:
        out: list[Action] = []
        if self.established_conn is not None:
            out.append(SessionDown(reason))
            self.established_conn = None
        for c in list(self.conns.values()):
            if notify:
                text = reason if subcode == CeaseSubcode.ADMINISTRATIVE_SHUTDOWN else ""
                note = (
                    NotificationMessage.shutdown(text, subcode)
                    if text
                    else NotificationMessage(ErrorCode.CEASE, subcode)
                )
                out.append(Send(c.id, note.encode()))
            out.append(Close(c.id))
        self.conns.clear()
        if self.dial_conn is not None:
            out.append(Close(self.dial_conn))
            self.dial_conn = None
            self.dial_deadline = None
        return out

    def _sync_state(self, reason: str) -> list[Action]:
        """The session's state is its most advanced connection's."""
        if self.conns:
            best = max(self.conns.values(), key=lambda c: _RANK[c.phase])
            return self._enter(best.phase, reason)
        return self._enter(State.CONNECT if self.dial_conn is not None else State.ACTIVE, reason)

    def _enter(self, new: State, reason: str) -> list[Action]:
        self.last_reason = reason
        if new is self.state:
            return []
        old, self.state = self.state, new
        return [StateChanged(old, new, reason)]


def _fsm_error(subcode: int, msg: object) -> BGPError:
    kind = type(msg).__name__.removesuffix("Message").upper()
    # RFC 6608: the data field carries the type of the unexpected message.
    codes = {"OPEN": 1, "UPDATE": 2, "NOTIFICATION": 3, "KEEPALIVE": 4, "ROUTEREFRESH": 5}
    return BGPError(ErrorCode.FSM, subcode, bytes([codes.get(kind, 0)]), f"unexpected {kind}")
