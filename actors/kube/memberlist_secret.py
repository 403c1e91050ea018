"""The speakers' gossip key: :class:`MemberlistSecretWriter` creates the memberlist Secret once.

``--ml-secret-name``: as MetalLB's controller does at start, it creates the Secret holding the
key (:func:`memberlist_secret_body`, owned by the controller Deployment) unless it exists; an
existing Secret is left alone (its key is in use).
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

from actors.kube.api import KubeApi, api_error
from actors.kube.writer import ApiWriter
from actors.membership.keyring import MEMBERLIST_SECRET_KEY, new_memberlist_secret

log = logging.getLogger(__name__)


def memberlist_secret_body(
    name: str, namespace: str, secret: bytes, deployment: dict[str, Any] | None
) -> dict[str, Any]:
    """The Secret MetalLB's controller creates: ``secretkey`` holds ``secret`` (itself base64
    text), owned by the controller Deployment so it goes when MetalLB is uninstalled."""
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if deployment is not None:
        meta = deployment.get("metadata") or {}
        metadata["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": meta.get("name", ""),
                "uid": meta.get("uid", ""),
            }
        ]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": metadata,
        "data": {MEMBERLIST_SECRET_KEY: base64.b64encode(secret).decode("ascii")},
    }


class MemberlistSecretWriter(ApiWriter):
    """``--ml-secret-name``: creates the speakers' gossip key Secret once, as MetalLB's
    controller does at start; an existing Secret is left alone (its key is in use). A failed
    call is retried with backoff rather than ending the process: the API may come back."""

    actor_name = "mlsecret"

    def __init__(
        self,
        api: KubeApi,
        namespace: str,
        secret_name: str,
        *,
        deployment: str = "controller",
        **kw: Any,
    ) -> None:
        super().__init__(api, namespace, **kw)
        self.secret_name = secret_name
        self.deployment = deployment
        self.outcome = ""  # "", "created" or "existed"

    def on_start(self) -> None:
        self.sync()

    def sync(self) -> None:
        """Create the Secret unless it exists; done once, then never again."""
        if self.outcome:
            return
        try:
            self.outcome = self._ensure()
        except Exception as exc:
            log.warning("creating the memberlist secret %s failed: %s", self.secret_name, exc)
            self.retry_later()
            return
        log.info("memberlist secret %s/%s %s", self.namespace, self.secret_name, self.outcome)

    def _ensure(self) -> str:
        from kubernetes import client

        core = self.api.core
        timeout = self.api.request_timeout
        # A get by name (RBAC can limit it to this Secret); only 404 means "absent", any
        # other error is retried, never mistaken for it.
        try:
            core.read_namespaced_secret(
                self.secret_name, self.namespace, _preload_content=False, _request_timeout=timeout
            )
            return "existed"
        except Exception as exc:
            if api_error(exc)[0] != 404:
                raise
        deployment: dict[str, Any] | None = None
        try:
            response = client.AppsV1Api(self.api.api_client).read_namespaced_deployment(
                self.deployment, self.namespace, _preload_content=False, _request_timeout=timeout
            )
            deployment = json.loads(response.data)
        except Exception as exc:
            if api_error(exc)[0] != 404:
                raise
            # Run outside the cluster (no Deployment): the Secret simply has no owner.
            log.warning(
                "deployment %s/%s not found: the memberlist secret gets no owner",
                self.namespace,
                self.deployment,
            )
        body = memberlist_secret_body(
            self.secret_name, self.namespace, new_memberlist_secret(), deployment
        )
        try:
            core.create_namespaced_secret(
                self.namespace, body, _preload_content=False, _request_timeout=timeout
            )
        except Exception as exc:
            if api_error(exc)[0] == 409:
                return "existed"  # another replica was first; its key stands
            raise
        return "created"
