"""Writes examples/deploy/crds.yaml: the metallb.io CustomResourceDefinitions lbtui reads and
writes, equal to MetalLB's wherever a user or kubectl meets them: group, kinds, versions
(served, storage, deprecation), the status subresource on every kind, printer columns (names,
types, order, priority), field names, types, bounds, enums, patterns, defaults and CEL rules,
and the conversion webhook on bgppeers. The descriptions are lbtui's own words, not copied.
tests/kube/test_crd_facts.py holds MetalLB's facts and checks this output against them.

    .venv/bin/python -m tests.kube.crdgen > examples/deploy/crds.yaml

tests/kube/test_deploy.py fails when the committed file differs from this output.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml

GROUP = "metallb.io"


def string(**kw: Any) -> dict[str, Any]:
    return {"type": "string", **kw}


def integer(**kw: Any) -> dict[str, Any]:
    return {"type": "integer", "format": "int32", **kw}


def boolean(**kw: Any) -> dict[str, Any]:
    return {"type": "boolean", **kw}


def strings(description: str) -> dict[str, Any]:
    return {"type": "array", "description": description, "items": {"type": "string"}}


def array(items: dict[str, Any], description: str) -> dict[str, Any]:
    return {"type": "array", "description": description, "items": items}


def obj(
    description: str, properties: dict[str, Any], required: list[str] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "description": description, "properties": properties}
    if required:
        out["required"] = required
    return out


def selector(
    description: str = "A label query: matchLabels and matchExpressions are ANDed.",
) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "x-kubernetes-map-type": "atomic",
        "properties": {
            "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
            "matchExpressions": {
                "type": "array",
                "x-kubernetes-list-type": "atomic",
                "items": {
                    "type": "object",
                    "required": ["key", "operator"],
                    "properties": {
                        "key": string(),
                        "operator": string(description="In, NotIn, Exists or DoesNotExist."),
                        "values": {
                            "type": "array",
                            "items": {"type": "string"},
                            "x-kubernetes-list-type": "atomic",
                        },
                    },
                },
            },
        },
    }


LABEL_SELECTOR = selector()


def selectors(description: str) -> dict[str, Any]:
    return array(LABEL_SELECTOR, description + " Several selectors are ORed.")


def immutable(schema: dict[str, Any], message: str = "Value is immutable") -> dict[str, Any]:
    """``schema`` with a transition rule: once set, the value cannot change."""
    return {**schema, "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": message}]}


def kind_schema(
    description: str,
    spec: dict[str, Any] | None,
    status: dict[str, Any] | None = None,
    required: list[str] | None = None,
) -> dict[str, Any]:
    """A kind's openAPIV3Schema: apiVersion, kind, metadata, then spec and status."""
    properties: dict[str, Any] = {
        "apiVersion": string(description="The versioned schema of this object."),
        "kind": string(description="The REST resource this object represents."),
        "metadata": {"type": "object"},
    }
    if spec is not None:
        properties["spec"] = spec
    properties["status"] = status or {"type": "object", "description": "Unused."}
    return obj(description, properties, required)


POOL_SELECTION = {
    "ipAddressPools": strings("Names of the IPAddressPools this advertisement applies to."),
    "ipAddressPoolSelectors": selectors("IPAddressPools (by their labels) it applies to."),
    "nodeSelectors": selectors("Nodes allowed to announce (none: every node)."),
    "serviceSelectors": selectors("Services (by their labels) it applies to."),
}

IP_ADDRESS_POOL = kind_schema(
    "IPAddressPool: addresses the load balancer hands out.",
    obj(
        "The pool.",
        {
            "addresses": strings("CIDRs (10.0.0.0/24) or ranges (10.0.0.1-10.0.0.9)."),
            "autoAssign": boolean(
                default=True, description="Hand addresses out without being asked for."
            ),
            "avoidBuggyIPs": boolean(
                default=False, description="Never hand out IPv4 addresses ending in .0/.255."
            ),
            "serviceAllocation": obj(
                "Which services may use the pool, and its priority for them.",
                {
                    "priority": {
                        "type": "integer",
                        "description": "Lower is tried first; unset is tried last.",
                    },
                    "namespaces": strings("Namespaces whose services may use the pool."),
                    "namespaceSelectors": selectors("Namespaces (by label)."),
                    "serviceSelectors": selectors("Services (by label)."),
                },
            ),
        },
        ["addresses"],
    ),
    obj(
        "Usage, written by the controller.",
        {
            name: {"type": "integer", "format": "int64"}
            for name in ("assignedIPv4", "assignedIPv6", "availableIPv4", "availableIPv6")
        },
        ["assignedIPv4", "assignedIPv6", "availableIPv4", "availableIPv6"],
    ),
    ["spec"],
)

L2_ADVERTISEMENT = kind_schema(
    "L2Advertisement: announce pools' addresses with ARP/NDP.",
    obj(
        "The advertisement.",
        {
            **POOL_SELECTION,
            "interfaces": strings("Announce only on these interfaces (none: all)."),
            "preferredNodeSelectors": array(
                obj(
                    "A weighted node preference.",
                    {
                        "weight": integer(minimum=1, maximum=100),
                        "preference": LABEL_SELECTOR,
                    },
                    ["preference", "weight"],
                ),
                "Soft preferences among the eligible nodes.",
            ),
        },
    ),
)

AGGREGATION_RULE = (
    "!has(self.serviceSelectors) || self.serviceSelectors.size() == 0 || "
    "((!has(self.aggregationLength) || self.aggregationLength == 32) && "
    "(!has(self.aggregationLengthV6) || self.aggregationLengthV6 == 128))"
)
AGGREGATION_MESSAGE = (
    "serviceSelectors and aggregationLength are mutually exclusive, can only be used "
    "together with default aggregationLength (32) and aggregationLengthV6 (128)"
)

BGP_ADVERTISEMENT = kind_schema(
    "BGPAdvertisement: announce pools' addresses to BGP peers.",
    {
        **obj(
            "The advertisement.",
            {
                "aggregationLength": integer(
                    default=32, minimum=1, description="IPv4 prefix length to announce."
                ),
                "aggregationLengthV6": integer(
                    default=128, description="IPv6 prefix length to announce."
                ),
                "localPref": integer(description="LOCAL_PREF (iBGP only; 0: unset)."),
                "communities": strings("Communities: A:B, large:A:B:C or a Community alias."),
                "peers": strings("BGPPeer names to advertise to (none: all)."),
                **POOL_SELECTION,
            },
        ),
        "x-kubernetes-validations": [{"rule": AGGREGATION_RULE, "message": AGGREGATION_MESSAGE}],
    },
)

COMMUNITY = kind_schema(
    "Community: named BGP community values.",
    obj(
        "The aliases.",
        {
            "communities": array(
                obj("An alias.", {"name": string(), "value": string()}),
                "Aliases usable in BGPAdvertisement.communities.",
            )
        },
    ),
)

BFD_PROFILE = kind_schema(
    "BFDProfile: BFD timers for BGP sessions.",
    obj(
        "The profile (milliseconds).",
        {
            "receiveInterval": integer(minimum=10, maximum=60000),
            "transmitInterval": integer(minimum=10, maximum=60000),
            "detectMultiplier": integer(minimum=2, maximum=255),
            "echoInterval": integer(minimum=10, maximum=60000),
            "echoMode": boolean(),
            "passiveMode": boolean(),
            "minimumTtl": integer(minimum=1, maximum=254),
        },
    ),
)

ASN = {"type": "integer", "format": "int64", "minimum": 0, "maximum": 4294967295}

# BGPPeer v1beta1, deprecated: the first fields only; its node selectors' expressions need
# values and are not atomic (converted to v1beta2 by the controller's webhook).
BGP_PEER_V1BETA1 = kind_schema(
    "BGPPeer (v1beta1, deprecated): a BGP session from the nodes to a router.",
    obj(
        "The session.",
        {
            "myASN": {**ASN, "description": "Our AS number."},
            "peerASN": {**ASN, "description": "The peer's AS number."},
            "peerAddress": string(),
            "sourceAddress": string(),
            "peerPort": {"type": "integer", "minimum": 0, "maximum": 16384},
            "holdTime": string(description="A duration, e.g. 90s."),
            "keepaliveTime": string(description="A duration, e.g. 30s."),
            "routerID": string(),
            "nodeSelectors": array(
                obj(
                    "Nodes by label.",
                    {
                        "matchLabels": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                        },
                        "matchExpressions": array(
                            obj(
                                "A requirement.",
                                {
                                    "key": string(),
                                    "operator": string(),
                                    "values": {
                                        "type": "array",
                                        "items": {"type": "string"},
                                        "minItems": 1,
                                    },
                                },
                                ["key", "operator", "values"],
                            ),
                            "Requirements, ANDed.",
                        ),
                    },
                ),
                "Nodes that open this session (none: all).",
            ),
            "password": string(description="TCP-MD5 password."),
            "bfdProfile": string(),
            "ebgpMultiHop": boolean(),
        },
        ["myASN", "peerASN", "peerAddress"],
    ),
)

CONNECT_TIME_RULES = [
    {
        "rule": "duration(self).getSeconds() >= 1 && duration(self).getSeconds() <= 65535",
        "message": "connect time should be between 1 seconds to 65535",
    },
    {
        "rule": "duration(self).getMilliseconds() % 1000 == 0",
        "message": "connect time should contain a whole number of seconds",
    },
]

BGP_PEER_V1BETA2 = kind_schema(
    "BGPPeer: a BGP session from the nodes to a router.",
    obj(
        "The session.",
        {
            "myASN": {**ASN, "description": "Our AS number."},
            "peerASN": {**ASN, "description": "The peer's AS number."},
            "dynamicASN": string(enum=["internal", "external"]),
            "localASN": {**ASN, "minimum": 1, "description": "Deprecated: unused."},
            "peerAddress": string(),
            "interface": string(description="Unnumbered BGP over this interface (FRR)."),
            "sourceAddress": string(),
            "peerPort": {"type": "integer", "default": 179, "minimum": 1, "maximum": 16384},
            "holdTime": string(description="A duration, e.g. 90s."),
            "keepaliveTime": string(description="A duration, e.g. 30s."),
            "connectTime": {
                **string(description="A duration in whole seconds, 1s to 65535s."),
                "x-kubernetes-validations": CONNECT_TIME_RULES,
            },
            "routerID": string(),
            "nodeSelectors": selectors("Nodes that open this session (none: all)."),
            "password": string(description="TCP-MD5 password (or passwordSecret)."),
            "passwordSecret": {
                **obj(
                    "A kubernetes.io/basic-auth Secret holding the password.",
                    {"name": string(), "namespace": string()},
                ),
                "x-kubernetes-map-type": "atomic",
            },
            "bfdProfile": string(),
            "enableGracefulRestart": immutable(
                boolean(description="BGP graceful restart (fixed once the peer exists)."),
                "EnableGracefulRestart cannot be changed after creation",
            ),
            "ebgpMultiHop": boolean(),
            "vrf": string(),
            "disableMP": boolean(default=False, description="Deprecated: one session per family."),
            "dualStackAddressFamily": boolean(default=False),
        },
        ["myASN"],
    ),
)

IDENTITY = {
    "node": immutable(string(description="The node announcing the service.")),
    "serviceName": immutable(string()),
    "serviceNamespace": immutable(string()),
}

SERVICE_L2_STATUS = kind_schema(
    "ServiceL2Status: which node announces a service in layer 2.",
    {"type": "object", "description": "Unused."},
    obj(
        "Written by the speaker.",
        {
            **IDENTITY,
            "interfaces": array(obj("An interface.", {"name": string()}), "Where (none: all)."),
        },
    ),
)
SERVICE_BGP_STATUS = kind_schema(
    "ServiceBGPStatus: which peers a node advertises a service to.",
    {"type": "object", "description": "Unused."},
    obj("Written by the speaker.", {**IDENTITY, "peers": strings("BGPPeer names.")}),
)

CONDITION_TYPE = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
CONDITION_REASON = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"

CONFIGURATION_STATE = kind_schema(
    "ConfigurationState: whether a component's configuration is valid.",
    None,
    obj(
        "Written by the controller and each speaker.",
        {
            "result": string(enum=["Valid", "Invalid", "Unknown"]),
            "errorSummary": string(),
            "conditions": {
                **array(
                    obj(
                        "A condition (metav1.Condition).",
                        {
                            "type": string(maxLength=316, pattern=CONDITION_TYPE),
                            "status": string(enum=["True", "False", "Unknown"]),
                            "reason": string(minLength=1, maxLength=1024, pattern=CONDITION_REASON),
                            "message": string(maxLength=32768),
                            "lastTransitionTime": string(format="date-time"),
                            "observedGeneration": {
                                "type": "integer",
                                "format": "int64",
                                "minimum": 0,
                            },
                        },
                        ["lastTransitionTime", "message", "reason", "status", "type"],
                    ),
                    "Conditions, one per reconciler.",
                ),
                "x-kubernetes-list-map-keys": ["type"],
                "x-kubernetes-list-type": "map",
            },
        },
    ),
)


def column(name: str, path: str, kind: str = "string", priority: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "type": kind, "jsonPath": path}
    if priority:
        out["priority"] = priority  # shown with -o wide only
    return out


def status_columns(node: str) -> list[dict[str, Any]]:
    return [
        column(node, ".status.node"),
        column("Service Name", ".status.serviceName"),
        column("Service Namespace", ".status.serviceNamespace"),
    ]


# v1beta1 and v1beta2 BGPPeer differ in fields and node selectors: the controller's
# conversion webhook maps them (its CA is put into caBundle at run time, as MetalLB's
# cert-controller does). ConversionReview v1, which lbtui's webhook answers.
CONVERSION_WEBHOOK = {
    "strategy": "Webhook",
    "webhook": {
        "conversionReviewVersions": ["v1"],
        "clientConfig": {
            "service": {
                "name": "metallb-webhook-service",
                "namespace": "metallb-system",
                "path": "/convert",
            }
        },
    },
}


def version(
    name: str,
    schema: dict[str, Any],
    columns: list[dict[str, Any]],
    *,
    storage: bool = True,
    deprecation: str = "",
) -> dict[str, Any]:
    """One served version; every one has the status subresource, as MetalLB's."""
    entry: dict[str, Any] = {}
    if columns:
        entry["additionalPrinterColumns"] = columns
    if deprecation:
        entry["deprecated"] = True
        entry["deprecationWarning"] = deprecation
    entry.update(
        {
            "name": name,
            "served": True,
            "storage": storage,
            "subresources": {"status": {}},
            "schema": {"openAPIV3Schema": schema},
        }
    )
    return entry


def crd(kind: str, plural: str, *versions: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
            },
            "scope": "Namespaced",
            **({"conversion": CONVERSION_WEBHOOK} if len(versions) > 1 else {}),
            "versions": list(versions),
        },
    }


def documents() -> list[dict[str, Any]]:
    advertisement = [
        column("IPAddressPools", ".spec.ipAddressPools"),
        column("IPAddressPool Selectors", ".spec.ipAddressPoolSelectors"),
    ]
    node_selectors = column("Node Selectors", ".spec.nodeSelectors", priority=10)
    peer = [
        column("Address", ".spec.peerAddress"),
        column("ASN", ".spec.peerASN"),
        column("BFD Profile", ".spec.bfdProfile"),
        column("Multi Hops", ".spec.ebgpMultiHop"),
    ]
    return [
        crd(
            "IPAddressPool",
            "ipaddresspools",
            version(
                "v1beta1",
                IP_ADDRESS_POOL,
                [
                    column("Auto Assign", ".spec.autoAssign", "boolean"),
                    column("Avoid Buggy IPs", ".spec.avoidBuggyIPs", "boolean"),
                    column("Addresses", ".spec.addresses"),
                ],
            ),
        ),
        crd(
            "L2Advertisement",
            "l2advertisements",
            version(
                "v1beta1",
                L2_ADVERTISEMENT,
                [*advertisement, column("Interfaces", ".spec.interfaces"), node_selectors],
            ),
        ),
        crd(
            "BGPAdvertisement",
            "bgpadvertisements",
            version(
                "v1beta1",
                BGP_ADVERTISEMENT,
                [*advertisement, column("Peers", ".spec.peers"), node_selectors],
            ),
        ),
        crd(
            "BGPPeer",
            "bgppeers",
            version(
                "v1beta1",
                BGP_PEER_V1BETA1,
                peer,
                storage=False,
                deprecation="v1beta1 is deprecated, please use v1beta2",
            ),
            version("v1beta2", BGP_PEER_V1BETA2, peer),
        ),
        crd(
            "BFDProfile",
            "bfdprofiles",
            version(
                "v1beta1",
                BFD_PROFILE,
                [
                    column("Passive Mode", ".spec.passiveMode", "boolean"),
                    column("Transmit Interval", ".spec.transmitInterval", "integer"),
                    column("Receive Interval", ".spec.receiveInterval", "integer"),
                    column("Multiplier", ".spec.detectMultiplier", "integer"),
                ],
            ),
        ),
        crd("Community", "communities", version("v1beta1", COMMUNITY, [])),
        crd(
            "ServiceL2Status",
            "servicel2statuses",
            version("v1beta1", SERVICE_L2_STATUS, status_columns("Allocated Node")),
        ),
        crd(
            "ServiceBGPStatus",
            "servicebgpstatuses",
            version("v1beta1", SERVICE_BGP_STATUS, status_columns("Node")),
        ),
        crd(
            "ConfigurationState",
            "configurationstates",
            version(
                "v1beta1",
                CONFIGURATION_STATE,
                [
                    column("Result", ".status.result"),
                    column("ErrorSummary", ".status.errorSummary"),
                    column("Age", ".metadata.creationTimestamp", "date"),
                ],
            ),
        ),
    ]


HEADER = (
    "# metallb.io CustomResourceDefinitions for lbtui: MetalLB's kinds, versions and fields.\n"
    "# Generated by `python -m tests.kube.crdgen`; edit that file, not this one.\n"
)


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # every selector spelled out: no &id001 anchors in a manifest


def render() -> str:
    return HEADER + yaml.dump_all(documents(), Dumper=_NoAliases, sort_keys=False, width=100)


if __name__ == "__main__":
    sys.stdout.write(render())
