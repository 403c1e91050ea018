"""Webhook certificates (pure) and the HTTPS server, without an API server."""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import ssl
import time
from pathlib import Path
from typing import Any

import pykka
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from rich.pretty import pretty_repr

from actors.clock import ManualClock
from actors.kube.certificates import (
    CertBundle,
    dns_name,
    refreshed,
    with_conversion_ca_bundle,
    with_webhook_ca_bundle,
    write_cert_files,
)
from actors.kube.webhook_server import WebhookActor
from actors.roles.controller import webhook_specs
from actors.util.x509 import DAY, expires, new_ca, new_serving_cert

NAME = dns_name("metallb-webhook-service", "metallb-system")
NOW = time.time()


@pytest.fixture(autouse=True)
def stop_actors() -> Any:
    yield
    pykka.ActorRegistry.stop_all()


def test_a_fresh_bundle_names_the_service_and_is_kept_while_valid() -> None:
    bundle = refreshed(None, NAME, NOW)
    assert bundle is not None
    cert = x509.load_pem_x509_certificate(bundle.cert)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [NAME]
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(bundle.ca_cert))
    assert 364 * DAY < expires(bundle.cert) - NOW <= 365 * DAY
    assert 3649 * DAY < expires(bundle.ca_cert) - NOW <= 3650 * DAY
    assert refreshed(bundle, NAME, NOW + 200 * DAY) is None
    assert CertBundle.from_secret_data(bundle.secret_data()) == bundle


def test_the_private_keys_never_appear_in_reprs() -> None:
    bundle = refreshed(None, NAME, NOW)
    assert bundle is not None
    for key in (bundle.ca_key, bundle.key):
        body = key.splitlines()[1].decode()  # a line of the key's base64
        assert body not in repr(bundle) and body not in pretty_repr(bundle)
    assert "ca_cert=" in repr(bundle) and "cert=" in repr(bundle)
    assert CertBundle.from_secret_data(bundle.secret_data()) == bundle  # the Secret keeps them


def test_what_is_made_anew_and_when() -> None:
    bundle = refreshed(None, NAME, NOW)
    assert bundle is not None
    # Within 90 days of its end the serving certificate is renewed by the same CA.
    late = refreshed(bundle, NAME, NOW + 280 * DAY)
    assert late is not None and late.ca_cert == bundle.ca_cert and late.cert != bundle.cert
    # Another Service name (--cert-service-name changed): a new certificate, same CA.
    other = refreshed(bundle, dns_name("other", "metallb-system"), NOW)
    assert other is not None and other.ca_cert == bundle.ca_cert
    # A CA near its end, or a certificate from another CA: everything anew.
    assert refreshed(bundle, NAME, NOW + 3600 * DAY).ca_cert != bundle.ca_cert  # type: ignore[union-attr]
    foreign_ca, foreign_key = new_ca(NOW)
    cert, key = new_serving_cert(foreign_ca, foreign_key, NAME, NOW)
    mixed = CertBundle(bundle.ca_cert, bundle.ca_key, cert, key)
    assert refreshed(mixed, NAME, NOW).cert != cert  # type: ignore[union-attr]
    # Garbage in the Secret is not a bundle.
    assert (
        CertBundle.from_secret_data({"ca.crt": "!!", "ca.key": "", "tls.crt": "", "tls.key": ""})
        is None
    )
    assert CertBundle.from_secret_data(None) is None
    broken = CertBundle(b"not pem", b"x", b"y", b"z")
    assert refreshed(broken, NAME, NOW) is not None


def test_a_renewed_ca_stays_trusted_beside_the_new_one_until_it_expires() -> None:
    """Another replica may serve a certificate of the old CA for up to a round (12 h): the
    caBundles must trust both CAs until the old one ends."""
    old = refreshed(None, NAME, NOW)
    assert old is not None and old.trusted == old.ca_cert
    renewal = NOW + 3600 * DAY  # within 90 days of the CA's end
    new = refreshed(old, NAME, renewal)
    assert new is not None and new.ca_cert != old.ca_cert
    assert new.previous_ca == old.ca_cert
    assert CertBundle.from_secret_data(new.secret_data()) == new
    # The caBundle trusts both: the old replica's certificate and the new one verify.
    trusted = x509.load_pem_x509_certificates(new.trusted)
    assert [c.public_bytes(serialization.Encoding.PEM) for c in trusted] == [
        new.ca_cert,
        old.ca_cert,
    ]
    context = ssl.create_default_context(cadata=new.trusted.decode())
    assert context.cert_store_stats()["x509_ca"] == 2
    x509.load_pem_x509_certificate(old.cert).verify_directly_issued_by(trusted[1])
    x509.load_pem_x509_certificate(new.cert).verify_directly_issued_by(trusted[0])
    # Kept through the new CA's rounds while valid, dropped once the old CA has expired.
    assert refreshed(new, NAME, renewal + DAY) is None
    after = refreshed(new, NAME, expires(old.ca_cert) + 1)
    assert after is not None and after.previous_ca == b"" and after.cert == new.cert
    assert after.trusted == new.ca_cert
    assert refreshed(after, NAME, expires(old.ca_cert) + DAY) is None


def test_ca_bundles_go_into_every_webhook_and_the_conversion_webhook() -> None:
    ca = b"-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n"
    configuration = {"webhooks": [{"name": "a", "clientConfig": {"service": {}}}, {"name": "b"}]}
    out = with_webhook_ca_bundle(configuration, ca)
    assert [h["clientConfig"]["caBundle"] for h in out["webhooks"]] == [
        base64.b64encode(ca).decode()
    ] * 2
    assert "caBundle" not in configuration["webhooks"][0]["clientConfig"]  # not modified
    crd = {"spec": {"conversion": {"strategy": "Webhook", "webhook": {"clientConfig": {}}}}}
    assert (
        with_conversion_ca_bundle(crd, ca)["spec"]["conversion"]["webhook"]["clientConfig"][  # type: ignore[index]
            "caBundle"
        ]
        == base64.b64encode(ca).decode()
    )
    assert with_conversion_ca_bundle({"spec": {"conversion": {"strategy": "None"}}}, ca) is None


def connect(port: int, ca: bytes) -> http.client.HTTPConnection:
    context = ssl.create_default_context(cadata=ca.decode())
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as Go's net/http
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.sock = context.wrap_socket(raw, server_hostname=NAME)
    return connection


def post(port: int, ca: bytes, path: str, body: bytes) -> tuple[int, Any]:
    connection = connect(port, ca)
    try:
        connection.request("POST", path, body, {"Content-Type": "application/json"})
        reply = connection.getresponse()
        return reply.status, json.loads(reply.read())
    finally:
        connection.close()


def wait(predicate: Any, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return value


def test_the_server_waits_for_files_then_serves_and_takes_renewed_ones(tmp_path: Path) -> None:
    # --disable-cert-rotation: someone else provides the files, maybe later.
    existing = {"IPAddressPool": []}
    clock = ManualClock(wall_start=NOW)
    actor = WebhookActor.start(
        lambda: existing,
        "metallb-system",
        cert_dir=str(tmp_path),
        host="127.0.0.1",
        port=0,
        clock=clock,
        scheduler=clock,
    ).proxy()
    assert actor.port().get() is None
    bundle = refreshed(None, NAME, NOW)
    assert bundle is not None
    write_cert_files(tmp_path, bundle)
    clock.advance(1.0)
    port = wait(lambda: actor.port().get())
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "1",
            "operation": "CREATE",
            "object": {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "IPAddressPool",
                "metadata": {"name": "p", "namespace": "metallb-system"},
                "spec": {"addresses": ["10.0.0.0/24"]},
            },
        },
    }
    status, answer = post(
        port,
        bundle.ca_cert,
        "/validate-metallb-io-v1beta1-ipaddresspool?timeout=10s",
        json.dumps(review).encode(),
    )
    assert status == 200 and answer["response"] == {
        "uid": "1",
        "allowed": True,
        "status": {"code": 200},
    }
    assert post(port, bundle.ca_cert, "/nowhere", b"{}")[0] == 404
    assert post(port, bundle.ca_cert, "/convert", b"{not json")[0] == 400
    # New files (another CA): the next connection gets them, without a restart.
    renewed = refreshed(None, NAME, NOW)
    assert renewed is not None
    os.utime(tmp_path / "tls.crt", (NOW - 10, NOW - 10))  # a different stamp for sure
    write_cert_files(tmp_path, renewed)
    status, _ = post(
        port,
        renewed.ca_cert,
        "/convert",
        b'{"request": {"uid": "x", "desiredAPIVersion": "metallb.io/v1beta1", "objects": []}}',
    )
    assert status == 200
    with pytest.raises(ssl.SSLCertVerificationError):
        post(port, bundle.ca_cert, "/convert", b"{}")
    assert actor.stats().get()["certificate_loads"] == 2


def test_webhook_modes() -> None:
    from kubernetes import client

    from actors.kube.api import KubeApi
    from actors.kube.cluster import KubeCluster
    from actors.roles.controller import controller_specs

    kube = KubeCluster(KubeApi(client.ApiClient(client.Configuration())))  # never started
    assert [s.name for s in controller_specs(kube, webhook_mode="onlywebhook")] == [
        "kube",
        "config",
        "cluster",
        "certs",
        "webhooks",
    ]
    names = [s.name for s in controller_specs(kube, webhook_mode="enabled")]
    assert names[-2:] == ["certs", "webhooks"] and "allocator" in names
    assert "webhooks" not in [s.name for s in controller_specs(kube)]
    no_rotation = webhook_specs(kube, rotate=False)
    assert [s.name for s in no_rotation] == ["webhooks"]
    with pytest.raises(ValueError, match="webhook mode"):
        webhook_specs(kube, mode="sometimes")
