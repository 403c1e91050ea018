"""The API floor: the least a controller must write for every LoadBalancer Service, written as
fast as the API server takes it, by a minimal client. ``tests/bench/kube_real.py`` runs it as
its "API floor" row, beside lbtui and MetalLB, on the same precreated Services.

    python tests/bench/api_floor.py KUBECONFIG [--namespace bench] [--threads 16]
        [--pool bench] [--cidr 10.128.0.0/17]

It lists the namespace's Services once (raw JSON), then, with ``--threads`` threads each
holding one kept-alive HTTPS connection (``http.client`` over the kubeconfig's CA and token:
no client library), writes what lbtui writes per Service: first one status PATCH each (the
same strategic-merge body: the ingress address and the ``metallb.io/ip-allocated-from-pool``
annotation), then one ``IPAllocated`` Event each (status first: that is what a user waits
for). No allocator, no cache, no watch. It prints a JSON line with the phases' times, then
waits to be stopped (the bench reads its CPU and memory while it lives).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import ipaddress
import json
import queue
import signal
import ssl
import sys
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import yaml

ANNOTATION = "metallb.io/ip-allocated-from-pool"


def connection_factory(kubeconfig: str) -> tuple[Callable[[], http.client.HTTPSConnection], str]:
    """A maker of connections to the kubeconfig's current cluster, and its bearer token."""
    with open(kubeconfig, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    context = next(c for c in doc["contexts"] if c["name"] == doc["current-context"])["context"]
    cluster = next(c for c in doc["clusters"] if c["name"] == context["cluster"])["cluster"]
    user = next(u for u in doc["users"] if u["name"] == context["user"])["user"]
    if "token" not in user:
        raise SystemExit(f"{kubeconfig}: the API floor only speaks bearer tokens")
    tls = ssl.create_default_context()
    if "certificate-authority-data" in cluster:
        tls.load_verify_locations(
            cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
        )
    elif "certificate-authority" in cluster:
        tls.load_verify_locations(cafile=cluster["certificate-authority"])
    url = urlsplit(cluster["server"])
    host, port = url.hostname or "", url.port or 443

    def connect() -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(host, port, context=tls, timeout=30)

    return connect, user["token"]


class Client:
    """One kept-alive connection (one per thread), reopened when the server closed it."""

    def __init__(self, connect: Callable[[], http.client.HTTPSConnection], token: str) -> None:
        self.connect = connect
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self.conn = connect()

    def call(self, method: str, path: str, body: Any = None, content_type: str = "") -> Any:
        data = json.dumps(body).encode() if body is not None else None
        headers = dict(self.headers)
        if content_type:
            headers["Content-Type"] = content_type
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                response = self.conn.getresponse()
                payload = response.read()
                break
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = self.connect()
                if attempt == 2:
                    raise
        if not 200 <= response.status <= 299:
            raise RuntimeError(f"{method} {path}: {response.status} {payload[:200]!r}")
        return json.loads(payload) if payload else None


def run_phase(
    clients: list[Client], items: list[Any], write: Callable[[Client, Any], None]
) -> tuple[float, int]:
    """Every item written by one of the clients' threads; (seconds, failures)."""
    work: queue.SimpleQueue[Any] = queue.SimpleQueue()
    for item in items:
        work.put(item)
    failures = [0]
    lock = threading.Lock()

    def worker(client: Client) -> None:
        while True:
            try:
                item = work.get_nowait()
            except queue.Empty:
                return
            try:
                write(client, item)
            except Exception as exc:
                with lock:
                    failures[0] += 1
                print(f"write failed: {exc}", file=sys.stderr, flush=True)

    start = time.monotonic()
    threads = [threading.Thread(target=worker, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - start, failures[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kubeconfig")
    parser.add_argument("--namespace", default="bench")
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--pool", default="bench")
    parser.add_argument("--cidr", default="10.128.0.0/17")
    args = parser.parse_args()
    start = time.monotonic()
    connect, token = connection_factory(args.kubeconfig)
    clients = [Client(connect, token) for _ in range(args.threads)]
    ns = args.namespace
    listed = clients[0].call("GET", f"/api/v1/namespaces/{ns}/services")
    services = sorted(
        (s for s in listed.get("items") or [] if s["spec"].get("type") == "LoadBalancer"),
        key=lambda s: s["metadata"]["name"],
    )
    addresses = ipaddress.ip_network(args.cidr).hosts()
    work = [(s, str(next(addresses))) for s in services]
    listed_s = time.monotonic() - start

    def patch_status(client: Client, item: tuple[dict[str, Any], str]) -> None:
        service, ip = item
        body = {
            "metadata": {"annotations": {ANNOTATION: args.pool}},
            "status": {"loadBalancer": {"ingress": [{"ip": ip}]}},
        }
        name = service["metadata"]["name"]
        client.call(
            "PATCH",
            f"/api/v1/namespaces/{ns}/services/{name}/status",
            body,
            "application/strategic-merge-patch+json",
        )

    def post_event(client: Client, item: tuple[dict[str, Any], str]) -> None:
        service, ip = item
        meta = service["metadata"]
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{int(now * 1e9):x}", "namespace": ns},
            "involvedObject": {
                "apiVersion": "v1",
                "kind": "Service",
                "namespace": ns,
                "name": meta["name"],
                "uid": meta["uid"],
                "resourceVersion": meta["resourceVersion"],
            },
            "reason": "IPAllocated",
            "message": f'Assigned IP ["{ip}"]',
            "type": "Normal",
            "source": {"component": "metallb-controller"},
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "reportingComponent": "metallb-controller",
            "reportingInstance": "",
        }
        client.call("POST", f"/api/v1/namespaces/{ns}/events", body, "application/json")

    status_s, status_failed = run_phase(clients, work, patch_status)
    events_s, events_failed = run_phase(clients, work, post_event)
    print(
        json.dumps(
            {
                "services": len(work),
                "threads": args.threads,
                "listed_s": round(listed_s, 2),
                "status_s": round(status_s, 2),
                "status_per_s": round(len(work) / status_s, 1) if status_s else None,
                "events_s": round(events_s, 2),
                "events_per_s": round(len(work) / events_s, 1) if events_s else None,
                "failed": status_failed + events_failed,
            }
        ),
        flush=True,
    )
    # Stay until stopped: the bench reads this process's CPU and peak memory while it lives.
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    return 0


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    raise SystemExit(main())
