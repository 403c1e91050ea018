"""The ConfigurationState object: :class:`ConfigurationStateWriter` says whether the
configuration in force is valid, as ``controller`` (while it leads) or ``speaker-<node>``.
"""

from __future__ import annotations

import logging
from typing import Any

from actors.events import ConfigApplied, ConfigRejected, Event, LeadershipChanged
from actors.kube.api import KubeApi, api_error, rfc3339
from actors.kube.writer import ApiWriter
from actors.listener import Listener

log = logging.getLogger(__name__)

LABEL_COMPONENT_TYPE = "metallb.io/component-type"
LABEL_NODE_NAME = "metallb.io/node-name"


def configuration_state_status(
    valid: bool, errors: tuple[str, ...], condition: str, wall: float
) -> dict[str, Any]:
    summary = "; ".join(errors)
    return {
        "result": "Valid" if valid else "Invalid",
        "errorSummary": "" if valid else summary,
        "conditions": [
            {
                "type": condition,
                "status": "True" if valid else "False",
                "reason": "Reconciled" if valid else "ConfigurationError",
                "message": "" if valid else summary,
                "lastTransitionTime": rfc3339(wall),
            }
        ],
    }


class ConfigurationStateWriter(Listener, ApiWriter):
    """The ConfigurationState object of this component: ``controller`` or ``speaker-<node>``."""

    actor_name = "configstate"
    listens_to = (ConfigApplied, ConfigRejected, LeadershipChanged)

    def __init__(
        self,
        api: KubeApi,
        namespace: str,
        *,
        node: str = "",
        leader: bool = True,
        **kw: Any,
    ) -> None:
        super().__init__(api, namespace, **kw)
        self.node = node
        self.leader = leader
        self.object_name = f"speaker-{node}" if node else "controller"
        self.condition = "configReconcilerValid" if node else "poolReconcilerValid"
        self.state: tuple[bool, tuple[str, ...]] | None = None
        self.written: tuple[bool, tuple[str, ...]] | None = None
        self.exists = False

    def on_event(self, event: Event) -> None:
        if isinstance(event, ConfigApplied):
            self.state = (True, ())
        elif isinstance(event, ConfigRejected):
            self.state = (False, event.errors)
        elif isinstance(event, LeadershipChanged):
            if self.node:
                return  # a speaker's own state is its own business, leader or not
            self.leader = event.leader
            self.written = None
        self.sync()

    def sync(self) -> None:
        if not self.leader or self.state is None or self.state == self.written:
            return
        valid, errors = self.state
        status = configuration_state_status(valid, errors, self.condition, self.clock.wall())
        try:
            if not self.exists:
                self._ensure()
            self.api.custom_patch_status(
                "configurationstates", self.namespace, self.object_name, {"status": status}
            )
        except Exception as exc:
            if api_error(exc)[0] == 404:
                self.exists = False
            log.warning("writing ConfigurationState %s failed: %s", self.object_name, exc)
            self.retry_later()
            return
        self.written = self.state
        self.retry.succeeded()

    def _ensure(self) -> None:
        labels = {LABEL_COMPONENT_TYPE: "speaker" if self.node else "controller"}
        if self.node:
            labels[LABEL_NODE_NAME] = self.node
        body = {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "ConfigurationState",
            "metadata": {"name": self.object_name, "namespace": self.namespace, "labels": labels},
        }
        try:
            self.api.custom_create("configurationstates", self.namespace, body)
        except Exception as exc:
            if api_error(exc)[0] != 409:  # already there is fine
                raise
        self.exists = True
