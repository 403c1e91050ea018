"""BGPPeer ``passwordSecret``: the TCP-MD5 password from a ``kubernetes.io/basic-auth`` Secret.

:func:`session_password` is the password a peer's session uses, for lbtui's own sessions and
for FRR's alike (MetalLB's ``passwordForSession``). With ``lbtui speaker --cluster/--config``
the Secrets are objects in the configuration files (validation already checked their type and
encoding); on a cluster they are the watched Secrets (actors/kube/secrets.py). The value is
never logged.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Sequence

from actors.config.loader import load_files
from actors.model.config import Peer, SecretRef
from actors.model.issues import UnreadableInput

log = logging.getLogger(__name__)

SecretLookup = Callable[[SecretRef], "str | None"]


def session_password(peer: Peer, secrets: SecretLookup | None) -> str | None:
    """The password of ``peer``'s session: its own ``password``, else its ``passwordSecret``'s
    ("" for none; None while that Secret cannot be found, so the session waits for it)."""
    if peer.password or peer.password_secret is None:
        return peer.password
    if secrets is None:
        return None
    return secrets(peer.password_secret)


class FileSecrets:
    """Looks Secrets up in YAML files, read afresh at each lookup (they may change)."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = tuple(paths)

    def __call__(self, ref: SecretRef) -> str | None:
        try:
            inputs = load_files(self.paths)
        except UnreadableInput as exc:
            log.warning("cannot read Secrets: %s", exc)
            return None
        for sourced in inputs.secrets:
            secret = sourced.obj
            namespace = secret.metadata.namespace or ref.namespace
            if (namespace, secret.metadata.name) != (ref.namespace, ref.name):
                continue
            if "password" in secret.string_data:
                return secret.string_data["password"]
            if "password" in secret.data:
                try:
                    return base64.b64decode(secret.data["password"], validate=True).decode()
                except (binascii.Error, ValueError, UnicodeDecodeError):
                    log.warning("Secret %s/%s: password is not valid base64", *ref_key(ref))
                    return None
        return None


def ref_key(ref: SecretRef) -> tuple[str, str]:
    return ref.namespace, ref.name
