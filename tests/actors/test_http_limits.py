"""Every HTTP endpoint is bounded (actors/observability/httpd.py: EndpointServer): a cap on
connections (and so on threads), a deadline for the whole request however slowly it drips,
a size limit (413); and the status endpoint's own limits: bad query values are a 400, a
``since`` beyond the newest event a 410 at once, and a cap on ``/events`` streams. Real HTTP on
loopback.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pykka
import pytest

from actors.events import NodeJoined
from actors.observability.httpd import EndpointServer, QuietHandler
from actors.observability.status import StatusActor, query_number
from lbtui.bridge import ActorEvent, SnapshotLoaded
from lbtui.ports.remote import RemotePort
from tests.recorder import Inbox

HALF = b"GET /state HTTP/1.1\r\nHost: x\r\n"  # no blank line: the request never ends


def start_status(**limits: Any) -> tuple[str, int, Any]:
    ref = StatusActor.start(address=("127.0.0.1", 0), limits=limits)
    proxy = ref.proxy()
    host, port = proxy.bound().get(timeout=5)
    for i in range(3):
        proxy.on_event(NodeJoined(float(i), f"node-{i}")).get(timeout=5)
    return host, port, proxy


def get(host: str, port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def closed_by_server(sock: socket.socket, within: float) -> bool:
    """Whether the server ends ``sock`` (EOF or reset) within ``within`` seconds."""
    sock.settimeout(within)
    try:
        while sock.recv(4096):
            pass  # an error reply before the end is fine
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
    return True


def test_half_sent_requests_leave_threads_bounded_and_real_clients_served() -> None:
    host, port, _ = start_status(max_connections=16, header_timeout=2.0)
    baseline = threading.active_count()
    attackers: list[socket.socket] = []
    most_threads = 0
    try:
        for i in range(520):
            sock = socket.create_connection((host, port), timeout=10)
            sock.sendall(HALF)
            attackers.append(sock)
            if i % 20 == 0:
                most_threads = max(most_threads, threading.active_count())
        most_threads = max(most_threads, threading.active_count())
        # A real client still gets its answer while the attack holds every slot it can.
        status, body = get(host, port, "/state")
        assert status == 200 and json.loads(body)["seq"] == 3
        # Every half-sent request is closed: evicted for a newer one, or at its deadline.
        still_open = [s for s in attackers if not closed_by_server(s, within=8.0)]
        assert still_open == []
    finally:
        for sock in attackers:
            sock.close()
    # a thread per request being handled, none per connection waiting for its request
    assert most_threads <= baseline + 2


def test_a_request_dripping_one_byte_at_a_time_is_dropped_at_its_deadline() -> None:
    host, port, _ = start_status(header_timeout=1.0)
    sock = socket.create_connection((host, port), timeout=5)
    closed = threading.Event()

    def drip() -> None:
        try:
            for byte in HALF * 20:
                if closed.is_set():
                    return
                sock.send(bytes([byte]))
                time.sleep(0.2)  # the pace of the attack, not a measurement
        except OSError:
            closed.set()

    dripper = threading.Thread(target=drip, daemon=True)
    dripper.start()
    try:
        # Each byte comes well within any per-read timeout; the deadline is for the request.
        assert closed_by_server(sock, within=10.0)
    finally:
        closed.set()
        sock.close()
        dripper.join(5)


def test_an_oversized_request_is_a_413() -> None:
    host, port, _ = start_status(max_body=1024)
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(b"POST /state HTTP/1.1\r\nHost: x\r\nContent-Length: 9999999\r\n\r\n")
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 413 ")
    assert b"at most 1024 bytes" in reply
    # and the endpoint still answers
    assert get(host, port, "/state")[0] == 200


def recv_until(sock: socket.socket, end: bytes) -> bytes:
    reply = b""
    while not reply.endswith(end) and (chunk := sock.recv(4096)):
        reply += chunk
    return reply


class _Echo(QuietHandler):
    protocol_version = "HTTP/1.1"
    release = threading.Event()

    def do_GET(self) -> None:  # holds its connection (and the only slot) until released
        self.release.wait(10)
        self.reply(200, b"released")

    def do_POST(self) -> None:
        self.reply(200, self.read_body(int(self.headers["Content-Length"])))


def test_the_deadline_follows_a_clock_that_moves() -> None:
    now = [100.0]
    server = EndpointServer(
        ("127.0.0.1", 0), _Echo, label="test", header_timeout=5.0, clock=lambda: now[0]
    )
    try:
        with socket.create_connection(server.bound(), timeout=5) as sock:
            server.serve_once(5.0)  # accepted: 5 s from now to send its request
            assert server.connections() == 1
            now[0] += 4.9
            assert server.reap() == 0
            sock.sendall(b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi")
            assert_eventually(lambda: server.serve_once(0.05) or server.waiting() == 0)
            now[0] += 100  # the request is in: no deadline while it is handled
            assert server.reap() == 0
            # answered, kept alive, back in the loop: idle, kept longer than a Go client keeps
            # it (90 s), so the client is the one to close it
            assert_eventually(lambda: server.serve_once(0.05) or server.waiting() == 1)
            now[0] += 100
            assert server.reap() == 0
            # the first byte of the next request starts its 5 s
            sock.sendall(b"POST / HTTP/1.1\r\n")
            server.serve_once(5.0)  # read at once: loopback
            now[0] += 4.9
            assert server.reap() == 0
            now[0] += 0.1
            assert server.reap() == 1
            assert recv_until(sock, b"\0").endswith(b"hi")  # then the end
            assert server.timed_out == 1 and server.connections() == 0
    finally:
        server.server_close()


def test_an_idle_kept_alive_connection_is_closed_after_the_idle_timeout() -> None:
    now = [100.0]
    server = EndpointServer(
        ("127.0.0.1", 0),
        _Echo,
        label="test",
        header_timeout=5.0,
        idle_timeout=120.0,
        clock=lambda: now[0],
    )
    try:
        with socket.create_connection(server.bound(), timeout=5) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi")
            assert_eventually(lambda: server.serve_once(0.05) or server.waiting() == 1)
            assert recv_until(sock, b"hi").endswith(b"hi")
            now[0] += 119.9
            assert server.reap() == 0
            now[0] += 0.1
            assert server.reap() == 1
            assert closed_by_server(sock, within=5.0)
    finally:
        server.server_close()


def test_a_post_on_a_connection_idle_past_the_request_deadline_is_answered() -> None:
    """The API server reuses an idle connection for its next webhook call; a server closing it
    after the request deadline raced that call and the POST met a reset (Go does not retry a
    POST). Real time: idle for three request deadlines, then a POST on the same connection."""
    server = EndpointServer(("127.0.0.1", 0), _Echo, label="test", header_timeout=0.3)
    server.serve_in_thread("test-idle", poll_interval=0.05)
    try:
        with socket.create_connection(server.bound(), timeout=5) as sock:
            for body in (b"one", b"two"):
                sock.sendall(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n" + body)
                assert recv_until(sock, body).endswith(body)
                time.sleep(1.0)  # idle for longer than the request deadline
        assert server.timed_out == 0
    finally:
        server.close()


def assert_eventually(done: Any, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not done():
        assert time.monotonic() < deadline, "never happened"


def test_a_real_client_is_served_while_another_source_holds_every_connection() -> None:
    """The slow-client attack: one source opens far more half-sent requests than there are
    connections; the server makes room from that source's own, so a real client's half-sent
    request (from another address) survives the flood and is answered when it completes.
    No connection waiting for its request holds a thread."""
    server = EndpointServer(
        ("127.0.0.1", 0), _Echo, label="test", max_connections=8, header_timeout=3.0
    )
    server.serve_in_thread("test-echo", poll_interval=0.05)
    host, port = server.bound()
    baseline = threading.active_count()
    real = socket.create_connection((host, port), timeout=10, source_address=("127.0.0.2", 0))
    attackers: list[socket.socket] = []
    try:
        real.sendall(b"POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\n")
        for _ in range(200):
            sock = socket.create_connection((host, port), timeout=10)
            sock.sendall(HALF)
            attackers.append(sock)
            assert server.connections() <= 8
        assert threading.active_count() == baseline  # 8 connections, no thread
        real.sendall(b"real")
        assert recv_until(real, b"real").endswith(b"real")
        # Every attacking connection is closed: evicted by a newer one, or at its deadline.
        assert [s for s in attackers if not closed_by_server(s, within=8.0)] == []
        assert server.evicted >= 200 - 8 and server.timed_out >= 1
        assert server.connections() <= 1  # the real client's, kept alive
    finally:
        real.close()
        for sock in attackers:
            sock.close()
        server.close()


def test_kept_alive_requests_with_bodies_are_served_and_the_cap_refuses_when_all_are_busy() -> None:
    server = EndpointServer(("127.0.0.1", 0), _Echo, label="test", max_connections=1)
    server.serve_in_thread("test-echo", poll_interval=0.05)
    host, port = server.bound()
    try:
        with socket.create_connection((host, port), timeout=5) as sock:
            for body in (b"one", b"two"):
                sock.sendall(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n" + body)
                reply = recv_until(sock, body)
                assert reply.startswith(b"HTTP/1.1 200 ") and reply.endswith(body)
            # The only slot is busy with a request being handled: nothing to evict.
            sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
            time.sleep(0.2)  # let the request reach its handler
            with socket.create_connection((host, port), timeout=5) as other:
                other.sendall(b"GET / HTTP/1.1\r\n\r\n")
                assert closed_by_server(other, within=5.0)
                assert server.refused == 1
            _Echo.release.set()
            assert recv_until(sock, b"released").endswith(b"released")
    finally:
        server.close()


def test_event_streams_are_capped() -> None:
    host, port, _ = start_status(max_streams=2)
    streams = [
        urllib.request.urlopen(f"http://{host}:{port}/events?since=0", timeout=5) for _ in range(2)
    ]
    try:
        for stream in streams:
            assert json.loads(stream.readline())["seq"] == 1
        status, body = get(host, port, "/events")
        assert status == 503 and b"too many event streams" in body
        assert get(host, port, "/state")[0] == 200  # everything else still answers
    finally:
        for stream in streams:
            stream.close()


@pytest.mark.parametrize(
    "path",
    [
        "/history?limit=" + "9" * 5000,
        "/history?since=-1",
        "/history?limit=%C2%B2",  # a superscript two: a digit to str.isdigit, not to int()
        "/history?limit=1e3",
        "/events?since=abc",
        "/events?since=" + "1" * 5000,
    ],
)
def test_bad_query_values_are_a_short_400(path: str) -> None:
    host, port, _ = start_status()
    status, body = get(host, port, path)
    assert status == 400
    error = json.loads(body)["error"]
    assert len(error) < 80 and "Traceback" not in error and "int()" not in error


def test_query_numbers() -> None:
    assert query_number({}, "limit", None) is None
    assert query_number({"limit": ["25"]}, "limit", None) == 25
    assert query_number({"since": [""]}, "since", 0) == 0
    with pytest.raises(ValueError, match="at most 9 digits"):
        query_number({"limit": ["1" * 10]}, "limit", None)


def test_since_beyond_the_newest_event_is_a_410_at_once() -> None:
    host, port, _ = start_status()
    status, body = get(host, port, "/events?since=99")
    assert status == 410
    assert json.loads(body)["seq"] == 3


def test_the_remote_port_refetches_when_its_resume_point_is_gone() -> None:
    """A runtime that restarted between /state and /events: the port asks /state again at
    once (no error shown, no retry pause) and follows the new stream."""
    host, port, proxy = start_status()
    remote = RemotePort(f"http://{host}:{port}", retry=60.0)
    real_fetch = remote.fetch_state
    calls = []

    def fetch_ahead() -> dict[str, Any]:
        body = real_fetch()
        calls.append(body["seq"])
        if len(calls) == 1:
            body["seq"] = 99  # the snapshot of the runtime before it restarted
        return body

    remote.fetch_state = fetch_ahead  # type: ignore[method-assign]
    inbox = Inbox()
    remote.start(inbox)
    try:
        inbox.wait(lambda ms: any(isinstance(m, SnapshotLoaded) for m in ms) and len(calls) >= 2)
        proxy.on_event(NodeJoined(9.0, "node-9")).get(timeout=5)
        inbox.wait(
            lambda ms: any(
                isinstance(m, ActorEvent) and any(e.node == "node-9" for e in m.events) for m in ms
            )
        )
    finally:
        remote.stop()


@pytest.fixture(autouse=True)
def _stop_actors() -> Iterator[None]:
    yield
    pykka.ActorRegistry.stop_all()


@pytest.fixture
def echo() -> Iterator[EndpointServer]:
    server = EndpointServer(("127.0.0.1", 0), _Echo, label="test", header_timeout=3.0)
    server.serve_in_thread("test-echo", poll_interval=0.05)
    yield server
    server.close()


def test_pipelined_requests_are_each_answered(echo: EndpointServer) -> None:
    with socket.create_connection(echo.bound(), timeout=5) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\none"
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\ntwo"
        )
        reply = recv_until(sock, b"two")
    assert reply.count(b"HTTP/1.1 200 ") == 2 and b"one" in reply and reply.endswith(b"two")


def test_a_body_sent_after_100_continue_is_read(echo: EndpointServer) -> None:
    with socket.create_connection(echo.bound(), timeout=5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        assert recv_until(sock, b"\r\n\r\n").startswith(b"HTTP/1.1 100 ")
        sock.sendall(b"body")
        reply = recv_until(sock, b"body")
    assert reply.startswith(b"HTTP/1.1 200 ") and reply.endswith(b"body")


def test_a_kept_alive_connection_holds_no_thread_between_requests(echo: EndpointServer) -> None:
    baseline = threading.active_count()
    with socket.create_connection(echo.bound(), timeout=5) as sock:
        for body in (b"one", b"two"):
            sock.sendall(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n" + body)
            assert recv_until(sock, body).endswith(body)
            assert_eventually(lambda: echo.waiting() == 1)  # back in the loop
            assert_eventually(lambda: threading.active_count() == baseline)  # its thread gone


def test_tls_handshakes_happen_in_the_loop_under_the_request_deadline() -> None:
    """A client that connects and never says hello (or stops half way) holds no thread and
    is closed at its deadline; a real TLS client is served meanwhile."""
    import ssl

    from actors.observability.httpd import server_tls_context
    from actors.observability.secure_metrics import _pem_paths, self_signed_pems

    cert, key = self_signed_pems("localhost")
    context = server_tls_context()
    with _pem_paths(cert, key) as (cert_path, key_path):
        context.load_cert_chain(cert_path, key_path)
    server = EndpointServer(
        ("127.0.0.1", 0), _Echo, label="test", tls_context=lambda: context, header_timeout=2.0
    )
    server.serve_in_thread("test-tls", poll_interval=0.05)
    baseline = threading.active_count()
    silent = socket.create_connection(server.bound(), timeout=5)
    half = socket.create_connection(server.bound(), timeout=5)
    try:
        half.sendall(b"\x16\x03\x01\x02\x00\x01")  # the start of a ClientHello, no more
        client = ssl.create_default_context()
        client.check_hostname = False
        client.verify_mode = ssl.CERT_NONE
        with (
            socket.create_connection(server.bound(), timeout=5) as raw,
            client.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            tls.sendall(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")
            assert recv_until(tls, b"hello").startswith(b"HTTP/1.1 200 ")
        assert_eventually(lambda: threading.active_count() == baseline)  # none for the two
        assert closed_by_server(silent, within=8.0) and closed_by_server(half, within=8.0)
        assert server.timed_out == 2
    finally:
        silent.close()
        half.close()
        server.close()


def test_a_request_from_a_client_that_stopped_sending_is_answered() -> None:
    """``printf 'GET ...' | nc``: the request, then the client's half of the connection
    closed (both in before the server reads); the answer still comes."""
    server = EndpointServer(("127.0.0.1", 0), _Echo, label="test")
    try:
        with socket.create_connection(server.bound(), timeout=5) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nbye")
            sock.shutdown(socket.SHUT_WR)
            server.serve_in_thread("test-echo", poll_interval=0.05)
            reply = recv_until(sock, b"\0")  # to the end
    finally:
        server.close()
    assert reply.startswith(b"HTTP/1.1 200 ") and reply.endswith(b"bye")
