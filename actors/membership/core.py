"""The membership protocol as a pure state machine: SWIM with memberlist's and Lifeguard's
refinements. No sockets, threads or clocks: every entry point takes ``now`` and returns a
``Step`` (datagrams and streams to send, membership changes to publish).

What it does, in the order a failure is handled:
- Probing: one member per probe interval, round-robin over a shuffled list. No ack within the
  probe timeout: k helpers ping the target for us (indirect probe) and nack if it stays
  silent. No ack by the end of the interval, or every helper's nack in and no ack (nothing
  more can come: an earlier verdict, where memberlist waits out the interval): the target
  is suspected.
- Suspicion (with incarnation numbers): a suspected member that hears of it refutes by
  raising its incarnation. Otherwise it is declared dead when its suspicion timer runs out.
  The timer starts long and shrinks as other members independently suspect the same node
  (Lifeguard's dynamic suspicion), so a real crash is confirmed fast and a slow node has time.
- Local health (Lifeguard): failed probes without the helpers' nacks, and having to refute,
  make this node doubt itself; its probe interval and timeout stretch (up to awareness_max).
  A timer that fires far too late means this process stalled: its own verdicts wait a grace
  period so the acks queued meanwhile are read first.
- Dissemination: changes are piggybacked on every datagram and gossiped to a few members
  every gossip interval, each a bounded number of times; a push-pull of the full state over
  TCP repairs whatever gossip missed, joins a node through its seeds and heals partitions.
- Leaving: a leaving node tells every member directly, so its failover takes one datagram.
- Crashes: each member keeps a TCP connection to its ring successors (``watch_targets``);
  when one closes unannounced and its port refuses a new connection, the transport calls
  ``peer_lost`` and a direct ping with a short deadline decides (``crash``).

Its records (``Step``, members, probes, suspicions) are in ``records``, the probe order in
``probe_order``, the gossip queue in ``gossip``; the messages and their wire format in
``messages`` and ``codec``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable

from actors.membership.codec import encoded_size
from actors.membership.crash import CrashChecks, ring_successors
from actors.membership.gossip import BroadcastQueue
from actors.membership.messages import (
    Ack,
    Address,
    Alive,
    Broadcast,
    Dead,
    IndirectPing,
    MemberRecord,
    Message,
    Nack,
    Ping,
    PushPull,
    Status,
    Suspect,
)
from actors.membership.probe_order import ProbeOrder
from actors.membership.profile import FAST, Profile
from actors.membership.records import (
    ChangeKind,
    Counters,
    Member,
    MemberChange,
    Outgoing,
    Probe,
    Relay,
    Step,
    Suspicion,
)

#: Room kept in a datagram for the packet header and the encryption overhead.
HEADROOM = 64
MAX_SEQ = 2**32


class Membership:
    """One node's membership state machine."""

    def __init__(
        self,
        name: str,
        addr: Address,
        profile: Profile = FAST,
        *,
        incarnation: int = 1,
        meta: bytes = b"",
        seeds: Iterable[Address] = (),
        rng: random.Random | None = None,
        sizer: Callable[[Message], int] = encoded_size,
    ) -> None:
        self.name = name
        self.addr = addr
        self.profile = profile
        self.incarnation = incarnation
        self.meta = meta
        self.seeds = tuple(s for s in seeds if s != addr)
        self.rng = rng or random.Random()
        self._size = sizer
        self.members: dict[str, Member] = {
            name: Member(name, addr, incarnation, Status.ALIVE, meta, 0.0)
        }
        self.awareness = 0
        self.counters = Counters()
        self.left = False
        self.started = False
        self._seq = self.rng.randrange(MAX_SEQ)
        self._probe: Probe | None = None
        self._probe_order = ProbeOrder(name, self.rng)
        self._relays: dict[int, Relay] = {}
        self._suspicions: dict[str, Suspicion] = {}
        self._dead_since: dict[str, float] = {}
        self._crash = CrashChecks()
        self._queue = BroadcastQueue(sizer)
        self._step = Step()
        self._grace_until = -math.inf
        #: Rejoining (see ``hold``): until then, and whether a push-pull merged since.
        self._hold_until: float | None = None
        self._hold_merged = False
        self._armed: float | None = None
        self._next_probe = math.inf
        self._next_gossip = math.inf
        self._next_push_pull = math.inf
        self._next_reconnect = math.inf

    # -- entry points -----------------------------------------------------------------------
    def start(self, now: float) -> Step:
        """Begin probing and gossiping; join through the seeds, if any."""
        p = self.profile
        self.started = True
        self.members[self.name].changed_at = now
        # Random phases: members started together must not probe in lockstep.
        self._next_probe = now + self.rng.uniform(0, p.probe_interval)
        self._next_gossip = now + self.rng.uniform(0, p.gossip_interval)
        self._next_push_pull = now + self.rng.uniform(0.5, 1.0) * p.push_pull_interval
        self._enqueue(self._self_alive(), now)
        self._reconnect(now)  # joins through the seeds at once
        return self._finish(now)

    def tick(self, now: float) -> Step:
        """Run every timer that is due at ``now``."""
        if not self.started or self.left:
            return self._finish(now)
        p = self.profile
        if self._armed is not None and now - self._armed > p.probe_timeout:
            # We were due long ago: this process stalled. Whatever timed out meanwhile may
            # have been answered in packets we have not read yet: judge nothing for a moment.
            self.counters.stalls += 1
            self._grace_until = now + self._scaled(p.probe_timeout)
            self._crash.postpone(self._grace_until)
            self._adjust_awareness(+1)
        self._run_relays(now)
        self._run_probe(now)
        self._run_suspicions(now)
        self._run_crash_checks(now)
        if now >= self._next_gossip:
            if self._queue:
                self._gossip(now)
            self._next_gossip = _next_slot(self._next_gossip, p.gossip_interval, now)
        if now >= self._next_push_pull:
            self._push_pull(now)
            self._next_push_pull = now + p.push_pull_period(self._live_count())
        if now >= self._next_reconnect:
            self._reconnect(now)
        self._reap(now)
        return self._finish(now)

    def receive(self, now: float, messages: Iterable[Message], src: Address | None = None) -> Step:
        """Handle one datagram's messages."""
        if self.started and not self.left:
            for msg in messages:
                self._handle(msg, now)
        return self._finish(now)

    def receive_stream(self, now: float, msg: Message) -> tuple[PushPull | None, Step]:
        """A push-pull request over TCP: our state goes back, theirs is merged."""
        if not self.started or self.left or not isinstance(msg, PushPull):
            return None, self._finish(now)
        reply = PushPull(self.name, False, self.records())
        self._merge(msg, now)
        return reply, self._finish(now)

    def receive_stream_reply(self, now: float, msg: Message) -> Step:
        """The answer to a push-pull we started."""
        if self.started and not self.left and isinstance(msg, PushPull):
            self._merge(msg, now)
        return self._finish(now)

    def peer_lost(self, now: float, node: str) -> Step:
        """The kernel's evidence that ``node``'s process is gone (its connection closed
        unannounced, its port refused a new one): ping it; no ack within crash_confirm and it
        is declared dead."""
        m = self.members.get(node)
        if (
            not self.started
            or self.left
            or m is None
            or node == self.name
            or m.status not in (Status.ALIVE, Status.SUSPECT)
        ):
            return self._finish(now)
        seq = self._next_seq()
        if self._crash.start(node, m.incarnation, seq, now, self.profile.crash_confirm):
            self.counters.crash_checks += 1
            self._send(m.addr, [Ping(seq, node, self.name, self.addr)], now)
        return self._finish(now)

    def watch_targets(self) -> tuple[tuple[str, Address], ...]:
        """The members this node keeps a TCP connection to: its ring successors among the
        alive ones (suspected members are left to the probes)."""
        if not self.started or self.left:
            return ()
        alive = [m.name for m in self.members.values() if m.status == Status.ALIVE]
        names = ring_successors(self.name, alive, self.profile.crash_watch)
        return tuple((n, self.members[n].addr) for n in names)

    def leave(self, now: float) -> Step:
        """Graceful leave: every member hears it directly, now."""
        if self.left or not self.started:
            return self._finish(now)
        self.left = True
        me = self.members[self.name]
        me.status = Status.LEFT
        goodbye = Dead(self.name, self.incarnation, self.name)
        for m in self.members.values():
            if m.name != self.name and m.status in (Status.ALIVE, Status.SUSPECT):
                self._step.out.append(Outgoing(m.addr, (goodbye,)))
        self._queue.clear()
        return self._finish(now)

    def add_seeds(self, now: float, seeds: Iterable[Address]) -> Step:
        """More addresses to join through (e.g. speakers found through the API)."""
        new = tuple(dict.fromkeys(s for s in seeds if s != self.addr and s not in self.seeds))
        self.seeds += new
        if new and self.started and not self.left and self._live_count() <= 1:
            self._reconnect(now)
        return self._finish(now)

    def set_meta(self, now: float, meta: bytes, *, urgent: bool = False) -> Step:
        """Change what this node tells the others about itself (a new incarnation);
        ``urgent``: tell every live member directly now, not only by gossip."""
        if meta != self.meta and not self.left:
            self.meta = meta
            self.incarnation += 1
            me = self.members[self.name]
            me.meta, me.incarnation = meta, self.incarnation
            alive = self._self_alive()
            self._enqueue(alive, now)
            if urgent:
                for m in self.members.values():
                    if m.name != self.name and m.status in (Status.ALIVE, Status.SUSPECT):
                        self._step.out.append(Outgoing(m.addr, (alive,)))
        return self._finish(now)

    def hold(self, now: float) -> Step:
        """This node is back from somewhere it may have missed the cluster's news (its link
        returned): its view may call the owner of an address dead. ``holding`` stays true
        until a push-pull (started now, with a live member and with the dead or unreached
        ones) has merged the views and another member is alive in ours, or for at most
        ``rejoin_hold`` (then we are alone indeed). Meanwhile the caller keeps the node out of
        every election (candidate=false), so nobody counts on it and it claims nothing."""
        if not self.started or self.left:
            return self._finish(now)
        self._hold_until = now + self.profile.rejoin_hold
        self._hold_merged = False
        self._push_pull(now)
        # Everyone we think dead, and the seeds: the cut may have been ours.
        live = {m.addr for m in self.members.values() if m.status in (Status.ALIVE, Status.SUSPECT)}
        dead = [m.addr for m in self.members.values() if m.status == Status.DEAD]
        for addr in dict.fromkeys([*dead, *self.seeds]):
            if addr not in live:
                self._stream(addr, join=True)
        return self._finish(now)

    def unhold(self, now: float) -> Step:
        self._hold_until = None
        return self._finish(now)

    @property
    def holding(self) -> bool:
        return self._hold_until is not None

    def next_deadline(self) -> float:
        """When ``tick`` must next be called (inf: never)."""
        if not self.started or self.left:
            return math.inf
        due = min(self._next_push_pull, self._next_reconnect)
        if self._queue:
            due = min(due, self._next_gossip)
        probe = self._probe
        if probe is None:
            due = min(due, self._next_probe)
        else:  # the next probe waits for this one's verdict
            due = min(due, probe.final_deadline)
            if not probe.indirect_sent:
                due = min(due, probe.ack_deadline)
        for relay in self._relays.values():
            due = min(due, relay.expires if relay.nack_at is None else relay.nack_at)
        for s in self._suspicions.values():
            due = min(due, max(s.deadline, self._grace_until))
        if self._crash:
            due = min(due, max(self._crash.next_deadline(), self._grace_until))
        if self._hold_until is not None:
            due = min(due, self._hold_until)
        if self._dead_since:
            due = min(due, min(self._dead_since.values()) + self.profile.dead_reclaim)
        return due

    # -- views ------------------------------------------------------------------------------
    def records(self) -> tuple[MemberRecord, ...]:
        return tuple(
            MemberRecord(m.name, m.addr, m.incarnation, m.status, m.meta)
            for m in self.members.values()
        )

    def status_of(self, name: str) -> Status | None:
        m = self.members.get(name)
        return None if m is None else m.status

    def alive(self) -> frozenset[str]:
        """Members that are candidates: alive or suspected (not yet declared dead)."""
        return frozenset(
            m.name for m in self.members.values() if m.status in (Status.ALIVE, Status.SUSPECT)
        )

    def with_status(self, *statuses: Status) -> frozenset[str]:
        return frozenset(m.name for m in self.members.values() if m.status in statuses)

    # -- message handling -------------------------------------------------------------------
    def _handle(self, msg: Message, now: float) -> None:
        match msg:
            case Ping():
                if msg.target == self.name:
                    self._send(msg.source_addr, [Ack(msg.seq)], now)
            case Ack():
                self._on_ack(msg.seq, now)
            case Nack():
                probe = self._probe
                if probe is not None and probe.seq == msg.seq:
                    probe.nacks += 1
                    if probe.nacks >= probe.expected_nacks:
                        # Every helper reached us and none reached the target: the verdict
                        # is in, waiting out the interval would only delay the suspicion.
                        probe.final_deadline = min(probe.final_deadline, now)
            case IndirectPing():
                self._on_indirect(msg, now)
            case Alive():
                self._on_alive(msg, now)
            case Suspect():
                self._on_suspect(msg, now)
            case Dead():
                self._on_dead(msg, now)
            case PushPull():
                self._merge(msg, now)

    def _on_ack(self, seq: int, now: float) -> None:
        if self._crash and self._crash.acked(seq) is not None:
            self.counters.crash_refuted += 1
            return
        probe = self._probe
        if probe is not None and probe.seq == seq:
            self._probe = None
            self._adjust_awareness(-1)
            return
        relay = self._relays.pop(seq, None)
        if relay is not None:
            self._send(relay.origin_addr, [Ack(relay.origin_seq)], now)

    def _on_indirect(self, msg: IndirectPing, now: float) -> None:
        p = self.profile
        seq = self._next_seq()
        self.counters.pings_for_others += 1
        nack_at = now + p.nack_fraction * p.probe_timeout if msg.nack else None
        self._relays[seq] = Relay(msg.seq, msg.source_addr, nack_at, now + p.probe_interval)
        self._send(msg.target_addr, [Ping(seq, msg.target, self.name, self.addr)], now)

    def _on_alive(self, msg: Alive, now: float) -> None:
        if msg.node == self.name:
            if msg.incarnation > self.incarnation and not self.left:
                # Someone holds a newer record of us (a previous life): outbid it.
                self._refute(msg.incarnation, None, now)
            return
        m = self.members.get(msg.node)
        if m is None:
            self.members[msg.node] = Member(
                msg.node, msg.addr, msg.incarnation, Status.ALIVE, msg.meta, now
            )
            self._probe_order.add(msg.node)
            self._change(msg.node, "joined", msg.incarnation)
            self._enqueue(msg, now)
            return
        if msg.incarnation <= m.incarnation:
            return
        before = m.status
        updated = m.meta != msg.meta or m.addr != msg.addr
        m.incarnation, m.addr, m.meta, m.status = msg.incarnation, msg.addr, msg.meta, Status.ALIVE
        self._suspicions.pop(m.name, None)
        if before in (Status.DEAD, Status.LEFT):
            m.changed_at = now
            self._dead_since.pop(m.name, None)
            self._probe_order.add(m.name)
            self._change(m.name, "joined", m.incarnation)
        elif before == Status.SUSPECT:
            m.changed_at = now
            self._change(m.name, "alive", m.incarnation)
        elif updated:
            self._change(m.name, "updated", m.incarnation)
        self._enqueue(msg, now)

    def _on_suspect(self, msg: Suspect, now: float) -> None:
        if msg.node == self.name:
            self._accused(msg.incarnation, msg.sender, now)
            return
        m = self.members.get(msg.node)
        if m is None or msg.incarnation < m.incarnation:
            return
        suspicion = self._suspicions.get(m.name)
        if m.status == Status.SUSPECT and suspicion is not None:
            if suspicion.confirm(msg.sender):
                self._enqueue(msg, now)  # the confirmation helps the others too
            return
        if m.status != Status.ALIVE:
            return
        p = self.profile
        live = self._live_count()
        k = p.suspicion_confirmations if live - 2 >= p.suspicion_confirmations else 0
        low, high = p.suspicion_bounds(live)
        m.status, m.incarnation, m.changed_at = Status.SUSPECT, msg.incarnation, now
        self._suspicions[m.name] = Suspicion(
            now, k, low, high, {msg.sender}, now + (high if k > 0 else low)
        )
        self.counters.suspicions += 1
        self._change(m.name, "suspected", m.incarnation, msg.sender)
        self._enqueue(msg, now)

    def _on_dead(self, msg: Dead, now: float) -> None:
        if msg.node == self.name:
            if msg.sender != self.name:
                self._accused(msg.incarnation, msg.sender, now)
            return
        m = self.members.get(msg.node)
        if m is None or msg.incarnation < m.incarnation:
            return
        if m.status in (Status.DEAD, Status.LEFT):
            return
        left = msg.sender == msg.node
        m.status = Status.LEFT if left else Status.DEAD
        m.incarnation, m.changed_at = msg.incarnation, now
        self._suspicions.pop(m.name, None)
        self._dead_since[m.name] = now
        self._change(m.name, "left" if left else "dead", m.incarnation, msg.sender)
        self._enqueue(msg, now)

    def _accused(self, incarnation: int, accuser: str, now: float) -> None:
        """Someone says we are suspect or dead."""
        if self.left:
            return
        if incarnation >= self.incarnation:
            self._refute(incarnation, accuser, now)
            return
        # Already refuted, but this accuser has not heard: tell it directly.
        m = self.members.get(accuser)
        if m is not None and accuser != self.name:
            self._send(m.addr, [self._self_alive()], now)

    def _refute(self, incarnation: int, accuser: str | None, now: float) -> None:
        """We are said to be suspect or dead: come back with a higher incarnation, loudly."""
        self.incarnation = max(self.incarnation, incarnation) + 1
        me = self.members[self.name]
        me.incarnation = self.incarnation
        self.counters.refutes += 1
        self._adjust_awareness(+1)
        alive = self._self_alive()
        self._enqueue(alive, now)
        # Straight to the accuser too: its timer is the first to run out.
        accuser_member = self.members.get(accuser) if accuser else None
        if accuser_member is not None and accuser_member.name != self.name:
            self._send(accuser_member.addr, [alive], now)

    def _merge(self, msg: PushPull, now: float) -> None:
        self.counters.push_pulls += 1
        if self._hold_until is not None:
            self._hold_merged = True
        for r in msg.members:
            if r.status == Status.ALIVE:
                self._on_alive(Alive(r.node, r.incarnation, r.addr, r.meta), now)
            elif r.status == Status.LEFT:
                self._on_dead(Dead(r.node, r.incarnation, r.node), now)
            else:
                # Their "dead" is only a suspicion here: our own timer must agree (memberlist).
                self._on_suspect(Suspect(r.node, r.incarnation, msg.sender), now)

    # -- timers -----------------------------------------------------------------------------
    def _run_probe(self, now: float) -> None:
        p = self.profile
        probe = self._probe
        if probe is not None and not probe.indirect_sent and now >= probe.ack_deadline:
            self._send_indirect(probe, now)
        if probe is not None and now >= probe.final_deadline:
            if now < self._grace_until:
                probe.final_deadline = self._grace_until
            else:
                self._probe_failed(probe, now)
        if self._probe is None and now >= self._next_probe:
            target = self._probe_order.next(self.members)
            interval = self._scaled(p.probe_interval)
            self._next_probe = now + interval
            if target is not None:
                self._start_probe(target, interval, now)

    def _start_probe(self, target: Member, interval: float, now: float) -> None:
        seq = self._next_seq()
        self.counters.probes += 1
        self._probe = Probe(
            seq, target.name, now, now + self._scaled(self.profile.probe_timeout), now + interval
        )
        msgs: list[Message] = [Ping(seq, target.name, self.name, self.addr)]
        if target.status == Status.SUSPECT:
            # Give it the chance to refute at once.
            msgs.append(Suspect(target.name, target.incarnation, self.name))
        self._send(target.addr, msgs, now)

    def _send_indirect(self, probe: Probe, now: float) -> None:
        probe.indirect_sent = True
        target = self.members.get(probe.target)
        if target is None:
            return
        helpers = [
            m
            for m in self.members.values()
            if m.status == Status.ALIVE and m.name not in (self.name, probe.target)
        ]
        chosen = self.rng.sample(helpers, min(len(helpers), self.profile.indirect_checks))
        probe.expected_nacks = len(chosen)
        self.counters.indirect_probes += 1
        request = IndirectPing(probe.seq, target.name, target.addr, self.name, self.addr, True)
        for helper in chosen:
            self._send(helper.addr, [request], now)

    def _probe_failed(self, probe: Probe, now: float) -> None:
        self._probe = None
        self.counters.probe_failures += 1
        # Lifeguard: helpers that did not even nack point at us, not at the target.
        if probe.expected_nacks > 0:
            self._adjust_awareness(probe.expected_nacks - probe.nacks)
        else:
            self._adjust_awareness(+1)
        target = self.members.get(probe.target)
        if target is None or target.status not in (Status.ALIVE, Status.SUSPECT):
            return
        self._on_suspect(Suspect(target.name, target.incarnation, self.name), now)

    def _run_relays(self, now: float) -> None:
        for seq, relay in list(self._relays.items()):
            if relay.nack_at is not None and now >= relay.nack_at:
                relay.nack_at = None
                self._send(relay.origin_addr, [Nack(relay.origin_seq)], now)
            if now >= relay.expires:
                del self._relays[seq]

    def _run_suspicions(self, now: float) -> None:
        if now < self._grace_until:
            return
        for name, s in list(self._suspicions.items()):
            if now >= s.deadline:
                m = self.members[name]
                self.counters.deaths_declared += 1
                self._on_dead(Dead(name, m.incarnation, self.name), now)

    def _run_crash_checks(self, now: float) -> None:
        if now < self._grace_until or not self._crash:
            return
        for check in self._crash.due(now):
            m = self.members.get(check.node)
            if (
                m is None
                or m.status not in (Status.ALIVE, Status.SUSPECT)
                or m.incarnation != check.incarnation
            ):
                continue  # it left, was declared dead meanwhile, or came back as a new life
            self.counters.crashes_confirmed += 1
            self.counters.deaths_declared += 1
            self._on_dead(Dead(m.name, m.incarnation, self.name), now)

    def _gossip(self, now: float) -> None:
        window = self.profile.gossip_to_the_dead
        targets = [
            m
            for m in self.members.values()
            if m.name != self.name
            and (
                m.status in (Status.ALIVE, Status.SUSPECT)
                or (m.status == Status.DEAD and now - m.changed_at < window)
            )
        ]
        for m in self.rng.sample(targets, min(len(targets), self.profile.gossip_nodes)):
            if not self._queue:
                return
            self._send(m.addr, [], now)

    def _push_pull(self, now: float) -> None:
        peers = [
            m
            for m in self.members.values()
            if m.name != self.name and m.status in (Status.ALIVE, Status.SUSPECT)
        ]
        if peers:
            peer = self.rng.choice(peers)
            self._stream(peer.addr, join=False)

    def _reconnect(self, now: float) -> None:
        p = self.profile
        alone = self._live_count() <= 1
        live_addrs = {
            m.addr for m in self.members.values() if m.status in (Status.ALIVE, Status.SUSPECT)
        }
        if alone:
            for seed in self.seeds:
                self._stream(seed, join=True)
            self._next_reconnect = now + p.join_retry_interval
            return
        candidates = [m.addr for m in self.members.values() if m.status == Status.DEAD]
        candidates += [s for s in self.seeds if s not in live_addrs]
        if candidates:
            self._stream(self.rng.choice(candidates), join=True)
        self._next_reconnect = now + p.reconnect_interval

    def _reap(self, now: float) -> None:
        limit = self.profile.dead_reclaim
        for name, since in list(self._dead_since.items()):
            if now - since >= limit:
                del self._dead_since[name]
                self.members.pop(name, None)
                self._queue.forget(name)

    # -- helpers ----------------------------------------------------------------------------
    def _finish(self, now: float) -> Step:
        if self._hold_until is not None and (
            now >= self._hold_until or (self._hold_merged and self._live_count() > 1)
        ):
            self._hold_until = None
        step, self._step = self._step, Step()
        self._armed = max(now, self.next_deadline())
        return step

    def _change(self, node: str, kind: ChangeKind, incarnation: int, by: str = "") -> None:
        self._step.changes.append(MemberChange(node, kind, incarnation, by))

    def _self_alive(self) -> Alive:
        return Alive(self.name, self.incarnation, self.addr, self.meta)

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) % MAX_SEQ
        return self._seq

    def _scaled(self, seconds: float) -> float:
        return seconds * (self.awareness + 1)

    def _adjust_awareness(self, delta: int) -> None:
        self.awareness = min(max(0, self.awareness + delta), self.profile.awareness_max - 1)

    def _live_count(self) -> int:
        return sum(1 for m in self.members.values() if m.status in (Status.ALIVE, Status.SUSPECT))

    def _enqueue(self, msg: Broadcast, now: float) -> None:
        """Queue a change for dissemination; a newer message about a node replaces older ones."""
        self._queue.put(msg)
        if self._next_gossip < now:  # the cadence idles while there is nothing to say
            self._next_gossip = _next_slot(self._next_gossip, self.profile.gossip_interval, now)

    def _send(self, dest: Address, msgs: list[Message], now: float) -> None:
        """One datagram: ``msgs`` first, then as much pending gossip as fits."""
        budget = self.profile.udp_payload - HEADROOM - sum(self._size(m) for m in msgs)
        if self._queue:
            limit = self.profile.retransmit_limit(self._live_count())
            msgs = msgs + self._queue.take(budget, limit)
        if msgs:
            self._step.out.append(Outgoing(dest, tuple(msgs)))

    def _stream(self, dest: Address, *, join: bool) -> None:
        self._step.out.append(
            Outgoing(dest, (PushPull(self.name, join, self.records()),), stream=True)
        )


def _next_slot(previous: float, interval: float, now: float) -> float:
    """The first tick of a fixed cadence after ``now`` (skipped ticks are not replayed)."""
    slots = math.floor((now - previous) / interval) + 1
    return previous + slots * interval
