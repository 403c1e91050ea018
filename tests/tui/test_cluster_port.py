"""Several speakers' status endpoints merged into one cluster view (lbtui/ports/cluster.py and
the pure lbtui/ports/merge.py): real HTTP on loopback, one StatusActor per speaker, one of
which goes away.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pykka
import pytest

from actors.events import (
    AllocationsUpdated,
    AnnouncementStarted,
    BfdSessionChanged,
    ClusterUpdated,
    ConfigApplied,
    FailoverMeasured,
    IpAssigned,
    MembershipUpdated,
    NodeJoined,
    PeerSessionChanged,
)
from actors.observability.status import StatusActor
from lbtui.bridge import ActorEvent, PortStatus, SnapshotLoaded
from lbtui.ports.base import ReadOnlyPort
from lbtui.ports.cluster import ClusterPort
from lbtui.ports.merge import EventMerger
from lbtui.state import rows as views
from lbtui.state.model import ConsoleState
from lbtui.state.reducer import load_snapshot, reduce_all
from tests.recorder import Inbox
from tests.tui.script import demo_events

TOKEN = "s3cret-token"
VIP = "10.99.0.100"
NODES = ("node-1", "node-2", "node-3")


# -- the merger (pure) ---------------------------------------------------------------------------


def test_the_same_news_from_another_speaker_is_told_once() -> None:
    merger = EventMerger(window=5.0)
    assigned = IpAssigned(10.0, "default/web", (VIP,), "lan")
    assert merger.admit("a", [assigned]) == [assigned]
    assert merger.admit("b", [IpAssigned(10.2, "default/web", (VIP,), "lan")]) == []
    assert merger.echoes == 1
    # A speaker repeating itself is news each time; so is the same news much later.
    assert merger.admit("a", [IpAssigned(11.0, "default/web", (VIP,), "lan")])
    late = IpAssigned(30.0, "default/web", (VIP,), "lan")
    assert merger.admit("b", [late]) == [late]


def test_what_a_speaker_says_of_itself_is_never_an_echo() -> None:
    merger = EventMerger()
    own = [
        AnnouncementStarted(1.0, node, VIP, "layer2", "elected")  # type: ignore[arg-type]
        for node in NODES
    ]
    views_ = [MembershipUpdated(1.0, node, frozenset(NODES), frozenset()) for node in NODES]
    out = [e for i, node in enumerate(NODES) for e in merger.admit(node, [own[i], views_[i]])]
    assert out == [e for pair in zip(own, views_, strict=True) for e in pair]


# -- the port on three speakers ------------------------------------------------------------------


@pytest.fixture
def speakers() -> Iterator[dict[str, Any]]:
    """Three status endpoints that have seen the same configuration, cluster and allocation
    (as speakers from the same files do), each announcing only what it announces itself."""
    _, events = demo_events()
    shared = [
        e
        for e in events
        if isinstance(e, ConfigApplied | ClusterUpdated | AllocationsUpdated | IpAssigned)
    ]
    served: dict[str, Any] = {}
    try:
        for node in NODES:
            ref = StatusActor.start(address=("127.0.0.1", 0), token=TOKEN)
            proxy = ref.proxy()
            host, port = proxy.bound().get(timeout=5)
            for event in shared:
                proxy.on_event(event).get(timeout=5)
            proxy.on_event(MembershipUpdated(1000.0, node, frozenset(NODES), frozenset())).get(
                timeout=5
            )
            served[node] = (ref, proxy, f"http://{host}:{port}")
        served["node-1"][1].on_event(
            AnnouncementStarted(
                1000.0, "node-1", VIP, "layer2", "elected", services=("default/web",)
            )  # type: ignore[arg-type]
        ).get(timeout=5)
        served["node-1"][1].on_event(
            PeerSessionChanged(1000.0, "node-1", "router", "Established", "peer 10.99.0.1")
        ).get(timeout=5)
        served["node-1"][1].on_event(BfdSessionChanged(1000.0, "node-1", "router", "up", "")).get(
            timeout=5
        )
        yield served
    finally:
        pykka.ActorRegistry.stop_all()


def state_of(messages: list[Any]) -> ConsoleState:
    state = ConsoleState()
    for message in list(messages):
        if isinstance(message, SnapshotLoaded):
            state = load_snapshot(state, message.snapshot)
        elif isinstance(message, ActorEvent):
            state = reduce_all(state, message.events)
    return state


def owners(messages: list[Any]) -> set[str]:
    entry = state_of(messages).l2.get(VIP)
    return set(entry.announcers) if entry is not None and entry.announcers else set()


def test_the_cluster_is_every_speakers_view_merged_and_a_lost_one_withdrawn(
    speakers: dict[str, Any],
) -> None:
    port = ClusterPort(
        [speakers[n][2] for n in NODES],
        TOKEN,
        min_interval=0.0,
        refetch_interval=0.05,
        backoff_initial=0.1,
        backoff_max=0.2,
    )
    inbox = Inbox()
    port.start(inbox)
    try:
        assert port.readonly and not port.can_kill
        with pytest.raises(ReadOnlyPort):
            port.delete("IPAddressPool", "lan")
        inbox.wait(lambda ms: owners(ms) == {"node-1"})
        inbox.wait(lambda ms: any(m.text.startswith("speakers: 3/3") for m in statuses(ms)))
        state = state_of(inbox.messages)
        # Every speaker's own view of membership; the shared state from one of them.
        assert {"node-1", "node-2", "node-3"} <= set(state.views)
        assert views.service_rows(state)
        assert port.document("IPAddressPool", "lan") is not None
        # The news every speaker told alike is told once.
        assigned = [
            e
            for m in inbox.messages
            if isinstance(m, ActorEvent)
            for e in m.events
            if isinstance(e, IpAssigned) and e.service == "default/web"
        ]
        assert len(assigned) == 1, assigned

        # node-1 dies: its stream breaks, what it announced is withdrawn, node-3 takes over
        # and measures the failover; the console says so whichever node died.
        assert state.sessions[("node-1", "router")].state == "Established"
        assert state.sessions[("node-1", "router")].bfd == "up"
        speakers["node-1"][0].stop()
        inbox.wait(lambda ms: owners(ms) == set())
        # Nobody can say how its BGP session is: not "Established" any more.
        session = state_of(inbox.messages).sessions[("node-1", "router")]
        assert session.state == "Unknown" and session.bfd == ""
        assert session.reason.startswith(f"{port_label(speakers['node-1'][2])} unreachable: ")
        took = speakers["node-3"][1]
        took.on_event(
            AnnouncementStarted(
                1005.0, "node-3", VIP, "layer2", "failover from node-1", services=("default/web",)
            )  # type: ignore[arg-type]
        ).get(timeout=5)
        took.on_event(
            FailoverMeasured(1005.0, "node-3", VIP, "layer2", "node-1", 0.42, "dead")  # type: ignore[arg-type]
        ).get(timeout=5)
        inbox.wait(lambda ms: owners(ms) == {"node-3"})
        inbox.wait(lambda ms: any(f.measured for f in state_of(ms).failovers))
        failover = state_of(inbox.messages).failovers[-1]
        assert (failover.from_node, failover.to_node, failover.seconds) == (
            "node-1",
            "node-3",
            0.42,
        )
        inbox.wait(lambda ms: "lost" in statuses(ms)[-1].text and not statuses(ms)[-1].ok)
        assert "speakers: 2/3 streaming" in statuses(inbox.messages)[-1].text

        # A state change on a speaker that lives is read from it.
        speakers["node-2"][1].on_event(NodeJoined(1006.0, "node-4", observer="node-2")).get(
            timeout=5
        )
        inbox.wait(lambda ms: any(e.name == "NodeJoined" for e in events_of(ms)))
    finally:
        port.stop()


def test_no_speaker_answering_is_said_and_nothing_crashes() -> None:
    port = ClusterPort(["http://127.0.0.1:9", "http://127.0.0.1:1"], retry=60)
    inbox = Inbox()
    port.start(inbox)
    try:
        inbox.wait(lambda ms: statuses(ms))
        status = statuses(inbox.messages)[-1]
        assert not status.ok
        assert status.text.startswith("no speaker answers: 127.0.0.1:9: ")
        assert "connection refused" in status.text
    finally:
        port.stop()


def port_label(url: str) -> str:
    return url.removeprefix("http://")


def statuses(messages: list[Any]) -> list[PortStatus]:
    return [m for m in list(messages) if isinstance(m, PortStatus)]


def events_of(messages: list[Any]) -> list[Any]:
    return [e for m in list(messages) if isinstance(m, ActorEvent) for e in m.events]


def test_two_real_speakers_merged_and_one_killed(tmp_path: Any) -> None:
    """Two ``lbtui speaker`` processes from the same files, each announcing what it owns:
    the cluster view has both; the one killed has its announcements withdrawn, the other's
    stay."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from tests.tui.test_status import free_port

    root = Path(__file__).resolve().parents[2]
    procs: dict[str, subprocess.Popen[bytes]] = {}
    urls: dict[str, str] = {}
    for node in ("node-a", "node-b"):
        port = free_port()
        urls[node] = f"http://127.0.0.1:{port}"
        procs[node] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lbtui",
                "speaker",
                "--node-name",
                node,
                "--cluster",
                "examples/cluster.yaml",
                "--config",
                "examples/crds/config.yaml",
                "--no-l2",
                "--duration",
                "60",
                "--status-addr",
                f"127.0.0.1:{port}",
            ],
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    port = ClusterPort(list(urls.values()), retry=0.2, min_interval=0.0, backoff_initial=0.1)
    inbox = Inbox()

    def announcers(messages: list[Any]) -> dict[str, set[str]]:
        state = state_of(messages)
        return {ip: set(e.announcers or ()) for ip, e in state.l2.items()}

    try:
        port.start(inbox)
        inbox.wait(
            lambda ms: (
                {"node-a"} in announcers(ms).values() and {"node-b"} in announcers(ms).values()
            ),
            timeout=30,
        )
        before = announcers(inbox.messages)
        mine = {ip for ip, nodes in before.items() if nodes == {"node-a"}}
        theirs = {ip for ip, nodes in before.items() if nodes == {"node-b"}}
        assert mine and theirs and not mine & theirs
        # Every address one announcement, and the news both tell (assignments) told once.
        assigned = [e for e in events_of(inbox.messages) if isinstance(e, IpAssigned)]
        assert assigned and len(assigned) == len({e.service for e in assigned})
        procs["node-a"].send_signal(signal.SIGKILL)
        inbox.wait(lambda ms: all(not announcers(ms).get(ip) for ip in mine), timeout=20)
        after = announcers(inbox.messages)
        assert all(after[ip] == {"node-b"} for ip in theirs)
        assert "speakers: 1/2 streaming" in statuses(inbox.messages)[-1].text
    finally:
        port.stop()
        for proc in procs.values():
            proc.kill()
            proc.wait(10)


def test_a_speaker_answering_nonsense_is_said_and_the_others_followed(
    speakers: dict[str, Any],
) -> None:
    """Bad input never crashes anything: an endpoint whose /state is not what a status
    endpoint says (here: usage without its numbers) is reported, the real speakers shown."""
    import http.server
    import json
    import threading

    class Nonsense(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"now": 1.0, "allocations": {}, "usage": {"x": {}}}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Nonsense)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    bad = f"http://127.0.0.1:{server.server_address[1]}"
    port = ClusterPort(
        [bad, speakers["node-1"][2]], TOKEN, retry=0.1, min_interval=0.0, backoff_initial=0.1
    )
    inbox = Inbox()
    port.start(inbox)
    try:
        inbox.wait(lambda ms: owners(ms) == {"node-1"})
        assert any(isinstance(m, SnapshotLoaded) for m in inbox.messages)
        inbox.wait(lambda ms: any("1/2 streaming" in s.text for s in statuses(ms)))
    finally:
        port.stop()
        server.shutdown()
