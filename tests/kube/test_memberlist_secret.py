"""``lbtui controller --ml-secret-name``: the speakers' memberlist key Secret, as MetalLB's
controller creates it (once, owned by the controller Deployment), against the fake API."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from actors.clock import ManualClock
from actors.kube.resources import CONTROLLER_RESOURCES
from actors.membership.keyring import MEMBERLIST_SECRET_KEY, Keyring, memberlist_key
from actors.roles.controller import controller_specs
from tests.kube.fakeapi import FakeKubeApi
from tests.kube.harness import NS, Role, kube_cluster, namespace, wait_until


def start_controller(fake: FakeKubeApi, **kw: object) -> Role:
    kube = kube_cluster(fake, CONTROLLER_RESOURCES)
    specs = controller_specs(kube, ml_secret_name="memberlist", **kw)  # type: ignore[arg-type]
    return Role("controller", specs, kube, ManualClock())


def deployment(name: str = "controller") -> dict[str, object]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"selector": {"matchLabels": {"app": "metallb"}}},
    }


def secret_creations(fake: FakeKubeApi) -> int:
    return sum(1 for m, p, _ in fake.store.requests if m == "POST" and p.endswith("/secrets"))


def test_the_controller_creates_the_secret_once_and_a_speaker_can_use_it(
    fake: FakeKubeApi, tmp_path: Path
) -> None:
    fake.create(namespace(NS))
    owner = fake.create(deployment())
    first = start_controller(fake)
    secret = wait_until(lambda: fake.try_get("Secret", "memberlist", NS))
    value = base64.b64decode(secret["data"][MEMBERLIST_SECRET_KEY])
    assert re.fullmatch(rb"[A-Za-z0-9+/]{22}", value)  # 16 bytes, base64 without padding
    assert secret["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "controller",
            "uid": owner["metadata"]["uid"],
        }
    ]
    assert secret_creations(fake) == 1
    first.stop()
    # A restarted controller leaves the existing Secret (and so every speaker's key) alone.
    second = start_controller(fake)
    wait_until(lambda: second.proxy("mlsecret").outcome.get() == "existed")
    assert secret_creations(fake) == 1
    assert fake.get("Secret", "memberlist", NS)["data"] == secret["data"]
    second.stop()
    # Mounted as kubelet mounts it (the decoded data), the speaker derives the key from it.
    mounted = tmp_path / "ml_secret_key"
    mounted.mkdir()
    (mounted / MEMBERLIST_SECRET_KEY).write_bytes(value)
    assert Keyring.from_secret_dir(mounted).primary == memberlist_key(value)


def test_without_a_deployment_the_secret_has_no_owner_and_an_outage_is_retried(
    fake: FakeKubeApi,
) -> None:
    fake.create(namespace(NS))
    fake.fail("POST", "/secrets", code=500, times=1)
    clock = ManualClock()
    kube = kube_cluster(fake, CONTROLLER_RESOURCES)
    role = Role("controller", controller_specs(kube, ml_secret_name="memberlist"), kube, clock)  # type: ignore[arg-type]
    wait_until(lambda: secret_creations(fake) == 1)
    assert fake.try_get("Secret", "memberlist", NS) is None
    clock.advance(0.5)  # the retry's backoff
    secret = wait_until(lambda: fake.try_get("Secret", "memberlist", NS))
    assert "ownerReferences" not in secret["metadata"]
    role.stop()
