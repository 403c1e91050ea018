"""KubePort: the console on a cluster: the console runtime's view of the API (a
:class:`LocalPort`), and the speakers' event streams through the pod proxy
(:class:`SpeakerStreams`) with MetalLB's Events about Services (:class:`ServiceEvents`).
"""

from __future__ import annotations

from typing import Any

from actors.events import Event
from lbtui.bridge import ActorEvent, Poster
from lbtui.ports.kube.api import DEFAULT_TIMING, WatchTiming
from lbtui.ports.kube.follower import Sink
from lbtui.ports.kube.service_watch import ServiceEvents
from lbtui.ports.kube.streams import SpeakerStreams
from lbtui.ports.kube.targets import SPEAKER_LABELS, STATUS_PORT_NAME
from lbtui.ports.local import LocalPort


class KubePort(LocalPort):
    """The console on a cluster: the console runtime's view of the API (a LocalPort), and the
    speakers' event streams through the pod proxy (:class:`SpeakerStreams`)."""

    def __init__(
        self,
        runtime: Any,
        api: Any,
        *,
        namespace: str,
        speaker_labels: str = SPEAKER_LABELS,
        status_port_name: str = STATUS_PORT_NAME,
        status_port: int | None = None,
        token: str = "",
        follow_speakers: bool = True,
        watch_service_events: bool = True,
        timing: WatchTiming = DEFAULT_TIMING,
        **kw: Any,
    ) -> None:
        super().__init__(runtime, **kw)
        self.api = api
        self.namespace = namespace
        self.follow_speakers = follow_speakers
        self.watch_service_events = watch_service_events
        self.service_events: ServiceEvents | None = None
        self.speaker_labels = speaker_labels
        self.status_port_name = status_port_name
        self.status_port = status_port
        self.token = token
        self.timing = timing
        self.streams: SpeakerStreams | None = None

    def start(self, app: Poster) -> None:
        super().start(app)
        if self.follow_speakers:
            self.streams = SpeakerStreams(
                self.api,
                self.namespace,
                self.runtime.clock,
                self.runtime.scheduler,
                labels=self.speaker_labels,
                port_name=self.status_port_name,
                port=self.status_port,
                token=self.token,
                timing=self.timing,
            ).start(app)
        if self.watch_service_events:
            sink = self.streams.sink if self.streams else _direct(app)
            self.service_events = ServiceEvents(
                self.api, self.runtime.clock, self.runtime.scheduler, sink, timing=self.timing
            ).start()

    def stop(self) -> None:
        events, self.service_events = self.service_events, None
        if events is not None:
            events.stop()
        streams, self.streams = self.streams, None
        if streams is not None:
            streams.stop()
        super().stop()


def _direct(app: Poster) -> Sink:
    def sink(events: list[Event]) -> None:
        app.post_message(ActorEvent(tuple(events)))

    return sink
