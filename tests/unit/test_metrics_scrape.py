"""A real file speaker's /metrics, scraped over HTTP and read with prometheus_client's own
parser: MetalLB's names, types and labels (the announced service's own address, BGP metrics
typed as MetalLB types them), the process collector, and gossip dropped for failing
authentication or decoding. BGP runs over loopback TCP to the demo's route collector; gossip
on loopback UDP. No root needed."""

from __future__ import annotations

import base64
import io
import socket
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from actors.clock import RealClock
from actors.demo.collector import RouteCollectorActor, bind_listener
from actors.membership.keyring import Keyring
from actors.roles import speaker
from actors.roles.bgp import BgpOptions
from actors.roles.layer2 import L2Options
from actors.roles.membership import MembershipOptions
from actors.roles.observability import MetricsOptions
from actors.runtime import Runtime

KEY = bytes(range(32))

CONFIG = """\
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: lan, namespace: metallb-system}}
spec:
  addresses: [192.0.2.0/24]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{name: aggregate, namespace: metallb-system}}
spec:
  ipAddressPools: [lan]
  aggregationLength: 24
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{name: collector, namespace: metallb-system}}
spec:
  myASN: 64512
  peerASN: 64512
  peerAddress: 127.0.0.1
  peerPort: {port}
  holdTime: 9s
  keepaliveTime: 3s
"""

NODE = """\
apiVersion: v1
kind: Node
metadata:
  name: node-a
  labels: {kubernetes.io/hostname: node-a}
status:
  conditions: [{type: Ready, status: 'True'}]
"""

SERVICE = """\
---
apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: default
  annotations: {{metallb.io/loadBalancerIPs: {ip}}}
  creationTimestamp: '2026-01-01T00:0{n}:00Z'
spec:
  type: LoadBalancer
  ports: [{{name: http, port: 80, protocol: TCP}}]
  selector: {{app: {name}}}
  clusterIPs: [10.96.0.{n}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
addressType: IPv4
metadata:
  name: {name}-1
  namespace: default
  labels: {{kubernetes.io/service-name: {name}}}
endpoints:
- addresses: [10.244.0.{n}]
  nodeName: node-a
  conditions: {{ready: true}}
"""


def wait_until(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[Runtime, Any]]:
    listener = bind_listener("127.0.0.1", 0)
    collector = RouteCollectorActor.start(listener)
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(port=listener.getsockname()[1]))
    cluster = tmp_path / "cluster.yaml"
    cluster.write_text(
        NODE
        + SERVICE.format(name="web", ip="192.0.2.10", n=1)
        + SERVICE.format(name="api", ip="192.0.2.11", n=2)
    )
    secret = tmp_path / "gossip.key"
    secret.write_text(base64.b64encode(KEY).decode() + "\n")
    options = speaker.SpeakerOptions(
        node="node-a",
        cluster_files=(str(cluster),),
        config_files=(str(config),),
        layer2=L2Options(enabled=False),
        bgp=BgpOptions(router_id="127.0.1.7"),  # the collector is 127.0.0.1
        membership=MembershipOptions(bind="127.0.0.1:0", secret_file=str(secret)),
        metrics=MetricsOptions(port=0),
    )
    clock = RealClock()
    specs = speaker.build(options, events=io.StringIO(), clock=clock)
    # Serve on loopback only (a file speaker's default is every address).
    for spec in specs:
        if spec.name == "health":
            spec.kwargs["host"] = "127.0.0.1"
    runtime = Runtime("speaker", specs, clock=clock)
    runtime.start()
    try:
        yield runtime, collector.proxy()
    finally:
        runtime.stop()
        collector.stop()


def scrape(runtime: Runtime) -> dict[str, Any]:
    _, port = runtime.proxy("health").address().get(timeout=5)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def samples(family: Any) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(s.labels.items())): s.value for s in family.samples}


def test_metrics_as_metallb_exposes_them(running: tuple[Runtime, Any]) -> None:
    runtime, collector = running
    # Both services go out inside one aggregate: 192.0.2.0/24.
    wait_until(lambda: "192.0.2.0/24" in collector.routes().get())
    families = wait_until(
        lambda: (
            (f := scrape(runtime))
            and f.get("metallb_bgp_session_up")
            and f["metallb_bgp_session_up"].samples
            and f["metallb_bgp_session_up"].samples[0].value == 1.0
            and f
        )
    )

    announced = families["metallb_speaker_announced"]
    assert announced.type == "gauge"
    # The service's own address, as MetalLB labels it, not the /24 that carries it.
    assert samples(announced) == {
        (("ip", ip), ("node", "node-a"), ("protocol", "bgp"), ("service", service)): 1.0
        for service, ip in [("default/web", "192.0.2.10"), ("default/api", "192.0.2.11")]
    }

    peer = families["metallb_bgp_session_up"].samples[0].labels["peer"]
    assert peer.startswith("127.0.0.1:")
    expected_types = {
        "metallb_bgp_session_up": "gauge",
        "metallb_bgp_updates": "counter",  # exposed as metallb_bgp_updates_total
        "metallb_bgp_announced_prefixes_total": "gauge",
        "metallb_bgp_pending_prefixes_total": "gauge",
    }
    assert {name: families[name].type for name in expected_types} == expected_types
    updates = families["metallb_bgp_updates"].samples
    assert [(s.name, s.labels) for s in updates] == [("metallb_bgp_updates_total", {"peer": peer})]
    assert updates[0].value >= 1
    assert samples(families["metallb_bgp_announced_prefixes_total"]) == {(("peer", peer),): 1.0}
    # MetalLB's "pending" is what should be advertised: the same once it is sent.
    assert samples(families["metallb_bgp_pending_prefixes_total"]) == {(("peer", peer),): 1.0}

    # The process collector: what every Prometheus client library exposes by default.
    for name in (
        "process_cpu_seconds",
        "process_resident_memory_bytes",
        "process_start_time_seconds",
    ):
        assert name in families, name
    assert families["process_resident_memory_bytes"].samples[0].value > 0
    assert "python_info" in families


def test_gossip_that_fails_authentication_or_decoding_is_counted(
    running: tuple[Runtime, Any],
) -> None:
    runtime, _ = running
    families = wait_until(
        lambda: (f := scrape(runtime)) and "lbtui_membership_dropped_packets" in f and f
    )
    dropped = families["lbtui_membership_dropped_packets"]
    assert dropped.type == "counter"
    assert samples(dropped) == {(("reason", "auth"),): 0.0, (("reason", "decode"),): 0.0}

    host, port = runtime.proxy("membership").address().get(timeout=5)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(b"not sealed with our key", (host, port))  # fails authentication
        udp.sendto(Keyring([bytes(32)]).seal(b"\x01nonsense"), (host, port))  # another key
        udp.sendto(Keyring([KEY]).seal(b"\xffnot a message"), (host, port))  # our key, garbage

    def counted() -> dict[str, float] | None:
        found = {
            s.labels["reason"]: s.value
            for s in scrape(runtime)["lbtui_membership_dropped_packets"].samples
            if isinstance(s, Sample)
        }
        return found if found == {"auth": 2.0, "decode": 1.0} else None

    assert wait_until(counted) == {"auth": 2.0, "decode": 1.0}


def test_a_counter_family_must_be_named_as_exposed() -> None:
    from actors.bgp.actor import BgpSpeakerActor
    from actors.observability.metrics import AskedCounters

    with pytest.raises(ValueError, match="_total"):
        AskedCounters(
            BgpSpeakerActor,
            BgpSpeakerActor.counters,
            label="peer",
            families={"metallb_bgp_updates": ("counter", "no _total: Prometheus would add it")},
        )
    with pytest.raises(ValueError, match="gauge"):
        AskedCounters(
            BgpSpeakerActor, BgpSpeakerActor.counters, label="peer", families={"x": ("summary", "")}
        )
