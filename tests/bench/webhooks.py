"""Webhook benchmark: what one IPAddressPool admission review costs with N existing pools.

Run: ``.venv/bin/python tests/bench/webhooks.py [--quick]``. One table, side by side per N:

- ``build_config``: the offline validation alone (``lbtui validate``'s work) over the N pools
  plus the candidate, already parsed from dicts: the baseline;
- ``review (pure)``: :func:`admission_response` on an AdmissionReview dict, as the server
  calls it (copies, transient references stripped, loading, validation, the answer);
- ``review (HTTPS)``: the same review POSTed to the running server over TLS verified against
  the CA, a new connection each time as kube-apiserver opens them;
- ``denied (HTTPS)``: an overlapping candidate, refused with its message.

kube-apiserver gives a webhook 10 s by default (MetalLB's manifests set no timeoutSeconds).
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pykka

from actors.config.build import build_config
from actors.config.loader import load_documents
from actors.kube.certificates import dns_name, refreshed, write_cert_files
from actors.kube.webhook_server import WebhookActor
from actors.kube.webhooks import admission_response

NS = "metallb-system"
PATH = "/validate-metallb-io-v1beta1-ipaddresspool"
NAME = dns_name("metallb-webhook-service", NS)


def pool(name: str, cidr: str) -> dict[str, Any]:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": name, "namespace": NS, "resourceVersion": "7"},
        "spec": {"addresses": [cidr]},
    }


def review(candidate: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {"uid": "u", "operation": "CREATE", "object": candidate},
    }


def timed(call: Callable[[], Any], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def post(port: int, context: ssl.SSLContext, body: bytes) -> dict[str, Any]:
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as Go's net/http
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.sock = context.wrap_socket(raw, server_hostname=NAME)
    try:
        connection.request("POST", PATH, body, {"Content-Type": "application/json"})
        return json.loads(connection.getresponse().read())
    finally:
        connection.close()


def main() -> None:
    quick = "--quick" in sys.argv
    sizes = (10, 100, 1000) if quick else (10, 100, 1000, 5000)
    repeat = 5 if quick else 15
    existing: dict[str, list[dict[str, Any]]] = {"IPAddressPool": []}
    with tempfile.TemporaryDirectory() as cert_dir:
        bundle = refreshed(None, NAME, time.time())
        assert bundle is not None
        write_cert_files(cert_dir, bundle)
        actor = WebhookActor.start(
            lambda: existing, NS, cert_dir=cert_dir, host="127.0.0.1", port=0
        ).proxy()
        port = actor.port().get()
        context = ssl.create_default_context(cadata=bundle.ca_cert.decode())
        rows = []
        try:
            for n in sizes:
                existing["IPAddressPool"] = [
                    pool(f"p{i}", f"10.{i // 256}.{i % 256}.0/24") for i in range(n)
                ]
                fresh = pool("new", "172.16.0.0/24")
                overlapping = pool("bad", "10.0.0.128/25")
                docs = [(d, 0) for d in [*existing["IPAddressPool"], fresh]]
                inputs = load_documents(docs, "bench")
                baseline = timed(lambda i=inputs: build_config(i, namespace=NS), repeat)
                request = review(fresh)
                pure = timed(lambda r=request: admission_response(PATH, r, existing, NS), repeat)
                body = json.dumps(review(fresh)).encode()
                bad = json.dumps(review(overlapping)).encode()
                assert post(port, context, body)["response"]["allowed"] is True
                assert post(port, context, bad)["response"]["allowed"] is False
                https = timed(lambda b=body: post(port, context, b), repeat)
                denied = timed(lambda b=bad: post(port, context, b), repeat)
                rows.append((n, baseline, pure, https, denied))
        finally:
            pykka.ActorRegistry.stop_all()
    print(f"IPAddressPool CREATE review, median of {repeat} (ms)")
    print(
        f"{'pools':>6} {'build_config':>13} {'review (pure)':>14} {'review (HTTPS)':>15} "
        f"{'denied (HTTPS)':>15}"
    )
    for n, baseline, pure, https, denied in rows:
        print(f"{n:>6} {baseline:>13.1f} {pure:>14.1f} {https:>15.1f} {denied:>15.1f}")


if __name__ == "__main__":
    main()
