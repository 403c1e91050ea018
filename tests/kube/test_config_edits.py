"""Configuration edits (the console's) going to the API as metallb.io object writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from actors.clock import ManualClock
from actors.config.actor import ConfigActor
from actors.events import ConfigApplied, ConfigRejected
from actors.kube.cluster import KubeWatcher
from actors.kube.config_store import KubeConfigStore
from actors.kube.resources import SPEAKER_RESOURCES
from actors.kube.secrets import KubeSecrets
from actors.runtime import ActorSpec
from tests.kube.fakeapi import FakeKubeApi
from tests.kube.harness import NS, Role, kube_cluster, l2_advertisement, namespace, pool, wait_until

CRDS = Path(__file__).resolve().parents[2] / "examples" / "deploy" / "crds.yaml"


def peer(name: str, port: int = 179) -> dict[str, Any]:
    return {
        "apiVersion": "metallb.io/v1beta2",
        "kind": "BGPPeer",
        "metadata": {"name": name},
        "spec": {"myASN": 64512, "peerASN": 64500, "peerAddress": "10.99.0.254", "peerPort": port},
    }


def start(fake: FakeKubeApi) -> Role:
    kube = kube_cluster(fake, SPEAKER_RESOURCES)
    specs = [
        ActorSpec("kube", KubeWatcher, {"kube": kube}),
        ActorSpec("config", ConfigActor, {"store": KubeConfigStore(kube)}),
    ]
    return Role("console", specs, kube, ManualClock())


def test_edits_become_api_writes_and_the_servers_refusal_comes_back(fake: FakeKubeApi) -> None:
    fake.create(namespace(NS))
    fake.create(pool("lan", "10.99.0.0/28"))
    fake.create(l2_advertisement())
    fake.enforce_crd_schemas(CRDS)  # the API server validates with examples/deploy's CRDs
    role = start(fake)
    config = role.proxy("config")
    assert sorted(config.current().get().pools) == ["lan"]

    # A new object: created in the API, applied at once.
    outcome = config.apply_edit(pool("wan", "192.0.2.0/28")).get()
    assert outcome.applied, outcome.issues
    assert fake.get("IPAddressPool", "wan", NS)["spec"]["addresses"] == ["192.0.2.0/28"]
    assert sorted(config.current().get().pools) == ["lan", "wan"]

    # A change to an existing one: replaced with its resourceVersion (optimistic concurrency).
    edited = config.document("IPAddressPool", "lan").get()
    edited["spec"]["addresses"] = ["10.99.0.0/27"]
    assert config.apply_edit(edited).get().applied
    assert fake.get("IPAddressPool", "lan", NS)["spec"]["addresses"] == ["10.99.0.0/27"]
    assert any(r[0] == "PUT" and r[1].endswith("/ipaddresspools/lan") for r in fake.store.requests)

    # Invalid locally (overlapping pools): refused before anything is sent.
    writes = len([r for r in fake.store.requests if r[0] != "GET"])
    outcome = config.apply_edit(pool("clash", "10.99.0.8/29")).get()
    assert not outcome.applied
    assert any("overlap" in i.message for i in outcome.issues)
    assert len([r for r in fake.store.requests if r[0] != "GET"]) == writes

    # Valid for lbtui, refused by the API server (its CRD schema): the server's words, per field.
    outcome = config.apply_edit(peer("router", port=20000)).get()
    assert not outcome.applied
    (issue,) = outcome.issues
    assert issue.obj == "BGPPeer/router"
    assert issue.field == "spec.peerPort"
    assert issue.message == (
        "Invalid value: 20000: spec.peerPort in body should be less than or equal to 16384"
    )
    assert fake.try_get("BGPPeer", "router", NS) is None
    assert config.current().get().peers == ()
    # The overlap above was rejected too: wait for this rejection's own event, not any.
    wait_until(
        lambda: [r for r in role.of(ConfigRejected) if "spec.peerPort" in r.errors[0]],
        what="the server's refusal as a ConfigRejected event",
    )

    # Someone else changed the object meanwhile: the server's 409 is the edit's answer.
    stale = config.document("IPAddressPool", "wan").get()
    theirs = fake.get("IPAddressPool", "wan", NS)
    theirs["spec"]["autoAssign"] = False
    fake.update(theirs)
    stale["spec"]["avoidBuggyIPs"] = True
    outcome = wait_until(lambda: (o := config.apply_edit(stale).get()) and not o.applied and o)
    assert "Conflict" in outcome.issues[0].message or "modified" in outcome.issues[0].message

    # Deleting goes to the API too.
    assert config.delete("IPAddressPool", "wan").get().applied
    assert fake.try_get("IPAddressPool", "wan", NS) is None
    wait_until(lambda: sorted(config.current().get().pools) == ["lan"])
    # Changes made by others (kubectl apply) arrive through the watch.
    fake.create(pool("later", "198.51.100.0/28"))
    wait_until(lambda: "later" in config.current().get().pools)
    assert role.of(ConfigApplied)


def test_secrets_are_read_for_passwords_but_never_handed_out(fake: FakeKubeApi) -> None:
    fake.create(namespace(NS))
    fake.create(pool("lan", "10.99.0.0/28"))
    fake.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "bgp-pass", "namespace": NS},
            "type": "kubernetes.io/basic-auth",
            "data": {"password": "czNjcmV0"},
        }
    )
    secret_peer = peer("router")
    secret_peer["spec"]["passwordSecret"] = {"name": "bgp-pass", "namespace": NS}
    fake.create({**secret_peer, "metadata": {"name": "router", "namespace": NS}})
    role = start(fake)
    config = role.proxy("config")
    (router,) = config.current().get().peers
    assert router.password_secret is not None
    # The BGP actor resolves it through the watched Secrets.
    assert KubeSecrets(role.kube)(router.password_secret) == "s3cret"
    assert KubeSecrets(lambda: None)(router.password_secret) is None
    assert config.document("Secret", "bgp-pass").get() is None
    assert "s3cret" not in repr(config.current().get())
