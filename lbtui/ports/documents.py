"""The objects behind the console's rows as documents in MetalLB's (or Kubernetes') form: the
YAML view (``y``), and the passwords kept out of it and put back after an edit.

Pools and peers come back as metallb.io objects (``config_documents`` turns the configuration
in force into them), services and nodes as core/v1 objects, layer 2 addresses as
MetalLB's ServiceL2Status and BGP sessions as FRR-K8s' BGPSessionState.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import yaml

from actors.config.dump import PASSWORD_NOTE, config_documents
from actors.model.issues import Issue
from lbtui.ports.base import EDITABLE
from lbtui.state.model import ConsoleState

REDACTED = "********"


def redact(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy of a metallb.io document with any BGP password replaced."""
    out = json.loads(json.dumps(doc, default=str))
    spec = out.get("spec")
    if isinstance(spec, dict) and spec.get("password"):
        spec["password"] = REDACTED
    return out


def restore_password(edited: dict[str, Any], original: dict[str, Any] | None) -> dict[str, Any]:
    """Put the real password back where an edited document still has the redacted one."""
    spec = edited.get("spec")
    if (
        isinstance(spec, dict)
        and spec.get("password") == REDACTED
        and original
        and isinstance(original.get("spec"), dict)
    ):
        spec["password"] = original["spec"].get("password", "")
    return edited


def config_document(state: ConsoleState, kind: str, name: str) -> dict[str, Any] | None:
    """An object of the configuration in force, in MetalLB's form (without passwords)."""
    if state.config is None:
        return None
    for doc in config_documents(state.config):
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    return None


def yaml_for(
    state: ConsoleState, kind: str, key: str, document: dict[str, Any] | None = None
) -> str:
    """The object behind a row as YAML, in MetalLB's (or Kubernetes') form (``y``)."""
    docs: list[Any] = []
    if kind in EDITABLE:
        doc = document or config_document(state, EDITABLE[kind], key)
        if doc is not None:
            doc = redact(doc)
            if kind == "pool" and key in state.usage:
                u = state.usage[key]
                doc["status"] = {
                    "assignedIPv4": u.in_use_v4,
                    "assignedIPv6": u.in_use_v6,
                    "availableIPv4": u.total_v4 - u.in_use_v4,
                    "availableIPv6": u.total_v6 - u.in_use_v6,
                }
            if doc.get("metadata", {}).get("annotations", {}).get(PASSWORD_NOTE):
                doc.setdefault("spec", {})["password"] = REDACTED
            docs.append(doc)
    elif kind == "service" and state.cluster and key in state.cluster.services:
        docs.append(_k8s(state.cluster.services[key], "Service"))
    elif kind == "node" and state.cluster and key in state.cluster.nodes:
        docs.append(_k8s(state.cluster.nodes[key], "Node"))
    elif kind == "l2" and key in state.l2:
        docs += _l2_status(state, key)
    elif kind == "session":
        docs.append(_session_state(state, key))
    elif kind == "event":
        entry = next((e for e in state.log if f"{e.seq:09d}" == key), None)
        if entry is not None:
            docs.append(dict(entry.record))
    if not docs:
        return f"# no {kind} {key}\n"
    return yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True)


def _k8s(obj: Any, kind: str) -> dict[str, Any]:
    """A core/v1 object as Kubernetes writes it: apiVersion and kind first."""
    body = obj.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    body.pop("apiVersion", None)
    body.pop("kind", None)
    return {"apiVersion": "v1", "kind": kind, **body}


def _l2_status(state: ConsoleState, ip: str) -> list[dict[str, Any]]:
    """MetalLB's ServiceL2Status objects for the services on one address."""
    entry = state.l2[ip]
    out = []
    for service in entry.services:
        namespace, _, name = service.partition("/")
        out.append(
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "ServiceL2Status",
                "metadata": {
                    "generateName": "l2-",
                    "namespace": "metallb-system",
                    "labels": {
                        "metallb.io/node": entry.node or "",
                        "metallb.io/service-name": name,
                        "metallb.io/service-namespace": namespace,
                    },
                },
                "status": {
                    "node": entry.node or "",
                    "serviceName": name,
                    "serviceNamespace": namespace,
                    "interfaces": [{"name": i} for i in entry.interfaces],
                },
            }
        )
    return out


def _session_state(state: ConsoleState, key: str) -> dict[str, Any]:
    """A BGP session as FRR-K8s' BGPSessionState (MetalLB's session status object)."""
    node, _, peer = key.partition("/")
    session = state.sessions.get((node, peer))
    config_peer = (
        next((p for p in state.config.peers if p.name == peer), None) if state.config else None
    )
    return {
        "apiVersion": "frrk8s.metallb.io/v1beta1",
        "kind": "BGPSessionState",
        "metadata": {"name": f"{node}-{peer}", "namespace": "metallb-system"},
        "status": {
            "node": node,
            "peer": config_peer.target if config_peer else peer,
            "vrf": config_peer.vrf if config_peer else "",
            "bgpStatus": session.state if session else "Unknown",
            "bfdStatus": "N/A",
        },
    }


def issues_text(issues: Iterable[Issue]) -> list[str]:
    """The configuration's issues, one line each."""
    return [str(i) for i in issues]
