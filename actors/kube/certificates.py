"""The webhooks' TLS certificates, made and renewed the way MetalLB's cert-controller does.

Pure part: a CA and a serving certificate for ``<service>.<namespace>.svc`` (made and
checked by :mod:`actors.util.x509`), kept in the Secret ``metallb-webhook-cert`` under
``ca.crt``, ``ca.key``, ``tls.crt`` and ``tls.key``; :func:`refreshed` says what has to be
made anew: the CA when it is missing, unreadable or expires within the lookahead (then the
serving certificate too), the serving certificate alone when it is not signed by that CA, does
not name the service or expires within the lookahead. Validity as cert-controller's: CA 10
years, serving certificate 1 year, renewed 90 days before expiry, checked every 12 hours; both
start an hour back so clocks a little behind accept them. A CA that is replaced stays in the
Secret (``ca-previous.crt``) and in the caBundles until it expires, so another replica still
serving a certificate it signed is trusted until its own next round (cert-controller drops it
at once).

The :class:`CertRotator` actor does the I/O: reads the Secret (creating it if it is missing
and the controller may), writes what :func:`refreshed` returns back to it, writes
``tls.crt``/``tls.key`` into ``--cert-dir`` for the webhook server, and puts the CA into the
``caBundle`` of every webhook of the ValidatingWebhookConfiguration and of the bgppeers CRD's
conversion webhook. A failure (API away, a conflicting write) is retried with backoff; the
private keys are never logged.
"""

from __future__ import annotations

import base64
import copy
import errno
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from actors.base import RuntimeActor
from actors.model.redacted import Redacted
from actors.util.atomic import replace_if_changed
from actors.util.backoff import backoff_delay
from actors.util.x509 import (
    DAY,
    ca_usable,
    cert_usable,
    expires,
    new_ca,
    new_serving_cert,
    still_valid,
)

log = logging.getLogger(__name__)

SECRET_NAME = "metallb-webhook-cert"
SERVICE_NAME = "metallb-webhook-service"
WEBHOOK_CONFIGURATION = "metallb-webhook-configuration"
BGPPEERS_CRD = "bgppeers.metallb.io"
CERT_DIR = "/tmp/k8s-webhook-server/serving-certs"
LOOKAHEAD = 90 * DAY
CHECK_INTERVAL = 12 * 3600.0
KEYS = ("ca.crt", "ca.key", "tls.crt", "tls.key")
# The CA a renewal replaced, trusted beside the new one until it expires: another replica may
# still serve a certificate it signed (each replica renews its files on its own round).
PREVIOUS_CA_KEY = "ca-previous.crt"


def dns_name(service: str, namespace: str) -> str:
    """The name the API server checks the webhook's certificate against."""
    return f"{service}.{namespace}.svc"


class CertBundle(Redacted, msgspec.Struct, frozen=True):
    """PEM texts, as the Secret holds them (decoded). The private keys stay out of reprs."""

    __redacted__ = frozenset({"ca_key", "key"})

    ca_cert: bytes
    ca_key: bytes
    cert: bytes
    key: bytes
    previous_ca: bytes = b""  # the CA this one replaced, while it is still valid

    @property
    def trusted(self) -> bytes:
        """What the caBundles hold: the CA, and the one it replaced while that is valid."""
        return self.ca_cert + self.previous_ca

    def secret_data(self) -> dict[str, str]:
        values = (self.ca_cert, self.ca_key, self.cert, self.key)
        data = {k: base64.b64encode(v).decode() for k, v in zip(KEYS, values, strict=True)}
        if self.previous_ca:
            data[PREVIOUS_CA_KEY] = base64.b64encode(self.previous_ca).decode()
        return data

    @classmethod
    def from_secret_data(cls, data: Mapping[str, Any] | None) -> CertBundle | None:
        """The bundle in a Secret's ``data``; None if any part is missing or not base64."""
        if not data:
            return None
        try:
            parts = [base64.b64decode(str(data[k]), validate=True) for k in KEYS]
            previous = base64.b64decode(str(data.get(PREVIOUS_CA_KEY) or ""), validate=True)
        except (KeyError, ValueError):
            return None
        return cls(*parts, previous_ca=previous)


def refreshed(
    bundle: CertBundle | None, name: str, now: float, lookahead: float = LOOKAHEAD
) -> CertBundle | None:
    """The bundle to store instead of ``bundle``, or None when ``bundle`` is still good.

    A renewed CA keeps the old one as ``previous_ca`` until the old one expires, so the
    caBundles trust certificates it signed that other replicas still serve."""
    if bundle is None or not ca_usable(bundle.ca_cert, bundle.ca_key, now, lookahead):
        ca_cert, ca_key = new_ca(now)
        cert, key = new_serving_cert(ca_cert, ca_key, name, now)
        previous = (
            bundle.ca_cert if bundle is not None and still_valid(bundle.ca_cert, now) else b""
        )
        return CertBundle(ca_cert, ca_key, cert, key, previous)
    previous = bundle.previous_ca if still_valid(bundle.previous_ca, now) else b""
    if not cert_usable(bundle.ca_cert, bundle.cert, bundle.key, name, now, lookahead):
        cert, key = new_serving_cert(bundle.ca_cert, bundle.ca_key, name, now)
        return CertBundle(bundle.ca_cert, bundle.ca_key, cert, key, previous)
    if previous != bundle.previous_ca:
        return msgspec.structs.replace(bundle, previous_ca=previous)  # the old CA has expired
    return None


def with_webhook_ca_bundle(configuration: Mapping[str, Any], ca_cert: bytes) -> dict[str, Any]:
    """A ValidatingWebhookConfiguration with the CA in every webhook's ``caBundle``."""
    out = copy.deepcopy(dict(configuration))
    encoded = base64.b64encode(ca_cert).decode()
    for hook in out.get("webhooks") or []:
        if isinstance(hook, dict):
            hook.setdefault("clientConfig", {})["caBundle"] = encoded
    return out


def with_conversion_ca_bundle(crd: Mapping[str, Any], ca_cert: bytes) -> dict[str, Any] | None:
    """A CRD with the CA in its conversion webhook's ``caBundle``; None without a webhook."""
    out = copy.deepcopy(dict(crd))
    webhook = ((out.get("spec") or {}).get("conversion") or {}).get("webhook")
    if not isinstance(webhook, dict) or not isinstance(webhook.get("clientConfig"), dict):
        return None
    webhook["clientConfig"]["caBundle"] = base64.b64encode(ca_cert).decode()
    return out


def write_cert_files(cert_dir: str | Path, bundle: CertBundle) -> bool:
    """``tls.crt`` and ``tls.key`` (mode 0600) into ``cert_dir``; True if anything changed.
    The key goes first, so a reader that sees the new certificate finds its key."""
    directory = Path(cert_dir)
    directory.mkdir(parents=True, exist_ok=True)
    changed = False
    for name, data in (("tls.key", bundle.key), ("tls.crt", bundle.cert)):
        changed |= replace_if_changed(directory / name, data, mode=0o600)
    return changed


def cert_dir_is_projected(cert_dir: str | Path, exc: OSError) -> bool:
    """Whether a failed write means ``cert_dir`` is the webhook Secret mounted read-only, as
    MetalLB's own manifests mount it: the kubelet then projects the Secret we keep (its
    ``tls.crt``/``tls.key`` keys) into the directory, and the server reloads what appears."""
    return exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM) and Path(cert_dir).is_dir()


# -- the actor -------------------------------------------------------------------------------


class _Api:
    """The calls the rotator makes, over the official client (raw JSON in and out)."""

    def __init__(self, api_client: Any, timeout: float) -> None:
        from kubernetes import client

        self.core = client.CoreV1Api(api_client)
        self.admission = client.AdmissionregistrationV1Api(api_client)
        self.extensions = client.ApiextensionsV1Api(api_client)
        self.timeout = timeout

    def _json(self, call: Any, *args: Any) -> Any:
        import json

        response = call(*args, _preload_content=False, _request_timeout=self.timeout)
        return json.loads(response.data) if response.data else None

    def get_secret(self, namespace: str, name: str) -> dict[str, Any]:
        return self._json(self.core.read_namespaced_secret, name, namespace)

    def create_secret(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._json(self.core.create_namespaced_secret, namespace, body)

    def replace_secret(self, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._json(self.core.replace_namespaced_secret, name, namespace, body)

    def get_webhook_configuration(self, name: str) -> dict[str, Any]:
        return self._json(self.admission.read_validating_webhook_configuration, name)

    def replace_webhook_configuration(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._json(self.admission.replace_validating_webhook_configuration, name, body)

    def get_crd(self, name: str) -> dict[str, Any]:
        return self._json(self.extensions.read_custom_resource_definition, name)

    def replace_crd(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._json(self.extensions.replace_custom_resource_definition, name, body)


def _status(exc: BaseException) -> int:
    return int(getattr(exc, "status", 0) or 0)


class CertRotator(RuntimeActor):
    """Keeps the webhook certificate valid in the Secret, on disk and in the caBundles.

    Its first round runs in ``on_start``, so the webhook server started after it finds the
    files (unless the API was away: then it retries and the server waits for the files).
    """

    actor_name = "certs"

    def __init__(
        self,
        api_client: Any,
        namespace: str,
        *,
        cert_dir: str = CERT_DIR,
        service_name: str = SERVICE_NAME,
        secret_name: str = SECRET_NAME,
        webhook_configuration: str = WEBHOOK_CONFIGURATION,
        crd_name: str = BGPPEERS_CRD,
        check_interval: float = CHECK_INTERVAL,
        lookahead: float = LOOKAHEAD,
        retry: tuple[float, float] = (1.0, 60.0),
        request_timeout: float = 10.0,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.api = _Api(api_client, request_timeout)
        self.namespace = namespace
        self.cert_dir = cert_dir
        self.projected = False  # cert_dir is a read-only Secret mount (MetalLB's manifests)
        self.name = dns_name(service_name, namespace)
        self.secret_name = secret_name
        self.webhook_configuration = webhook_configuration
        self.crd_name = crd_name
        self.check_interval = check_interval
        self.lookahead = lookahead
        self.retry = retry
        self.failures = 0
        self.rounds = 0
        self.bundle: CertBundle | None = None

    def on_start(self) -> None:
        self.tick()

    def tick(self) -> None:
        try:
            complete = self.refresh()
        except Exception as exc:  # the API away, a conflict: try again soon
            self.failures += 1
            delay = backoff_delay(self.failures, *self.retry)
            log.warning("webhook certificates: %s; retrying in %.0fs", _short(exc), delay)
            self.after(delay, self.tick)
            return
        self.failures = 0
        self.rounds += 1
        # Something to inject into is missing: look again soon, not in 12 hours.
        self.after(self.check_interval if complete else self.retry[1], self.tick)

    def status(self) -> dict[str, Any]:
        """For tests and the console: rounds done and when the certificate expires."""
        return {
            "rounds": self.rounds,
            "failures": self.failures,
            "expires": expires(self.bundle.cert) if self.bundle else None,
        }

    def refresh(self) -> bool:
        """One round; True if the CA is in every place it should be."""
        bundle = self._secret_bundle()
        self.bundle = bundle
        try:
            write_cert_files(self.cert_dir, bundle)
        except OSError as exc:
            if not cert_dir_is_projected(self.cert_dir, exc):
                raise
            if not self.projected:
                log.info(
                    "%s is read-only (the webhook Secret mounted there): serving the "
                    "certificate the kubelet projects from Secret %s",
                    self.cert_dir,
                    self.secret_name,
                )
            self.projected = True
        injected = self._inject_webhooks(bundle.trusted)
        return self._inject_crd(bundle.trusted) and injected

    def _secret_bundle(self) -> CertBundle:
        try:
            secret = self.api.get_secret(self.namespace, self.secret_name)
        except Exception as exc:
            if _status(exc) != 404:
                raise
            secret = None
        current = CertBundle.from_secret_data((secret or {}).get("data"))
        fresh = refreshed(current, self.name, self.clock.wall(), self.lookahead)
        if fresh is None:
            assert current is not None
            return current
        if current is None or fresh.ca_cert != current.ca_cert:
            change = "new CA and certificate (the old CA stays trusted until it expires)"
        elif fresh.cert != current.cert:
            change = "new certificate"
        else:
            change = "the CA it replaced has expired and is no longer trusted"
        log.info("webhook certificates: %s for %s", change, self.name)
        if secret is None:
            body = {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": self.secret_name, "namespace": self.namespace},
                "type": "Opaque",
                "data": fresh.secret_data(),
            }
            self.api.create_secret(self.namespace, body)
        else:
            # The resourceVersion stays: a concurrent writer makes this a 409, and a retry.
            secret["data"] = {**(secret.get("data") or {}), **fresh.secret_data()}
            self.api.replace_secret(self.namespace, self.secret_name, secret)
        return fresh

    def _inject_webhooks(self, ca_cert: bytes) -> bool:
        try:
            current = self.api.get_webhook_configuration(self.webhook_configuration)
        except Exception as exc:
            if _status(exc) != 404:
                raise
            log.warning(
                "ValidatingWebhookConfiguration %s not found: no caBundle to set",
                self.webhook_configuration,
            )
            return False
        wanted = with_webhook_ca_bundle(current, ca_cert)
        if wanted != current:
            self.api.replace_webhook_configuration(self.webhook_configuration, wanted)
        return True

    def _inject_crd(self, ca_cert: bytes) -> bool:
        try:
            current = self.api.get_crd(self.crd_name)
        except Exception as exc:
            if _status(exc) != 404:
                raise
            log.warning("CustomResourceDefinition %s not found: no caBundle to set", self.crd_name)
            return False
        wanted = with_conversion_ca_bundle(current, ca_cert)
        if wanted is None:
            log.info("%s has no conversion webhook: no caBundle to set", self.crd_name)
            return True
        if wanted != current:
            self.api.replace_crd(self.crd_name, wanted)
        return True


def _short(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    status = _status(exc)
    if status:
        return f"API error {status} {reason or ''}".strip()
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
