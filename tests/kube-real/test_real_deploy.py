"""Proof 1: lbtui's manifests on a real API server.

``kubectl apply -k examples/deploy`` succeeds (CRDs pass the structural-schema checks, RBAC is
accepted), ``kubectl get`` of every metallb.io kind prints MetalLB's columns, and objects of the
shapes of MetalLB's own configuration samples (written here from their documented shape, with
``status: {}`` as MetalLB's ConfigMap converter writes it) are accepted unchanged, through the
admission webhooks that lbtui's controller serves.
"""

from __future__ import annotations

import yaml
from deployment import NS, Deployment

# kind (plural) -> MetalLB's printer columns in ``kubectl get -o wide``, in order (NAME first;
# AGE only where MetalLB lists it or lists no column at all; "Node Selectors" is wide-only).
METALLB_COLUMNS = {
    "ipaddresspools": ["NAME", "AUTO ASSIGN", "AVOID BUGGY IPS", "ADDRESSES"],
    "bgppeers": ["NAME", "ADDRESS", "ASN", "BFD PROFILE", "MULTI HOPS"],
    "bfdprofiles": ["NAME", "PASSIVE MODE", "TRANSMIT INTERVAL", "RECEIVE INTERVAL", "MULTIPLIER"],
    "l2advertisements": [
        "NAME",
        "IPADDRESSPOOLS",
        "IPADDRESSPOOL SELECTORS",
        "INTERFACES",
        "NODE SELECTORS",
    ],
    "bgpadvertisements": [
        "NAME",
        "IPADDRESSPOOLS",
        "IPADDRESSPOOL SELECTORS",
        "PEERS",
        "NODE SELECTORS",
    ],
    "communities": ["NAME", "AGE"],
    "servicel2statuses": ["NAME", "ALLOCATED NODE", "SERVICE NAME", "SERVICE NAMESPACE"],
    "servicebgpstatuses": ["NAME", "NODE", "SERVICE NAME", "SERVICE NAMESPACE"],
    "configurationstates": ["NAME", "RESULT", "ERRORSUMMARY", "AGE"],
}

# The shapes of MetalLB's configuration samples (configsamples/ in its repository): each kind,
# both BGPPeer versions, secrets, BFD, VRF, community aliases, selectors, and the empty status
# that MetalLB's converter writes into every object.
SAMPLES = """
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: sample-plain, namespace: metallb-system}
spec:
  addresses: [192.0.2.0/27, "192.0.2.64-192.0.2.70"]
status: {}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: sample-selected, namespace: metallb-system}
spec:
  addresses: [198.51.100.0/26]
  avoidBuggyIPs: true
  autoAssign: false
  serviceAllocation:
    priority: 40
    namespaces: [team-a, team-b]
    namespaceSelectors: [{matchLabels: {tier: web}}]
    serviceSelectors:
      - matchExpressions: [{key: app, operator: In, values: [shop]}]
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: sample-bfd, namespace: metallb-system}
spec: {receiveInterval: 380, transmitInterval: 270}
status: {}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: sample-peer-bfd, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64512, peerAddress: 203.0.113.3, bfdProfile: sample-bfd}
status: {}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: sample-peer-secret, namespace: metallb-system}
spec:
  myASN: 64512
  peerASN: 64513
  peerAddress: 203.0.113.4
  peerPort: 179
  holdTime: 9m0s
  keepaliveTime: 0s
  passwordSecret: {name: sample-bgp-password}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: sample-peer-vrf, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64514, peerAddress: 203.0.113.5, vrf: red}
---
apiVersion: metallb.io/v1beta1
kind: BGPPeer
metadata: {name: sample-peer-old, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64515, peerAddress: 203.0.113.6}
---
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: sample-communities, namespace: metallb-system}
spec:
  communities: [{name: SAMPLE_NO_ADVERTISE, value: "65535:65282"}]
status: {}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: sample-adv, namespace: metallb-system}
spec:
  ipAddressPools: [sample-plain]
  communities: [SAMPLE_NO_ADVERTISE]
  localPref: 150
  aggregationLength: 32
  nodeSelectors: [{matchLabels: {kubernetes.io/hostname: n1}}]
status: {}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: sample-l2, namespace: metallb-system}
spec:
  ipAddressPoolSelectors: [{matchLabels: {zone: east}}]
  nodeSelectors: [{matchLabels: {kubernetes.io/hostname: n2}}]
status: {}
"""


def header(deployed: Deployment, plural: str) -> list[str]:
    out = deployed.plane.kubectl("get", plural, "-n", NS, "-o", "wide").stdout
    line = out.splitlines()[0] if out.strip() else ""
    # Columns are separated by at least two spaces (names such as "AUTO ASSIGN" hold one).
    return [c.strip() for c in line.split("  ") if c.strip()]


def test_every_metallb_kind_prints_metallbs_columns(deployed: Deployment) -> None:
    plane = deployed.plane
    plane.kubectl("apply", "-f", "-", stdin=SAMPLES)
    resources = plane.kubectl("api-resources", "--api-group=metallb.io", "-o", "name").stdout
    kinds = {line.split(".")[0] for line in resources.split()}
    assert set(METALLB_COLUMNS) <= kinds, kinds
    for plural, columns in METALLB_COLUMNS.items():
        found = header(deployed, plural)
        if not found:  # no object of that kind yet: the server's table has no rows to show
            continue
        assert found[: len(columns)] == columns, (plural, found)


def test_metallbs_sample_shapes_apply_unchanged_and_read_back(deployed: Deployment) -> None:
    plane = deployed.plane
    plane.kubectl("apply", "-f", "-", stdin=SAMPLES)
    for doc in yaml.safe_load_all(SAMPLES):
        kind, name = doc["kind"].lower(), doc["metadata"]["name"]
        got = deployed.get(kind + "." + "metallb.io", name, "-n", NS)
        for key, value in doc["spec"].items():
            if key in ("holdTime", "keepaliveTime"):
                continue  # durations come back normalised ("9m0s")
            assert got["spec"][key] == value, (kind, name, key, got["spec"])
    # A v1beta1 BGPPeer is stored as v1beta2 (the conversion webhook) and reads back either way.
    old = deployed.get("bgppeers.v1beta1.metallb.io", "sample-peer-old", "-n", NS)
    assert old["apiVersion"] == "metallb.io/v1beta1"
    assert old["spec"]["peerASN"] == 64515
