"""MetalLB's metrics endpoint: /metrics over HTTPS behind the authn/authz filter, with the
reviews answered by the fake API server (the tests decide which tokens and users pass)."""

from __future__ import annotations

import http.client
import logging
import ssl
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from actors.clock import ManualClock
from actors.kube.resources import CONTROLLER_RESOURCES
from actors.observability.metrics_auth import Decision, MetricsAuth
from actors.observability.secure_metrics import self_signed_pems
from actors.roles.controller import controller_specs
from actors.roles.observability import observability_specs
from actors.util.x509 import new_ca, new_serving_cert
from tests.kube.fakeapi import FakeKubeApi
from tests.kube.harness import Role, kube_cluster, wait_until
from tests.kube.test_speakers import seed

PROMETHEUS = "system:serviceaccount:monitoring:prometheus-k8s"


def start(fake: FakeKubeApi, clock: ManualClock, cert_dir: str | None = None) -> Role:
    seed(fake)
    kube = kube_cluster(fake, CONTROLLER_RESOURCES)
    specs = [
        *observability_specs(
            port=0, host="127.0.0.1", kube=kube, secure_port=0, metrics_cert_dir=cert_dir
        ),
        *controller_specs(kube),
    ]
    return Role("controller", specs, kube, clock)


def scrape(
    role: Role,
    token: str | None = None,
    path: str = "/metrics",
    context: ssl.SSLContext | None = None,
) -> tuple[int, str, Any]:
    _, port = role.proxy("securemetrics").address().get()
    if context is None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=context)
    if context.check_hostname:
        conn = http.client.HTTPSConnection("localhost", port, timeout=5, context=context)
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    try:
        conn.connect()
        peer = conn.sock.getpeercert(binary_form=True)
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read().decode(), peer
    finally:
        conn.close()


def plain_metrics(role: Role) -> int:
    _, port = role.proxy("health").address().get()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/metrics")
        return conn.getresponse().status
    finally:
        conn.close()


def test_only_a_token_the_api_authenticates_and_authorizes_gets_the_metrics(
    fake: FakeKubeApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    clock = ManualClock()
    controller = start(fake, clock)
    fake.allow_token("prom-token", PROMETHEUS, ("system:serviceaccounts",))
    fake.allow_token("intruder-token", "system:serviceaccount:default:nosy")
    fake.allow_access(PROMETHEUS, "/metrics", "get")
    # No token, a token the API does not know, a user without the right: refused.
    assert scrape(controller)[0] == 401
    assert scrape(controller, "forged")[0] == 401
    status, body, peer = scrape(controller, "intruder-token")
    assert status == 403 and "nosy" in body
    # The allowed scraper gets MetalLB's metrics, over TLS (a self-signed certificate).
    status, body, peer = wait_until(
        lambda: (r := scrape(controller, "prom-token")) and "metallb_allocator" in r[1] and r
    )
    assert status == 200
    assert "metallb_k8s_client_config_loaded_bool 1.0" in body
    cert = x509.load_der_x509_certificate(peer)
    assert cert.subject.rfc4514_string() == "CN=localhost"
    # What the filter asked: a TokenReview of the token, then a SubjectAccessReview of its user
    # for nonResourceURL /metrics, verb get.
    reviews = [r for r in fake.reviews if r["spec"].get("user") == PROMETHEUS]
    assert reviews[0]["kind"] == "SubjectAccessReview"
    assert reviews[0]["spec"]["nonResourceAttributes"] == {"path": "/metrics", "verb": "get"}
    assert reviews[0]["spec"]["groups"] == ["system:serviceaccounts"]
    assert {"kind": "TokenReview", "spec": {"token": "prom-token"}} in fake.reviews
    # Reviews are cached: more scrapes, no more API calls; once the cache expires, asked again.
    asked = len(fake.reviews)
    for _ in range(3):
        assert scrape(controller, "prom-token")[0] == 200
    assert len(fake.reviews) == asked
    clock.advance(301)
    assert scrape(controller, "prom-token")[0] == 200
    assert len(fake.reviews) == asked + 2
    # Only /metrics is served there; the plain port keeps serving probes and metrics.
    assert scrape(controller, "prom-token", "/healthz")[0] == 404
    assert plain_metrics(controller) == 200
    assert "prom-token" not in caplog.text and "intruder-token" not in caplog.text
    controller.stop()


def test_the_certificate_from_metrics_cert_dir_is_served(fake: FakeKubeApi, tmp_path: Path) -> None:
    now = time.time()
    ca_cert, ca_key = new_ca(now)
    cert, key = new_serving_cert(ca_cert, ca_key, "localhost", now)
    (tmp_path / "tls.crt").write_bytes(cert)
    (tmp_path / "tls.key").write_bytes(key)
    controller = start(fake, ManualClock(), cert_dir=str(tmp_path))
    fake.allow_token("prom-token", PROMETHEUS)
    fake.allow_access(PROMETHEUS, "/metrics")
    trusting = ssl.create_default_context(cadata=ca_cert.decode())
    status, _, peer = scrape(controller, "prom-token", context=trusting)  # verified, by name
    assert status == 200
    assert peer == x509.load_pem_x509_certificate(cert).public_bytes(Encoding.DER)
    controller.stop()


def test_the_command_line_serves_https_metrics_only_with_the_api(tmp_path: Path) -> None:
    import contextlib
    import io

    from lbtui.cli import build_parser, main

    parsed = build_parser().parse_args(["controller"])
    # Off unless asked for (examples/deploy asks for MetalLB's 9120): two processes on one
    # machine, or a laptop, do not fight over the port.
    assert (parsed.secure_metrics_port, parsed.metrics_cert_dir) == (-1, None)
    err = io.StringIO()
    argv = ["controller", "--secure-metrics-port", "9120", "--metrics-cert-dir", str(tmp_path)]
    with contextlib.redirect_stderr(err):
        code = main(argv)
    assert code == 2 and f"no tls.crt in {tmp_path}" in err.getvalue()


# -- the filter alone ------------------------------------------------------------------------


class Reviews:
    def __init__(self) -> None:
        self.users = {"good": {"username": "alice", "groups": ["g"]}}
        self.allowed = {"alice"}
        self.calls: list[str] = []
        self.broken = False

    def token_review(self, token: str) -> dict[str, Any]:
        self.calls.append("token")
        user = self.users.get(token)
        return {"authenticated": True, "user": user} if user else {"authenticated": False}

    def access_review(self, user: dict[str, Any], path: str, verb: str) -> dict[str, Any]:
        self.calls.append("access")
        if self.broken:
            raise ConnectionError("API away")
        return {"allowed": user["username"] in self.allowed and (path, verb) == ("/metrics", "get")}


def test_the_filter_decides_and_caches_as_controller_runtime_does() -> None:
    clock = ManualClock()
    reviews = Reviews()
    auth = MetricsAuth(reviews, clock.now)
    assert auth.check(None, "/metrics") == Decision(401, "Unauthorized")
    assert auth.check("Basic Z29vZA==", "/metrics").code == 401
    assert reviews.calls == []  # nothing to review without a bearer token
    assert auth.check("Bearer good", "/metrics").code == 200
    assert auth.check("Bearer good", "/metrics").code == 200
    assert reviews.calls == ["token", "access"]
    # A revoked right is noticed once the allow expires (300 s); a deny is kept 30 s.
    reviews.allowed.clear()
    clock.advance(299)
    assert auth.check("Bearer good", "/metrics").code == 200
    clock.advance(2)
    assert auth.check("Bearer good", "/metrics").code == 403
    reviews.allowed.add("alice")
    clock.advance(29)
    assert auth.check("Bearer good", "/metrics").code == 403
    clock.advance(2)
    assert auth.check("Bearer good", "/metrics").code == 200
    # The API failing the authorization is a 500, not an allow.
    reviews.broken = True
    clock.advance(400)
    assert auth.check("Bearer good", "/metrics").code == 500
    assert auth.check("Bearer unknown", "/metrics").code == 401


def test_a_self_signed_certificate_is_made_in_memory() -> None:
    chain, key = self_signed_pems("localhost")
    certs = x509.load_pem_x509_certificates(chain)
    assert len(certs) == 2  # the certificate, then the one-off CA that signed it
    names = certs[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert key.startswith(b"-----BEGIN PRIVATE KEY-----")
