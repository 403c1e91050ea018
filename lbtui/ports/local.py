"""LocalPort: the console on a runtime in this process (``lbtui demo``, and the cluster console's
own runtime under :class:`lbtui.ports.kube.port.KubePort`).

It asks the actors that hold the state by reference (``names.CONFIG``, ``ConfigActor.current``)
and subscribes the console's :class:`lbtui.bridge.Bridge` before the runtime starts, so the
console sees every event from the first.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

from actors.allocator.actor import AllocatorActor
from actors.cluster.actor import ClusterActor
from actors.config.actor import ConfigActor
from actors.config.store import EditOutcome
from actors.events import AnnouncementStarted
from actors.model import names
from actors.speaker.actor import SpeakerActor
from lbtui.bridge import Bridge, Poster, SnapshotLoaded
from lbtui.ports.base import ReadOnlyPort
from lbtui.state.model import Snapshot

ASK_TIMEOUT = 10.0
T = TypeVar("T")

NodeControl = Callable[[Any, str], None]


class LocalPort:
    """The console on a runtime in this process (``lbtui demo``)."""

    def __init__(
        self,
        runtime: Any,
        *,
        start_runtime: bool = True,
        kill_node: NodeControl | None = None,
        revive_node: NodeControl | None = None,
        readonly: bool = False,
        description: str = "",
        timeout: float = ASK_TIMEOUT,
    ) -> None:
        self.runtime = runtime
        self.start_runtime = start_runtime
        self._kill = kill_node
        self._revive = revive_node
        self.readonly = readonly
        self.can_kill = kill_node is not None and revive_node is not None
        self.description = description or f"{runtime.role} (in process)"
        self.timeout = timeout
        self._bridge: Any = None

    def start(self, app: Poster) -> None:
        # Subscribe before the runtime starts, so the console sees every event from the first.
        self._bridge = Bridge.start(app, clock=self.runtime.clock, scheduler=self.runtime.scheduler)
        if self.start_runtime:
            self.runtime.start()
        else:
            app.post_message(SnapshotLoaded(self.snapshot()))

    def stop(self) -> None:
        if self._bridge is not None:
            with contextlib.suppress(Exception):
                self._bridge.stop(timeout=2)
            self._bridge = None

    def now(self) -> float | None:
        """The runtime's own clock (virtual in tests, monotonic in the demo)."""
        return float(self.runtime.clock.now())

    def _ask(self, actor: str, method: Callable[..., T], *args: Any) -> T:
        return self.runtime.ask(actor, method, *args, timeout=self.timeout)

    def snapshot(self) -> Snapshot:
        """The runtime's state now, by asking the actors that hold it."""
        now = self.runtime.clock.now()
        config = cluster = allocations = usage = None
        with contextlib.suppress(KeyError):
            config = self._ask(names.CONFIG, ConfigActor.current)
        with contextlib.suppress(KeyError):
            cluster = self._ask(names.CLUSTER, ClusterActor.snapshot)
        with contextlib.suppress(KeyError):
            allocations, usage = self._ask(names.ALLOCATOR, AllocatorActor.snapshot)
        with contextlib.suppress(KeyError, AttributeError):
            # Membership has no getter everywhere; its republish reaches us through the bridge.
            self.runtime.proxy(names.MEMBERSHIP).republish()
        announced: list[AnnouncementStarted] = []
        for name in self.runtime.names():
            node = names.speaker_node(name)
            if node is None:
                continue
            try:
                current = self._ask(name, SpeakerActor.announcements)
            except KeyError:
                continue
            for ip, duty in current.l2.items():
                announced.append(
                    AnnouncementStarted(
                        now,
                        node,
                        ip,
                        "layer2",
                        duty.message,
                        ",".join(duty.interfaces),
                        duty.services,
                    )
                )
            for (prefix, peers), route in current.bgp.items():
                announced.append(
                    AnnouncementStarted(
                        now,
                        node,
                        prefix,
                        "bgp",
                        f"advertised to {', '.join(peers)}",
                        "",
                        route.services,
                        peers,
                    )
                )
        return Snapshot(
            now=now,
            role=self.runtime.role,
            config=config,
            cluster=cluster,
            allocations=allocations,
            usage=usage,
            announcements=tuple(announced),
        )

    def document(self, kind: str, name: str) -> dict[str, Any] | None:
        doc = self._ask(names.CONFIG, ConfigActor.document, kind, name)
        return doc if isinstance(doc, dict) else None

    def apply_edit(self, doc: dict[str, Any]) -> EditOutcome:
        if self.readonly:
            raise ReadOnlyPort("the console is read-only")
        return self._ask(names.CONFIG, ConfigActor.apply_edit, doc)

    def delete(self, kind: str, name: str) -> EditOutcome:
        if self.readonly:
            raise ReadOnlyPort("the console is read-only")
        return self._ask(names.CONFIG, ConfigActor.delete, kind, name)

    def kill_node(self, node: str) -> None:
        if self.readonly or self._kill is None:
            raise ReadOnlyPort("killing nodes is only possible in the demo")
        self._kill(self.runtime, node)

    def revive_node(self, node: str) -> None:
        if self.readonly or self._revive is None:
            raise ReadOnlyPort("reviving nodes is only possible in the demo")
        self._revive(self.runtime, node)
