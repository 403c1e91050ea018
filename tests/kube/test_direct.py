"""The controller's per-Service writes over http.client (actors/kube/direct.py), against the
fake API: answers and refusals as the REST layer gives them, a kept-alive connection the
server closed is reopened, and configurations it cannot honour are left to the REST layer."""

from __future__ import annotations

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from actors.kube.api import api_error
from actors.kube.direct import DirectWriter, direct_writer
from tests.kube.fakeapi import FakeKubeApi
from tests.kube.harness import kube_cluster, namespace, service

STATUS = {"status": {"loadBalancer": {"ingress": [{"ip": "10.9.0.1"}]}}}


def test_writes_answer_and_refuse_as_the_rest_layer_does(fake: FakeKubeApi) -> None:
    fake.create(namespace("default"))
    fake.create(service("web"))
    api = kube_cluster(fake, ()).api
    assert isinstance(api._writer, DirectWriter)
    written = api.patch_service_status("default", "web", STATUS)
    assert written["status"]["loadBalancer"]["ingress"] == [{"ip": "10.9.0.1"}]
    assert fake.get("Service", "web", "default")["status"] == STATUS["status"]
    with pytest.raises(ApiException) as missing:
        api.patch_service_status("default", "nope", STATUS)
    status, body = api_error(missing.value)
    assert status == 404 and body["reason"] == "NotFound"
    method, path, content_type = fake.store.requests[-1]
    assert (method, content_type) == ("PATCH", "application/strategic-merge-patch+json")
    assert path == "/api/v1/namespaces/default/services/nope/status"


def test_a_connection_the_server_closed_is_opened_again(fake: FakeKubeApi) -> None:
    fake.create(namespace("default"))
    fake.create(service("web"))
    api = kube_cluster(fake, ()).api
    api.patch_service_status("default", "web", STATUS)
    fake.down()  # every kept-alive connection is cut
    fake.up()
    again = {"status": {"loadBalancer": {"ingress": [{"ip": "10.9.0.2"}]}}}
    assert api.patch_service_status("default", "web", again)["status"] == again["status"]


def configuration(**settings: object) -> client.Configuration:
    c = client.Configuration()
    c.host = "https://127.0.0.1:6443"
    for key, value in settings.items():
        setattr(c, key, value)
    return c


@pytest.mark.parametrize(
    "settings",
    [
        {"proxy": "http://proxy:3128"},
        {"tls_server_name": "kubernetes.default"},
        {"assert_hostname": "kubernetes.default"},
        {"host": "https://127.0.0.1:6443/prefix"},
    ],
)
def test_what_http_client_does_not_do_the_same_is_left_to_the_rest_layer(
    settings: dict[str, object],
) -> None:
    assert direct_writer(configuration(**settings), 5.0) is None


def test_tls_settings_are_the_configurations() -> None:
    verified = direct_writer(configuration(), 5.0)
    assert verified is not None and verified.tls is not None
    assert verified.tls.check_hostname and (verified.host, verified.port) == ("127.0.0.1", 6443)
    unverified = direct_writer(configuration(verify_ssl=False), 5.0)
    assert unverified is not None and unverified.tls is not None
    assert not unverified.tls.check_hostname
