"""The controller's webhooks end to end: the official client writes to the fake API server,
which calls the controller's HTTPS webhooks as kube-apiserver does (the certificate checked
against the caBundle the controller put into examples/deploy's ValidatingWebhookConfiguration).

The rotator's timers run in virtual time (ManualClock) whose wall clock starts at the real
time, so the certificates it makes are valid for the fake's real-time TLS checks.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from actors.clock import ManualClock
from actors.kube.certificates import CertBundle
from actors.kube.resources import CONTROLLER_RESOURCES
from actors.roles.controller import controller_specs, with_webhook_resources
from actors.util.x509 import DAY, expires
from tests.kube.fakeapi import FakeKubeApi
from tests.kube.harness import (
    NS,
    Role,
    advance_until,
    kube_cluster,
    namespace,
    pool,
    wait_until,
)

DEPLOY = Path(__file__).resolve().parents[2] / "examples" / "deploy"
SERVICE = "metallb-webhook-service"
SECRET = "metallb-webhook-cert"
CONFIGURATION = "metallb-webhook-configuration"


def deploy_objects() -> list[dict[str, Any]]:
    """What `kubectl apply -k examples/deploy` creates that the webhooks rely on."""
    docs = [d for d in yaml.safe_load_all((DEPLOY / "webhooks.yaml").read_text()) if d]
    crds = (DEPLOY / "crds.yaml").read_text()
    # Only the bgppeers CRD is needed: skip parsing the other (long) definitions.
    for text in crds.split("\n---\n"):
        if "name: bgppeers.metallb.io" in text:
            docs.append(yaml.safe_load(text))
    return [d for d in docs if d["kind"] != "Service"]


def install(fake: FakeKubeApi) -> None:
    fake.create(namespace(NS))
    for doc in deploy_objects():
        fake.create(doc)


def custom_api(fake: FakeKubeApi) -> k8s.CustomObjectsApi:
    configuration = k8s.Configuration()
    configuration.host = fake.url
    configuration.retries = 0
    return k8s.CustomObjectsApi(k8s.ApiClient(configuration))


def create(api: k8s.CustomObjectsApi, obj: dict[str, Any]) -> dict[str, Any]:
    group, version = obj["apiVersion"].split("/")
    plural = {
        "IPAddressPool": "ipaddresspools",
        "BFDProfile": "bfdprofiles",
        "BGPPeer": "bgppeers",
    }[obj["kind"]]
    namespace = obj["metadata"].get("namespace", NS)
    return api.create_namespaced_custom_object(group, version, namespace, plural, obj)


def refusal(call: Any) -> tuple[int, str]:
    with pytest.raises(ApiException) as caught:
        call()
    return caught.value.status, json.loads(caught.value.body)["message"]


def start(fake: FakeKubeApi, cert_dir: Path, **options: Any) -> Role:
    kube = kube_cluster(fake, with_webhook_resources(CONTROLLER_RESOURCES))
    clock = ManualClock(wall_start=time.time())
    specs = controller_specs(
        kube,
        webhook_mode="enabled",
        webhook_options={"cert_dir": str(cert_dir), "host": "127.0.0.1", "port": 0, **options},
    )
    role = Role("controller", specs, kube, clock)
    port = wait_until(lambda: role.proxy("webhooks").port().get(timeout=5), what="serving")
    fake.serve_webhook_service(NS, SERVICE, "127.0.0.1", port)
    return role


def webhooks_only(fake: FakeKubeApi, cert_dir: Path) -> tuple[Role, ManualClock]:
    """The controller with ``--webhook-mode=onlywebhook`` on a clock the test moves (not
    yet serving: the tests follow its certificates from the start)."""
    kube = kube_cluster(fake, with_webhook_resources(CONTROLLER_RESOURCES))
    clock = ManualClock(wall_start=time.time())
    specs = controller_specs(
        kube,
        webhook_mode="onlywebhook",
        webhook_options={"cert_dir": str(cert_dir), "host": "127.0.0.1", "port": 0},
    )
    return Role("controller", specs, kube, clock), clock


def in_cache(role: Role, kind: str, name: str) -> bool:
    cache = role.kube.cache_for(kind)
    return cache is not None and cache.get(f"{NS}/{name}") is not None


def ca_bundles(fake: FakeKubeApi) -> list[str]:
    configuration = fake.get("ValidatingWebhookConfiguration", CONFIGURATION)
    crd = fake.get("CustomResourceDefinition", "bgppeers.metallb.io")
    return [
        *(h["clientConfig"].get("caBundle", "") for h in configuration["webhooks"]),
        crd["spec"]["conversion"]["webhook"]["clientConfig"].get("caBundle", ""),
    ]


def bundle_of(fake: FakeKubeApi) -> CertBundle | None:
    secret = fake.try_get("Secret", SECRET, NS)
    return CertBundle.from_secret_data((secret or {}).get("data"))


def test_the_api_server_refuses_what_the_controllers_webhooks_deny(
    fake: FakeKubeApi, tmp_path: Path
) -> None:
    install(fake)
    api = custom_api(fake)
    # Installed but not served yet: failurePolicy Fail refuses every metallb.io write.
    code, message = refusal(lambda: create(api, pool("early", "10.1.0.0/24")))
    assert code == 500
    assert 'failed calling webhook "ipaddresspoolvalidationwebhook.metallb.io"' in message

    controller = start(fake, tmp_path / "certs")
    # The rotator filled the Secret, wrote the files and put its CA into every caBundle.
    bundle = wait_until(lambda: bundle_of(fake), what="the certificate Secret")
    assert (tmp_path / "certs" / "tls.crt").read_bytes() == bundle.cert
    assert (tmp_path / "certs" / "tls.key").stat().st_mode & 0o777 == 0o600
    wanted = base64.b64encode(bundle.ca_cert).decode()
    wait_until(lambda: set(ca_bundles(fake)) == {wanted}, what="caBundles")

    # A valid pool goes through the webhook and is stored.
    create(api, pool("lan", "10.1.0.0/24"))
    assert fake.try_get("IPAddressPool", "lan", NS) is not None
    wait_until(lambda: in_cache(controller, "IPAddressPool", "lan"))
    # An overlapping one is refused with the webhook's reason; nothing is stored.
    code, message = refusal(lambda: create(api, pool("dmz", "10.1.0.128/25")))
    assert code == 403
    assert message.startswith(
        'admission webhook "ipaddresspoolvalidationwebhook.metallb.io" denied the request: '
    )
    assert "10.1.0.128/25" in message and "overlaps" in message and "'lan'" in message
    assert fake.try_get("IPAddressPool", "dmz", NS) is None
    # Outside MetalLB's namespace.
    fake.create(namespace("default"))
    code, message = refusal(
        lambda: create(
            api, {**pool("x", "10.2.0.0/24"), "metadata": {"name": "x", "namespace": "default"}}
        )
    )
    assert code == 403 and message.endswith("resource must be created in metallb-system namespace")

    # A BFD profile in use cannot be deleted; once unused it can.
    profile = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "BFDProfile",
        "metadata": {"name": "fast", "namespace": NS},
        "spec": {"receiveInterval": 100},
    }
    create(api, profile)
    peer = {
        "apiVersion": "metallb.io/v1beta2",
        "kind": "BGPPeer",
        "metadata": {"name": "router", "namespace": NS},
        "spec": {
            "myASN": 64500,
            "peerASN": 64501,
            "peerAddress": "192.0.2.1",
            "bfdProfile": "fast",
        },
    }
    create(api, peer)
    wait_until(lambda: in_cache(controller, "BGPPeer", "router"))
    code, message = refusal(
        lambda: api.delete_namespaced_custom_object(
            "metallb.io", "v1beta1", NS, "bfdprofiles", "fast"
        )
    )
    assert code == 403 and message.endswith(
        "failed to delete BFDProfile fast, used by BGPPeer router"
    )
    api.delete_namespaced_custom_object("metallb.io", "v1beta2", NS, "bgppeers", "router")
    wait_until(lambda: not in_cache(controller, "BGPPeer", "router"))
    api.delete_namespaced_custom_object("metallb.io", "v1beta1", NS, "bfdprofiles", "fast")
    # Deleting a pool is never refused; the pool status the controller writes goes to the
    # status subresource, which the webhooks' rules do not name.
    api.delete_namespaced_custom_object("metallb.io", "v1beta1", NS, "ipaddresspools", "lan")
    reviewed = {(hook, op) for hook, op, _ in fake.store.admission_reviews}
    assert ("bfdprofilevalidationwebhook.metallb.io", "DELETE") in reviewed
    assert not any(op == "DELETE" and "ipaddresspool" in hook for hook, op in reviewed)
    # disableMP on create: allowed, with MetalLB's warning.
    create(api, {**peer, "spec": {**peer["spec"], "disableMP": True, "bfdProfile": "gone"}})
    assert any("disable mp is deprecated" in w for w in fake.store.admission_warnings)
    stats = controller.proxy("webhooks").stats().get(timeout=5)
    assert stats["denied"] >= 3 and stats["reviews"] >= 8
    controller.stop()


def test_reviews_read_the_api_not_a_lagging_cache(fake: FakeKubeApi, tmp_path: Path) -> None:
    """Two overlapping pools sent back to back (one ``kubectl apply``) must not both pass
    because the controller's watch has not delivered the first one yet."""
    install(fake)
    api = custom_api(fake)
    controller = start(fake, tmp_path / "certs")
    wait_until(lambda: bundle_of(fake), what="the certificate Secret")
    wanted = base64.b64encode(bundle_of(fake).ca_cert).decode()  # type: ignore[union-attr]
    wait_until(lambda: set(ca_bundles(fake)) == {wanted}, what="caBundles")
    create(api, pool("lan", "10.1.0.0/24"))
    wait_until(lambda: in_cache(controller, "IPAddressPool", "lan"))
    # From now on the caches stand still: a review that trusted them would miss "office".
    controller.kube.stop()
    create(api, pool("office", "10.3.0.0/24"))
    code, message = refusal(lambda: create(api, pool("branch", "10.3.0.0/25")))
    assert code == 403 and "overlaps" in message and "office" in message
    assert not in_cache(controller, "IPAddressPool", "office")
    # The API refusing the list: the review falls back to the cache rather than failing.
    fake.fail("GET", "/ipaddresspools", code=500)
    code, message = refusal(lambda: create(api, pool("dmz", "10.1.0.128/25")))
    assert code == 403 and "lan" in message
    controller.stop()


def post_convert(port: int, ca: bytes, review: dict[str, Any]) -> dict[str, Any]:
    context = ssl.create_default_context(cadata=ca.decode())
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as Go's net/http
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.sock = context.wrap_socket(raw, server_hostname=f"{SERVICE}.{NS}.svc")
    connection.request("POST", "/convert", json.dumps(review), {"Content-Type": "application/json"})
    reply = connection.getresponse()
    assert reply.status == 200
    out = json.loads(reply.read())
    connection.close()
    return out


def test_conversion_is_served_and_certificates_renew_before_expiry(
    fake: FakeKubeApi, tmp_path: Path
) -> None:
    install(fake)
    controller = start(fake, tmp_path / "certs", check_interval=30 * DAY)
    port = controller.proxy("webhooks").port().get(timeout=5)
    first = wait_until(lambda: bundle_of(fake))
    peer = {
        "apiVersion": "metallb.io/v1beta2",
        "kind": "BGPPeer",
        "metadata": {"name": "r", "namespace": NS, "uid": "u-1"},
        "spec": {"myASN": 1, "peerASN": 2, "peerAddress": "192.0.2.1", "vrf": "red"},
    }
    review = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "ConversionReview",
        "request": {"uid": "r1", "desiredAPIVersion": "metallb.io/v1beta1", "objects": [peer]},
    }
    down = post_convert(port, first.ca_cert, review)["response"]
    assert down["result"]["status"] == "Success" and down["uid"] == "r1"
    (v1,) = down["convertedObjects"]
    assert v1["apiVersion"] == "metallb.io/v1beta1" and "vrf" not in v1["spec"]
    review["request"] = {"uid": "r2", "desiredAPIVersion": "metallb.io/v1beta2", "objects": [v1]}
    (back,) = post_convert(port, first.ca_cert, review)["response"]["convertedObjects"]
    assert back == peer

    # Through the API server: a v1beta1 client reads the stored v1beta2 object and writes it
    # back; the CRD's conversion webhook (the controller) keeps the v1beta2-only field.
    api = custom_api(fake)
    wait_until(lambda: set(ca_bundles(fake)) == {base64.b64encode(first.ca_cert).decode()})
    create(api, {**peer, "metadata": {"name": "r", "namespace": NS}})
    read = api.get_namespaced_custom_object("metallb.io", "v1beta1", NS, "bgppeers", "r")
    assert read["apiVersion"] == "metallb.io/v1beta1" and "vrf" not in read["spec"]
    read["spec"]["holdTime"] = "30s"
    api.replace_namespaced_custom_object("metallb.io", "v1beta1", NS, "bgppeers", "r", read)
    stored = fake.get("BGPPeer", "r", NS)
    assert stored["apiVersion"] == "metallb.io/v1beta2"
    assert stored["spec"]["vrf"] == "red" and stored["spec"]["holdTime"] == "30s"
    assert "annotations" not in stored["metadata"]
    assert ("metallb.io/v1beta2", "metallb.io/v1beta1") in fake.store.conversions
    assert ("metallb.io/v1beta1", "metallb.io/v1beta2") in fake.store.conversions
    # A v1beta1 write is validated after conversion: a bad hold time is refused.
    read = api.get_namespaced_custom_object("metallb.io", "v1beta1", NS, "bgppeers", "r")
    read["spec"]["holdTime"] = "1s"
    code, message = refusal(
        lambda: api.replace_namespaced_custom_object(
            "metallb.io", "v1beta1", NS, "bgppeers", "r", read
        )
    )
    assert code == 403 and "hold time" in message

    # Virtual time: the serving certificate (1 year) is renewed once within 90 days of its
    # end, by the same CA; the caBundles stay; the server takes the new files at once.
    clock = controller.clock
    rotations = []
    for _ in range(12):
        rounds = controller.proxy("certs").status().get(timeout=5)["rounds"]
        clock.advance(30 * DAY)
        wait_until(lambda r=rounds: controller.proxy("certs").status().get(timeout=5)["rounds"] > r)
        current = bundle_of(fake)
        assert current is not None
        if current.cert != (rotations[-1][0] if rotations else first).cert:
            rotations.append((current, clock.wall()))
    assert len(rotations) == 1
    renewed, renewed_at = rotations[0]
    assert renewed.ca_cert == first.ca_cert
    assert expires(first.cert) - 90 * DAY <= renewed_at < expires(first.cert)
    assert expires(renewed.cert) > expires(first.cert)
    assert (tmp_path / "certs" / "tls.crt").read_bytes() == renewed.cert
    assert set(ca_bundles(fake)) == {base64.b64encode(first.ca_cert).decode()}

    # Near the CA's own end (ten years) a new CA is made; until the old one expires the
    # caBundles trust both, for a replica still serving a certificate the old one signed.
    rounds = controller.proxy("certs").status().get(timeout=5)["rounds"]
    clock.advance(3240 * DAY)
    wait_until(lambda: controller.proxy("certs").status().get(timeout=5)["rounds"] > rounds)
    rolled = bundle_of(fake)
    assert rolled is not None and rolled.ca_cert != first.ca_cert
    assert rolled.previous_ca == first.ca_cert
    wait_until(
        lambda: (
            set(ca_bundles(fake)) == {base64.b64encode(rolled.ca_cert + first.ca_cert).decode()}
        ),
        what="both CAs in the caBundles",
    )
    controller.stop()


def test_a_missing_secret_is_created_and_a_failed_round_is_retried(
    fake: FakeKubeApi, tmp_path: Path
) -> None:
    fake.create(namespace(NS))
    for doc in deploy_objects():
        if doc["kind"] != "Secret":
            fake.create(doc)
    fake.fail("GET", f"/secrets/{SECRET}", code=500)  # the first round fails
    role, clock = webhooks_only(fake, tmp_path)
    assert "allocator" not in role.runtime.names()
    assert role.proxy("certs").status().get(timeout=5)["failures"] == 1
    assert bundle_of(fake) is None and role.proxy("webhooks").port().get(timeout=5) is None
    clock.advance(1.0)  # the retry, and the server's look for the files
    bundle = wait_until(lambda: bundle_of(fake), what="the Secret created")
    assert fake.get("Secret", SECRET, NS)["metadata"]["name"] == SECRET
    # The server looks for the files every (virtual) second.
    port = advance_until(clock, lambda: role.proxy("webhooks").port().get(timeout=5))
    fake.serve_webhook_service(NS, SERVICE, "127.0.0.1", port)
    wait_until(lambda: set(ca_bundles(fake)) == {base64.b64encode(bundle.ca_cert).decode()})
    api = custom_api(fake)
    create(api, pool("lan", "10.1.0.0/24"))
    wait_until(lambda: in_cache(role, "IPAddressPool", "lan"))
    code, _ = refusal(lambda: create(api, pool("again", "10.1.0.1/32")))
    assert code == 403
    role.stop()


def test_a_read_only_cert_dir_serves_what_the_kubelet_projects(
    fake: FakeKubeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MetalLB's manifests mount the webhook Secret read-only at the certificate directory:
    writing there fails with EROFS. The controller keeps the Secret and the caBundles, and
    serves the files the kubelet projects from that Secret (written here as it would)."""
    import errno

    from actors.kube import certificates

    def read_only(cert_dir: object, bundle: object) -> bool:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(certificates, "write_cert_files", read_only)
    install(fake)
    role, clock = webhooks_only(fake, tmp_path)
    bundle = wait_until(lambda: bundle_of(fake), what="the Secret filled")
    assert role.proxy("certs").status().get(timeout=5)["failures"] == 0
    wait_until(lambda: set(ca_bundles(fake)) == {base64.b64encode(bundle.ca_cert).decode()})
    # The kubelet projects the Secret's keys into the mount.
    (tmp_path / "tls.key").write_bytes(bundle.key)
    (tmp_path / "tls.crt").write_bytes(bundle.cert)
    port = advance_until(clock, lambda: role.proxy("webhooks").port().get(timeout=5))
    fake.serve_webhook_service(NS, SERVICE, "127.0.0.1", port)
    api = custom_api(fake)
    create(api, pool("lan", "10.1.0.0/24"))
    wait_until(lambda: in_cache(role, "IPAddressPool", "lan"))
    code, _ = refusal(lambda: create(api, pool("again", "10.1.0.1/32")))
    assert code == 403
    role.stop()
