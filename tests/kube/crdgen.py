"""Writes examples/deploy/crds.yaml: the metallb.io CustomResourceDefinitions lbtui reads and
writes, schema-equivalent to MetalLB's (same group, kinds, versions, field names, bounds and
defaults), so objects made for MetalLB keep working. Written for lbtui, not copied.

    .venv/bin/python -m tests.kube.crdgen > examples/deploy/crds.yaml

tests/kube/test_deploy.py fails when the committed file differs from this output.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml

GROUP = "metallb.io"
UINT32 = {"type": "integer", "format": "int64", "minimum": 0, "maximum": 4294967295}


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


LABEL_SELECTOR: dict[str, Any] = {
    "type": "object",
    "description": "A label query: matchLabels and matchExpressions are ANDed.",
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
                    "operator": string(enum=["In", "NotIn", "Exists", "DoesNotExist"]),
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


def selectors(description: str) -> dict[str, Any]:
    return array(LABEL_SELECTOR, description + " Several selectors are ORed.")


POOL_SELECTION = {
    "ipAddressPools": strings("Names of the IPAddressPools this advertisement applies to."),
    "ipAddressPoolSelectors": selectors("IPAddressPools (by their labels) it applies to."),
    "nodeSelectors": selectors("Nodes allowed to announce (none: every node)."),
    "serviceSelectors": selectors("Services (by their labels) it applies to."),
}

IP_ADDRESS_POOL = obj(
    "IPAddressPool: addresses the load balancer hands out.",
    {
        "apiVersion": string(),
        "kind": string(),
        "metadata": {"type": "object"},
        "spec": obj(
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
                        "priority": integer(description="Lower is tried first; 0 is last."),
                        "namespaces": strings("Namespaces whose services may use the pool."),
                        "namespaceSelectors": selectors("Namespaces (by label)."),
                        "serviceSelectors": selectors("Services (by label)."),
                    },
                ),
            },
            ["addresses"],
        ),
        "status": obj(
            "Usage, written by the controller.",
            {
                name: {"type": "integer", "format": "int64"}
                for name in ("assignedIPv4", "assignedIPv6", "availableIPv4", "availableIPv6")
            },
        ),
    },
    ["spec"],
)

L2_ADVERTISEMENT = obj(
    "L2Advertisement: announce pools' addresses with ARP/NDP.",
    {
        "apiVersion": string(),
        "kind": string(),
        "metadata": {"type": "object"},
        "spec": obj(
            "The advertisement.",
            {
                **POOL_SELECTION,
                "interfaces": strings("Announce only on these interfaces (none: all)."),
                "preferredNodeSelectors": array(
                    obj(
                        "A weighted node preference.",
                        {"weight": integer(minimum=1, maximum=100), "preference": LABEL_SELECTOR},
                        ["weight", "preference"],
                    ),
                    "Soft preferences among the eligible nodes.",
                ),
            },
        ),
        "status": {"type": "object"},
    },
)

BGP_ADVERTISEMENT = obj(
    "BGPAdvertisement: announce pools' addresses to BGP peers.",
    {
        "apiVersion": string(),
        "kind": string(),
        "metadata": {"type": "object"},
        "spec": obj(
            "The advertisement.",
            {
                "aggregationLength": integer(default=32, minimum=1, maximum=32),
                "aggregationLengthV6": integer(default=128, minimum=1, maximum=128),
                "localPref": {**UINT32, "description": "LOCAL_PREF (iBGP only; 0: unset)."},
                "communities": strings("Communities: A:B, large:A:B:C or a Community alias."),
                "peers": strings("BGPPeer names to advertise to (none: all)."),
                **POOL_SELECTION,
            },
        ),
        "status": {"type": "object"},
    },
)

COMMUNITY = obj(
    "Community: named BGP community values.",
    {
        "apiVersion": string(),
        "kind": string(),
        "metadata": {"type": "object"},
        "spec": obj(
            "The aliases.",
            {
                "communities": array(
                    obj("An alias.", {"name": string(), "value": string()}),
                    "Aliases usable in BGPAdvertisement.communities.",
                )
            },
        ),
        "status": {"type": "object"},
    },
)

BFD_PROFILE = obj(
    "BFDProfile: BFD timers for BGP sessions.",
    {
        "apiVersion": string(),
        "kind": string(),
        "metadata": {"type": "object"},
        "spec": obj(
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
        "status": {"type": "object"},
    },
)

BGP_PEER_SPEC = obj(
    "The session.",
    {
        "myASN": {**UINT32, "description": "Our AS number."},
        "peerASN": {**UINT32, "description": "The peer's AS number."},
        "dynamicASN": string(enum=["internal", "external"]),
        "localASN": {**UINT32, "minimum": 1},
        "peerAddress": string(),
        "interface": string(),
        "sourceAddress": string(),
        "peerPort": integer(default=179, minimum=1, maximum=16384),
        "holdTime": string(description="A duration, e.g. 90s."),
        "keepaliveTime": string(description="A duration, e.g. 30s."),
        "connectTime": string(description="A duration in whole seconds, 1s to 65535s."),
        "routerID": string(),
        "nodeSelectors": selectors("Nodes that open this session (none: all)."),
        "password": string(description="TCP-MD5 password (or passwordSecret)."),
        "passwordSecret": obj(
            "A kubernetes.io/basic-auth Secret holding the password.",
            {"name": string(), "namespace": string()},
        ),
        "bfdProfile": string(),
        "enableGracefulRestart": boolean(),
        "ebgpMultiHop": boolean(),
        "vrf": string(),
        "disableMP": boolean(default=False),
        "dualStackAddressFamily": boolean(default=False),
    },
    ["myASN"],
)

BGP_PEER = obj(
    "BGPPeer: a BGP session from the nodes to a router.",
    {
        "apiVersion": string(),
        "kind": string(),
        "metadata": {"type": "object"},
        "spec": BGP_PEER_SPEC,
        "status": {"type": "object"},
    },
)

IDENTITY = {
    "node": string(),
    "serviceName": string(),
    "serviceNamespace": string(),
}


def status_kind(description: str, extra: dict[str, Any]) -> dict[str, Any]:
    return obj(
        description,
        {
            "apiVersion": string(),
            "kind": string(),
            "metadata": {"type": "object"},
            "spec": {"type": "object"},
            "status": obj("Written by the speaker.", {**IDENTITY, **extra}),
        },
    )


SERVICE_L2_STATUS = status_kind(
    "ServiceL2Status: which node announces a service in layer 2.",
    {"interfaces": array(obj("An interface.", {"name": string()}), "Where (none: all).")},
)
SERVICE_BGP_STATUS = status_kind(
    "ServiceBGPStatus: which peers a node advertises a service to.",
    {"peers": strings("BGPPeer names.")},
)
CONFIGURATION_STATE = obj(
    "ConfigurationState: whether a component's configuration is valid.",
    {
        "apiVersion": string(),
        "kind": string(),
        "metadata": {"type": "object"},
        "spec": {"type": "object"},
        "status": obj(
            "Written by the controller and each speaker.",
            {
                "result": string(enum=["Valid", "Invalid", "Unknown"]),
                "errorSummary": string(),
                "conditions": array(
                    obj(
                        "A condition.",
                        {
                            "type": string(),
                            "status": string(enum=["True", "False", "Unknown"]),
                            "reason": string(),
                            "message": string(),
                            "lastTransitionTime": string(format="date-time"),
                            "observedGeneration": {"type": "integer", "format": "int64"},
                        },
                        ["type", "status"],
                    ),
                    "Conditions, one per reconciler.",
                ),
            },
        ),
    },
)


def column(name: str, path: str, kind: str = "string") -> dict[str, Any]:
    return {"name": name, "type": kind, "jsonPath": path}


AGE = column("Age", ".metadata.creationTimestamp", "date")
STATUS_COLUMNS = [
    column("Node", ".status.node"),
    column("Service Name", ".status.serviceName"),
    column("Service Namespace", ".status.serviceNamespace"),
]


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


def crd(
    kind: str,
    plural: str,
    schema: dict[str, Any],
    *,
    versions: tuple[str, ...] = ("v1beta1",),
    status: bool = False,
    columns: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    served = []
    for version in versions:
        entry: dict[str, Any] = {
            "name": version,
            "served": True,
            "storage": version == versions[-1],
            "schema": {"openAPIV3Schema": schema},
        }
        if version != versions[-1]:
            entry["deprecated"] = True
            entry["deprecationWarning"] = f"{GROUP}/{version} {kind} is deprecated, use "
            entry["deprecationWarning"] += f"{GROUP}/{versions[-1]}"
        if status:
            entry["subresources"] = {"status": {}}
        entry["additionalPrinterColumns"] = [*(columns or []), AGE]
        served.append(entry)
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
            # v1beta1 and v1beta2 BGPPeer differ in fields and node selectors: the
            # controller's conversion webhook maps them (its CA is put into caBundle at run
            # time, as MetalLB's cert-controller does).
            **({"conversion": CONVERSION_WEBHOOK} if len(versions) > 1 else {}),
            "versions": served,
        },
    }


def documents() -> list[dict[str, Any]]:
    return [
        crd(
            "IPAddressPool",
            "ipaddresspools",
            IP_ADDRESS_POOL,
            status=True,
            columns=[
                column("Auto Assign", ".spec.autoAssign", "boolean"),
                column("Avoid Buggy IPs", ".spec.avoidBuggyIPs", "boolean"),
                column("Addresses", ".spec.addresses"),
            ],
        ),
        crd(
            "L2Advertisement",
            "l2advertisements",
            L2_ADVERTISEMENT,
            columns=[
                column("IPAddressPools", ".spec.ipAddressPools"),
                column("Interfaces", ".spec.interfaces"),
            ],
        ),
        crd(
            "BGPAdvertisement",
            "bgpadvertisements",
            BGP_ADVERTISEMENT,
            columns=[
                column("IPAddressPools", ".spec.ipAddressPools"),
                column("Peers", ".spec.peers"),
            ],
        ),
        crd(
            "BGPPeer",
            "bgppeers",
            BGP_PEER,
            versions=("v1beta1", "v1beta2"),
            columns=[
                column("Address", ".spec.peerAddress"),
                column("ASN", ".spec.peerASN", "integer"),
                column("BFD Profile", ".spec.bfdProfile"),
            ],
        ),
        crd("BFDProfile", "bfdprofiles", BFD_PROFILE),
        crd("Community", "communities", COMMUNITY),
        crd(
            "ServiceL2Status",
            "servicel2statuses",
            SERVICE_L2_STATUS,
            status=True,
            columns=STATUS_COLUMNS,
        ),
        crd(
            "ServiceBGPStatus",
            "servicebgpstatuses",
            SERVICE_BGP_STATUS,
            status=True,
            columns=STATUS_COLUMNS,
        ),
        crd(
            "ConfigurationState",
            "configurationstates",
            CONFIGURATION_STATE,
            status=True,
            columns=[
                column("Result", ".status.result"),
                column("Errors", ".status.errorSummary"),
            ],
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
