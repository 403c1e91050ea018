"""Which kubeconfig to use, as kubectl chooses it: :func:`find_kubeconfig`.

1. ``--kubeconfig FILE`` when given (it must exist);
2. else ``$KUBECONFIG``, a colon-separated list whose existing files are merged in order (the
   first file to set a value wins, its ``current-context`` included); files that do not exist
   are skipped, as kubectl skips them, but at least one must exist;
3. else, inside a pod (``KUBERNETES_SERVICE_HOST``), the pod's service account;
4. else ``~/.kube/config``.

Nothing found is a :class:`KubeconfigNotFound` that says what was looked for. ``--context``
picks a context of the merged files, else the first file's ``current-context``; an unknown
one is refused naming the ones there are (:func:`choose_context`). Pure but for reading the
files.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import msgspec

IN_CLUSTER = "<in-cluster config>"


class KubeconfigNotFound(Exception):
    """No kubeconfig could be found (the message says where lbtui looked)."""


class KubeconfigSource(msgspec.Struct, frozen=True):
    """The kubeconfig files to merge, in order (none: the in-cluster configuration), and how
    to name them in a message."""

    files: tuple[str, ...]
    describe: str

    @property
    def in_cluster(self) -> bool:
        return not self.files


def find_kubeconfig(
    explicit: str | None = None,
    environ: Mapping[str, str] | None = None,
    home: str | None = None,
) -> KubeconfigSource:
    """The kubeconfig kubectl would use (see the module's docstring)."""
    env = os.environ if environ is None else environ
    if explicit:
        path = os.path.expanduser(explicit)
        if not os.path.isfile(path):
            raise KubeconfigNotFound(f"--kubeconfig {explicit}: no such file")
        return KubeconfigSource((path,), explicit)
    listed = [p for p in env.get("KUBECONFIG", "").split(os.pathsep) if p]
    if listed:
        found = tuple(
            os.path.expanduser(p) for p in listed if os.path.isfile(os.path.expanduser(p))
        )
        if not found:
            raise KubeconfigNotFound(f"$KUBECONFIG names no file that exists ({env['KUBECONFIG']})")
        return KubeconfigSource(found, f"$KUBECONFIG ({os.pathsep.join(found)})")
    if env.get("KUBERNETES_SERVICE_HOST"):
        return KubeconfigSource((), IN_CLUSTER)
    default = os.path.join(home or os.path.expanduser("~"), ".kube", "config")
    if os.path.isfile(default):
        return KubeconfigSource((default,), default)
    raise KubeconfigNotFound(
        f"no kubeconfig: --kubeconfig is not given, $KUBECONFIG is not set and {default} "
        "does not exist (and this is not a pod)"
    )


def _documents(source: KubeconfigSource) -> list[dict[str, Any]]:
    import yaml

    out = []
    for path in source.files:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f) or {}
        out.append(doc if isinstance(doc, dict) else {})
    return out


def current_context(source: KubeconfigSource) -> str:
    """The first ``current-context`` the files set, in order, as kubectl merges them (the
    official client lets the last file win; lbtui passes this one to it explicitly)."""
    for doc in _documents(source):
        if doc.get("current-context"):
            return str(doc["current-context"])
    return ""


def contexts_of(source: KubeconfigSource) -> list[str]:
    """The context names in the merged files, in order (the first file to name one wins)."""
    names: list[str] = []
    for doc in _documents(source):
        for entry in doc.get("contexts") or []:
            name = str(entry.get("name", "")) if isinstance(entry, dict) else ""
            if name and name not in names:
                names.append(name)
    return names


def choose_context(source: KubeconfigSource, context: str | None) -> str:
    """``context``, else the files' current one; KubeconfigNotFound if there is none or it is
    not in the files (kubectl: "context was not found for specified context")."""
    names = contexts_of(source)
    wanted = context or current_context(source)
    if not wanted:
        raise KubeconfigNotFound(
            f"{source.describe}: no current-context; give --context (one of: "
            f"{', '.join(names) or 'none'})"
        )
    if wanted not in names:
        raise KubeconfigNotFound(
            f"{source.describe}: context {wanted!r} not found (there are: "
            f"{', '.join(names) or 'none'})"
        )
    return wanted


def load_into(configuration: Any, source: KubeconfigSource, context: str | None) -> None:
    """Fill the client's ``configuration`` from ``source`` and ``context``."""
    from kubernetes import config

    if source.in_cluster:
        config.load_incluster_config(client_configuration=configuration)
        return
    config.load_kube_config(
        config_file=os.pathsep.join(source.files),
        context=choose_context(source, context),
        client_configuration=configuration,
        persist_config=False,
    )
