"""A structural-schema check of objects against a CRD's openAPIV3Schema (the subset the
metallb.io CRDs use): types, required fields, enums, bounds, lengths, patterns, unknown fields,
and the one CEL rule they use on updates (``self == oldSelf``, immutability). The deploy test
checks the manifests' schemas with it; the fake API server validates writes with it, so a
value lbtui accepts but the CRD does not (peerPort above 16384) is refused as a real API
server would refuse it. :func:`structural_problems` checks a schema itself the way the API
server does before it accepts a CRD."""

from __future__ import annotations

import json
import re
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
    if kind == "string":
        if "minLength" in schema and len(value) < schema["minLength"]:
            out.append(f"{path}: {value!r} shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            out.append(f"{path}: {value!r} longer than {schema['maxLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            out.append(f"{path}: {value!r} does not match {schema['pattern']}")
    if kind == "array" and "minItems" in schema and len(value) < schema["minItems"]:
        out.append(f"{path}: fewer than {schema['minItems']} items")
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


def transition_violations(
    schema: dict[str, Any], new: Any, old: Any, path: str = ""
) -> list[tuple[str, str]]:
    """An update's refusals by the ``self == oldSelf`` rules (MetalLB's only transition rule),
    as (field, message) worded like the API server's: a field that has one and is set in both
    the old and the new object may not change. Other CEL rules are left to the real API server
    (tests/kube-real)."""
    out = []
    for rule in schema.get("x-kubernetes-validations", []):
        if rule.get("rule") == "self == oldSelf" and new != old:
            message = rule.get("message", "Value is immutable")
            # kube-apiserver v1.37: status.node: Invalid value: "b": Value is immutable
            out.append((path.lstrip("."), f"Invalid value: {json.dumps(new)}: {message}"))
    if isinstance(new, dict) and isinstance(old, dict):
        for name, sub in (schema.get("properties") or {}).items():
            if name in new and name in old:
                out += transition_violations(sub, new[name], old[name], f"{path}.{name}")
    return out


def structural_problems(schema: dict[str, Any], path: str = "") -> list[str]:
    """Why the API server would refuse ``schema`` as a CRD's structural schema: a node without
    a type, properties beside additionalProperties, an array without items, a default its own
    schema refuses."""
    where = path or "."
    out = []
    if not schema.get("type"):
        out.append(f"{where}: no type")
    props = schema.get("properties")
    extra = schema.get("additionalProperties")
    if props is not None and extra is not None:
        out.append(f"{where}: properties and additionalProperties")
    if schema.get("type") == "array" and "items" not in schema:
        out.append(f"{where}: array without items")
    if "default" in schema:
        refused = violations(schema, schema["default"], where)
        out += [
            f"{where}: default {schema['default']!r} is refused by its own schema: {r}"
            for r in refused
        ]
    for name, sub in (props or {}).items():
        out += structural_problems(sub, f"{path}.{name}")
    if isinstance(extra, dict):
        out += structural_problems(extra, f"{path}{{}}")
    if isinstance(schema.get("items"), dict):
        out += structural_problems(schema["items"], f"{path}[]")
    return out
