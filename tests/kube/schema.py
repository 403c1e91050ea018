"""A structural-schema check of objects against a CRD's openAPIV3Schema (the subset the
metallb.io CRDs use): types, required fields, enums, bounds and unknown fields. The deploy test
checks the manifests' schemas with it; the fake API server validates writes with it, so a
value lbtui accepts but the CRD does not (peerPort above 16384) is refused as a real API
server would refuse it."""

from __future__ import annotations

from typing import Any

import yaml


def violations(schema: dict[str, Any], value: Any, path: str = "") -> list[str]:
    """A structural-schema check: types, required, enum, bounds and unknown fields (which
    `kubectl apply` refuses with strict field validation)."""
    kind = schema.get("type")
    types = {
        "object": dict,
        "array": list,
        "string": str,
        "integer": int,
        "boolean": bool,
        "number": (int, float),
    }
    if (kind and not isinstance(value, types[kind])) or (kind == "integer" and value is True):
        return [f"{path or '.'}: expected {kind}, got {type(value).__name__}"]
    out = []
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{path}: {value!r} not in {schema['enum']}")
    if "minimum" in schema and value < schema["minimum"]:
        out.append(f"{path}: {value} < {schema['minimum']}")
    if "maximum" in schema and value > schema["maximum"]:
        out.append(f"{path}: {value} > {schema['maximum']}")
    if kind == "object":
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for name in schema.get("required", []):
            if name not in value:
                out.append(f"{path}.{name}: required")
        for name, sub in value.items():
            if props is not None and name in props:
                out += violations(props[name], sub, f"{path}.{name}")
            elif extra is not None:
                out += violations(extra, sub, f"{path}.{name}")
            elif props is not None and path != ".metadata":
                out.append(f"{path}.{name}: unknown field")
    if kind == "array":
        for i, item in enumerate(value):
            out += violations(schema.get("items", {}), item, f"{path}[{i}]")
    return out


def crd_schemas(path: str) -> dict[str, dict[str, Any]]:
    """kind -> the storage version's openAPIV3Schema, from a CRD manifest."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for doc in yaml.safe_load_all(f):
            if doc and doc.get("kind") == "CustomResourceDefinition":
                storage = next(v for v in doc["spec"]["versions"] if v["storage"])
                out[doc["spec"]["names"]["kind"]] = storage["schema"]["openAPIV3Schema"]
    return out


def causes(schema: dict[str, Any], obj: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, message) as the API server words a refusal; unknown fields are not refused
    (the server prunes them, with field validation left at its default)."""
    out = []
    for problem in violations(schema, obj):
        path, _, text = problem.partition(": ")
        if text == "unknown field":
            continue
        field = path.lstrip(".")
        value = text.split(" ")[0]
        invalid = f"Invalid value: {value}: {field} in body should be"
        if " > " in text:
            text = f"{invalid} less than or equal to {text.split(' > ')[1]}"
        elif " < " in text:
            text = f"{invalid} greater than or equal to {text.split(' < ')[1]}"
        elif text == "required":
            text = "Required value"
        out.append((field, text))
    return out
