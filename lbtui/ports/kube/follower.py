"""One thread following one speaker pod's events until told to stop (:class:`SpeakerFollower`).

It reads the speaker's ``GET /state`` through the pod proxy, catches up (:func:`catch_up`),
then streams ``GET /events?since=N`` into its sink on the console's clock. A stream that
breaks is reported once as lost and followed again after a backoff; a pod that is gone has
what it announced withdrawn.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
from collections.abc import Callable
from typing import Any

from actors.clock import Clock
from actors.events import Event, SpeakerStreamChanged
from actors.util.backoff import backoff_delay
from lbtui.ports.kube.api import ProxyClient, SpeakerUnreachable
from lbtui.ports.kube.catchup import (
    AnnouncementLedger,
    Position,
    catch_up,
    json_number,
    position_of,
    rebase,
)
from lbtui.ports.kube.targets import SpeakerTarget
from lbtui.ports.remote import SUMMARIZED_EVENTS, decode_event, json_line

log = logging.getLogger(__name__)

Sink = Callable[[list[Event]], None]


class SpeakerFollower:
    """One thread following one speaker pod's events until told to stop."""

    def __init__(
        self,
        target: SpeakerTarget,
        proxy: ProxyClient,
        clock: Clock,
        sink: Sink,
        on_state: Callable[[SpeakerTarget, str, str], None],
        *,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
        rng: random.Random | None = None,
        predecessor: SpeakerFollower | None = None,
        withdraw_when_lost: bool = False,
        on_summary: Callable[[SpeakerTarget], None] | None = None,
    ) -> None:
        self.target = target
        # The follower of this pod's previous incarnation: it withdraws first (same order).
        self.predecessor = predecessor
        self.proxy = proxy
        self.clock = clock
        self.sink = sink
        self.on_state = on_state
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.rng = rng or random.Random()
        # Without the API's view beside it (``console --connect``), a speaker that cannot be
        # reached has its announcements withdrawn: nobody can say it still answers.
        self.withdraw_when_lost = withdraw_when_lost
        # Told when the speaker's state changed in a way only its ``GET /state`` tells.
        self.on_summary = on_summary
        self._blind = False  # its announcements withdrawn and sessions unknown: it is lost
        self.ledger = AnnouncementLedger()
        self.position = Position()
        self.failures = 0
        self.state = ""  # following | lost | gone, as last reported
        self.gone_reason = ""
        self._stopped = threading.Event()
        self._response: Any = None
        self._thread = threading.Thread(
            target=self._run, name=f"lbtui-speaker-{target.pod}", daemon=True
        )

    def start(self) -> SpeakerFollower:
        self._thread.start()
        return self

    def stop(self, gone_reason: str = "") -> None:
        """Stop following; with ``gone_reason`` the speaker is gone and what it announced is
        withdrawn from the console."""
        self.gone_reason = gone_reason
        self._stopped.set()
        response = self._response
        if response is not None:
            with contextlib.suppress(Exception):
                response.shutdown()  # unblocks the reading thread at once

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        if self.predecessor is not None:
            self.predecessor.join(5.0)
            self.predecessor = None
        try:
            while not self._stopped.is_set():
                try:
                    self._follow_once()
                    detail = "the stream ended"
                except Exception as exc:  # whatever breaks, the console stays up
                    detail = _short(exc)
                if self._stopped.is_set():
                    break
                self.failures += 1
                if self.withdraw_when_lost and not self._blind:
                    reason = f"{self.target.node} unreachable: {detail}"
                    t = self.clock.now()
                    lost = self.ledger.withdraw_all(t, reason)
                    lost += self.ledger.sessions_unknown(t, reason)
                    self._blind = True
                    if lost:
                        self.sink(lost)
                if self.state != "lost":  # one event per loss; the info bar has the latest
                    self._report("lost", detail)
                else:
                    self.on_state(self.target, "lost", detail)
                delay = backoff_delay(
                    self.failures, self.backoff_initial, self.backoff_max, self.rng
                )
                log.info("speaker %s: %s; again in %.1fs", self.target.pod, detail, delay)
                self._stopped.wait(delay)
        finally:
            if self.gone_reason:
                t = self.clock.now()
                self.sink(self.ledger.withdraw_all(t, self.gone_reason))
                self._report("gone", self.gone_reason)

    def _report(self, state: str, detail: str) -> None:
        self.state = state
        target = self.target
        self.sink([SpeakerStreamChanged(self.clock.now(), target.node, target.pod, state, detail)])  # type: ignore[arg-type]
        self.on_state(target, state, detail)

    def _follow_once(self) -> None:
        body = self.proxy.get_json(self.target, "state")
        offset = self.clock.now() - json_number(body.get("now"))
        events, self.position = catch_up(body, self.position, offset, self.ledger, self.clock.now())
        if self._stopped.is_set():
            return
        if self._blind:  # answering again: its sessions as it last told them, then the news
            events = self.ledger.sessions_known() + events
            self._blind = False
        response = self.proxy.open(self.target, "events", [("since", str(self.position.seq))])
        self._response = response
        try:
            if events:
                self.sink(events)
            self.failures = 0
            self._report("following", "")
            self._read(response, offset)
        finally:
            self._response = None
            with contextlib.suppress(Exception):
                response.close()

    def _read(self, response: Any, offset: float) -> None:
        for line in response:
            if self._stopped.is_set():
                return
            record = json_line(line)
            if record is None or "event" not in record:
                continue  # the heartbeat
            seq = record.get("seq")
            if not isinstance(seq, int) or seq <= self.position.seq:
                continue
            self.position = position_of(record)
            event = decode_event(record)
            if event is None:
                if self.on_summary is not None and record.get("event") in SUMMARIZED_EVENTS:
                    self.on_summary(self.target)
                continue  # summarized state (the console has the API's) or unknown
            event = rebase(event, offset)
            self.ledger.apply(event)
            self.sink([event])


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    name = type(exc).__name__
    return (first if isinstance(exc, SpeakerUnreachable) else f"{name}: {first}")[:200]
