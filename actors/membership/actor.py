"""MembershipActor: one node's gossip, a thin shell around the pure core and the transport.

Datagrams and push-pull replies arrive as messages from the transport's thread; timers are
the runtime's (``self.after``). What the core decides goes out through the transport, and
its membership changes become events: NodeJoined / NodeSuspected / NodeRecovered / NodeLeft
and MembershipUpdated (observer = this node), from which the node's SpeakerActor takes its
candidates.

Start-up: until the node has joined (a push-pull with a seed merged the cluster's view, or
nobody answered within the join grace), no MembershipUpdated is published, so a starting
speaker never believes it is alone and claims every address; nor does it elect among every
node it knows meanwhile (its SpeakerActor, ``awaits_membership``, claims no layer 2 address
before this first view). Stop: the node leaves (every
member told directly) before its sockets close, so a SIGTERM'd speaker fails over in one
datagram's time.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgpack
import msgspec
import pykka

from actors.base import RuntimeActor
from actors.clock import TimerHandle
from actors.events import (
    CandidacyChanged,
    Event,
    MembershipUpdated,
    NodeJoined,
    NodeLeft,
    NodeRecovered,
    NodeSuspected,
    PeersDiscovered,
)
from actors.listener import Listener
from actors.membership.core import Membership
from actors.membership.keyring import KeyFileError, Keyring, Plaintext, Sealer
from actors.membership.messages import Address, MemberRecord, Message, Status
from actors.membership.profile import FAST, Profile, profile_named
from actors.membership.records import MemberChange, Step
from actors.membership.transport import Transport, local_address_towards, parse_address

log = logging.getLogger(__name__)

TransportFactory = Callable[..., Any]


class Datagram(msgspec.Struct, frozen=True):
    messages: tuple[Message, ...]
    src: Address


class StreamRequest(msgspec.Struct, frozen=True):
    message: Message
    src: Address


class PeerLost(msgspec.Struct, frozen=True):
    """The transport's evidence that ``node``'s process is gone (see crash.py)."""

    node: str


class MuteEvents(msgspec.Struct, frozen=True):
    """The process is shutting down as a whole: gossip on, but publish nothing more."""


class StreamReply(msgspec.Struct, frozen=True):
    message: Message
    src: Address


def encode_tags(tags: Mapping[str, str]) -> bytes:
    return msgpack.packb(dict(sorted(tags.items()))) if tags else b""


def decode_tags(meta: bytes) -> dict[str, str]:
    """A member's tags; anything unreadable counts as none (a peer's bytes never raise)."""
    if not meta:
        return {}
    try:
        value = msgpack.unpackb(meta, raw=False, max_map_len=64, max_str_len=256)
    except Exception:
        return {}
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


#: Prometheus name -> (type, help), for the metrics collector that asks ``dropped_packets``.
DROPPED_PACKETS = "lbtui_membership_dropped_packets_total"
METRICS: dict[str, tuple[str, str]] = {
    DROPPED_PACKETS: (
        "counter",
        "Gossip packets dropped because they failed authentication or decoding",
    ),
}


class MembershipActor(Listener, RuntimeActor):
    """Gossip membership for ``node``, bound to ``bind``, joining through ``join``."""

    actor_name = "membership"
    listens_to = (CandidacyChanged, PeersDiscovered)

    def __init__(
        self,
        node: str,
        bind: Address,
        *,
        join: Sequence[Address] = (),
        profile: Profile | str = FAST,
        sealer: Sealer | None = None,
        advertise: Address | None = None,
        join_grace: float | None = None,
        expect_seeds: bool = False,
        secret_file: str | None = None,
        secret_poll: float = 5.0,
        transport_factory: TransportFactory = Transport,
        rng: random.Random | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=kwargs.pop("name", f"membership/{node}"), **kwargs)
        self.node = node
        self.bind = bind
        self.seeds = tuple(join)
        self.profile = profile_named(profile) if isinstance(profile, str) else profile
        self.sealer: Sealer = sealer or Plaintext()
        self.advertise = advertise
        #: How long to wait for a seed before publishing a view of our own.
        self.join_grace = join_grace if join_grace is not None else 2 * self.profile.tcp_timeout
        #: Seeds will be told later (PeersDiscovered): do not publish a lonely view meanwhile.
        self.expect_seeds = expect_seeds
        self.transport_factory = transport_factory
        #: Re-read on change (a rotated Kubernetes Secret): the new ring seals from then on.
        self.secret_file = secret_file
        self.secret_poll = secret_poll
        self._secret_stamp = _stamp(secret_file) if secret_file else None
        self.rng = rng or random.Random()
        self.tags: dict[str, str] = {}
        self.core: Membership | None = None
        self.transport: Any = None
        self.crashed = False
        self.joined = False
        self.muted = False
        self._timer: TimerHandle | None = None
        self._timer_due = math.inf
        self._last_view: tuple[frozenset[str], ...] | None = None
        self._generation = 0
        #: The link came back and the core holds us out of elections until views merged.
        self._rejoining = False
        #: The watch connections asked of the transport last (crash detection by the kernel).
        self._watching: tuple[tuple[str, Address], ...] | None = None

    # -- life -------------------------------------------------------------------------------
    def on_start(self) -> None:
        if not self.sealer.encrypted:
            log.warning("membership of %s is not encrypted (no --ml-secret-file)", self.node)
        self._boot()
        if self.secret_file:
            self.after(self.secret_poll, self._check_secret)

    def _check_secret(self) -> None:
        assert self.secret_file is not None
        self.after(self.secret_poll, self._check_secret)
        stamp = _stamp(self.secret_file)
        if stamp == self._secret_stamp:
            return
        self._secret_stamp = stamp
        try:
            ring = Keyring.from_file(self.secret_file)
        except KeyFileError as exc:  # the message names file and line, never a key
            log.warning("membership: keeping the current keys: %s", exc)
            return
        self.sealer = ring
        if self.transport is not None:
            self.transport.sealer = ring
        log.info("membership: %s reloaded (%d keys)", self.secret_file, len(ring))

    def on_stop(self) -> None:
        self._cancel_timer()
        if self.core is not None and self.transport is not None and not self.crashed:
            self._apply(self.core.leave(self.clock.now()))
        if self.transport is not None:
            self.transport.close()

    def _boot(self) -> None:
        self._generation += 1
        generation = self._generation
        ref = self.actor_ref

        def tell(message: Any) -> None:
            # The actor stopped: the datagram has nobody to go to.
            with contextlib.suppress(pykka.ActorDeadError):
                ref.tell(message)

        def on_stream(message: Message, src: Address) -> Message | None:
            # Called on a connection thread (not an actor): it may wait for our answer.
            reply: Message | None = ref.ask(
                StreamRequest(message, src), timeout=self.profile.tcp_timeout
            )
            return reply

        self.transport = self.transport_factory(
            self.bind,
            self.sealer,
            on_datagram=lambda msgs, src: tell((generation, Datagram(msgs, src))),
            on_stream=on_stream,
            on_stream_reply=lambda msg, src: tell((generation, StreamReply(msg, src))),
            tcp_timeout=self.profile.tcp_timeout,
            name=self.actor_name,
            node=self.node,
            on_peer_lost=lambda node, _addr: tell((generation, PeerLost(node))),
            fast_acks=self.profile.fast_acks,
        )
        self._watching = None
        bound = self.transport.start()
        addr = self.advertise or self._advertised(bound)
        self.core = Membership(
            self.node,
            addr,
            self.profile,
            # Wall-clock milliseconds: a restarted node outbids whatever was said of its
            # previous life, so it rejoins at once.
            incarnation=int(self.clock.wall() * 1000),
            meta=encode_tags(self.tags),
            seeds=self.seeds,
            rng=self.rng,
        )
        self.crashed = False
        self._rejoining = False
        self.joined = not self.seeds and not self.expect_seeds
        self._last_view = None
        self._apply(self.core.start(self.clock.now()))
        if self.seeds:
            self.after(self.join_grace, self._join_grace_over, generation)

    def _advertised(self, bound: Address) -> Address:
        host, port = bound
        if host not in ("0.0.0.0", "::"):
            return bound
        # Bound to every address: advertise the one that reaches the first seed, else the
        # default route's source (a route lookup only: nothing is sent to TEST-NET).
        towards = (
            self.seeds[0]
            if self.seeds
            else ("192.0.2.1" if host == "0.0.0.0" else "2001:db8::1", 9)
        )
        try:
            return (local_address_towards(towards), port)
        except OSError:
            return ("127.0.0.1" if host == "0.0.0.0" else "::1", port)

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        # Free the port for the restarted actor (on_stop does not run after a failure).
        self._cancel_timer()
        if self.transport is not None:
            self.transport.close()
        super().on_failure(exception_type, exception_value, traceback)

    # -- messages from the transport --------------------------------------------------------
    def on_receive(self, message: Any) -> Any:
        if isinstance(message, tuple) and len(message) == 2 and isinstance(message[0], int):
            generation, inner = message
            if generation != self._generation or self.crashed or self.core is None:
                return None  # from a transport we closed (a crash in the demo)
            now = self.clock.now()
            if isinstance(inner, Datagram):
                self._apply(self.core.receive(now, inner.messages, inner.src))
            elif isinstance(inner, StreamReply):
                self._apply(self.core.receive_stream_reply(now, inner.message))
            elif isinstance(inner, PeerLost):
                self._apply(self.core.peer_lost(now, inner.node))
            return None
        if isinstance(message, MuteEvents):
            self.muted = True
            return None
        if isinstance(message, StreamRequest):
            if self.crashed or self.core is None:
                return None
            reply, step = self.core.receive_stream(self.clock.now(), message.message)
            self._apply(step)
            return reply
        return super().on_receive(message)

    def on_event(self, event: Event) -> None:
        if isinstance(event, CandidacyChanged) and event.node == self.node:
            self._candidacy(event.candidate)
        elif isinstance(event, PeersDiscovered) and event.node == self.node:
            self.add_seeds(event.addresses)

    def add_seeds(self, addresses: Sequence[str]) -> None:
        seeds = []
        for text in addresses:
            try:
                seeds.append(parse_address(text))
            except ValueError:
                log.warning("membership: ignoring peer address %r", text)
        self.seeds = tuple(dict.fromkeys([*self.seeds, *seeds]))
        if self.core is None or self.crashed:
            return
        self._apply(self.core.add_seeds(self.clock.now(), seeds))
        if not self.joined:
            if seeds:
                self.after(self.join_grace, self._join_grace_over, self._generation)
            else:  # nobody else runs a speaker: we are the cluster
                self.joined = True
                self._publish_view()

    def _candidacy(self, candidate: bool) -> None:
        """Link awareness. A node whose link returns may have missed the news (its view
        can call the owner of an address dead): it stays out of elections, candidate=false,
        until the core's hold ends (views merged), then says candidate=true to everyone at
        once. Not while starting: the join gate does that job."""
        core = self.core
        if core is None or self.crashed:
            self.tags["candidate"] = "true" if candidate else "false"
            return
        now = self.clock.now()
        if candidate and self.tags.get("candidate") == "false" and self.joined:
            if not self._rejoining:
                self._rejoining = True
                log.info("membership of %s: link back; merging views before announcing", self.node)
                self._apply(core.hold(now))
            return
        if self._rejoining:
            self._rejoining = False
            self._apply(core.unhold(now))
        self.set_tag("candidate", "true" if candidate else "false")

    # -- asks -------------------------------------------------------------------------------
    def set_tag(self, key: str, value: str, *, urgent: bool = False) -> None:
        """Tell the others something about this node (e.g. candidate=false); ``urgent``:
        every live member directly, now."""
        if self.tags.get(key) == value:
            return
        self.tags[key] = value
        if self.core is not None and not self.crashed:
            self._apply(self.core.set_meta(self.clock.now(), encode_tags(self.tags), urgent=urgent))
            if self.joined:
                self._publish_view()

    def members(self) -> tuple[MemberRecord, ...]:
        return self.core.records() if self.core is not None else ()

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.transport is not None:
            out.update(self.transport.stats.as_dict())
        if self.core is not None:
            out.update(msgspec.structs.asdict(self.core.counters))
            out["awareness"] = self.core.awareness
            out["incarnation"] = self.core.incarnation
        return out

    def dropped_packets(self) -> dict[str, dict[str, int]]:
        """``lbtui_membership_dropped_packets_total`` by ``reason``: gossip that failed
        authentication (``auth``: a wrong or missing key, a forged or altered packet) or
        decoding (``decode``: not our format), over UDP and TCP push-pull alike."""
        stats = getattr(self.transport, "stats", None)
        auth = getattr(stats, "auth_failures", 0)
        decode = getattr(stats, "decode_failures", 0)
        return {DROPPED_PACKETS: {"auth": auth, "decode": decode}}

    def address(self) -> Address | None:
        return self.core.addr if self.core is not None else None

    def republish(self) -> None:
        if self.joined and self.core is not None and not self.crashed:
            self._last_view = None
            self._publish_view()

    def crash(self) -> None:
        """Demo: the node dies abruptly, as a node losing power does: it stops answering and
        says nothing, so the others find it by their probes. (Its watch connections end with
        the goodbye byte: a killed *process* on a live node, whose kernel closes them without
        one, is what they detect in milliseconds; ``Transport.close(graceful=False)``.)"""
        if self.crashed:
            return
        self.crashed = True
        self._cancel_timer()
        if self.transport is not None:
            self.transport.close()

    def revive(self) -> None:
        """Demo: the node comes back as a new process (new incarnation) and rejoins."""
        if not self.crashed:
            return
        self._boot()

    # -- timers -----------------------------------------------------------------------------
    def _tick(self, generation: int) -> None:
        if generation != self._generation:
            return
        self._timer, self._timer_due = None, math.inf
        if self.core is not None and not self.crashed:
            self._apply(self.core.tick(self.clock.now()))

    def _join_grace_over(self, generation: int) -> None:
        if generation == self._generation and not self.joined and not self.crashed:
            log.warning("membership of %s: no seed answered; carrying on alone", self.node)
            self.joined = True
            self._publish_view()

    def _arm(self) -> None:
        if self.core is None or self.crashed:
            return
        due = self.core.next_deadline()
        if due >= self._timer_due or math.isinf(due):
            return
        self._cancel_timer()
        self._timer_due = due
        self._timer = self.after(max(0.0, due - self.clock.now()), self._tick, self._generation)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_due = None, math.inf

    # -- applying what the core decided ------------------------------------------------------
    def _apply(self, step: Step) -> None:
        transport = self.transport
        if transport is not None and not self.crashed:
            for out in step.out:
                if out.stream:
                    transport.request(out.dest, out.messages[0])
                else:
                    transport.send(out.dest, out.messages)
        if self.muted:
            self._arm()
            return
        if step.changes:
            now = self.clock.now()
            for change in step.changes:
                self._publish_change(change, now)
        if (
            not self.joined
            and self.core is not None
            and self.core.counters.push_pulls > 0
            and len(self.core.alive()) > 1
        ):
            # Joined: a push-pull merged a whole view. A gossip datagram alone (the others
            # still gossip to our previous life's address) names some members, not the owner
            # of every address: a view built from it would make us claim what is not ours.
            self.joined = True
        if self.joined and (step.changes or self._last_view is None):
            self._publish_view()
        self._arm()
        self._update_watches()
        if self._rejoining and self.core is not None and not self.core.holding:
            self._rejoining = False
            self.set_tag("candidate", "true", urgent=True)

    def _update_watches(self) -> None:
        watch = getattr(self.transport, "watch", None)
        if watch is None or self.core is None or self.crashed:
            return  # a transport without watch connections: crashes are found by probes
        targets = self.core.watch_targets()
        if targets != self._watching:
            self._watching = targets
            watch(dict(targets))

    def _publish_change(self, change: MemberChange, now: float) -> None:
        node, inc, me = change.node, change.incarnation, self.node
        event: Event | None
        if change.kind == "joined":
            event = NodeJoined(now, node, me, inc)
        elif change.kind == "suspected":
            event = NodeSuspected(now, node, change.by, me, inc)
        elif change.kind == "alive":
            event = NodeRecovered(now, node, me, inc)
        elif change.kind in ("dead", "left"):
            event = NodeLeft(now, node, change.kind, me, inc)
        else:
            event = None  # "updated": tags, seen in MembershipUpdated
        if event is not None:
            self.publish(event)

    def _publish_view(self) -> None:
        core = self.core
        if core is None or self.muted:
            return
        alive = core.alive()
        dead = core.with_status(Status.DEAD, Status.LEFT)
        left = core.with_status(Status.LEFT)
        suspect = core.with_status(Status.SUSPECT)
        not_candidates = frozenset(
            r.node
            for r in core.records()
            if r.node in alive and decode_tags(r.meta).get("candidate") == "false"
        )
        view = (alive, dead, left, suspect, not_candidates)
        if view == self._last_view:
            return
        self._last_view = view
        self.publish(
            MembershipUpdated(
                self.clock.now(),
                self.node,
                alive,
                dead,
                not_candidates=not_candidates,
                suspect=suspect,
                left=left,
            )
        )


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size)
