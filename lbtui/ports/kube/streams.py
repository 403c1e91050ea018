"""The speaker pods, watched (:class:`SpeakerStreams`): one follower per followable pod, their
events merged and posted to the app in batches, and their health as the info bar's line.

The pods are listed and watched by label with the Reflector of actors/kube; which
pods to follow is decided by the pure :mod:`lbtui.ports.kube.targets`; the batches are posted
by :class:`~lbtui.ports.batching.StreamPoster`, as the direct ``--connect`` port posts them.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from actors.clock import Clock, Scheduler
from actors.events import Event
from lbtui.bridge import Poster
from lbtui.ports.batching import MIN_INTERVAL, StreamPoster
from lbtui.ports.kube.api import (
    DEFAULT_TIMING,
    ProxyClient,
    SelectedLister,
    WatchTiming,
    core_watch,
)
from lbtui.ports.kube.follower import SpeakerFollower
from lbtui.ports.kube.targets import (
    SPEAKER_LABELS,
    STATUS_PORT_NAME,
    SpeakerTarget,
    changed_targets,
    speaker_targets,
    streams_summary,
)


class SpeakerStreams:
    """Watches the speaker pods and keeps one follower per followable pod; posts the merged
    events to the app in batches, and the followers' health to its info bar."""

    def __init__(
        self,
        api: Any,
        namespace: str,
        clock: Clock,
        scheduler: Scheduler,
        *,
        labels: str = SPEAKER_LABELS,
        port_name: str = STATUS_PORT_NAME,
        port: int | None = None,
        token: str = "",
        timing: WatchTiming = DEFAULT_TIMING,
        min_interval: float = MIN_INTERVAL,
    ) -> None:
        self.namespace = namespace
        self.clock = clock
        self.labels = labels
        self.port_name = port_name
        self.port = port
        self.proxy = ProxyClient(api.api_client, namespace, token)
        self.timing = timing
        self.min_interval = min_interval
        self.cache, self.reflector = core_watch(
            "pods",
            "Pod",
            SelectedLister(api, api.core.list_namespaced_pod, namespace, label_selector=labels),
            namespace,
            scheduler,
            self._pods_changed,
            self._pods_health,
            timing,
        )
        self.followers: dict[str, SpeakerFollower] = {}
        self.targets: dict[str, SpeakerTarget] = {}
        self.skipped: dict[str, str] = {}
        self.states: dict[str, tuple[str, str]] = {}
        self.pods_error = ""
        self._lock = threading.Lock()
        self.poster = StreamPoster(min_interval=min_interval, name="lbtui-speakers")
        self._stopped = False

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, app: Poster) -> SpeakerStreams:
        self.poster.start(app)
        self.reflector.start()
        return self

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            followers = list(self.followers.values())
            self.followers.clear()
        self.reflector.stop()
        for follower in followers:
            follower.stop()
        deadline = time.monotonic() + 2.0  # in all: quitting never waits long on a stuck call
        for follower in followers:
            follower.join(max(0.0, deadline - time.monotonic()))
        self.reflector.join(2.0)
        self.poster.stop()
        self.proxy.close()

    def sink(self, events: list[Event]) -> None:
        """Hand events to the app with the speakers' (one ordered stream of batches)."""
        self.poster.events(events)

    # -- pods ----------------------------------------------------------------------------------
    def _pods_changed(self, _resource: Any) -> None:
        targets, skipped = speaker_targets(
            self.cache.snapshot(), port_name=self.port_name, port=self.port
        )
        with self._lock:
            if self._stopped:
                return
            stop, start = changed_targets(self.targets, targets)
            self.targets, self.skipped = targets, skipped
            stopped: dict[str, SpeakerFollower] = {}
            for pod in stop:
                follower = self.followers.pop(pod, None)
                if follower is not None:
                    reason = (
                        "speaker pod deleted"
                        if pod not in targets and pod not in skipped
                        else f"speaker pod changed ({skipped.get(pod, 'restarted')})"
                    )
                    follower.stop(gone_reason=reason)
                    stopped[pod] = follower
                self.states.pop(pod, None)
            for target in start:
                self.followers[target.pod] = SpeakerFollower(
                    target,
                    self.proxy,
                    self.clock,
                    self.poster.events,
                    self._follower_state,
                    backoff_initial=self.timing.backoff_initial,
                    backoff_max=self.timing.backoff_max,
                    predecessor=stopped.get(target.pod),
                ).start()
                self.states[target.pod] = ("connecting", "")
        self._post_summary()

    def _pods_health(self, _resource: Any, error: str | None) -> None:
        self.pods_error = error or ""
        self._post_summary()

    def _follower_state(self, target: SpeakerTarget, state: str, detail: str) -> None:
        with self._lock:
            follower = self.followers.get(target.pod)
            current = follower is not None and follower.target == target
            if state == "gone":
                if follower is None:  # (not when a successor follows the pod already)
                    self.states.pop(target.pod, None)
            elif current:
                self.states[target.pod] = (state, detail)
            else:
                return  # a follower already let go
        self._post_summary()

    def _post_summary(self) -> None:
        with self._lock:
            text = streams_summary(self.states, self.skipped)
            ok = all(s != "lost" for s, _ in self.states.values()) and not self.skipped
            if self.pods_error:  # the pod watch fails (the followers may still stream)
                text, ok = f"{text} · watching speaker pods: {self.pods_error}", False
            self.poster.status(text, ok)
