"""BGPPeer ``passwordSecret`` on a real cluster: :class:`KubeSecrets` looks the password up in
the watched Secrets of the configuration namespace. The password is never logged."""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable

from actors.kube.cluster import KubeCluster
from actors.model.config import SecretRef

log = logging.getLogger(__name__)


class KubeSecrets:
    """BGPPeer ``passwordSecret`` lookups in the watched Secrets (a SecretLookup for the BGP
    actor on a real cluster). ``kube`` is the KubeCluster, or a callable returning it once
    the command line has connected. The password is never logged."""

    def __init__(self, kube: KubeCluster | Callable[[], KubeCluster | None]) -> None:
        self._kube = kube

    def __call__(self, ref: SecretRef) -> str | None:
        kube = self._kube() if callable(self._kube) else self._kube
        cache = kube.cache_for("Secret") if kube is not None else None
        secret = cache.get(f"{ref.namespace}/{ref.name}") if cache is not None else None
        if secret is None:
            return None
        string_data = secret.get("stringData") or {}
        if "password" in string_data:
            return str(string_data["password"])
        encoded = (secret.get("data") or {}).get("password")
        if encoded is None:
            return None
        try:
            return base64.b64decode(str(encoded), validate=True).decode()
        except (binascii.Error, ValueError, UnicodeDecodeError):
            log.warning("Secret %s/%s: password is not valid base64", ref.namespace, ref.name)
            return None
