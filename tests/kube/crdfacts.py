"""A CRD's schema as lines a person can read and compare: one line per field, then its CEL
rules. Used by tests/kube/test_crd_facts.py to hold MetalLB's facts and check ours.

    .spec.peerPort integer default=179 minimum=1 maximum=16384
    .spec.enableGracefulRestart rule self == oldSelf -> EnableGracefulRestart cannot be ...

A label selector (matchLabels, matchExpressions of key/operator/values, atomic) is one line,
``PATH selector``: it appears twenty times and is checked once, as ``SELECTOR``.
"""

from __future__ import annotations

import json
from typing import Any

KEYWORDS = (
    "format",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "pattern",
    "enum",
    "default",
    "required",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
)

#: metav1.LabelSelector as kubebuilder writes it (values and expressions atomic).
SELECTOR: dict[str, Any] = {
    "type": "object",
    "x-kubernetes-map-type": "atomic",
    "properties": {
        "matchExpressions": {
            "type": "array",
            "x-kubernetes-list-type": "atomic",
            "items": {
                "type": "object",
                "required": ["key", "operator"],
                "properties": {
                    "key": {"type": "string"},
                    "operator": {"type": "string"},
                    "values": {
                        "type": "array",
                        "x-kubernetes-list-type": "atomic",
                        "items": {"type": "string"},
                    },
                },
            },
        },
        "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}


def bare(schema: Any) -> Any:
    """``schema`` without descriptions, required lists sorted: what validation sees."""
    if isinstance(schema, dict):
        out = {k: bare(v) for k, v in schema.items() if k != "description"}
        if isinstance(out.get("required"), list):
            out["required"] = sorted(out["required"])
        return out
    if isinstance(schema, list):
        return [bare(v) for v in schema]
    return schema


def flatten(schema: dict[str, Any]) -> list[str]:
    """One line per field (``.spec.x type key=value...``), then one per CEL rule."""
    lines: list[str] = []

    def walk(node: dict[str, Any], path: str) -> None:
        node = bare(node)
        if node == bare(SELECTOR):
            lines.append(f"{path} selector")
            return
        words = [path or ".", str(node.get("type", "?"))]
        for key in KEYWORDS:
            if key in node:
                value = node[key]
                words.append(f"{key}={value if isinstance(value, str) else json.dumps(value)}")
        lines.append(" ".join(words))
        for rule in node.get("x-kubernetes-validations", []):
            lines.append(f"{path or '.'} rule {rule['rule']} -> {rule['message']}")
        for name in sorted(node.get("properties", {})):
            walk(node["properties"][name], f"{path}.{name}")
        if "items" in node:
            walk(node["items"], f"{path}[]")
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], f"{path}{{}}")

    walk(schema, "")
    return lines
