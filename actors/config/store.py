"""The configuration files as documents: load, edit one object, validate, persist atomically.

Pure file logic without threads, used by the ConfigActor. An edit is applied only if the whole
configuration is still valid afterwards; it is written back to the file the object came from
(new objects go to the first file), through a temporary file and an atomic rename, keeping the
previous file as ``<file>.bak``. Input files are only ever written by an explicit edit.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import msgspec
import yaml

from actors.config.build import DEFAULT_NAMESPACE, BuildResult, build_config
from actors.config.loader import Inputs, load_documents, yaml_documents
from actors.model.issues import Issue, UnreadableInput
from actors.util.atomic import write_atomically

CONFIG_KINDS = frozenset(
    {"IPAddressPool", "L2Advertisement", "BGPAdvertisement", "Community", "BFDProfile", "BGPPeer"}
)
MEMORY = "<memory>"


class PersistRejected(Exception):
    """The place the configuration lives refused a write (e.g. the API server's validation);
    ``issues`` say why. The edit is not applied."""

    def __init__(self, issues: tuple[Issue, ...]) -> None:
        super().__init__("; ".join(str(i) for i in issues))
        self.issues = issues


class EditOutcome(msgspec.Struct, frozen=True):
    applied: bool
    issues: tuple[Issue, ...] = ()
    path: str = ""
    backup: str = ""


class ConfigStore(msgspec.Struct):
    """Documents per file, in file order. ``MEMORY`` is a file that is never written."""

    files: dict[str, list[tuple[Any, int]]] = msgspec.field(default_factory=dict)
    namespace: str = DEFAULT_NAMESPACE

    @classmethod
    def from_paths(cls, paths: list[str], namespace: str = DEFAULT_NAMESPACE) -> ConfigStore:
        store = cls(namespace=namespace)
        for path in paths:
            store.files[path] = _read_documents(path)
        return store

    @classmethod
    def from_text(cls, text: str, namespace: str = DEFAULT_NAMESPACE) -> ConfigStore:
        return cls({MEMORY: list(yaml_documents(text, MEMORY))}, namespace)

    def reload(self) -> ConfigStore:
        """A fresh store re-read from disk (raises UnreadableInput); memory files are kept."""
        fresh = ConfigStore(namespace=self.namespace)
        for path, docs in self.files.items():
            fresh.files[path] = docs if path == MEMORY else _read_documents(path)
        return fresh

    def inputs(self) -> Inputs:
        inputs = Inputs()
        for path, docs in self.files.items():
            inputs.extend(load_documents(docs, path))
        return inputs

    def build(self) -> tuple[Inputs, BuildResult]:
        inputs = self.inputs()
        result = build_config(inputs, namespace=self.namespace)
        # Schema problems found while loading are part of the verdict too.
        load_errors = [i for i in inputs.issues if i.severity == "error"]
        if load_errors:
            return inputs, BuildResult(None, [*inputs.issues, *result.issues])
        return inputs, BuildResult(result.config, [*inputs.issues, *result.issues])

    def find(self, kind: str, name: str) -> tuple[str, int] | None:
        for path, docs in self.files.items():
            for index, (doc, _) in enumerate(docs):
                if _identity(doc) == (kind, name):
                    return path, index
        return None

    def document(self, kind: str, name: str) -> dict[str, Any] | None:
        found = self.find(kind, name)
        if found is None:
            return None
        path, index = found
        return copy.deepcopy(self.files[path][index][0])

    def with_document(self, doc: dict[str, Any]) -> tuple[ConfigStore, str]:
        """A copy of the store with ``doc`` replacing the object of the same kind and name."""
        kind, name = _identity(doc)
        if kind not in CONFIG_KINDS:
            raise ValueError(f"only metallb.io configuration can be edited, not {kind!r}")
        if not name:
            raise ValueError("metadata.name is required")
        new = ConfigStore({p: list(d) for p, d in self.files.items()}, self.namespace)
        found = self.find(kind, name)
        if found is not None:
            path, index = found
            line = new.files[path][index][1]
            new.files[path][index] = (doc, line)
        else:
            path = next(iter(new.files), MEMORY)
            new.files.setdefault(path, []).append((doc, 0))
        return new, path

    def without_document(self, kind: str, name: str) -> tuple[ConfigStore, str]:
        found = self.find(kind, name)
        if found is None:
            raise KeyError(f"{kind}/{name} not found")
        path, index = found
        new = ConfigStore({p: list(d) for p, d in self.files.items()}, self.namespace)
        del new.files[path][index]
        return new, path

    def persist(self, path: str) -> str:
        """Write one file atomically; returns the backup's path ('' for memory)."""
        if path == MEMORY:
            return ""
        docs = [doc for doc, _ in self.files[path]]
        target = Path(path)
        backup = f"{path}.bak"
        if target.exists():
            shutil.copy2(target, backup)
        write_atomically(target, yaml.safe_dump_all(docs, sort_keys=False))
        return backup if Path(backup).exists() else ""


def _identity(doc: Any) -> tuple[str, str]:
    if not isinstance(doc, dict):
        return "", ""
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    return str(doc.get("kind", "")), str(meta.get("name", ""))


def _read_documents(path: str) -> list[tuple[Any, int]]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UnreadableInput(path, f"cannot read: {exc}") from exc
    return list(yaml_documents(text, path))
