"""The read-only status endpoint (actors/observability/status.py) and the console's remote
port reading it.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pykka
import pytest

from actors.config.dump import config_documents
from actors.events import Event, NodeJoined
from actors.observability.status import StatusActor, parse_address
from lbtui.bridge import ActorEvent, SnapshotLoaded
from lbtui.ports.remote import SUMMARIZED_EVENTS, RemotePort, decode_event, decode_snapshot
from lbtui.state import rows as views
from lbtui.state.model import ConsoleState
from lbtui.state.reducer import load_snapshot, reduce_all
from tests.recorder import Inbox
from tests.tui.script import demo_events

ROOT = Path(__file__).resolve().parents[2]
LBTUI = [sys.executable, "-m", "lbtui"]
TOKEN = "s3cret-token"


@pytest.fixture
def served() -> Iterator[tuple[str, list[Event], Any]]:
    """A StatusActor (real HTTP on loopback) that has seen the scripted demo."""
    _, events = demo_events()
    ref = StatusActor.start(address=("127.0.0.1", 0), token=TOKEN)
    proxy = ref.proxy()
    host, port = proxy.bound().get(timeout=5)
    for event in events:
        proxy.on_event(event).get(timeout=5)
    try:
        yield f"http://{host}:{port}", events, proxy
    finally:
        ref.stop()


def get(url: str, token: str | None = TOKEN, method: str = "GET") -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_state_needs_the_token_and_nothing_can_be_changed(served: Any) -> None:
    url, _, _ = served
    assert get(f"{url}/state", token=None)[0] == 401
    assert get(f"{url}/state", token="wrong")[0] == 401
    assert get(f"{url}/nothing")[0] == 404
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert get(f"{url}/state", method=method)[0] == 405
    status, body = get(f"{url}/state")
    assert status == 200
    state = json.loads(body)
    assert state["seq"] == len(state["events"])
    kinds = [d["kind"] for d in state["config"]]
    assert kinds == [
        "IPAddressPool",
        "IPAddressPool",
        "L2Advertisement",
        "BGPAdvertisement",
        "BGPPeer",
    ]
    assert state["allocations"]["default/web"]["ips"] == ["10.99.0.100"]
    assert [v["dead"] for v in state["membership"]] == [["node-1"]]
    owners = {a["ip"]: a["node"] for a in state["announcements"] if a["protocol"] == "layer2"}
    assert owners["10.99.0.100"] == "node-3"


def test_passwords_never_leave_the_runtime() -> None:
    from actors.config.store import ConfigStore

    text = """\
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 10.0.0.1, password: hunter2}
"""
    _, result = ConfigStore.from_text(text).build()
    assert result.config is not None
    docs = config_documents(result.config)
    assert "hunter2" not in json.dumps(docs)
    assert docs[0]["metadata"]["annotations"] == {"lbtui.io/password": "set"}


def test_events_stream_from_a_sequence_number(served: Any) -> None:
    url, events, proxy = served
    request = urllib.request.Request(f"{url}/events?since=3")
    request.add_header("Authorization", f"Bearer {TOKEN}")
    with urllib.request.urlopen(request, timeout=5) as response:
        backlog = [json.loads(response.readline()) for _ in range(len(events) - 3)]
        assert [r["seq"] for r in backlog] == list(range(4, len(events) + 1))
        assert backlog[0]["event"] == events[3].name
        proxy.on_event(NodeJoined(2000.0, "node-1")).get(timeout=5)
        live = json.loads(response.readline())
    assert (live["event"], live["node"], live["seq"]) == ("NodeJoined", "node-1", len(events) + 1)


def test_the_remote_console_shows_what_the_local_one_shows(served: Any) -> None:
    url, events, _ = served
    local = reduce_all(ConsoleState(), events)
    body = json.loads(get(f"{url}/state")[1])
    snapshot, seq = decode_snapshot(body)
    assert seq == len(events)
    remote = load_snapshot(ConsoleState(), snapshot)
    assert views.service_rows(remote) == views.service_rows(local)
    assert views.pool_rows(remote) == views.pool_rows(local)
    assert views.peer_rows(remote) == views.peer_rows(local)
    assert views.node_rows(remote).keys() == views.node_rows(local).keys()
    assert {ip: e.node for ip, e in remote.l2.items()} == {ip: e.node for ip, e in local.l2.items()}
    assert remote.failovers == local.failovers  # replayed from the recent events


def test_decoding_keeps_types_and_drops_what_it_cannot_trust() -> None:
    _, events = demo_events()
    for event in events:
        record = json.loads(json.dumps(event.to_json()))
        decoded = decode_event(record)
        if event.name in SUMMARIZED_EVENTS:
            assert decoded is None  # summarized: the client fetches /state instead
        else:
            assert decoded == event, event.name
    assert decode_event({"event": "NoSuchEvent"}) is None
    assert decode_event({"event": "NodeJoined", "t": 1.0, "node": "a", "extra": 1}) is not None
    assert decode_event({"event": "NodeJoined", "t": 1.0}) is None  # a field missing
    assert {"ConfigApplied", "ClusterUpdated", "AllocationsUpdated"} <= SUMMARIZED_EVENTS


def test_remote_port_follows_the_stream(served: Any) -> None:
    url, events, proxy = served
    port = RemotePort(url, TOKEN, min_interval=0.0, refetch_interval=0.05)
    inbox = Inbox()
    port.start(inbox)
    try:
        inbox.wait(lambda ms: any(isinstance(m, SnapshotLoaded) for m in ms))
        assert port.readonly and not port.can_kill
        assert port.document("IPAddressPool", "lan")["spec"]["addresses"][0] == (
            "10.99.0.100-10.99.0.199"
        )
        proxy.on_event(NodeJoined(2000.0, "node-1")).get(timeout=5)
        inbox.wait(
            lambda ms: any(
                isinstance(m, ActorEvent) and any(e.name == "NodeJoined" for e in m.events)
                for m in ms
            )
        )
        # A summarized state event makes the port fetch /state again.
        before = sum(isinstance(m, SnapshotLoaded) for m in inbox.messages)
        applied = next(e for e in events if e.name == "ConfigApplied")
        proxy.on_event(applied).get(timeout=5)
        inbox.wait(lambda ms: sum(isinstance(m, SnapshotLoaded) for m in ms) > before)
    finally:
        port.stop()


def test_remote_port_reports_a_wrong_token(served: Any) -> None:
    url, _, _ = served
    port = RemotePort(url, "wrong", retry=60)
    inbox = Inbox()
    port.start(inbox)
    try:
        inbox.wait(lambda ms: any(not getattr(m, "ok", True) for m in ms))
        assert "unauthorized" in inbox.messages[-1].text
    finally:
        port.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


HEADLESS = {
    "demo": (["demo", "--headless"], "default/web", ["10.99.0.100"]),
    "speaker": (
        [
            "speaker",
            "--node-name",
            "node-a",
            "--cluster",
            "examples/cluster.yaml",
            "--config",
            "examples/crds/config.yaml",
            "--no-l2",
        ],
        None,
        None,
    ),
}


@pytest.mark.parametrize("role", sorted(HEADLESS))
def test_headless_runtimes_serve_their_state(tmp_path: Path, role: str) -> None:
    command, service, ips = HEADLESS[role]
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    port = free_port()
    proc = subprocess.Popen(
        [
            *LBTUI,
            *command,
            "--duration",
            "20",
            "--status-addr",
            f"127.0.0.1:{port}",
            "--status-token-file",
            str(token_file),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        body = None
        while time.monotonic() < deadline:
            try:
                status, raw = get(f"http://127.0.0.1:{port}/state")
                body = json.loads(raw)
                if status == 200 and body["allocations"] and body["role"]:
                    break  # allocated, and the runtime said it is ready
            except (OSError, ValueError):
                pass
            time.sleep(0.2)
        assert body is not None and body["role"] == role
        assert body["config"] and body["cluster"]["services"]
        if service is not None:
            assert body["allocations"][service]["ips"] == ips
        assert get(f"http://127.0.0.1:{port}/state", token=None)[0] == 401
        snapshot, _ = decode_snapshot(body)
        state = load_snapshot(ConsoleState(), snapshot)
        assert state.config is not None and state.services
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert TOKEN not in err  # the token is never logged


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["demo", "--headless", "--status-addr", "nonsense"], 1, "expected HOST:PORT"),
        (
            ["demo", "--headless", "--status-addr", "127.0.0.1:1", "--status-token-file", "/no"],
            2,
            "/no: cannot read",
        ),
        (["console", "--connect", "ftp://x"], 1, "expected http://HOST:PORT"),
        (
            ["console", "--connect", "http://a:1", "--connect", "b:2"],
            1,
            "--connect b:2: expected http://HOST:PORT",
        ),
        (["demo", "--theme", "neon"], 1, "unknown theme 'neon'"),
        (["console", "--connect", "http://x", "--theme", "neon"], 1, "unknown theme 'neon'"),
    ],
)
def test_bad_console_and_status_options_are_refused(
    args: list[str], code: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from lbtui.cli import main

    assert main(args) == code
    assert message in capsys.readouterr().err


def test_parse_address() -> None:
    assert parse_address("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_address(":9") == ("127.0.0.1", 9)
    assert parse_address("[::1]:9") == ("::1", 9)
    for bad in ("x", "1.2.3.4:", "1.2.3.4:99999"):
        with pytest.raises(ValueError):
            parse_address(bad)


@pytest.fixture(autouse=True)
def _stop_actors() -> Iterator[None]:
    yield
    pykka.ActorRegistry.stop_all()
