"""Failover measured as a feature: how long each takeover really took, from inside the speaker.

For every takeover (an AnnouncementStarted whose reason is "failover from X ..."), the time
from the first membership event saying X was lost (suspected, dead, left, or no longer a
candidate: whichever came first, in this node's own view) to the first gratuitous packet this
node sent for the address (GratuitousSent round 1, layer 2) or the first UPDATE carrying the
prefix (PrefixAnnounced, BGP). Each one becomes a FailoverMeasured event and an observation of
the histogram ``lbtui_failover_seconds`` (labels ``protocol``, ``cause``).

:class:`FailoverTracker` is pure (events in, measurements out); :class:`FailoverMeterActor` is
its thin Listener shell; :class:`FailoverMetrics` holds the histogram, shared with the
metrics registry (read at scrape time, never through an actor), and is made only where
metrics are served.

In lbtui's election a BGP route never depends on another node being alive (every node
announces its own next hop; the router drops a dead one), so BGP takeovers are measured only
if an election ever produces them; the router's side is measured by tests/bench/failover.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import msgspec

from actors.base import RuntimeActor
from actors.events import (
    AnnouncementStarted,
    AnnouncementStopped,
    Event,
    FailoverMeasured,
    GratuitousSent,
    MembershipUpdated,
    NodeJoined,
    NodeLeft,
    NodeRecovered,
    NodeSuspected,
    PrefixAnnounced,
)
from actors.listener import Listener

if TYPE_CHECKING:
    from prometheus_client.core import Metric

#: How long a takeover waits for its first packet before it is forgotten (announceFailed:
#: no interface to send on; a session that never comes up).
PENDING_TIMEOUT = 60.0
#: A first packet published (by the L2 or BGP actor) just before the speaker's
#: AnnouncementStarted still belongs to it: the announcer is told first, then the event.
EARLY_PACKET = 2.0
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0)

_FAILOVER = re.compile(r"^failover from ([^\s,;()]+)")


class Loss(msgspec.Struct, frozen=True):
    node: str
    first: float  # the first sign (suspected, dead, left, not candidate)
    verdict: float | None = None  # when it was declared gone (None: only suspected so far)
    cause: str = "suspected"


class _Pending(msgspec.Struct, frozen=True):
    from_node: str
    loss: Loss
    started: float


Key = tuple[str, str, str]  # (node, protocol, address or prefix)


class FailoverTracker:
    """Pure: feed events in order with :meth:`on_event`, get the measurements they complete.

    ``node``: measure only this node's takeovers and trust only its membership view (a
    speaker); None: every node's takeovers, trusting a view from the same node or the
    simulated one (observer "") (the demo, several nodes in one process).
    """

    def __init__(self, node: str | None = None) -> None:
        self.node = node
        self.losses: dict[str, Loss] = {}
        self.pending: dict[Key, _Pending] = {}
        self.early: dict[Key, float] = {}  # first packets not yet matched to a takeover

    def on_event(self, event: Event) -> list[FailoverMeasured]:
        if isinstance(event, NodeSuspected):
            if self._trusted(event.observer):
                self._lost(event.node, event.t, None)
        elif isinstance(event, NodeLeft):
            if self._trusted(event.observer):
                self._lost(event.node, event.t, event.reason)
        elif isinstance(event, NodeJoined | NodeRecovered):
            if self._trusted(event.observer):
                self.losses.pop(event.node, None)
        elif isinstance(event, MembershipUpdated):
            if self._trusted(event.observer):
                self._membership(event)
        elif isinstance(event, AnnouncementStarted):
            return self._started(event)
        elif isinstance(event, AnnouncementStopped):
            self.pending.pop((event.node, event.protocol, event.ip), None)
        elif isinstance(event, GratuitousSent):
            if event.round == 1 and event.packets > 0:
                return self._sent((event.node, "layer2", event.ip), event.t)
        elif isinstance(event, PrefixAnnounced):
            out: list[FailoverMeasured] = []
            for prefix in event.prefixes:
                out += self._sent((event.node, "bgp", prefix), event.t)
            return out
        return []

    # -- internals ---------------------------------------------------------------------------
    def _trusted(self, observer: str) -> bool:
        if self.node is None:
            return True
        return observer in ("", self.node)

    def _mine(self, node: str) -> bool:
        return self.node is None or node == self.node

    def _lost(self, node: str, t: float, verdict: str | None) -> None:
        old = self.losses.get(node)
        first = old.first if old is not None else t
        if verdict is None:
            if old is None:
                self.losses[node] = Loss(node, t)
            return
        if old is not None and old.verdict is not None:
            return  # already gone; keep the first verdict
        self.losses[node] = Loss(node, first, t, verdict)

    def _membership(self, e: MembershipUpdated) -> None:
        for node in e.dead:
            self._lost(node, e.t, "left" if node in e.left else "dead")
        for node in e.not_candidates:
            if node in e.alive:
                self._lost(node, e.t, "not candidate")
        for node in e.alive - e.not_candidates - e.suspect:
            self.losses.pop(node, None)  # back (rejoined, refuted, or carrier returned)

    def _started(self, e: AnnouncementStarted) -> list[FailoverMeasured]:
        self._expire(e.t)
        moved = _FAILOVER.match(e.reason)
        if moved is None or not self._mine(e.node):
            return []
        loss = self.losses.get(moved.group(1))
        if loss is None:
            return []  # we never saw it lost (e.g. it was only no longer eligible)
        key = (e.node, e.protocol, e.ip)
        self.pending[key] = _Pending(moved.group(1), loss, e.t)
        sent = self.early.pop(key, None)
        if sent is not None and sent >= loss.first:
            return self._sent(key, sent)
        return []

    def _sent(self, key: Key, t: float) -> list[FailoverMeasured]:
        pending = self.pending.pop(key, None)
        if pending is None:
            if self._mine(key[0]):
                self.early[key] = t
                self._expire(t)
            return []
        loss = pending.loss
        verdict = loss.verdict if loss.verdict is not None else loss.first
        node, protocol, target = key
        return [
            FailoverMeasured(
                t,
                node,
                target,
                protocol,  # type: ignore[arg-type]
                pending.from_node,
                max(0.0, t - loss.first),
                loss.cause,
                max(0.0, verdict - loss.first),
            )
        ]

    def _expire(self, now: float) -> None:
        for key in [k for k, p in self.pending.items() if now - p.started > PENDING_TIMEOUT]:
            del self.pending[key]
        for key in [k for k, t in self.early.items() if now - t > EARLY_PACKET]:
            del self.early[key]


class FailoverMetrics:
    """``lbtui_failover_seconds``: a histogram the meter observes and Prometheus scrapes (a
    collector: the registry only calls ``collect``). Made only where metrics are served, so
    a speaker without them never imports prometheus_client."""

    def __init__(self) -> None:
        from prometheus_client import Histogram

        self.histogram = Histogram(
            "lbtui_failover_seconds",
            "Takeovers: from the previous owner's loss (membership) to the first gratuitous "
            "packet (layer2) or UPDATE (bgp) sent",
            ["protocol", "cause"],
            buckets=BUCKETS,
            registry=None,
        )

    def observe(self, measured: FailoverMeasured) -> None:
        self.histogram.labels(measured.protocol, measured.cause).observe(measured.seconds)

    def collect(self) -> Iterator[Metric]:
        yield from self.histogram.collect()


class FailoverMeterActor(Listener, RuntimeActor):
    """Publishes FailoverMeasured for this node's takeovers and feeds the histogram."""

    actor_name = "failover"
    listens_to = (
        NodeSuspected,
        NodeLeft,
        NodeJoined,
        NodeRecovered,
        MembershipUpdated,
        AnnouncementStarted,
        AnnouncementStopped,
        GratuitousSent,
        PrefixAnnounced,
    )

    def __init__(
        self, node: str | None = None, metrics: FailoverMetrics | None = None, **kw: Any
    ) -> None:
        super().__init__(**kw)
        self.tracker = FailoverTracker(node)
        self.metrics = metrics

    def on_event(self, event: Event) -> None:
        for measured in self.tracker.on_event(event):
            if self.metrics is not None:
                self.metrics.observe(measured)
            self.publish(measured)
