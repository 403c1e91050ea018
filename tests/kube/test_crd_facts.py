"""The metallb.io CRDs in examples/deploy/crds.yaml against MetalLB's own, fact by fact.

The facts below are MetalLB's (github.com/metallb/metallb at 7938d3f, July 2026: the
kubebuilder markers of api/v1beta1/*_types.go and api/v1beta2/bgppeer_types.go as
controller-gen v0.19.0 renders them in config/crd/bases), recorded in the one-line-per-field
notation of tests/kube/crdfacts.py: kinds and plurals, versions (served, storage, deprecation
warning), the status subresource, printer columns (name, type, JSON path, priority; no Age
unless MetalLB lists it), and every field's type, format, bounds, pattern, enum, default,
required list, list/map type and CEL rule. A user of MetalLB meets the same `kubectl get`
columns, the same refusals and the same defaults. Descriptions are not compared: ours are
our own words.

The one addition: bgppeers carry the conversion webhook that MetalLB's manifests patch in
(config/crd/patches), with ConversionReview v1 (MetalLB lists v1beta1, v1beta2 there).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.kube.crdfacts import SELECTOR, bare, flatten
from tests.kube.fakeapi import ApiError, FakeKubeApi
from tests.kube.schema import structural_problems

CRDS = Path(__file__).resolve().parents[2] / "examples" / "deploy" / "crds.yaml"

METALLB: dict[str, dict[str, Any]] = {
    "BFDProfile": {
        "plural": "bfdprofiles",
        "versions": {
            "v1beta1": {
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "columns": [
                    ("Passive Mode", "boolean", ".spec.passiveMode", 0),
                    ("Transmit Interval", "integer", ".spec.transmitInterval", 0),
                    ("Receive Interval", "integer", ".spec.receiveInterval", 0),
                    ("Multiplier", "integer", ".spec.detectMultiplier", 0),
                ],
                "schema": (
                    ". object",
                    ".apiVersion string",
                    ".kind string",
                    ".metadata object",
                    ".spec object",
                    ".spec.detectMultiplier integer format=int32 minimum=2 maximum=255",
                    ".spec.echoInterval integer format=int32 minimum=10 maximum=60000",
                    ".spec.echoMode boolean",
                    ".spec.minimumTtl integer format=int32 minimum=1 maximum=254",
                    ".spec.passiveMode boolean",
                    ".spec.receiveInterval integer format=int32 minimum=10 maximum=60000",
                    ".spec.transmitInterval integer format=int32 minimum=10 maximum=60000",
                    ".status object",
                ),
            },
        },
    },
    "BGPAdvertisement": {
        "plural": "bgpadvertisements",
        "versions": {
            "v1beta1": {
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "columns": [
                    ("IPAddressPools", "string", ".spec.ipAddressPools", 0),
                    ("IPAddressPool Selectors", "string", ".spec.ipAddressPoolSelectors", 0),
                    ("Peers", "string", ".spec.peers", 0),
                    ("Node Selectors", "string", ".spec.nodeSelectors", 10),
                ],
                "schema": (
                    ". object",
                    ".apiVersion string",
                    ".kind string",
                    ".metadata object",
                    ".spec object",
                    (
                        ".spec rule !has(self.serviceSelectors) || self.serviceSelectors.size() == "
                        "0 || ((!has(self.aggregationLength) || self.aggregationLength == 32) && "
                        "(!has(self.aggregationLengthV6) || self.aggregationLengthV6 == 128)) -> "
                        "serviceSelectors and aggregationLength are mutually exclusive, can only be"
                        " used together with default aggregationLength (32) and aggregationLengthV6"
                        " (128)"
                    ),
                    ".spec.aggregationLength integer format=int32 minimum=1 default=32",
                    ".spec.aggregationLengthV6 integer format=int32 default=128",
                    ".spec.communities array",
                    ".spec.communities[] string",
                    ".spec.ipAddressPoolSelectors array",
                    ".spec.ipAddressPoolSelectors[] selector",
                    ".spec.ipAddressPools array",
                    ".spec.ipAddressPools[] string",
                    ".spec.localPref integer format=int32",
                    ".spec.nodeSelectors array",
                    ".spec.nodeSelectors[] selector",
                    ".spec.peers array",
                    ".spec.peers[] string",
                    ".spec.serviceSelectors array",
                    ".spec.serviceSelectors[] selector",
                    ".status object",
                ),
            },
        },
    },
    "BGPPeer": {
        "plural": "bgppeers",
        "versions": {
            "v1beta1": {
                "served": True,
                "storage": False,
                "deprecationWarning": "v1beta1 is deprecated, please use v1beta2",
                "subresources": {"status": {}},
                "columns": [
                    ("Address", "string", ".spec.peerAddress", 0),
                    ("ASN", "string", ".spec.peerASN", 0),
                    ("BFD Profile", "string", ".spec.bfdProfile", 0),
                    ("Multi Hops", "string", ".spec.ebgpMultiHop", 0),
                ],
                "schema": (
                    ". object",
                    ".apiVersion string",
                    ".kind string",
                    ".metadata object",
                    '.spec object required=["myASN", "peerASN", "peerAddress"]',
                    ".spec.bfdProfile string",
                    ".spec.ebgpMultiHop boolean",
                    ".spec.holdTime string",
                    ".spec.keepaliveTime string",
                    ".spec.myASN integer format=int64 minimum=0 maximum=4294967295",
                    ".spec.nodeSelectors array",
                    ".spec.nodeSelectors[] object",
                    ".spec.nodeSelectors[].matchExpressions array",
                    (
                        '.spec.nodeSelectors[].matchExpressions[] object required=["key", '
                        '"operator", "values"]'
                    ),
                    ".spec.nodeSelectors[].matchExpressions[].key string",
                    ".spec.nodeSelectors[].matchExpressions[].operator string",
                    ".spec.nodeSelectors[].matchExpressions[].values array minItems=1",
                    ".spec.nodeSelectors[].matchExpressions[].values[] string",
                    ".spec.nodeSelectors[].matchLabels object",
                    ".spec.nodeSelectors[].matchLabels{} string",
                    ".spec.password string",
                    ".spec.peerASN integer format=int64 minimum=0 maximum=4294967295",
                    ".spec.peerAddress string",
                    ".spec.peerPort integer minimum=0 maximum=16384",
                    ".spec.routerID string",
                    ".spec.sourceAddress string",
                    ".status object",
                ),
            },
            "v1beta2": {
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "columns": [
                    ("Address", "string", ".spec.peerAddress", 0),
                    ("ASN", "string", ".spec.peerASN", 0),
                    ("BFD Profile", "string", ".spec.bfdProfile", 0),
                    ("Multi Hops", "string", ".spec.ebgpMultiHop", 0),
                ],
                "schema": (
                    ". object",
                    ".apiVersion string",
                    ".kind string",
                    ".metadata object",
                    '.spec object required=["myASN"]',
                    ".spec.bfdProfile string",
                    ".spec.connectTime string",
                    (
                        ".spec.connectTime rule duration(self).getSeconds() >= 1 && "
                        "duration(self).getSeconds() <= 65535 -> connect time should be between 1 "
                        "seconds to 65535"
                    ),
                    (
                        ".spec.connectTime rule duration(self).getMilliseconds() % 1000 == 0 -> "
                        "connect time should contain a whole number of seconds"
                    ),
                    ".spec.disableMP boolean default=false",
                    ".spec.dualStackAddressFamily boolean default=false",
                    '.spec.dynamicASN string enum=["internal", "external"]',
                    ".spec.ebgpMultiHop boolean",
                    ".spec.enableGracefulRestart boolean",
                    (
                        ".spec.enableGracefulRestart rule self == oldSelf -> EnableGracefulRestart "
                        "cannot be changed after creation"
                    ),
                    ".spec.holdTime string",
                    ".spec.interface string",
                    ".spec.keepaliveTime string",
                    ".spec.localASN integer format=int64 minimum=1 maximum=4294967295",
                    ".spec.myASN integer format=int64 minimum=0 maximum=4294967295",
                    ".spec.nodeSelectors array",
                    ".spec.nodeSelectors[] selector",
                    ".spec.password string",
                    ".spec.passwordSecret object x-kubernetes-map-type=atomic",
                    ".spec.passwordSecret.name string",
                    ".spec.passwordSecret.namespace string",
                    ".spec.peerASN integer format=int64 minimum=0 maximum=4294967295",
                    ".spec.peerAddress string",
                    ".spec.peerPort integer minimum=1 maximum=16384 default=179",
                    ".spec.routerID string",
                    ".spec.sourceAddress string",
                    ".spec.vrf string",
                    ".status object",
                ),
            },
        },
    },
    "Community": {
        "plural": "communities",
        "versions": {
            "v1beta1": {
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "columns": [],
                "schema": (
                    ". object",
                    ".apiVersion string",
                    ".kind string",
                    ".metadata object",
                    ".spec object",
                    ".spec.communities array",
                    ".spec.communities[] object",
                    ".spec.communities[].name string",
                    ".spec.communities[].value string",
                    ".status object",
                ),
            },
        },
    },
    "ConfigurationState": {
        "plural": "configurationstates",
        "versions": {
            "v1beta1": {
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "columns": [
                    ("Result", "string", ".status.result", 0),
                    ("ErrorSummary", "string", ".status.errorSummary", 0),
                    ("Age", "date", ".metadata.creationTimestamp", 0),
                ],
                "schema": (
                    ". object",
                    ".apiVersion string",
                    ".kind string",
                    ".metadata object",
                    ".status object",
                    (
                        ".status.conditions array x-kubernetes-list-type=map "
                        'x-kubernetes-list-map-keys=["type"]'
                    ),
                    (
                        '.status.conditions[] object required=["lastTransitionTime", "message", '
                        '"reason", "status", "type"]'
                    ),
                    ".status.conditions[].lastTransitionTime string format=date-time",
                    ".status.conditions[].message string maxLength=32768",
                    ".status.conditions[].observedGeneration integer format=int64 minimum=0",
                    (
                        ".status.conditions[].reason string minLength=1 maxLength=1024 "
                        "pattern=^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
                    ),
                    '.status.conditions[].status string enum=["True", "False", "Unknown"]',
                    (
                        ".status.conditions[].type string maxLength=316 pattern=^([a-z0-9]([-a-z0-9"
                        "]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_"
                        ".]*)?[A-Za-z0-9])$"
                    ),
                    ".status.errorSummary string",
                    '.status.result string enum=["Valid", "Invalid", "Unknown"]',
                ),
            },
        },
    },
    "IPAddressPool": {
        "plural": "ipaddresspools",
        "versions": {
            "v1beta1": {
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "columns": [
                    ("Auto Assign", "boolean", ".spec.autoAssign", 0),
                    ("Avoid Buggy IPs", "boolean", ".spec.avoidBuggyIPs", 0),
                    ("Addresses", "string", ".spec.addresses", 0),
                ],
                "schema": (
                    '. object required=["spec"]',
                    ".apiVersion string",
                    ".kind string",
                    ".metadata object",
                    '.spec object required=["addresses"]',
                    ".spec.addresses array",
                    ".spec.addresses[] string",
                    ".spec.autoAssign boolean default=true",
                    ".spec.avoidBuggyIPs boolean default=false",
                    ".spec.serviceAllocation object",
                    ".spec.serviceAllocation.namespaceSelectors array",
                    ".spec.serviceAllocation.namespaceSelectors[] selector",
                    ".spec.serviceAllocation.namespaces array",
                    ".spec.serviceAllocation.namespaces[] string",
                    ".spec.serviceAllocation.priority integer",
                    ".spec.serviceAllocation.serviceSelectors array",
                    ".spec.serviceAllocation.serviceSelectors[] selector",
                    (
                        '.status object required=["assignedIPv4", "assignedIPv6", "availableIPv4", '
                        '"availableIPv6"]'
                    ),
                    ".status.assignedIPv4 integer format=int64",
                    ".status.assignedIPv6 integer format=int64",
                    ".status.availableIPv4 integer format=int64",
                    ".status.availableIPv6 integer format=int64",
                ),
            },
        },
    },
    "L2Advertisement": {
        "plural": "l2advertisements",
        "versions": {
            "v1beta1": {
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "columns": [
                    ("IPAddressPools", "string", ".spec.ipAddressPools", 0),
                    ("IPAddressPool Selectors", "string", ".spec.ipAddressPoolSelectors", 0),
                    ("Interfaces", "string", ".spec.interfaces", 0),
                    ("Node Selectors", "string", ".spec.nodeSelectors", 10),
                ],
                "schema": (
                    ". object",
                    ".apiVersion string",
                    ".kind string",
                    ".metadata object",
                    ".spec object",
                    ".spec.interfaces array",
                    ".spec.interfaces[] string",
                    ".spec.ipAddressPoolSelectors array",
                    ".spec.ipAddressPoolSelectors[] selector",
                    ".spec.ipAddressPools array",
                    ".spec.ipAddressPools[] string",
                    ".spec.nodeSelectors array",
                    ".spec.nodeSelectors[] selector",
                    ".spec.preferredNodeSelectors array",
                    '.spec.preferredNodeSelectors[] object required=["preference", "weight"]',
                    ".spec.preferredNodeSelectors[].preference selector",
                    (
                        ".spec.preferredNodeSelectors[].weight integer format=int32 minimum=1 "
                        "maximum=100"
                    ),
                    ".spec.serviceSelectors array",
                    ".spec.serviceSelectors[] selector",
                    ".status object",
                ),
            },
        },
    },
    "ServiceBGPStatus": {
        "plural": "servicebgpstatuses",
        "versions": {
            "v1beta1": {
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "columns": [
                    ("Node", "string", ".status.node", 0),
                    ("Service Name", "string", ".status.serviceName", 0),
                    ("Service Namespace", "string", ".status.serviceNamespace", 0),
                ],
                "schema": (
                    ". object",
                    ".apiVersion string",
                    ".kind string",
                    ".metadata object",
                    ".spec object",
                    ".status object",
                    ".status.node string",
                    ".status.node rule self == oldSelf -> Value is immutable",
                    ".status.peers array",
                    ".status.peers[] string",
                    ".status.serviceName string",
                    ".status.serviceName rule self == oldSelf -> Value is immutable",
                    ".status.serviceNamespace string",
                    ".status.serviceNamespace rule self == oldSelf -> Value is immutable",
                ),
            },
        },
    },
    "ServiceL2Status": {
        "plural": "servicel2statuses",
        "versions": {
            "v1beta1": {
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "columns": [
                    ("Allocated Node", "string", ".status.node", 0),
                    ("Service Name", "string", ".status.serviceName", 0),
                    ("Service Namespace", "string", ".status.serviceNamespace", 0),
                ],
                "schema": (
                    ". object",
                    ".apiVersion string",
                    ".kind string",
                    ".metadata object",
                    ".spec object",
                    ".status object",
                    ".status.interfaces array",
                    ".status.interfaces[] object",
                    ".status.interfaces[].name string",
                    ".status.node string",
                    ".status.node rule self == oldSelf -> Value is immutable",
                    ".status.serviceName string",
                    ".status.serviceName rule self == oldSelf -> Value is immutable",
                    ".status.serviceNamespace string",
                    ".status.serviceNamespace rule self == oldSelf -> Value is immutable",
                ),
            },
        },
    },
}


def ours() -> dict[str, dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(CRDS.read_text()) if d]
    return {d["spec"]["names"]["kind"]: d for d in docs}


OURS = ours()


def our_version(kind: str, name: str) -> dict[str, Any]:
    (found,) = [v for v in OURS[kind]["spec"]["versions"] if v["name"] == name]
    return found


KIND_VERSIONS = [(kind, v) for kind, facts in METALLB.items() for v in facts["versions"]]


def test_the_kinds_are_metallbs_with_their_names_and_group() -> None:
    assert set(OURS) == set(METALLB)
    for kind, crd in OURS.items():
        plural = METALLB[kind]["plural"]
        assert crd["metadata"]["name"] == f"{plural}.metallb.io"
        assert crd["spec"]["group"] == "metallb.io"
        assert crd["spec"]["scope"] == "Namespaced"
        assert crd["spec"]["names"] == {
            "kind": kind,
            "listKind": f"{kind}List",
            "plural": plural,
            "singular": kind.lower(),
        }


@pytest.mark.parametrize("kind", sorted(METALLB))
def test_versions_served_stored_and_deprecated_as_metallbs(kind: str) -> None:
    facts = METALLB[kind]["versions"]
    versions = OURS[kind]["spec"]["versions"]
    assert [v["name"] for v in versions] == list(facts)
    for v in versions:
        fact = facts[v["name"]]
        assert (v["served"], v["storage"]) == (fact["served"], fact["storage"]), v["name"]
        assert v.get("deprecated", False) == ("deprecationWarning" in fact)
        assert v.get("deprecationWarning") == fact.get("deprecationWarning")


@pytest.mark.parametrize(("kind", "version"), KIND_VERSIONS)
def test_every_kind_and_version_has_the_status_subresource(kind: str, version: str) -> None:
    fact = METALLB[kind]["versions"][version]["subresources"]
    assert fact == {"status": {}}
    assert our_version(kind, version).get("subresources") == fact


@pytest.mark.parametrize(("kind", "version"), KIND_VERSIONS)
def test_printer_columns_are_metallbs_in_order(kind: str, version: str) -> None:
    columns = [
        (c["name"], c["type"], c["jsonPath"], c.get("priority", 0))
        for c in our_version(kind, version).get("additionalPrinterColumns", [])
    ]
    assert columns == METALLB[kind]["versions"][version]["columns"]


def test_the_columns_a_metallb_user_knows() -> None:
    """The ones the issue names, spelled out: what `kubectl get` prints as headers."""

    def names(kind: str, version: str = "v1beta1") -> list[str]:
        return [c["name"] for c in our_version(kind, version).get("additionalPrinterColumns", [])]

    assert names("BFDProfile") == [
        "Passive Mode",
        "Transmit Interval",
        "Receive Interval",
        "Multiplier",
    ]
    assert names("L2Advertisement")[:2] == ["IPAddressPools", "IPAddressPool Selectors"]
    assert names("BGPAdvertisement")[:2] == ["IPAddressPools", "IPAddressPool Selectors"]
    assert names("BGPPeer", "v1beta2")[-1] == "Multi Hops"
    assert names("ServiceL2Status")[0] == "Allocated Node"
    assert names("ServiceBGPStatus")[0] == "Node"
    assert names("ConfigurationState") == ["Result", "ErrorSummary", "Age"]
    assert names("Community") == []  # kubectl then shows NAME and AGE, as for MetalLB's


@pytest.mark.parametrize(("kind", "version"), KIND_VERSIONS)
def test_the_schema_field_by_field(kind: str, version: str) -> None:
    mine = flatten(our_version(kind, version)["schema"]["openAPIV3Schema"])
    theirs = list(METALLB[kind]["versions"][version]["schema"])
    diff = "\n".join(difflib.unified_diff(theirs, mine, "MetalLB", "lbtui", lineterm=""))
    assert mine == theirs, diff


def test_the_label_selector_is_kubebuilders() -> None:
    """Every ``selector`` line above stands for this shape: operator is a plain string (the
    webhook refuses a bad one, as MetalLB's does), values and expressions atomic."""
    found = OURS["L2Advertisement"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    node_selectors = found["properties"]["spec"]["properties"]["nodeSelectors"]["items"]
    assert bare(node_selectors) == bare(SELECTOR)


@pytest.mark.parametrize("kind", ["ServiceL2Status", "ServiceBGPStatus"])
def test_a_status_object_cannot_change_its_node_or_service(kind: str) -> None:
    status = our_version(kind, "v1beta1")["schema"]["openAPIV3Schema"]["properties"]["status"]
    for field in ("node", "serviceName", "serviceNamespace"):
        rules = status["properties"][field]["x-kubernetes-validations"]
        assert rules == [{"rule": "self == oldSelf", "message": "Value is immutable"}], field


def test_bgppeers_convert_through_the_controllers_webhook() -> None:
    conversion = OURS["BGPPeer"]["spec"]["conversion"]
    assert conversion["strategy"] == "Webhook"
    assert conversion["webhook"]["clientConfig"]["service"] == {
        "name": "metallb-webhook-service",
        "namespace": "metallb-system",
        "path": "/convert",
    }
    assert "v1" in conversion["webhook"]["conversionReviewVersions"]
    for kind in set(OURS) - {"BGPPeer"}:
        assert "conversion" not in OURS[kind]["spec"], kind


@pytest.mark.parametrize(("kind", "version"), KIND_VERSIONS)
def test_the_schemas_are_structural(kind: str, version: str) -> None:
    """What the API server demands of a CRD's schema before it accepts the CRD."""
    assert structural_problems(our_version(kind, version)["schema"]["openAPIV3Schema"]) == []


def test_the_structural_check_can_fail() -> None:
    assert structural_problems({"type": "object", "properties": {"a": {}}}) == [".a: no type"]
    both = {"type": "object", "properties": {}, "additionalProperties": {"type": "string"}}
    assert structural_problems(both) == [".: properties and additionalProperties"]
    assert structural_problems({"type": "array"}) == [".: array without items"]
    assert structural_problems({"type": "integer", "minimum": 1, "default": 0}) == [
        ".: default 0 is refused by its own schema: .: 0 < 1"
    ]


def test_the_fake_api_server_keeps_the_immutability_rules(fake: FakeKubeApi) -> None:
    """tests/kube's fake API server applies these CRDs' rules as the real one does
    (tests/kube-real proves it there): a ServiceL2Status's status may grow interfaces but
    keeps its node."""
    fake.enforce_crd_schemas(CRDS)
    identity = {"node": "node-a", "serviceName": "web", "serviceNamespace": "default"}
    fake.create(
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "ServiceL2Status",
            "metadata": {"name": "l2-web", "namespace": "metallb-system"},
            "status": identity,
        }
    )
    interfaces = {"status": {"interfaces": [{"name": "eth0"}]}}
    fake.merge("ServiceL2Status", "l2-web", interfaces, "metallb-system", "status")
    with pytest.raises(ApiError) as refused:
        moved = {"status": {"node": "node-b"}}
        fake.merge("ServiceL2Status", "l2-web", moved, "metallb-system", "status")
    assert refused.value.code == 422
    assert refused.value.causes == [
        {
            "reason": "FieldValueInvalid",
            "message": 'Invalid value: "node-b": Value is immutable',  # as kube-apiserver says
            "field": "status.node",
        }
    ]
    assert fake.get("ServiceL2Status", "l2-web", "metallb-system")["status"]["node"] == "node-a"
