"""Prometheus view of the layer 2 counters, with MetalLB's exact metric names.

MetalLB's Go counters are exposed without a ``_total`` suffix
(``metallb_layer2_requests_received{ip="..."}``). The Python client appends ``_total`` to
anything typed counter, so these families are untyped: the series names are exactly MetalLB's
and only grow (``rate()`` works as on MetalLB). Read at scrape time from the
:class:`~actors.l2.responder.Counters` the announcer owns: no actor is asked.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from actors.l2.responder import (
    CONFLICTS,
    FRAMES_DROPPED,
    GRATUITOUS_SENT,
    RECEIVES,
    REQUESTS_RECEIVED,
    RESPONSES_SENT,
    Counters,
)

_HELP = {
    REQUESTS_RECEIVED: ("ip", "Number of layer2 requests received for owned IPs"),
    RESPONSES_SENT: (
        "ip",
        "Number of layer2 responses sent for owned IPs in response to requests",
    ),
    GRATUITOUS_SENT: (
        "ip",
        "Number of gratuitous layer2 packets sent for owned IPs as a result of failovers",
    ),
    FRAMES_DROPPED: ("reason", "ARP/NDP frames that reached the responder and were not answered"),
    RECEIVES: (
        "frames",
        "Receive calls of the ARP/NDP readers that took several frames, by how many (2-3 .. 64)",
    ),
}


class L2Collector(Collector):
    def __init__(self, counters: Counters) -> None:
        self.counters = counters

    def collect(self) -> Iterator[Metric]:
        values = self.counters.snapshot()
        for name, (label, text) in _HELP.items():
            metric = Metric(name, text, "unknown")
            for value_label, value in sorted(values[name].items()):
                metric.add_sample(name, {label: value_label}, float(value))
            yield metric


class ConflictCollector(Collector):
    """``lbtui_l2_conflicts_total{ip}``, lbtui's own (a typed counter): gratuitous ARPs heard
    from another MAC for an address this node announces (the split-brain alarm)."""

    def __init__(self, counters: Counters) -> None:
        self.counters = counters

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "lbtui_l2_conflicts",
            "Gratuitous ARPs from another MAC for an address this node announces",
            labels=["ip"],
        )
        for ip, value in sorted(self.counters.snapshot()[CONFLICTS].items()):
            family.add_metric([ip], float(value))
        yield family
