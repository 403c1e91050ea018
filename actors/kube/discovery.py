"""Finding the other speakers as MetalLB does: :class:`SpeakerDiscovery` lists their pods.

Their pods' IPs, by label, at start and every ``interval`` (5 min), published as
PeersDiscovered for membership to join through (:func:`speaker_addresses` is pure).
"""

from __future__ import annotations

import logging
from typing import Any

from actors.base import RuntimeActor
from actors.events import PeersDiscovered
from actors.kube.api import KubeApi

log = logging.getLogger(__name__)


class SpeakerDiscovery(RuntimeActor):
    """Finds the other speakers as MetalLB does: their pods' IPs, by label, at start and every
    ``interval`` (5 min). Publishes PeersDiscovered; membership joins through them."""

    actor_name = "discovery"

    def __init__(
        self,
        api: KubeApi,
        namespace: str,
        node: str,
        *,
        labels: str = "app=metallb,component=speaker",
        interval: float = 300.0,
        port: int = 7946,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.api = api
        self.namespace = namespace
        self.node = node
        self.labels = labels
        self.interval = interval
        self.port = port
        self.addresses: tuple[str, ...] | None = None

    def on_start(self) -> None:
        self.discover()

    def discover(self) -> None:
        try:
            pods = self.api.list_pods(self.namespace, self.labels)
        except Exception as exc:
            log.warning("listing speaker pods failed: %s", exc)
            self.after(min(self.interval, 10.0), self.discover)
            return
        found = speaker_addresses(pods, self.node, self.port)
        if found != self.addresses:
            self.addresses = found
            self.republish()
        self.after(self.interval, self.discover)

    def republish(self) -> None:
        if self.addresses is not None:
            self.publish(PeersDiscovered(self.clock.now(), self.node, self.addresses))


def speaker_addresses(pods: list[dict[str, Any]], node: str, port: int) -> tuple[str, ...]:
    """``ip:port`` of every running speaker pod on another node, sorted (pure)."""
    out = set()
    for pod in pods:
        spec = pod.get("spec") or {}
        status = pod.get("status") or {}
        if spec.get("nodeName") == node or status.get("phase") not in (None, "Running"):
            continue
        ip = status.get("podIP")
        if ip:
            out.add(f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}")
    return tuple(sorted(out))
