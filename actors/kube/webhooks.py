"""MetalLB's admission webhooks and the BGPPeer conversion webhook, as pure functions.

``admission_response(path, review, existing, namespace)`` answers one AdmissionReview
(``admission.k8s.io/v1``) the way MetalLB's webhooks do (``internal/k8s/webhooks``):

- which operations are looked at, per kind: CREATE and UPDATE of every kind; DELETE only of a
  BFDProfile, which is refused while a BGPPeer names it. Deleting anything else (a pool still
  in use included) is allowed, as in MetalLB;
- CREATE checks the namespace first ("resource must be created in <ns> namespace");
- then the same validation ``lbtui validate`` runs (:func:`actors.config.build.build_config`)
  over the existing objects with the candidate in place (an update replaces the object of that
  name, a create adds it). Like MetalLB, each kind is checked together with the kinds its
  rules refer to, not with the whole configuration: pools alone, communities alone, L2
  advertisements with the pools, BGP advertisements with the pools (and Nodes when known),
  peers with the other peers. References MetalLB calls transient are removed first (a
  peer's ``bfdProfile`` and ``passwordSecret``, alias communities of an advertisement), so the
  order in which objects are created does not matter;
- MetalLB's quirk is kept: creating a BGPPeer with ``disableMP: true`` is allowed with only a
  warning, without any other check.

A denial carries the reasons in ``status.message`` (HTTP 403, reason Forbidden, as
controller-runtime's ``Denied``); warnings about the candidate go in ``warnings``.

``conversion_response(review)`` answers a ConversionReview (``apiextensions.k8s.io/v1``) for
BGPPeers between ``metallb.io/v1beta1`` and ``v1beta2``. v1beta1 lacks the fields v1beta2 added
(dynamicASN, localASN, interface, connectTime, passwordSecret, enableGracefulRestart, vrf,
disableMP, dualStackAddressFamily) and writes node selectors in a legacy struct whose
expressions always carry ``values``. Unlike MetalLB's conversion, which drops those fields on
the way down, they are kept in an annotation of the v1beta1 object and restored on the way up,
so a v1beta1 client that reads and writes back an object loses nothing; and an absent hold or
keepalive time stays absent (MetalLB's turns it into ``0s``, which disables keepalives).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec

from actors.config.build import build_config
from actors.config.loader import load_documents
from actors.model.issues import Issue

GROUP = "metallb.io"
ADMISSION_API = "admission.k8s.io/v1"
CONVERSION_API = "apiextensions.k8s.io/v1"
V1BETA1 = f"{GROUP}/v1beta1"
V1BETA2 = f"{GROUP}/v1beta2"
SOURCE = "admission"

#: MetalLB's webhook paths and the kind each one validates.
VALIDATION_PATHS: Mapping[str, str] = {
    "/validate-metallb-io-v1beta2-bgppeer": "BGPPeer",
    "/validate-metallb-io-v1beta1-bfdprofile": "BFDProfile",
    "/validate-metallb-io-v1beta1-bgpadvertisement": "BGPAdvertisement",
    "/validate-metallb-io-v1beta1-community": "Community",
    "/validate-metallb-io-v1beta1-ipaddresspool": "IPAddressPool",
    "/validate-metallb-io-v1beta1-l2advertisement": "L2Advertisement",
}
CONVERSION_PATH = "/convert"

#: The kinds whose existing objects are validated together with a candidate of each kind.
RELATED_KINDS: Mapping[str, tuple[str, ...]] = {
    "IPAddressPool": (),
    "Community": (),
    "L2Advertisement": ("IPAddressPool",),
    "BGPAdvertisement": ("IPAddressPool",),
    "BGPPeer": (),
    "BFDProfile": (),
}
#: Kinds whose rules resolve node selectors against the Nodes (when the caller has them).
USES_NODES = frozenset({"BGPAdvertisement", "BGPPeer"})

DISABLE_MP_WARNING = (
    "disable mp is deprecated and has no effect since it's the default behavior now"
)
#: Where a v1beta1 BGPPeer keeps the v1beta2 fields it cannot hold (JSON of those fields).
V1BETA2_FIELDS_ANNOTATION = "lbtui.io/bgppeer-v1beta2-fields"
V1BETA1_PEER_FIELDS = frozenset(
    {
        "myASN",
        "peerASN",
        "peerAddress",
        "sourceAddress",
        "peerPort",
        "holdTime",
        "keepaliveTime",
        "routerID",
        "nodeSelectors",
        "password",
        "bfdProfile",
        "ebgpMultiHop",
    }
)


class Verdict(msgspec.Struct, frozen=True):
    """What the webhook says about one request."""

    allowed: bool
    message: str = ""
    warnings: tuple[str, ...] = ()
    code: int = 200

    @classmethod
    def deny(cls, message: str, code: int = 403) -> Verdict:
        return cls(False, message, (), code)


# -- admission -------------------------------------------------------------------------------


def admission_response(
    path: str,
    review: Any,
    existing: Mapping[str, Sequence[Mapping[str, Any]]],
    namespace: str,
    nodes: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The AdmissionReview to send back for ``review`` received on ``path``.

    ``existing``: the metallb.io objects of ``namespace`` by kind (API JSON, as the watch
    caches hold them); ``nodes``: the Nodes, if known, for node-selector rules.
    """
    request = review.get("request") if isinstance(review, Mapping) else None
    uid = str(request.get("uid", "")) if isinstance(request, Mapping) else ""
    kind = VALIDATION_PATHS.get(path)
    if not isinstance(request, Mapping):
        verdict = Verdict.deny("the AdmissionReview has no request", 400)
    elif kind is None:
        verdict = Verdict.deny(f"no webhook at {path}", 404)
    else:
        verdict = admit(kind, request, existing, namespace, nodes)
    return review_answer(review, uid, verdict)


def review_answer(review: Any, uid: str, verdict: Verdict) -> dict[str, Any]:
    api_version = ADMISSION_API
    if isinstance(review, Mapping) and str(review.get("apiVersion", "")).startswith("admission"):
        api_version = str(review["apiVersion"])
    response: dict[str, Any] = {"uid": uid, "allowed": verdict.allowed}
    if verdict.allowed:
        response["status"] = {"code": 200}
    else:
        reason = {400: "BadRequest", 403: "Forbidden", 404: "NotFound"}.get(verdict.code, "")
        response["status"] = {"code": verdict.code, "reason": reason, "message": verdict.message}
    if verdict.warnings:
        response["warnings"] = list(verdict.warnings)
    return {"apiVersion": api_version, "kind": "AdmissionReview", "response": response}


def admit(
    kind: str,
    request: Mapping[str, Any],
    existing: Mapping[str, Sequence[Mapping[str, Any]]],
    namespace: str,
    nodes: Sequence[Mapping[str, Any]] = (),
) -> Verdict:
    """MetalLB's rules for one request on a webhook of ``kind`` (see the module docstring)."""
    operation = str(request.get("operation", ""))
    field_name = "oldObject" if operation == "DELETE" else "object"
    obj = request.get(field_name)
    if not isinstance(obj, Mapping) or not isinstance(obj.get("metadata"), Mapping):
        return Verdict.deny(f"the request's {field_name} is not a Kubernetes object", 400)
    if obj.get("kind") != kind:
        return Verdict.deny(f"this webhook validates {kind}, not {obj.get('kind')!r}", 400)
    obj = dict(obj)
    if kind == "BGPPeer" and obj.get("apiVersion") == V1BETA1:
        try:
            obj = convert_bgppeer(obj, V1BETA2)
        except ConversionError as exc:
            return Verdict.deny(f"cannot read the v1beta1 BGPPeer: {exc}", 400)
    meta = obj["metadata"]
    name = str(meta.get("name") or "")
    obj_namespace = str(meta.get("namespace") or request.get("namespace") or "")

    if operation == "DELETE":
        if kind == "BFDProfile" and obj_namespace == namespace:
            return _bfd_profile_delete(name, existing.get("BGPPeer", ()))
        return Verdict(True)
    if operation not in ("CREATE", "UPDATE"):
        return Verdict(True)  # CONNECT: nothing MetalLB looks at
    if operation == "CREATE":
        spec = obj.get("spec")
        if kind == "BGPPeer" and isinstance(spec, Mapping) and spec.get("disableMP") is True:
            return Verdict(True, warnings=(DISABLE_MP_WARNING,))  # MetalLB: and nothing else
        if obj_namespace != namespace:
            return Verdict.deny(f"resource must be created in {namespace} namespace")
    if kind == "BFDProfile":
        return Verdict(True)  # MetalLB validates a profile only by its users (peers)
    candidate = {**obj, "metadata": {**meta, "namespace": obj_namespace}}
    return validate_with(candidate, existing, namespace, nodes)


def _bfd_profile_delete(name: str, peers: Iterable[Mapping[str, Any]]) -> Verdict:
    for peer in peers:
        spec = peer.get("spec")
        if isinstance(spec, Mapping) and spec.get("bfdProfile") == name:
            peer_name = (peer.get("metadata") or {}).get("name", "")
            return Verdict.deny(f"failed to delete BFDProfile {name}, used by BGPPeer {peer_name}")
    return Verdict(True)


def validate_with(
    candidate: Mapping[str, Any],
    existing: Mapping[str, Sequence[Mapping[str, Any]]],
    namespace: str,
    nodes: Sequence[Mapping[str, Any]] = (),
) -> Verdict:
    """``build_config`` over the existing objects of the candidate's kind (the candidate in
    place of the one with its name) and of the kinds its rules refer to."""
    kind = str(candidate["kind"])
    name = str(candidate["metadata"].get("name") or "")
    documents = [
        config_document(o)
        for o in existing.get(kind, ())
        if (o.get("metadata") or {}).get("name") != name
    ]
    documents.append(config_document(candidate))
    for related in RELATED_KINDS.get(kind, ()):
        documents.extend(config_document(o) for o in existing.get(related, ()))
    documents = [without_transient_references(d) for d in documents]
    node_docs = [dict(n) for n in nodes] if kind in USES_NODES else []
    inputs = load_documents(((d, 0) for d in [*documents, *node_docs]), SOURCE)
    result = build_config(inputs, namespace=namespace, nodes=[n.obj for n in inputs.nodes])
    issues = [*inputs.issues, *result.issues]
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        return Verdict.deny("; ".join(describe(i) for i in errors))
    mine = f"{kind}/{name}"
    warnings = tuple(
        describe(i) for i in issues if i.severity == "warning" and i.obj.startswith(mine)
    )
    return Verdict(True, warnings=warnings)


def describe(issue: Issue) -> str:
    """An issue without the file name (there is none: the objects came from the API)."""
    parts = [p for p in (issue.obj, issue.field) if p]
    return ": ".join([*parts, issue.message])


def config_document(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The object as the configuration loader reads it: no status or server-set metadata."""
    meta = obj.get("metadata") or {}
    doc: dict[str, Any] = {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": {
            k: copy.deepcopy(meta[k])
            for k in ("name", "namespace", "labels", "annotations")
            if meta.get(k) is not None
        },
    }
    if "spec" in obj:
        doc["spec"] = copy.deepcopy(obj["spec"])
    return doc


def without_transient_references(doc: dict[str, Any]) -> dict[str, Any]:
    """MetalLB's ``resetTransientErrorsFields``: what may legitimately be created later (a BFD
    profile, a password Secret, a community alias) is not referred to while validating."""
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return doc
    if doc.get("kind") == "BGPPeer":
        spec.pop("bfdProfile", None)
        spec.pop("passwordSecret", None)
    elif doc.get("kind") == "BGPAdvertisement" and isinstance(spec.get("communities"), list):
        spec["communities"] = [c for c in spec["communities"] if isinstance(c, str) and ":" in c]
    return doc


# -- conversion ------------------------------------------------------------------------------


class ConversionError(ValueError):
    """An object that cannot be converted (wrong kind or version)."""


def conversion_response(review: Any) -> dict[str, Any]:
    """The ConversionReview to send back: every object converted, or a Failure result."""
    api_version = CONVERSION_API
    request: Any = None
    if isinstance(review, Mapping):
        api_version = str(review.get("apiVersion") or CONVERSION_API)
        request = review.get("request")
    uid = str(request.get("uid", "")) if isinstance(request, Mapping) else ""
    response: dict[str, Any] = {"uid": uid}
    try:
        if not isinstance(request, Mapping):
            raise ConversionError("the ConversionReview has no request")
        desired = str(request.get("desiredAPIVersion", ""))
        objects = request.get("objects")
        if not isinstance(objects, list):
            raise ConversionError("request.objects is not a list")
        response["convertedObjects"] = [convert_bgppeer(o, desired) for o in objects]
        response["result"] = {"status": "Success"}
    except ConversionError as exc:
        response.pop("convertedObjects", None)
        response["result"] = {"status": "Failure", "message": str(exc)}
    return {"apiVersion": api_version, "kind": "ConversionReview", "response": response}


def convert_bgppeer(obj: Any, desired: str) -> dict[str, Any]:
    """One BGPPeer in ``desired`` (``metallb.io/v1beta1`` or ``v1beta2``)."""
    if not isinstance(obj, Mapping) or obj.get("kind") != "BGPPeer":
        kind = obj.get("kind") if isinstance(obj, Mapping) else type(obj).__name__
        raise ConversionError(f"only BGPPeer objects are converted here, not {kind!r}")
    source = obj.get("apiVersion")
    if desired not in (V1BETA1, V1BETA2) or source not in (V1BETA1, V1BETA2):
        raise ConversionError(f"cannot convert BGPPeer from {source!r} to {desired!r}")
    out = copy.deepcopy(dict(obj))
    out["apiVersion"] = desired
    if source == desired:
        return out
    spec = out.get("spec")
    spec = dict(spec) if isinstance(spec, Mapping) else {}
    meta = dict(_object_or_empty(out.get("metadata"), "metadata"))
    annotations = dict(_object_or_empty(meta.get("annotations"), "metadata.annotations"))
    selectors = spec.get("nodeSelectors")
    if selectors is not None and not isinstance(selectors, list):
        raise ConversionError(f"spec.nodeSelectors: {selectors!r} is not a list")
    if desired == V1BETA2:
        kept = annotations.pop(V1BETA2_FIELDS_ANNOTATION, None)
        for key, value in _kept_fields(kept).items():
            spec.setdefault(key, value)
        if "nodeSelectors" in spec:
            spec["nodeSelectors"] = [_label_selector(s) for s in spec["nodeSelectors"] or []]
    else:
        extra = {k: spec.pop(k) for k in sorted(spec) if k not in V1BETA1_PEER_FIELDS}
        if extra:
            annotations[V1BETA2_FIELDS_ANNOTATION] = json.dumps(extra, sort_keys=True)
        else:
            annotations.pop(V1BETA2_FIELDS_ANNOTATION, None)
        if "nodeSelectors" in spec:
            spec["nodeSelectors"] = [_legacy_selector(s) for s in spec["nodeSelectors"] or []]
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    out["metadata"] = meta
    if "spec" in obj or spec:
        out["spec"] = spec
    return out


def _object_or_empty(value: Any, where: str) -> Mapping[str, Any]:
    """``value`` if it is an object, {} if absent; anything else cannot be converted."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConversionError(f"{where}: {value!r} is not an object")
    return value


def _kept_fields(text: Any) -> dict[str, Any]:
    if not isinstance(text, str):
        return {}
    try:
        kept = json.loads(text)
    except ValueError:
        return {}  # someone edited the annotation by hand: nothing to restore
    if not isinstance(kept, dict):
        return {}
    return {k: v for k, v in kept.items() if k not in V1BETA1_PEER_FIELDS}


def _expressions(selector: Mapping[str, Any], with_values: bool) -> list[dict[str, Any]]:
    out = []
    for e in selector.get("matchExpressions") or []:
        if not isinstance(e, Mapping):
            raise ConversionError(f"nodeSelectors: matchExpressions entry {e!r} is not an object")
        expression = {"key": e.get("key", ""), "operator": e.get("operator", "")}
        values = list(e.get("values") or [])
        if values or with_values:
            expression["values"] = values
        out.append(expression)
    return out


def _selector(selector: Any, with_values: bool) -> dict[str, Any]:
    """A node selector in the other version's form: a metav1.LabelSelector (v1beta2) omits
    empty ``values``, v1beta1's legacy selector always has them (``with_values``)."""
    if not isinstance(selector, Mapping):
        raise ConversionError(f"nodeSelectors: {selector!r} is not an object")
    out: dict[str, Any] = {}
    if selector.get("matchLabels"):
        out["matchLabels"] = dict(selector["matchLabels"])
    expressions = _expressions(selector, with_values=with_values)
    if expressions:
        out["matchExpressions"] = expressions
    return out


def _label_selector(selector: Any) -> dict[str, Any]:
    """A v1beta1 legacy node selector as a metav1.LabelSelector."""
    return _selector(selector, with_values=False)


def _legacy_selector(selector: Any) -> dict[str, Any]:
    """A metav1.LabelSelector as v1beta1's legacy node selector (values always present)."""
    return _selector(selector, with_values=True)
