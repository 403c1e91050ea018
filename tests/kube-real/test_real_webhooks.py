"""Proof 4: the admission and BGPPeer conversion webhooks, registered with the caBundle the
controller wrote, called by the real API server over TLS at the controller Pod's endpoint."""

from __future__ import annotations

import base64
import json

import yaml
from deployment import NS, Deployment


def test_the_controller_wrote_every_ca_bundle(deployed: Deployment) -> None:
    config = deployed.get("validatingwebhookconfiguration", "metallb-webhook-configuration")
    bundles = {base64.b64decode(w["clientConfig"]["caBundle"]) for w in config["webhooks"]}
    assert len(bundles) == 1 and b"BEGIN CERTIFICATE" in next(iter(bundles))
    crd = deployed.get("crd", "bgppeers.metallb.io")
    conversion = crd["spec"]["conversion"]
    assert conversion["strategy"] == "Webhook"
    assert base64.b64decode(conversion["webhook"]["clientConfig"]["caBundle"]) in bundles


def test_an_overlapping_pool_is_refused_with_lbtuis_message(deployed: Deployment) -> None:
    plane = deployed.plane
    plane.kubectl(
        "apply",
        "-f",
        "-",
        stdin=f"""
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: hook-first, namespace: {NS}}}
spec: {{addresses: [198.19.0.0/28], autoAssign: false}}
""",
    )
    refused = plane.kubectl(
        "apply",
        "-f",
        "-",
        check=False,
        stdin=f"""
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: hook-second, namespace: {NS}}}
spec: {{addresses: ["198.19.0.8-198.19.0.20"], autoAssign: false}}
""",
    )
    assert refused.returncode != 0
    assert 'admission webhook "ipaddresspoolvalidationwebhook.metallb.io" denied' in refused.stderr
    assert "overlap" in refused.stderr and "hook-first" in refused.stderr, refused.stderr
    assert plane.kubectl("get", "ipaddresspool", "hook-second", "-n", NS, check=False).returncode


def test_the_crd_schema_refuses_before_the_webhook(deployed: Deployment) -> None:
    refused = deployed.plane.kubectl(
        "apply",
        "-f",
        "-",
        check=False,
        stdin=f"""
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: hook-bad-type, namespace: {NS}}}
spec: {{addresses: [198.19.1.0/28], autoAssign: 1}}
""",
    )
    assert refused.returncode != 0
    assert "spec.autoAssign" in refused.stderr and "boolean" in refused.stderr, refused.stderr


def test_a_v1beta1_read_modify_write_keeps_v1beta2_only_fields(deployed: Deployment) -> None:
    plane = deployed.plane
    plane.kubectl(
        "apply",
        "-f",
        "-",
        stdin=f"""
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{name: hook-roundtrip, namespace: {NS}}}
spec:
  myASN: 64512
  peerASN: 64600
  peerAddress: 203.0.113.77
  vrf: blue
  connectTime: 5s
  enableGracefulRestart: true
  disableMP: true
""",
    )
    old = deployed.get("bgppeers.v1beta1.metallb.io", "hook-roundtrip", "-n", NS)
    assert old["apiVersion"] == "metallb.io/v1beta1"
    assert "vrf" not in old["spec"]  # v1beta1 has no such field
    old["spec"]["peerASN"] = 64601  # the old client's edit
    plane.kubectl("replace", "-f", "-", stdin=json.dumps(old))
    new = deployed.get("bgppeers.v1beta2.metallb.io", "hook-roundtrip", "-n", NS)
    assert new["spec"]["peerASN"] == 64601
    assert new["spec"]["vrf"] == "blue"
    assert new["spec"]["enableGracefulRestart"] is True
    assert new["spec"]["disableMP"] is True
    assert new["spec"]["connectTime"] == "5s"
    annotations = new["metadata"].get("annotations") or {}
    assert not any(k.startswith("lbtui.io/") for k in annotations), annotations
    assert yaml.safe_dump(new)  # serialisable: nothing odd came back
