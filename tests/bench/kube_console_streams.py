"""The kube console's speaker streams: how long an event takes from a speaker's status endpoint
to the console, read directly (what ``lbtui console --connect`` does) and through the API
server's pod proxy (what ``lbtui console --kubeconfig`` does, with the fake API of tests/kube
forwarding the request), side by side.

Run: ``.venv/bin/python tests/bench/kube_console_streams.py [--quick]``. Prints one table:

- ``latency``: one event at a time, from StatusActor.on_event to the console's hands
  (p50 / p99 over N events, milliseconds);
- ``burst``: N events published at once; the time until the console has them all, and the
  batches they came in (the UI gets at most one batch per 50 ms).

Both sides post batches as fast as they come (``min_interval`` 0). The fake API's proxy is
Python (a real kube-apiserver is Go): the proxied column is an upper
bound for the API server's share, the client side is lbtui's own.
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from actors.clock import RealClock, ThreadScheduler
from actors.events import Event, NodeJoined
from actors.kube.resources import CONSOLE_RESOURCES
from actors.observability.status import StatusActor
from lbtui.bridge import ActorEvent, SnapshotLoaded
from lbtui.ports.kube.streams import SpeakerStreams
from lbtui.ports.remote import RemotePort
from tests.kube.fakeapi import FakeKubeApi
from tests.kube.harness import NS, kube_cluster

CLOCK = RealClock()


class Arrivals:
    """The console's side: when each event arrived, and in how many batches."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.at: dict[str, float] = {}
        self.batches = 0

    def post_message(self, message: Any) -> bool:
        if isinstance(message, ActorEvent | SnapshotLoaded):
            now = time.perf_counter()
            events = message.events if isinstance(message, ActorEvent) else message.snapshot.history
            with self.cond:
                self.batches += 1
                for e in events:
                    if isinstance(e, NodeJoined):
                        self.at.setdefault(e.node, now)
                self.cond.notify_all()
        return True

    def wait(self, count: int, timeout: float = 60.0) -> None:
        with self.cond:
            if not self.cond.wait_for(lambda: len(self.at) >= count, timeout):
                raise SystemExit(f"only {len(self.at)} of {count} events arrived")


def run(mode: str, n_latency: int, n_burst: int) -> tuple[float, float, float, int]:
    fake = FakeKubeApi(bookmark_interval=5.0).start()
    speaker = StatusActor.start(address=("127.0.0.1", 0), history=max(500, n_burst + 10))
    proxy = speaker.proxy()
    port = proxy.bound().get(timeout=5)[1]
    arrivals = Arrivals()
    remote: RemotePort | None = None
    scheduler = ThreadScheduler(CLOCK)
    streams = None
    try:
        if mode == "direct":
            remote = RemotePort(f"http://127.0.0.1:{port}", min_interval=0.0)
            remote.start(arrivals)
        else:
            fake.create(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "name": "speaker-a",
                        "namespace": NS,
                        "labels": {"app": "metallb", "component": "speaker"},
                    },
                    "spec": {"nodeName": "node-1"},
                    "status": {"phase": "Running", "podIP": "127.0.0.1"},
                }
            )
            api = kube_cluster(fake, CONSOLE_RESOURCES).api
            streams = SpeakerStreams(api, NS, CLOCK, scheduler, port=port, min_interval=0.0)
            streams.start(arrivals)
        # warm up: the stream is open once the first event arrives
        proxy.on_event(NodeJoined(CLOCK.now(), "warm")).get(timeout=5)
        arrivals.wait(1)
        latencies = []
        for i in range(n_latency):
            name = f"one-{i}"
            sent = time.perf_counter()
            proxy.on_event(NodeJoined(CLOCK.now(), name)).get(timeout=5)
            arrivals.wait(2 + i)
            latencies.append((arrivals.at[name] - sent) * 1000)
        before = len(arrivals.at)
        batches_before = arrivals.batches
        events: list[Event] = [NodeJoined(CLOCK.now(), f"burst-{i}") for i in range(n_burst)]
        sent = time.perf_counter()
        for event in events:
            proxy.on_event(event)
        arrivals.wait(before + n_burst)
        burst = time.perf_counter() - sent
        latencies.sort()
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        return statistics.median(latencies), p99, burst, arrivals.batches - batches_before
    finally:
        if remote is not None:
            remote.stop()
        if streams is not None:
            streams.stop()
        speaker.stop()
        scheduler.stop()
        fake.down()


def main() -> None:
    quick = "--quick" in sys.argv
    n_latency, n_burst = (50, 1000) if quick else (200, 5000)
    print(f"one speaker; latency over {n_latency} single events, burst of {n_burst}")
    print(f"{'path':<34}{'p50 ms':>9}{'p99 ms':>9}{'burst s':>9}{'ev/s':>10}{'batches':>9}")
    for mode, label in (("direct", "direct (--connect)"), ("proxy", "pod proxy (--kubeconfig)")):
        p50, p99, burst, batches = run(mode, n_latency, n_burst)
        print(f"{label:<34}{p50:>9.2f}{p99:>9.2f}{burst:>9.3f}{n_burst / burst:>10.0f}{batches:>9}")


if __name__ == "__main__":
    main()
