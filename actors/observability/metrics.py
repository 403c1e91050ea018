"""Prometheus metrics with MetalLB's names, from the event stream.

The MetricsActor keeps the last published state (pool usage, whether the configuration in force
is loaded and current, what each speaker announces) as immutable snapshots; a collector turns
them into metric families when Prometheus scrapes (through the HealthActor's HTTP server), so a
scrape never waits for an actor.

Names (reference/metallb-semantics.md §6): ``metallb_allocator_addresses_total``,
``metallb_allocator_addresses_in_use_total`` and their ``ipv4``/``ipv6`` variants (label
``pool``), ``metallb_k8s_client_config_loaded_bool``, ``metallb_k8s_client_config_stale_bool``,
``metallb_k8s_client_updates_total``, ``metallb_k8s_client_update_errors_total``,
``metallb_speaker_announced`` (labels ``service``, ``protocol``, ``node``, ``ip``). Other
subsystems (L2, BGP) add their own collectors to the same registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from actors.base import RuntimeActor
from actors.events import (
    AllocationsUpdated,
    Announced,
    AnnouncementsUpdated,
    ApiConnectionChanged,
    ConfigApplied,
    ConfigRejected,
    Event,
)
from actors.listener import Listener
from actors.model.allocation import PoolUsage

#: (updates, update errors) of the Kubernetes watch, read at scrape time.
KubeCounters = Callable[[], tuple[int, int]]


class MetricsActor(Listener, RuntimeActor):
    actor_name = "metrics"
    listens_to = (
        AllocationsUpdated,
        ConfigApplied,
        ConfigRejected,
        AnnouncementsUpdated,
        ApiConnectionChanged,
    )

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        kube_counters: KubeCounters | None = None,
        collectors: Sequence[Collector] = (),
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.registry = registry
        self.kube_counters = kube_counters
        self.extra = tuple(collectors)
        self.usage: Mapping[str, PoolUsage] = MappingProxyType({})
        self.config_loaded = False
        self.config_stale = False
        self.api_connected: bool | None = None
        self.announced: Mapping[str, tuple[Announced, ...]] = MappingProxyType({})
        self._collector = _Collector(self)

    def on_start(self) -> None:
        self.registry.register(self._collector)
        for collector in self.extra:
            self.registry.register(collector)

    def on_stop(self) -> None:
        for collector in (self._collector, *self.extra):
            self.registry.unregister(collector)

    def on_event(self, event: Event) -> None:
        if isinstance(event, AllocationsUpdated):
            if event.usage:  # a speaker's allocations (from status) carry no usage
                self.usage = event.usage
        elif isinstance(event, ConfigApplied):
            self.config_loaded, self.config_stale = True, False
        elif isinstance(event, ConfigRejected):
            self.config_stale = True
        elif isinstance(event, AnnouncementsUpdated):
            self.announced = MappingProxyType({**self.announced, event.node: event.announced})
        elif isinstance(event, ApiConnectionChanged):
            self.api_connected = event.connected


class _Collector(Collector):
    def __init__(self, actor: MetricsActor) -> None:
        self.actor = actor

    def collect(self) -> Iterator[Metric]:
        a = self.actor
        yield from pool_metrics(a.usage)
        loaded = GaugeMetricFamily(
            "metallb_k8s_client_config_loaded_bool",
            "1 if the configuration was loaded at least once",
        )
        loaded.add_metric([], 1.0 if a.config_loaded else 0.0)
        yield loaded
        stale = GaugeMetricFamily(
            "metallb_k8s_client_config_stale_bool",
            "1 if the last configuration seen was rejected and an older one is in force",
        )
        stale.add_metric([], 1.0 if a.config_stale else 0.0)
        yield stale
        if a.kube_counters is not None:
            updates, errors = a.kube_counters()
            u = CounterMetricFamily(
                "metallb_k8s_client_updates", "Kubernetes object updates processed"
            )
            u.add_metric([], float(updates))
            yield u
            e = CounterMetricFamily(
                "metallb_k8s_client_update_errors", "Kubernetes watch failures (retried)"
            )
            e.add_metric([], float(errors))
            yield e
        if a.api_connected is not None:
            c = GaugeMetricFamily(
                "lbtui_k8s_api_connected_bool", "1 while every watch of the API is connected"
            )
            c.add_metric([], 1.0 if a.api_connected else 0.0)
            yield c
        yield announced_metric(a.announced)


def pool_metrics(usage: Mapping[str, PoolUsage]) -> Iterator[Metric]:
    """The allocator's per-pool gauges (MetalLB's names; they are gauges despite ``_total``)."""
    specs: tuple[tuple[str, str, Callable[[PoolUsage], int]], ...] = (
        ("metallb_allocator_addresses_total", "Usable addresses in the pool", lambda u: u.total),
        (
            "metallb_allocator_addresses_in_use_total",
            "Addresses in use in the pool",
            lambda u: u.in_use,
        ),
        ("metallb_allocator_ipv4_addresses_total", "Usable IPv4 addresses", lambda u: u.total_v4),
        ("metallb_allocator_ipv6_addresses_total", "Usable IPv6 addresses", lambda u: u.total_v6),
        (
            "metallb_allocator_ipv4_addresses_in_use_total",
            "IPv4 addresses in use",
            lambda u: u.in_use_v4,
        ),
        (
            "metallb_allocator_ipv6_addresses_in_use_total",
            "IPv6 addresses in use",
            lambda u: u.in_use_v6,
        ),
    )
    for name, help_text, value in specs:
        family = GaugeMetricFamily(name, help_text, labels=["pool"])
        for pool, u in sorted(usage.items()):
            family.add_metric([pool], float(value(u)))
        yield family


def announced_metric(announced: Mapping[str, tuple[Announced, ...]]) -> Metric:
    family = GaugeMetricFamily(
        "metallb_speaker_announced",
        "1 while the node announces the service's address (desired state)",
        labels=["service", "protocol", "node", "ip"],
    )
    for node, items in sorted(announced.items()):
        for a in items:
            for ip in a.ips:
                family.add_metric([a.service, a.protocol, node, ip], 1.0)
    return family


class AskedCounters(Collector):
    """Counters an actor keeps (e.g. ``BgpSpeakerActor.counters``: name -> label value ->
    count), asked for at scrape time. The scrape runs in the HTTP server's thread, never in
    an actor's, so asking is allowed; a busy or absent actor just leaves them out.

    ``method`` names the method by reference (a method of ``actor_class``), so a rename is
    caught by the linter, not by an empty scrape. ``families`` types them: name ->
    (``"counter"`` or ``"gauge"``, help); a counter's name ends in ``_total``, as exposed.
    A name not listed is exposed untyped."""

    def __init__(
        self,
        actor_class: type[Any],
        method: Callable[..., Mapping[str, Mapping[Any, float]]],
        *,
        label: str,
        timeout: float = 2.0,
        help_text: str = "",
        families: Mapping[str, tuple[str, str]] | None = None,
    ) -> None:
        if getattr(actor_class, method.__name__, None) is not method:
            raise TypeError(f"{method.__qualname__} is not a method of {actor_class.__name__}")
        for name, (kind, _) in (families or {}).items():
            if kind not in ("counter", "gauge") or (
                kind == "counter" and not name.endswith("_total")
            ):
                raise ValueError(f"{name}: a counter ending in _total, or a gauge")
        self.actor_class = actor_class
        self.method = method
        self.label = label
        self.timeout = timeout
        self.help_text = help_text or f"from {actor_class.__name__}"
        self.families = dict(families or {})

    def collect(self) -> Iterator[Metric]:
        import pykka

        refs = pykka.ActorRegistry.get_by_class(self.actor_class)
        if not refs:
            return
        try:
            ask = getattr(refs[0].proxy(), self.method.__name__)
            values = ask().get(timeout=self.timeout)
        except Exception:  # stopped, restarting or slow: this scrape goes without them
            return
        for name, by_label in sorted(values.items()):
            kind, help_text = self.families.get(name, ("unknown", self.help_text))
            # A counter's family is named without "_total"; its samples keep the full name.
            family = name.removesuffix("_total") if kind == "counter" else name
            metric = Metric(family, help_text, kind)
            for value_label, value in sorted(by_label.items()):
                metric.add_sample(name, {self.label: str(value_label)}, float(value))
            yield metric


def process_collectors() -> tuple[Collector, ...]:
    """What Prometheus' client libraries register by default (Go's has go_* and process_*):
    ``process_*`` (CPU, memory, open files, start time) and ``python_info``. Not registered
    anywhere yet: each role's registry takes them."""
    from prometheus_client import PlatformCollector, ProcessCollector

    return (ProcessCollector(registry=None), PlatformCollector(registry=None))
