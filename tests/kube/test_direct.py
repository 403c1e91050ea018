"""The controller's per-Service writes (actors/kube/direct.py), against the fake API: answers
and refusals as the REST layer gives them, a kept-alive connection the server closed is
reopened, and configurations it cannot honour are left to the REST layer; against a server of
canned answers: every framing of an answer is read whole, a header that would split the
request is refused, an answer cut short fails and the next call reconnects."""

from __future__ import annotations

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from actors.kube import direct
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


class CannedServer:
    """A plain TCP server answering each request with the next canned answer (bytes), and
    closing the connection after an answer marked so; records each request's head."""

    def __init__(self, answers: list[tuple[bytes, bool]]) -> None:
        import socket
        import threading

        self.answers = list(answers)
        self.heads: list[bytes] = []
        self.connections = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while self.answers:
            conn, _ = self.sock.accept()
            self.connections += 1
            reader = conn.makefile("rb")
            while self.answers:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = reader.readline()
                    if not line:
                        break
                    head += line
                if not head:
                    break
                self.heads.append(head)
                length = [
                    int(h.split(b":")[1])
                    for h in head.split(b"\r\n")
                    if h.lower().startswith(b"content-length:")
                ]
                reader.read(length[0] if length else 0)
                answer, close = self.answers.pop(0)
                conn.sendall(answer)
                if close:
                    break
            reader.close()
            conn.close()


def test_answers_are_read_whole_however_they_are_framed() -> None:
    """Content-Length, chunked (with an extension and a trailer), a 100 Continue before the
    answer, and an HTTP/1.0 answer read until the server closes; the Host header as
    http.client writes it; a refusal raised as the REST layer's ApiException."""
    body = b'{"kind": "Service", "metadata": {"name": "web"}}'
    server = CannedServer(
        [
            (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body), False),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"10;x=y\r\n"
                + body[:16]
                + b"\r\n"
                + b"%x\r\n" % (len(body) - 16)
                + body[16:]
                + b"\r\n0\r\nX-Trailer: 1\r\n\r\n",
                False,
            ),
            (
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
                False,
            ),
            (b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + body, True),
            (
                b"HTTP/1.1 409 Conflict\r\nAudit-Id: a1\r\nContent-Length: 17\r\n\r\n"
                b'{"reason": "Oh"}\n',
                False,
            ),
        ]
    )
    writer = DirectWriter("http", "127.0.0.1", server.port, None, 5.0)
    headers = {"Authorization": "Bearer t", "Accept": "application/json"}
    assert writer.request("PATCH", "/a", {"x": 1}, headers) == {
        "kind": "Service",
        "metadata": {"name": "web"},
    }
    assert writer.request("GET", "/b", None, headers)["metadata"]["name"] == "web"
    assert writer.request("POST", "/c", {}, headers) is None
    assert writer.request("GET", "/d", None, headers)["kind"] == "Service"  # then closed
    with pytest.raises(ApiException) as refused:
        writer.request("PUT", "/e", {}, headers)
    assert refused.value.status == 409 and refused.value.headers["Audit-Id"] == "a1"
    assert api_error(refused.value) == (409, {"reason": "Oh"})
    assert server.connections == 2  # kept alive until the HTTP/1.0 answer
    first = server.heads[0].decode().split("\r\n")
    assert first[0] == "PATCH /a HTTP/1.1"
    assert f"Host: 127.0.0.1:{server.port}" in first and "Content-Length: 8" in first


def test_a_header_that_would_split_the_request_is_refused() -> None:
    server = CannedServer([(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", False)])
    writer = DirectWriter("http", "127.0.0.1", server.port, None, 5.0)
    with pytest.raises(ValueError):
        writer.request("GET", "/a", None, {"Authorization": "Bearer t\r\nX-Evil: 1"})
    assert writer.request("GET", "/a", None, {}) is None  # a fresh connection
    assert server.heads == [server.heads[0]] and b"X-Evil" not in server.heads[0]


def test_an_answer_cut_short_fails_and_the_next_call_reconnects() -> None:
    server = CannedServer(
        [
            (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}", True),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", False),
        ]
    )
    writer = DirectWriter("http", "127.0.0.1", server.port, None, 5.0)
    with pytest.raises(ConnectionError):
        writer.request("GET", "/a", None, {})
    assert writer.request("GET", "/a", None, {}) == {}
    assert server.connections == 2


def test_an_answer_larger_than_the_bound_is_refused_unread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever its framing, an answer over MAX_ANSWER fails the call (never a buffer grown
    without bound), and the next call reconnects."""
    monkeypatch.setattr(direct, "MAX_ANSWER", 64)
    big = b"x" * 65
    server = CannedServer(
        [
            (b"HTTP/1.1 200 OK\r\nContent-Length: 65\r\n\r\n" + big, True),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n" + big, True),
            (b"HTTP/1.0 200 OK\r\n\r\n" + big, True),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", False),
        ]
    )
    writer = DirectWriter("http", "127.0.0.1", server.port, None, 5.0)
    for _ in range(3):
        with pytest.raises(ConnectionError, match="64"):
            writer.request("GET", "/a", None, {})
    assert writer.request("GET", "/a", None, {}) == {}
    assert server.connections == 4
