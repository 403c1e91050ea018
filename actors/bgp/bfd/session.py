"""One BFD session (RFC 5880 §6, asynchronous mode) as a pure state machine in virtual time.

No sockets, threads or clocks: the owner passes ``now`` (seconds) to every call, sends the
packets each call returns, and calls :meth:`BfdSession.on_timer` at :meth:`next_deadline`.
That is what lets the tests run detection-time expiries and poll sequences in milliseconds.

What it implements:

- states AdminDown / Down / Init / Up and the transitions of §6.8.6 (a three-way handshake);
- timer negotiation: we transmit every max(our desired min TX, the peer's required min RX),
  less 0-25 % jitter (§6.8.7); we declare the peer dead after its detect multiplier times
  max(our required min RX, its desired min TX) without a packet (§6.8.4);
- a desired min TX of at least 1 s until the session is Up (§6.8.3), then the configured one;
- the poll/final sequence for every timer change while Up (§6.5, §6.8.3): a slower TX interval
  or a faster detection time only takes effect once the peer has answered with Final;
- an immediate Final for each Poll received, and an immediate packet on every state change;
- passive mode (§6.1): no packet before the peer has sent one.

Not implemented: demand mode, echo (we advertise a required min echo RX of 0, which tells the
peer never to send echo packets) and authentication (authenticated packets are dropped).
"""

from __future__ import annotations

import random

import msgspec

from actors.bgp.bfd.codec import ControlPacket, Diagnostic, State

SLOW_TX_US = 1_000_000  # the least desired min TX while the session is not Up (§6.8.3)
US = 1_000_000.0


class BfdTimers(msgspec.Struct, frozen=True):
    """What we ask for, in microseconds (a BFDProfile gives milliseconds)."""

    desired_min_tx: int = 300_000
    required_min_rx: int = 300_000
    detect_multiplier: int = 3
    passive: bool = False

    def __post_init__(self) -> None:
        if self.desired_min_tx <= 0:
            raise ValueError("desired min TX interval must be positive")
        if self.required_min_rx < 0:
            raise ValueError("required min RX interval must not be negative")
        if not 1 <= self.detect_multiplier <= 255:
            raise ValueError("detect multiplier must be 1..255")

    @classmethod
    def from_ms(
        cls, transmit: int, receive: int, multiplier: int, passive: bool = False
    ) -> BfdTimers:
        return cls(transmit * 1000, receive * 1000, multiplier, passive)


class Transition(msgspec.Struct, frozen=True):
    old: State
    new: State
    diagnostic: int
    # The peer told us it is administratively down: per RFC 5882 §3.2 not a path failure.
    remote_admin_down: bool = False


class Outcome(msgspec.Struct, frozen=True):
    """What a call produced: packets to send now, and state changes (oldest first)."""

    send: tuple[ControlPacket, ...] = ()
    transitions: tuple[Transition, ...] = ()


class _Poll(msgspec.Struct):
    """A poll sequence in progress: the advertised values it asks the peer to acknowledge."""

    desired_min_tx: int
    required_min_rx: int


class BfdSession(msgspec.Struct):
    """RFC 5880 session variables (``bfd.*``) plus our timers."""

    local_discriminator: int
    timers: BfdTimers
    now: float
    rng: random.Random = msgspec.field(default_factory=random.Random)

    state: State = State.DOWN
    remote_state: State = State.DOWN
    remote_discriminator: int = 0
    local_diagnostic: int = Diagnostic.NONE
    remote_diagnostic: int = Diagnostic.NONE
    remote_min_rx: int = 1  # µs; RFC 5880 initial value
    remote_desired_min_tx: int = 0
    remote_detect_multiplier: int = 0
    # Advertised values currently in force for our TX rate and for the detection time.
    tx_in_use: int = 0
    rx_in_use: int = 0
    poll: _Poll | None = None
    poll_again: bool = False
    next_tx: float | None = None
    detect_deadline: float | None = None
    last_rx: float | None = None
    packets_received: int = 0
    packets_sent: int = 0
    _pending: list[ControlPacket] = msgspec.field(default_factory=list)
    _changes: list[Transition] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        if not 1 <= self.local_discriminator <= 0xFFFFFFFF:
            raise ValueError("local discriminator must be a non-zero 32-bit value")
        self.tx_in_use = self.advertised_min_tx
        self.rx_in_use = self.timers.required_min_rx
        if not self.timers.passive:
            self.next_tx = self.now  # announce ourselves at once

    # -- what we advertise and how fast we go ------------------------------------------------
    @property
    def advertised_min_tx(self) -> int:
        """bfd.DesiredMinTxInterval: the configured value, but at least 1 s unless Up."""
        if self.state == State.UP:
            return self.timers.desired_min_tx
        return max(self.timers.desired_min_tx, SLOW_TX_US)

    @property
    def tx_interval(self) -> float:
        """Seconds between our periodic packets, before jitter."""
        return max(self.tx_in_use, self.remote_min_rx) / US

    @property
    def detection_time(self) -> float:
        """Seconds of silence after which the peer is declared down (0: nothing heard yet)."""
        return self.remote_detect_multiplier * max(self.rx_in_use, self.remote_desired_min_tx) / US

    def next_deadline(self) -> float | None:
        due = [t for t in (self.next_tx, self.detect_deadline) if t is not None]
        return min(due) if due else None

    # -- inputs ------------------------------------------------------------------------------
    def receive(self, packet: ControlPacket, now: float) -> Outcome:
        """A valid packet for this session (RFC 5880 §6.8.6, after session selection)."""
        self.now = now
        if packet.authenticated or self.state == State.ADMIN_DOWN:
            return self._outcome()  # no authentication configured: such packets are dropped
        self.packets_received += 1
        old_remote_min_rx = self.remote_min_rx
        self.remote_discriminator = packet.my_discriminator
        self.remote_state = packet.state
        self.remote_diagnostic = packet.diagnostic
        self.remote_min_rx = packet.required_min_rx
        self.remote_desired_min_tx = packet.desired_min_tx
        self.remote_detect_multiplier = packet.detect_multiplier
        self.last_rx = now
        if packet.final and self.poll is not None:
            self._end_poll()
        self.detect_deadline = now + self.detection_time

        if packet.state == State.ADMIN_DOWN:
            if self.state != State.DOWN:
                self._set_state(State.DOWN, Diagnostic.NEIGHBOR_SIGNALED_SESSION_DOWN)
        elif self.state == State.DOWN:
            if packet.state == State.DOWN:
                self._set_state(State.INIT, Diagnostic.NONE)
            elif packet.state == State.INIT:
                self._set_state(State.UP, Diagnostic.NONE)
        elif self.state == State.INIT:
            if packet.state in (State.INIT, State.UP):
                self._set_state(State.UP, Diagnostic.NONE)
        elif packet.state == State.DOWN:  # we are Up
            self._set_state(State.DOWN, Diagnostic.NEIGHBOR_SIGNALED_SESSION_DOWN)

        if packet.poll:
            # The Final goes out at once, outside the periodic schedule, without Poll (§6.5).
            self._pending.append(self._packet(final=True))
        if self.remote_min_rx == 0:
            self.next_tx = None  # the peer asks for silence
        elif self.next_tx is None or self.remote_min_rx > old_remote_min_rx:
            self._reschedule_tx()
        elif self.remote_min_rx < old_remote_min_rx:
            self._reschedule_tx(soonest=self.next_tx)
        return self._outcome()

    def on_timer(self, now: float) -> Outcome:
        """Run whatever is due at ``now``: detection-time expiry, then periodic transmission."""
        self.now = now
        if self.detect_deadline is not None and now >= self.detect_deadline:
            self._detection_expired()
        if self.next_tx is not None and now >= self.next_tx:
            if self._may_transmit():
                self._pending.append(self._packet(poll=self.poll is not None))
            self._reschedule_tx()
        return self._outcome()

    def set_timers(self, timers: BfdTimers, now: float) -> Outcome:
        """A new profile: takes effect at once unless Up, where a poll sequence guards it."""
        self.now = now
        self.timers = timers
        self._timers_changed()
        if timers.passive and self.remote_discriminator == 0:
            self.next_tx = None
        elif self.next_tx is None and self.remote_min_rx:
            self._reschedule_tx()
        return self._outcome()

    def admin_down(self, now: float) -> Outcome:
        """Administratively disable the session; the peer is told (§6.8.16)."""
        self.now = now
        if self.state != State.ADMIN_DOWN:
            self._set_state(State.ADMIN_DOWN, Diagnostic.ADMINISTRATIVELY_DOWN)
            self.detect_deadline = None
            if self.remote_discriminator:
                self._pending.append(self._packet())
        return self._outcome()

    def admin_up(self, now: float) -> Outcome:
        self.now = now
        if self.state == State.ADMIN_DOWN:
            self._set_state(State.DOWN, Diagnostic.NONE)
        return self._outcome()

    # -- internals ---------------------------------------------------------------------------
    def _may_transmit(self) -> bool:
        if self.remote_min_rx == 0:
            return False
        return not (self.timers.passive and self.remote_discriminator == 0)

    def _reschedule_tx(self, soonest: float | None = None) -> None:
        if self.remote_min_rx == 0 or (self.timers.passive and self.remote_discriminator == 0):
            self.next_tx = None
            return
        # 0-25 % less than the interval (§6.8.7), at most 90 % with a multiplier of 1.
        top = 0.9 if self.timers.detect_multiplier == 1 else 1.0
        due = self.now + self.tx_interval * self.rng.uniform(0.75, top)
        self.next_tx = min(due, soonest) if soonest is not None else due

    def _detection_expired(self) -> None:
        self.detect_deadline = None
        # The peer is gone: forget it, as a fresh session would (§6.8.1).
        self.remote_discriminator = 0
        self.remote_state = State.DOWN
        self.remote_min_rx = 1
        self.remote_desired_min_tx = 0
        self.remote_detect_multiplier = 0
        if self.state in (State.INIT, State.UP):
            self._set_state(State.DOWN, Diagnostic.CONTROL_DETECTION_TIME_EXPIRED)
        if self.timers.passive:
            self.next_tx = None
        elif self.next_tx is None:
            self._reschedule_tx()

    def _set_state(self, new: State, diagnostic: int) -> None:
        old = self.state
        if old == new:
            return
        self.state = new
        if diagnostic or new == State.UP:
            self.local_diagnostic = diagnostic
        remote_admin_down = new == State.DOWN and self.remote_state == State.ADMIN_DOWN
        self._changes.append(Transition(old, new, diagnostic, remote_admin_down))
        self._timers_changed()
        # Tell the peer at once rather than at the next periodic slot.
        if self._may_transmit() and new != State.ADMIN_DOWN:
            self._pending.append(self._packet(poll=self.poll is not None))

    def _timers_changed(self) -> None:
        """bfd.DesiredMinTxInterval or bfd.RequiredMinRxInterval may have changed."""
        tx, rx = self.advertised_min_tx, self.timers.required_min_rx
        if self.state != State.UP:
            # Nothing to protect: the new values are in force at once.
            self.poll, self.poll_again = None, False
            self._apply(tx, rx)
            return
        if self.poll is not None:
            if (self.poll.desired_min_tx, self.poll.required_min_rx) != (tx, rx):
                self.poll_again = True
            return
        if (tx, rx) == (self.tx_in_use, self.rx_in_use):
            return
        # Faster TX and slower detection are safe at once; the rest waits for the Final.
        if tx < self.tx_in_use:
            self.tx_in_use = tx
        if rx > self.rx_in_use:
            self.rx_in_use = rx
        self.poll = _Poll(tx, rx)
        self._reschedule_tx(soonest=self.next_tx)

    def _end_poll(self) -> None:
        assert self.poll is not None
        self._apply(self.poll.desired_min_tx, self.poll.required_min_rx)
        self.poll = None
        if self.poll_again:
            self.poll_again = False
            self._timers_changed()

    def _apply(self, tx: int, rx: int) -> None:
        slower = tx > self.tx_in_use
        self.tx_in_use, self.rx_in_use = tx, rx
        if self.detect_deadline is not None and self.last_rx is not None:
            # Detection time follows the new RX value, counted from the last packet received.
            self.detect_deadline = self.last_rx + self.detection_time
        if not slower and self.next_tx is not None:
            self._reschedule_tx(soonest=self.next_tx)

    def _packet(self, *, poll: bool = False, final: bool = False) -> ControlPacket:
        return ControlPacket(
            state=self.state,
            detect_multiplier=self.timers.detect_multiplier,
            my_discriminator=self.local_discriminator,
            your_discriminator=self.remote_discriminator,
            desired_min_tx=self.advertised_min_tx,
            required_min_rx=self.timers.required_min_rx,
            required_min_echo_rx=0,
            diagnostic=self.local_diagnostic,
            poll=poll and not final,
            final=final,
        )

    def _outcome(self) -> Outcome:
        sent, changes = tuple(self._pending), tuple(self._changes)
        self._pending.clear()
        self._changes.clear()
        self.packets_sent += len(sent)
        return Outcome(sent, changes)
