"""What this speaker announces, as MetalLB's speaker tells it: :class:`SpeakerStatusWriter`.

One ServiceL2Status / ServiceBGPStatus per service this node announces (``generateName``
l2-/bgp-, labels ``metallb.io/node``, ``metallb.io/service-name``,
``metallb.io/service-namespace``, owned by the speaker's pod), holding
:func:`desired_status_objects`; deleted when it stops announcing. Events ``nodeAssigned``
and ``announceFailed``. A failed write is retried with backoff; what is announced stays
announced meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from actors.events import (
    Announced,
    AnnouncementsUpdated,
    ClusterUpdated,
    Event,
    L2AnswersChanged,
)
from actors.kube.api import KubeApi, api_error, split_key, transient
from actors.kube.event_recorder import SPEAKER_COMPONENT, EventRecorder
from actors.kube.writer import ApiWriter
from actors.listener import Listener
from actors.model.cluster import Service

log = logging.getLogger(__name__)

LABEL_NODE = "metallb.io/node"
LABEL_SERVICE_NAME = "metallb.io/service-name"
LABEL_SERVICE_NAMESPACE = "metallb.io/service-namespace"

L2_STATUS = ("servicel2statuses", "ServiceL2Status", "l2-")
BGP_STATUS = ("servicebgpstatuses", "ServiceBGPStatus", "bgp-")


def desired_status_objects(
    node: str, announced: tuple[Announced, ...]
) -> dict[tuple[str, str], dict[str, Any]]:
    """(plural, service key) -> the status a ServiceL2Status/ServiceBGPStatus must hold."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for a in announced:
        namespace, name = split_key(a.service)
        status: dict[str, Any] = {"node": node, "serviceName": name, "serviceNamespace": namespace}
        if a.protocol == "layer2":
            # Empty when announcing on every interface, as MetalLB writes it.
            status["interfaces"] = [{"name": i} for i in a.interfaces]
            out[(L2_STATUS[0], a.service)] = status
        else:
            status["peers"] = list(a.peers)
            out[(BGP_STATUS[0], a.service)] = status
    return out


class SpeakerStatusWriter(Listener, ApiWriter):
    """ServiceL2Status / ServiceBGPStatus objects for what this node announces, and the
    ``nodeAssigned`` Events. Objects of services it stopped announcing are deleted."""

    actor_name = "speakerstatus"
    listens_to = (AnnouncementsUpdated, ClusterUpdated, L2AnswersChanged)

    def __init__(
        self,
        api: KubeApi,
        namespace: str,
        node: str,
        *,
        pod_name: str = "",
        **kw: Any,
    ) -> None:
        super().__init__(api, namespace, **kw)
        self.node = node
        self.pod_name = pod_name
        self.owner: list[dict[str, Any]] | None = None
        self.events = EventRecorder(api, SPEAKER_COMPONENT, node)
        self.services: Mapping[str, Service] = MappingProxyType({})
        self.announced: tuple[Announced, ...] | None = None
        self.desired: dict[tuple[str, str], dict[str, Any]] = {}
        # (plural, service) -> (object name, status it holds); None until listed.
        self.existing: dict[tuple[str, str], tuple[str, dict[str, Any]]] | None = None

    def on_start(self) -> None:
        self._learn()

    def on_event(self, event: Event) -> None:
        if isinstance(event, ClusterUpdated):
            self.services = event.cluster.services
            return
        if isinstance(event, L2AnswersChanged):
            self._announce_failed(event)
            return
        if not isinstance(event, AnnouncementsUpdated) or event.node != self.node:
            return
        before = {(a.service, a.protocol) for a in self.announced or ()}
        self.announced = event.announced
        for a in event.announced:
            if (a.service, a.protocol) not in before:
                self.events.record(
                    self.clock.wall(),
                    a.service,
                    self.services.get(a.service),
                    "Normal",
                    "nodeAssigned",
                    f'announcing from node "{self.node}" with protocol "{a.protocol}"',
                )
        self.desired = desired_status_objects(self.node, event.announced)
        self.sync()

    def _announce_failed(self, event: L2AnswersChanged) -> None:
        """This node won an address but can answer on none of the interfaces its
        L2Advertisement names: MetalLB's Warning ``announceFailed`` on the services."""
        if event.node != self.node or event.interfaces:
            return
        if not event.reason.startswith("announceFailed"):
            return
        detail = event.reason.partition(": ")[2] or event.reason
        for a in self.announced or ():
            if a.protocol == "layer2" and event.ip in a.ips:
                self.events.record(
                    self.clock.wall(),
                    a.service,
                    self.services.get(a.service),
                    "Warning",
                    "announceFailed",
                    f'cannot announce {event.ip} from node "{self.node}": {detail}',
                )

    def _learn(self) -> bool:
        """List the status objects this node already has (from before a restart)."""
        try:
            if self.pod_name and self.owner is None:
                pod = self.api.get_pod(self.namespace, self.pod_name)
                meta = pod.get("metadata") or {}
                self.owner = [
                    {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "name": self.pod_name,
                        "uid": meta.get("uid", ""),
                    }
                ]
            existing: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
            for plural, _, _ in (L2_STATUS, BGP_STATUS):
                for obj in self.api.custom_list(
                    plural, self.namespace, f"{LABEL_NODE}={self.node}"
                ):
                    labels = (obj.get("metadata") or {}).get("labels") or {}
                    service = (
                        f"{labels.get(LABEL_SERVICE_NAMESPACE, '')}/"
                        f"{labels.get(LABEL_SERVICE_NAME, '')}"
                    )
                    name = obj["metadata"]["name"]
                    key = (plural, service)
                    if key in existing:  # a duplicate (a crash between two writes): drop it
                        self.api.custom_delete(plural, self.namespace, name)
                        continue
                    existing[key] = (name, obj.get("status") or {})
        except Exception as exc:
            log.warning("listing this node's status objects failed: %s", exc)
            self.retry_later()
            return False
        self.existing = existing
        return True

    def sync(self) -> None:
        if self.existing is None and not self._learn():
            return
        assert self.existing is not None
        try:
            for key in sorted(set(self.existing) - set(self.desired)):
                plural, _ = key
                name, _ = self.existing[key]
                try:
                    self.api.custom_delete(plural, self.namespace, name)
                except Exception as exc:
                    if api_error(exc)[0] != 404:
                        raise
                del self.existing[key]
            for key, status in sorted(self.desired.items()):
                found = self.existing.get(key)
                if found is not None and found[1] == status:
                    continue
                name = found[0] if found is not None else self._create(key)
                self.existing[key] = (name, {})
                self.api.custom_patch_status(key[0], self.namespace, name, {"status": status})
                self.existing[key] = (name, status)
        except Exception as exc:
            if not transient(exc) and api_error(exc)[0] == 404:
                self.existing = None  # someone deleted ours: list again
            log.warning("writing status objects of %s failed: %s", self.node, exc)
            self.retry_later()
            return
        self.retry.succeeded()

    def _create(self, key: tuple[str, str]) -> str:
        plural, service = key
        kind, prefix = (L2_STATUS if plural == L2_STATUS[0] else BGP_STATUS)[1:]
        namespace, name = split_key(service)
        metadata: dict[str, Any] = {
            "generateName": prefix,
            "namespace": self.namespace,
            "labels": {
                LABEL_NODE: self.node,
                LABEL_SERVICE_NAME: name,
                LABEL_SERVICE_NAMESPACE: namespace,
            },
        }
        if self.owner:
            metadata["ownerReferences"] = self.owner
        created = self.api.custom_create(
            plural,
            self.namespace,
            {"apiVersion": "metallb.io/v1beta1", "kind": kind, "metadata": metadata},
        )
        return str(created["metadata"]["name"])
