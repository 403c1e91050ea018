"""/healthz, /readyz and /metrics of a controller and a speaker on the fake API server."""

from __future__ import annotations

import urllib.error
import urllib.request

from actors.clock import ManualClock
from actors.kube.resources import CONTROLLER_RESOURCES, SPEAKER_RESOURCES
from actors.roles.controller import controller_specs
from actors.roles.observability import observability_specs
from actors.roles.speaker import kube_speaker_specs
from actors.runtime import ActorSpec
from actors.speaker.announcer import RecordingAnnouncer
from tests.kube.fakeapi import FakeKubeApi
from tests.kube.harness import (
    Role,
    endpoint_slice,
    ingress_of,
    kube_cluster,
    pool,
    service,
    wait_until,
)
from tests.kube.test_speakers import NODES, HandMembership, seed


def get(role: Role, path: str) -> tuple[int, str]:
    _, port = role.proxy("health").address().get()
    url = f"http://127.0.0.1:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def metric_lines(text: str, name: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def test_controller_ready_after_first_sync_and_metallb_metrics(fake: FakeKubeApi) -> None:
    seed(fake)
    kube = kube_cluster(fake, CONTROLLER_RESOURCES)
    specs = [*observability_specs(port=0, host="127.0.0.1", kube=kube), *controller_specs(kube)]
    controller = Role("controller", specs, kube, ManualClock())
    assert get(controller, "/healthz") == (200, "ok\n")
    assert wait_until(lambda: get(controller, "/readyz")[0] == 200)
    fake.create(service("web", annotations={"metallb.io/address-pool": "lan"}))
    wait_until(lambda: ingress_of(fake, "web"))
    text = wait_until(
        lambda: (
            (t := get(controller, "/metrics")[1])
            and 'metallb_allocator_addresses_in_use_total{pool="lan"} 1.0' in t
            and t
        )
    )
    assert metric_lines(text, "metallb_allocator_addresses_total") == {
        'metallb_allocator_addresses_total{pool="edge"}': 16.0,
        'metallb_allocator_addresses_total{pool="lan"}': 11.0,
    }
    assert metric_lines(text, "metallb_k8s_client_config_loaded_bool") == {
        "metallb_k8s_client_config_loaded_bool": 1.0
    }
    assert metric_lines(text, "metallb_k8s_client_config_stale_bool") == {
        "metallb_k8s_client_config_stale_bool": 0.0
    }
    assert (
        metric_lines(text, "metallb_k8s_client_updates_total")["metallb_k8s_client_updates_total"]
        > 0
    )
    # A rejected configuration: the old one stays, and the metric says it is stale.
    fake.create(pool("overlap", "10.99.0.100/32"))
    wait_until(lambda: "metallb_k8s_client_config_stale_bool 1.0" in get(controller, "/metrics")[1])
    assert get(controller, "/nope")[0] == 404


def test_speaker_ready_only_once_membership_joined(fake: FakeKubeApi) -> None:
    seed(fake)
    fake.create(service("web", annotations={"metallb.io/address-pool": "lan"}))
    fake.create(endpoint_slice("web", ["node-1"]))
    fake.merge(
        "Service",
        "web",
        {"status": {"loadBalancer": {"ingress": [{"ip": "10.99.0.100"}]}}},
        "default",
        subresource="status",
    )
    kube = kube_cluster(fake, SPEAKER_RESOURCES)
    membership = ActorSpec("membership", HandMembership, {"node": "node-1", "alive": ("node-2",)})
    specs = [
        *observability_specs(port=0, host="127.0.0.1", node="node-1", require_membership=True),
        *kube_speaker_specs("node-1", kube, announcer=RecordingAnnouncer(), extra=[membership]),
    ]
    speaker = Role("speaker", specs, kube, ManualClock())
    status, body = wait_until(lambda: (r := get(speaker, "/readyz")) and "listed" not in r[1] and r)
    assert status == 503
    assert body == "not ready: membership not joined yet\n"
    speaker.proxy("membership").set_alive(NODES).get()
    assert wait_until(lambda: get(speaker, "/readyz")) == (200, "ok\n")
    text = wait_until(
        lambda: (t := get(speaker, "/metrics")[1]) and "metallb_speaker_announced{" in t and t
    )
    assert metric_lines(text, "metallb_speaker_announced") == {
        'metallb_speaker_announced{ip="10.99.0.100",node="node-1",protocol="layer2",'
        'service="default/web"}': 1.0
    }
