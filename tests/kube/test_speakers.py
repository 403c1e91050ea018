"""A controller and three speakers against one fake API server, each with its own client.

They meet only through the API: the controller writes Service status, the speakers read it,
announce (on a recording announcer), and write ServiceL2Status / ServiceBGPStatus objects and
``nodeAssigned`` events. Membership is a stand-in each test sets by hand (gossip is tested in
its own issue): what matters here is what the API shows when the owner changes.
"""

from __future__ import annotations

from typing import Any

from actors.base import RuntimeActor
from actors.clock import ManualClock
from actors.events import (
    AnnouncementStopped,
    AnnouncementsUpdated,
    MembershipUpdated,
    PeersDiscovered,
)
from actors.kube.resources import CONTROLLER_RESOURCES, SPEAKER_RESOURCES
from actors.roles.controller import controller_specs
from actors.roles.speaker import kube_speaker_specs
from actors.runtime import ActorSpec
from actors.speaker.announcer import RecordingAnnouncer
from tests.kube.fakeapi import FakeKubeApi
from tests.kube.harness import (
    NS,
    Role,
    endpoint_slice,
    events_for,
    ingress_of,
    kube_cluster,
    l2_advertisement,
    namespace,
    node,
    pool,
    service,
    wait_until,
)

NODES = ("node-1", "node-2", "node-3")


class HandMembership(RuntimeActor):
    """Membership set by the test: who this node believes alive."""

    actor_name = "membership"

    def __init__(self, node: str, alive: tuple[str, ...], **kw: Any) -> None:
        super().__init__(**kw)
        self.node = node
        self.alive = frozenset(alive)

    def on_start(self) -> None:
        self.republish()

    def republish(self) -> None:
        dead = frozenset(NODES) - self.alive
        self.publish(MembershipUpdated(self.clock.now(), self.node, self.alive, dead))

    def set_alive(self, alive: tuple[str, ...]) -> None:
        self.alive = frozenset(alive)
        self.republish()


def seed(fake: FakeKubeApi) -> None:
    fake.create(namespace(NS))
    fake.create(namespace("default"))
    for i, name in enumerate(NODES):
        fake.create(node(name, f"10.99.0.{i + 1}"))
        fake.create(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"speaker-{name}",
                    "namespace": NS,
                    "labels": {"app": "metallb", "component": "speaker"},
                },
                "spec": {"nodeName": name},
                "status": {"phase": "Running", "podIP": f"10.99.0.{i + 1}"},
            }
        )
    fake.create(pool("lan", "10.99.0.100-10.99.0.110"))
    fake.create(l2_advertisement("l2", ipAddressPools=["lan"]))
    fake.create(pool("edge", "192.0.2.0/28"))
    fake.create(
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "BGPAdvertisement",
            "metadata": {"name": "edge", "namespace": NS},
            "spec": {"ipAddressPools": ["edge"]},
        }
    )
    fake.create(
        {
            "apiVersion": "metallb.io/v1beta2",
            "kind": "BGPPeer",
            "metadata": {"name": "router", "namespace": NS},
            "spec": {"myASN": 64512, "peerASN": 64500, "peerAddress": "10.99.0.254"},
        }
    )


def start_speaker(fake: FakeKubeApi, name: str) -> Role:
    kube = kube_cluster(fake, SPEAKER_RESOURCES)
    extra = [ActorSpec("membership", HandMembership, {"node": name, "alive": NODES})]
    specs = kube_speaker_specs(
        name,
        kube,
        announcer=RecordingAnnouncer(),
        pod_name=f"speaker-{name}",
        extra=extra,
    )
    return Role(f"speaker-{name}", specs, kube, ManualClock())


def l2_statuses(fake: FakeKubeApi) -> list[dict[str, Any]]:
    """The ServiceL2Status objects, once their status is written (create, then status)."""
    return [o for o in fake.items("ServiceL2Status", NS) if o.get("status")]


def bgp_statuses(fake: FakeKubeApi) -> list[dict[str, Any]]:
    return [o for o in fake.items("ServiceBGPStatus", NS) if o.get("status")]


def test_status_objects_appear_and_move_on_failover(fake: FakeKubeApi) -> None:
    seed(fake)
    controller = Role(
        "controller",
        controller_specs(kube_cluster(fake, CONTROLLER_RESOURCES)),
        None,  # type: ignore[arg-type]
        ManualClock(),
    )
    speakers = {name: start_speaker(fake, name) for name in NODES}
    fake.create(service("web", annotations={"metallb.io/address-pool": "lan"}))
    fake.create(endpoint_slice("web", list(NODES)))
    fake.create(service("edge", annotations={"metallb.io/address-pool": "edge"}))
    fake.create(endpoint_slice("edge", list(NODES)))
    assert wait_until(lambda: ingress_of(fake, "web")) == ["10.99.0.100"]
    assert wait_until(lambda: ingress_of(fake, "edge")) == ["192.0.2.0"]

    # Layer 2: exactly one owner writes a ServiceL2Status, as MetalLB names and labels it.
    (l2,) = wait_until(lambda: l2_statuses(fake) if len(l2_statuses(fake)) == 1 else None)
    owner = l2["status"]["node"]
    assert owner in NODES
    assert l2["metadata"]["name"].startswith("l2-")
    assert l2["metadata"]["labels"] == {
        "metallb.io/node": owner,
        "metallb.io/service-name": "web",
        "metallb.io/service-namespace": "default",
    }
    assert l2["status"] == {
        "node": owner,
        "serviceName": "web",
        "serviceNamespace": "default",
        "interfaces": [],
    }
    assert l2["metadata"]["ownerReferences"][0]["name"] == f"speaker-{owner}"
    # BGP: every node advertises the edge service to the router: one object per node.
    wait_until(lambda: len(bgp_statuses(fake)) == 3)
    assert {o["status"]["node"] for o in bgp_statuses(fake)} == set(NODES)
    assert all(o["status"]["peers"] == ["router"] for o in bgp_statuses(fake))
    assert all(o["metadata"]["name"].startswith("bgp-") for o in bgp_statuses(fake))
    assigned = wait_until(lambda: events_for(fake, "web", "nodeAssigned"))
    assert assigned[0]["message"] == f'announcing from node "{owner}" with protocol "layer2"'
    assert assigned[0]["source"] == {"component": "metallb-speaker", "host": owner}
    # The speakers found each other through the API, for membership to join.
    found = wait_until(lambda: speakers["node-1"].of(PeersDiscovered))
    assert found[-1].addresses == ("10.99.0.2:7946", "10.99.0.3:7946")

    # The owner stops (a graceful shutdown): its objects go, the next owner writes its own.
    speakers[owner].stop()
    survivors = tuple(n for n in NODES if n != owner)
    for name in survivors:
        speakers[name].proxy("membership").set_alive(survivors).get()
    (moved,) = wait_until(
        lambda: [o for o in l2_statuses(fake) if o["status"]["node"] != owner] or None
    )
    wait_until(lambda: len(l2_statuses(fake)) == 1, what="the old owner's object is deleted")
    assert moved["status"]["node"] in survivors
    assert moved["metadata"]["labels"]["metallb.io/node"] == moved["status"]["node"]
    wait_until(lambda: {o["status"]["node"] for o in bgp_statuses(fake)} == set(survivors))
    new_owner = moved["status"]["node"]
    wait_until(
        lambda: [
            e for e in events_for(fake, "web", "nodeAssigned") if e["source"]["host"] == new_owner
        ]
    )
    # The speaker announces what the controller wrote, nothing else.
    announced = speakers[new_owner].of(AnnouncementsUpdated)[-1].announced
    assert {(a.service, a.protocol, a.ips) for a in announced} == {
        ("default/web", "layer2", ("10.99.0.100",)),
        ("default/edge", "bgp", ("192.0.2.0",)),
    }
    controller.stop()


def leftover(fake: FakeKubeApi, kind: str, service_name: str, status: dict[str, Any]) -> str:
    """A status object a crashed speaker of node-1 left behind."""
    prefix = "l2-" if kind == "ServiceL2Status" else "bgp-"
    created = fake.create(
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": kind,
            "metadata": {
                "generateName": prefix,
                "namespace": NS,
                "labels": {
                    "metallb.io/node": "node-1",
                    "metallb.io/service-name": service_name,
                    "metallb.io/service-namespace": "default",
                },
            },
        }
    )
    name = created["metadata"]["name"]
    fake.merge(kind, name, {"status": status}, NS, "status")
    return name


def test_a_restarted_speaker_adopts_its_status_objects_and_drops_stale_ones(
    fake: FakeKubeApi,
) -> None:
    seed(fake)
    fake.create(service("edge", annotations={"metallb.io/address-pool": "edge"}))
    fake.create(endpoint_slice("edge", ["node-1"]))
    fake.merge(
        "Service",
        "edge",
        {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.0"}]}}},
        "default",
        subresource="status",
    )
    mine = {"node": "node-1", "serviceName": "edge", "serviceNamespace": "default"}
    kept = leftover(fake, "ServiceBGPStatus", "edge", {**mine, "peers": ["router"]})
    stale = leftover(fake, "ServiceL2Status", "gone", {**mine, "serviceName": "gone"})
    start_speaker(fake, "node-1")
    wait_until(lambda: events_for(fake, "edge", "nodeAssigned"))
    wait_until(lambda: not fake.try_get("ServiceL2Status", stale, NS), what="stale one deleted")
    (now,) = bgp_statuses(fake)
    assert now["metadata"]["name"] == kept  # adopted, not duplicated
    assert now["status"] == {**mine, "peers": ["router"]}


def test_a_speaker_keeps_announcing_while_the_api_is_away(fake: FakeKubeApi) -> None:
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
    speaker = start_speaker(fake, "node-1")
    announced = wait_until(
        lambda: (u := speaker.of(AnnouncementsUpdated)) and u[-1].announced and u[-1].announced
    )
    fake.down()
    wait_until(lambda: speaker.kube.backing_off() == len(speaker.kube.resources))
    for _ in range(30):  # half a minute of virtual time without the API
        speaker.clock.advance(1)
    assert speaker.of(AnnouncementsUpdated)[-1].announced == announced
    assert not speaker.of(AnnouncementStopped)
    assert speaker.proxy("speaker/node-1").announcements().get().l2.keys() == {"10.99.0.100"}
