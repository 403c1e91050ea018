"""``lbtui console --kubeconfig`` follows the speakers' event streams through the API server's
pod proxy: the fake API (tests/kube/fakeapi.py) forwards ``pods/NAME:PORT/proxy/...`` to the
pod's IP, here 127.0.0.1 and a real status endpoint
(actors/observability/status.py) per speaker pod.

Each speaker is a StatusActor serving HTTP on loopback that is told the events a speaker
publishes (membership views, announcements, failovers); the console reads them through the
official client, the fake API's proxy and that server, exactly as it would on a cluster.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from textual.message import Message

from actors.clock import RealClock, ThreadScheduler
from actors.events import (
    AnnouncementStarted,
    AnnouncementStopped,
    Event,
    MembershipUpdated,
    NodeJoined,
    ServiceEventObserved,
    SpeakerStreamChanged,
)
from actors.kube.resources import CONSOLE_RESOURCES
from actors.observability.status import StatusActor
from actors.roles.console import kube_console_specs
from actors.runtime import Runtime
from lbtui.app import ConsoleApp
from lbtui.bridge import ActorEvent, PortStatus
from lbtui.ports.kube.api import ProxyClient, SpeakerUnreachable, WatchTiming
from lbtui.ports.kube.port import KubePort
from lbtui.ports.kube.service_watch import ServiceEvents
from lbtui.ports.kube.streams import SpeakerStreams
from lbtui.ports.kube.targets import SpeakerTarget
from lbtui.state.model import ConsoleState
from lbtui.state.reducer import reduce_all
from lbtui.widgets.table import ResourceTable
from tests.kube.fakeapi import FakeKubeApi
from tests.kube.harness import (
    NS,
    eventually,
    kube_cluster,
    l2_advertisement,
    namespace,
    node,
    pool,
    service,
    wait_until,
)

TOKEN = "speaker-status-token"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LBTUI = [sys.executable, "-m", "lbtui"]
IP = "10.99.0.100"
CLOCK = RealClock()
FAST = WatchTiming(watch_timeout=2, backoff_initial=0.2, backoff_max=1.0)


class Speaker:
    """A speaker's status endpoint on 127.0.0.1 (a real StatusActor), and its pod."""

    def __init__(self, fake: FakeKubeApi, pod: str, node_name: str, port: int = 0) -> None:
        self.fake = fake
        self.pod = pod
        self.node = node_name
        self.ref = StatusActor.start(address=("127.0.0.1", port), token=TOKEN)
        self.port = self.ref.proxy().bound().get(timeout=5)[1]

    def publish(self, *events: Event) -> None:
        for event in events:
            self.ref.proxy().on_event(event).get(timeout=5)

    def create_pod(self) -> None:
        self.pod_object(self.fake, self.pod, self.node, self.port)

    @staticmethod
    def pod_object(fake: FakeKubeApi, pod: str, node_name: str, port: int) -> None:
        """A running speaker pod at 127.0.0.1 whose container port "status" is ``port``."""
        fake.create(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": pod,
                    "namespace": NS,
                    "labels": {"app": "metallb", "component": "speaker"},
                },
                "spec": {
                    "nodeName": node_name,
                    "containers": [
                        {
                            "name": "speaker",
                            "ports": [
                                {"name": "monitoring", "containerPort": 7472},
                                {"name": "status", "containerPort": port},
                            ],
                        }
                    ],
                },
                "status": {"phase": "Running", "podIP": "127.0.0.1"},
            }
        )

    def stop(self) -> None:
        if self.ref.is_alive():
            self.ref.stop()


@pytest.fixture
def speakers() -> Iterator[list[Speaker]]:
    made: list[Speaker] = []
    yield made
    for s in made:
        s.stop()


def view(observer: str, alive: set[str], dead: set[str] = frozenset()) -> MembershipUpdated:  # type: ignore[assignment]
    return MembershipUpdated(CLOCK.now(), observer, frozenset(alive), frozenset(dead))


def l2_started(node_name: str, reason: str) -> AnnouncementStarted:
    return AnnouncementStarted(
        CLOCK.now(), node_name, IP, "layer2", reason, "eth0", ("default/web",)
    )


# -- the fake API's pod proxy, through the official client -----------------------------------


def test_the_pod_proxy_reaches_the_status_endpoint_and_says_503_when_it_cannot(
    fake: FakeKubeApi, speakers: list[Speaker]
) -> None:
    speaker = Speaker(fake, "speaker-a", "node-1")
    speakers.append(speaker)
    speaker.create_pod()
    speaker.publish(NodeJoined(CLOCK.now(), "node-2"))
    api = kube_cluster(fake, CONSOLE_RESOURCES).api
    target = SpeakerTarget("speaker-a", "node-1", speaker.port)
    # The API's Authorization is not forwarded: the token travels in its own header.
    with pytest.raises(SpeakerUnreachable, match="HTTP 401"):
        ProxyClient(api.api_client, NS).get_json(target, "state")
    client = ProxyClient(api.api_client, NS, TOKEN)
    assert client.get_json(target, "state")["events"][0]["event"] == "NodeJoined"
    stream = client.open(target, "events", [("since", "0")])
    assert stream.headers.get("Transfer-Encoding") == "chunked"
    lines = iter(stream)
    assert b'"node":"node-2"' in next(lines)
    speaker.publish(NodeJoined(CLOCK.now(), "node-3"))
    assert b'"node":"node-3"' in next(lines)  # streamed as it happens
    stream.close()
    with pytest.raises(SpeakerUnreachable, match="HTTP 404"):
        client.get_json(SpeakerTarget("nobody", "node-9", 1), "state")
    speaker.stop()
    with pytest.raises(SpeakerUnreachable, match="HTTP 503: error trying to reach service"):
        client.get_json(target, "state")


# -- the streams, without the UI -------------------------------------------------------------


class Collector:
    """An app stand-in: what SpeakerStreams posts."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[Event] = []
        self.status: list[tuple[str, bool]] = []

    def post_message(self, message: Message) -> bool:
        with self.lock:
            if isinstance(message, ActorEvent):
                self.events.extend(message.events)
            elif isinstance(message, PortStatus):
                self.status.append((message.text, message.ok))
        return True

    def of(self, kind: type[Event], **fields: Any) -> list[Any]:
        with self.lock:
            return [
                e
                for e in self.events
                if isinstance(e, kind) and all(getattr(e, k) == v for k, v in fields.items())
            ]

    def until(self, predicate: Callable[[], Any], what: str) -> Any:
        return wait_until(predicate, timeout=15.0, what=what)


@pytest.fixture
def streams(fake: FakeKubeApi) -> Iterator[Callable[[Collector], SpeakerStreams]]:
    started: list[SpeakerStreams] = []
    scheduler = ThreadScheduler(CLOCK)

    def start(app: Collector) -> SpeakerStreams:
        api = kube_cluster(fake, CONSOLE_RESOURCES).api
        s = SpeakerStreams(api, NS, CLOCK, scheduler, token=TOKEN, timing=FAST).start(app)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()
    scheduler.stop()


def test_an_api_outage_breaks_the_streams_and_nothing_is_lost_or_repeated(
    fake: FakeKubeApi, speakers: list[Speaker], streams: Any
) -> None:
    speaker = Speaker(fake, "speaker-a", "node-1")
    speakers.append(speaker)
    speaker.publish(NodeJoined(CLOCK.now(), "node-1"))
    speaker.create_pod()
    app = Collector()
    streams(app)
    app.until(lambda: app.of(SpeakerStreamChanged, state="following"), "following")
    speaker.publish(NodeJoined(CLOCK.now(), "node-2"))
    app.until(lambda: app.of(NodeJoined, node="node-2"), "node-2 live")
    fake.down()
    app.until(lambda: app.of(SpeakerStreamChanged, state="lost"), "the loss reported")
    assert not app.status[-1][1] and "speaker" in app.status[-1][0]
    # Meanwhile the speaker goes on; the console hears of it once the API is back.
    speaker.publish(NodeJoined(CLOCK.now(), "node-3"), NodeJoined(CLOCK.now(), "node-4"))
    fake.up()
    app.until(lambda: len(app.of(SpeakerStreamChanged, state="following")) == 2, "following again")
    app.until(lambda: app.of(NodeJoined, node="node-4"), "what happened in the outage")
    speaker.publish(NodeJoined(CLOCK.now(), "node-5"))
    app.until(lambda: app.of(NodeJoined, node="node-5"), "live again")
    joined = [e.node for e in app.of(NodeJoined)]
    assert joined == ["node-1", "node-2", "node-3", "node-4", "node-5"]
    # The pod watch says it is well again after its next watch (it is up to its own health).
    app.until(lambda: app.status[-1] == ("speakers: 1/1 streaming", True), "all well")


def test_a_restarted_speaker_is_read_from_its_start_and_a_pod_without_the_port_is_named(
    fake: FakeKubeApi, speakers: list[Speaker], streams: Any
) -> None:
    first = Speaker(fake, "speaker-a", "node-1")
    speakers.append(first)
    first.publish(l2_started("node-1", "elected"), NodeJoined(CLOCK.now(), "node-1"))
    first.create_pod()
    fake.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "speaker-old",
                "namespace": NS,
                "labels": {"app": "metallb", "component": "speaker"},
            },
            "spec": {"nodeName": "node-2", "containers": [{"name": "speaker"}]},
            "status": {"phase": "Running", "podIP": "127.0.0.1"},
        }
    )
    app = Collector()
    streams(app)
    app.until(lambda: app.of(NodeJoined, node="node-1"), "first events")
    app.until(lambda: "speaker-old: no container port named 'status'" in app.status[-1][0], "why")
    # The speaker process restarts on the same port (same pod): its count starts again at 1,
    # and it no longer announces what it did.
    first.stop()
    app.until(lambda: app.of(SpeakerStreamChanged, state="lost"), "the loss")
    second = Speaker(fake, "speaker-a", "node-1", port=first.port)
    speakers.append(second)
    second.publish(NodeJoined(CLOCK.now(), "node-1"))
    app.until(lambda: len(app.of(NodeJoined, node="node-1")) == 2, "the restarted speaker's")
    withdrawn = app.until(lambda: app.of(AnnouncementStopped, ip=IP), "the withdrawal")
    assert [(e.node, e.reason) for e in withdrawn] == [("node-1", "no longer in force")]
    assert len(app.of(SpeakerStreamChanged, state="following")) == 2


# -- MetalLB's Events about Services ---------------------------------------------------------


def metallb_event(fake: FakeKubeApi, name: str, reason: str, component: str) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    fake.create(
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": "default"},
            "involvedObject": {
                "apiVersion": "v1",
                "kind": "Service",
                "namespace": "default",
                "name": "web",
            },
            "reason": reason,
            "message": f"{reason} for default/web",
            "type": "Normal",
            "source": {"component": component},
            "reportingComponent": component,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
    )


def test_metallb_events_about_services_are_watched(fake: FakeKubeApi) -> None:
    metallb_event(fake, "web.1", "IPAllocated", "metallb-controller")
    metallb_event(fake, "web.2", "Pulled", "kubelet")  # not MetalLB's: not shown
    seen: list[Event] = []
    scheduler = ThreadScheduler(CLOCK)
    api = kube_cluster(fake, CONSOLE_RESOURCES).api
    watcher = ServiceEvents(
        api, CLOCK, scheduler, seen.extend, timing=WatchTiming(watch_timeout=2)
    ).start()
    try:
        wait_until(lambda: seen, what="the event already there")
        metallb_event(fake, "web.3", "nodeAssigned", "metallb-speaker")
        wait_until(lambda: len(seen) == 2, what="the new one, live")
        assert [(e.reason, e.component, e.service) for e in seen] == [  # type: ignore[attr-defined]
            ("IPAllocated", "metallb-controller", "default/web"),
            ("nodeAssigned", "metallb-speaker", "default/web"),
        ]
        assert all(abs(e.t - CLOCK.now()) < 5 for e in seen)  # on the console's clock
    finally:
        watcher.stop()
        scheduler.stop()


def test_a_pod_moved_to_another_port_is_let_go_before_its_successor_is_followed(
    fake: FakeKubeApi, speakers: list[Speaker], streams: Any
) -> None:
    old = Speaker(fake, "speaker-a", "node-1")
    new = Speaker(fake, "speaker-a", "node-1")
    speakers += [old, new]
    old.publish(l2_started("node-1", "elected"))
    new.publish(l2_started("node-1", "elected again"))
    old.create_pod()
    app = Collector()
    streams(app)
    app.until(lambda: app.of(AnnouncementStarted, reason="elected"), "the first speaker's")
    pod = fake.get("Pod", "speaker-a", NS)
    pod["spec"]["containers"][0]["ports"][1]["containerPort"] = new.port
    fake.update(pod)
    app.until(lambda: app.of(AnnouncementStarted, reason="elected again"), "the successor's")
    names = [
        (type(e).__name__, getattr(e, "state", getattr(e, "reason", "")))
        for e in app.events
        if isinstance(e, AnnouncementStarted | AnnouncementStopped | SpeakerStreamChanged)
    ]
    assert names == [
        ("AnnouncementStarted", "elected"),
        ("SpeakerStreamChanged", "following"),
        ("AnnouncementStopped", "speaker pod changed (restarted)"),
        ("SpeakerStreamChanged", "gone"),
        ("AnnouncementStarted", "elected again"),
        ("SpeakerStreamChanged", "following"),
    ]
    state = reduce_all(ConsoleState(), list(app.events))
    assert state.l2[IP].node == "node-1" and state.l2[IP].reason == "elected again"
    app.until(lambda: app.status[-1] == ("speakers: 1/1 streaming", True), "one speaker")


# -- the console -----------------------------------------------------------------------------


def seed(fake: FakeKubeApi) -> None:
    fake.create(namespace(NS))
    fake.create(namespace("default"))
    fake.create(node("node-1", "10.99.0.1"))
    fake.create(node("node-2", "10.99.0.2"))
    fake.create(pool("lan", "10.99.0.100-10.99.0.110"))
    fake.create(l2_advertisement("l2", ipAddressPools=["lan"]))
    fake.create(service("web", annotations={"metallb.io/address-pool": "lan"}))
    fake.merge(
        "Service",
        "web",
        {"status": {"loadBalancer": {"ingress": [{"ip": IP}]}}},
        "default",
        subresource="status",
    )


@pytest.mark.asyncio
async def test_the_console_shows_the_speakers_failover_live_and_follows_a_new_pod(
    fake: FakeKubeApi, speakers: list[Speaker]
) -> None:
    seed(fake)
    one = Speaker(fake, "speaker-1", "node-1")
    two = Speaker(fake, "speaker-2", "node-2")
    speakers += [one, two]
    both = {"node-1", "node-2"}
    one.publish(view("node-1", both), l2_started("node-1", "elected"))
    two.publish(view("node-2", both))
    one.create_pod()
    two.create_pod()
    metallb_event(fake, "web.1", "IPAllocated", "metallb-controller")
    kube = kube_cluster(fake, CONSOLE_RESOURCES)
    runtime = Runtime("console", kube_console_specs(kube))
    port = KubePort(
        runtime,
        kube.api,
        namespace=NS,
        token=TOKEN,
        timing=FAST,
        description="fake cluster",
    )
    app = ConsoleApp(port, view="l2", cursor_blink=False)

    def owner() -> str:
        table = app.screen.query_one("#table", ResourceTable)
        row = table.row(IP)
        return row[1].text if row is not None else ""

    def logged(state: str, pod: str) -> bool:
        return any(
            isinstance(e.event, SpeakerStreamChanged)
            and (e.event.state, e.event.pod) == (state, pod)
            for e in app.state.log
        )

    try:
        async with app.run_test(size=(130, 40)) as pilot:
            # Who answers for the address: from node-1's own stream (there are no status
            # objects in this cluster); both speakers' membership views.
            await eventually(pilot, lambda: owner() == "node-1")
            await eventually(pilot, lambda: app.link == "speakers: 2/2 streaming")
            assert {m: app.state.members[m].state for m in both} == dict.fromkeys(both, "alive")
            assert logged("following", "speaker-1") and logged("following", "speaker-2")
            # The controller's Event about the service is in the log too.
            await eventually(
                pilot,
                lambda: any(
                    isinstance(e.event, ServiceEventObserved) and e.event.reason == "IPAllocated"
                    for e in app.state.log
                ),
            )
            # node-1 crashes: its speaker says nothing more. node-2's says it is dead and
            # takes the address over; the console shows it as it happens.
            one.stop()
            await eventually(pilot, lambda: logged("lost", "speaker-1"))
            assert not app.link_ok and "speaker-1 lost" in app.link
            two.publish(view("node-2", {"node-2"}, {"node-1"}))
            two.publish(l2_started("node-2", "failover from node-1"))
            await eventually(pilot, lambda: app.state.members["node-1"].state == "dead")
            failover = await eventually(pilot, lambda: app.state.failovers)
            assert (failover[-1].from_node, failover[-1].to_node) == ("node-1", "node-2")
            # The pod goes: the console lets it go and withdraws what it announced.
            fake.delete("Pod", "speaker-1", NS)
            await eventually(pilot, lambda: logged("gone", "speaker-1"))
            await eventually(pilot, lambda: owner() == "node-2")
            assert app.state.l2[IP].announcers == frozenset({"node-2"})
            await eventually(pilot, lambda: app.link == "speakers: 1/1 streaming")
            # The DaemonSet's new pod on node-1 is followed as soon as it runs.
            three = Speaker(fake, "speaker-1-new", "node-1")
            speakers.append(three)
            three.publish(view("node-1", both))
            three.create_pod()
            await eventually(pilot, lambda: logged("following", "speaker-1-new"))
            two.publish(view("node-2", both))
            await eventually(pilot, lambda: app.state.members["node-1"].state == "alive")
            assert app.link == "speakers: 2/2 streaming" and app.link_ok
            # All of it came through the API server's pod proxy, with the API's credentials.
            proxied = {p for m, p, _ in fake.store.requests if "/proxy/" in p}
            assert f"/api/v1/namespaces/{NS}/pods/speaker-2:{two.port}/proxy/events" in proxied
    finally:
        runtime.stop("test done")


# -- real speakers ---------------------------------------------------------------------------


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_real_speakers_failover_reaches_the_console_through_the_proxy(
    fake: FakeKubeApi, tmp_path: Path, streams: Any
) -> None:
    """Two `lbtui speaker --cluster` processes gossiping on loopback, each serving its status
    endpoint; one is killed and the other's own failover events reach the console."""
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    nodes = ("node-a", "node-b")
    gossip = {n: free_port() for n in nodes}
    status = {n: free_port() for n in nodes}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    for n, other in zip(nodes, reversed(nodes), strict=True):
        procs[n] = subprocess.Popen(
            [
                *LBTUI,
                "speaker",
                "--node-name",
                n,
                "--cluster",
                str(EXAMPLES / "cluster.yaml"),
                "--config",
                str(EXAMPLES / "crds" / "config.yaml"),
                "--no-l2",  # the host's network: never answer ARP on it
                "--no-bgp",
                "--poll",
                "0.2",
                "--ml-bind",
                f"127.0.0.1:{gossip[n]}",
                "--ml-join",
                f"127.0.0.1:{gossip[other]}",
                "--status-addr",
                f"127.0.0.1:{status[n]}",
                "--status-token-file",
                str(token),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
    try:
        for n in nodes:
            Speaker.pod_object(fake, f"speaker-{n}", n, status[n])
        app = Collector()
        streams(app)

        def owners() -> dict[str, str]:
            state = reduce_all(ConsoleState(), list(app.events))
            return {ip: e.node for ip, e in state.l2.items() if e.node}

        # Both speakers' announcements, as they made them (node-c has no speaker: never).
        app.until(lambda: set(owners().values()) == set(nodes), "both speakers announcing")
        held_by_a = {ip for ip, owner in owners().items() if owner == "node-a"}
        assert held_by_a  # the example's addresses are shared between the two
        procs["node-a"].kill()
        app.until(
            lambda: (
                all(owners().get(ip) == "node-b" for ip in held_by_a)
                and app.of(SpeakerStreamChanged, pod="speaker-node-a", state="lost")
            ),
            "node-b took node-a's addresses over",
        )
        state = reduce_all(ConsoleState(), list(app.events))
        moved = {f.ip for f in state.failovers if (f.from_node, f.to_node) == nodes}
        assert moved == held_by_a  # the failovers node-b itself published
        assert state.members["node-a"].state == "dead"
        assert any(e.reason.startswith("failover from node-a") for e in app.of(AnnouncementStarted))
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()


# -- the command line ------------------------------------------------------------------------


def test_lbtui_console_kubeconfig_builds_a_port_that_follows_the_speakers(
    fake: FakeKubeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lbtui import cli
    from lbtui.commands import console
    from lbtui.commands.common import EXIT_UNREADABLE

    ports: list[Any] = []
    monkeypatch.setattr(console, "run_console", lambda port, settings, err: ports.append(port) or 0)
    kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    argv = ["console", "--kubeconfig", kubeconfig, "--namespace", "lb", "--token-file"]
    assert cli.main([*argv, str(token), "--speaker-status-port", "7473"]) == 0
    (port,) = ports
    assert isinstance(port, KubePort) and port.namespace == "lb" and port.follow_speakers
    assert port.status_port == 7473 and port.token == TOKEN
    assert port.speaker_labels == "app=metallb,component=speaker"
    assert cli.main([*argv, str(tmp_path / "missing")]) == EXIT_UNREADABLE
    assert cli.main(["console", "--kubeconfig", kubeconfig, "--no-speaker-streams"]) == 0
    assert not ports[-1].follow_speakers


# -- the whole cluster: a controller and speakers on the API ---------------------------------


def test_kube_speakers_and_controller_seen_through_the_api_only(fake: FakeKubeApi) -> None:
    """A controller and two `lbtui speaker --kubeconfig` runtimes (in process, membership set
    by hand) each serving its status endpoint; the console side reads nothing but the API: the
    speakers' own events through the pod proxy, MetalLB's Events about the Service."""
    from actors.clock import ManualClock
    from actors.kube.resources import CONTROLLER_RESOURCES, SPEAKER_RESOURCES
    from actors.roles.controller import controller_specs
    from actors.roles.speaker import kube_speaker_specs
    from actors.runtime import ActorSpec
    from actors.speaker.announcer import RecordingAnnouncer
    from tests.kube.harness import Role, endpoint_slice, ingress_of
    from tests.kube.test_speakers import HandMembership
    from tests.kube.test_speakers import seed as seed_speakers

    seed_speakers(fake)  # three nodes, their speaker pods, pools
    nodes = ("node-1", "node-2")
    Role(
        "controller",
        controller_specs(kube_cluster(fake, CONTROLLER_RESOURCES)),
        None,
        ManualClock(),
    )  # type: ignore[arg-type]
    roles = {}
    for name in nodes:
        kube = kube_cluster(fake, SPEAKER_RESOURCES)
        extra = [
            ActorSpec("membership", HandMembership, {"node": name, "alive": nodes}),
            ActorSpec("status", StatusActor, {"address": ("127.0.0.1", 0), "token": TOKEN}),
        ]
        specs = kube_speaker_specs(
            name, kube, announcer=RecordingAnnouncer(), pod_name=f"speaker-{name}", extra=extra
        )
        roles[name] = Role(f"speaker-{name}", specs, kube, RealClock())
        port = roles[name].proxy("status").bound().get(timeout=5)[1]
        pod = fake.get("Pod", f"speaker-{name}", NS)
        pod["spec"]["containers"] = [
            {"name": "speaker", "ports": [{"name": "status", "containerPort": port}]}
        ]
        fake.update(pod)
        ip = {"status": {"podIP": "127.0.0.1"}}
        fake.merge("Pod", f"speaker-{name}", ip, NS, subresource="status")
    fake.delete("Pod", "speaker-node-3", NS)  # no speaker runs there
    fake.create(service("web", annotations={"metallb.io/address-pool": "lan"}))
    fake.create(endpoint_slice("web", list(nodes)))
    assert wait_until(lambda: ingress_of(fake, "web")) == [IP]

    app = Collector()
    scheduler = ThreadScheduler(CLOCK)
    api = kube_cluster(fake, CONSOLE_RESOURCES).api
    streams = SpeakerStreams(api, NS, CLOCK, scheduler, token=TOKEN, timing=FAST).start(app)
    events = ServiceEvents(
        api, CLOCK, scheduler, streams.sink, timing=WatchTiming(watch_timeout=2)
    ).start()
    try:

        def owner() -> str | None:
            entry = reduce_all(ConsoleState(), list(app.events)).l2.get(IP)
            return entry.node if entry is not None else None

        first = app.until(owner, "the owner, from its own stream")
        app.until(lambda: app.of(ServiceEventObserved, reason="nodeAssigned"), "nodeAssigned")
        assert app.of(ServiceEventObserved, reason="IPAllocated")
        survivor = next(n for n in nodes if n != first)
        roles[survivor].proxy("membership").set_alive((survivor,)).get(timeout=5)
        app.until(lambda: owner() == survivor, "the survivor's takeover")
        state = reduce_all(ConsoleState(), list(app.events))
        assert state.members[first].state == "dead"  # as the survivor sees it
        assert {(f.from_node, f.to_node) for f in state.failovers} == {(first, survivor)}
    finally:
        events.stop()
        streams.stop()
        scheduler.stop()
