"""The FRR backend's actor: keeps one node's frr.conf equal to what the speaker announces.

``lbtui speaker --bgp-backend frr --frr-config PATH`` runs no BGP session of its own. The
SpeakerActor computes the node's routes (who is alive, who is a candidate, the election) as
for any backend and hands them to an :class:`~actors.bgp.announcer.FrrAnnouncer`; the
:class:`FrrConfigWriter` takes them from it, renders them with the configuration it listens
to (peers, BFD profiles, this node's labels for the peers' nodeSelectors, the passwords of
peers whose ``passwordSecret`` it finds with ``secrets``) and rewrites PATH when the text
changes. FRR does the rest. Wiring (a role builder)::

    frr = FrrAnnouncer()
    ActorSpec("frr", FrrConfigWriter, {"node": node, "path": path, "announcer": frr},
              withdraws_on_stop=True)
    # and the speaker gets CompositeAnnouncer(l2=..., bgp=frr)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from actors.base import RuntimeActor
from actors.bgp.announcer import FrrAnnouncer, RouteKey, RoutesChanged
from actors.bgp.frr.render import FrrRenderError, render_frr_config
from actors.bgp.secrets import SecretLookup, session_password
from actors.events import ClusterUpdated, ConfigApplied, ConfigRejected, Event
from actors.listener import Listener
from actors.model.cluster import ClusterState
from actors.model.config import Config
from actors.model.route import BGPRoute
from actors.util.atomic import replace_if_changed

log = logging.getLogger(__name__)


class FrrConfigWriter(Listener, RuntimeActor):
    """Renders the routes the speaker hands ``announcer`` into ``path``.

    The first file is written once the speaker has handed over its first complete set
    (``synced``), or after ``sync_timeout`` at the latest, so a restart never gives FRR a
    file without the routes it is still announcing. A configuration FRR cannot express is
    reported (ConfigRejected, source "frr backend") and the last good file stays. On a
    graceful stop the routes are withdrawn (the file keeps the sessions only).
    """

    listens_to = (ConfigApplied, ClusterUpdated)

    def __init__(
        self,
        node: str,
        path: str | Path,
        announcer: FrrAnnouncer,
        *,
        sync_timeout: float = 30.0,
        secrets: SecretLookup | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=kwargs.pop("name", f"frr/{node}"), **kwargs)
        self.node = node
        self.path = Path(path)
        self.announcer = announcer
        self.secrets = secrets
        self.sync_timeout = sync_timeout
        self.config: Config | None = None
        self.cluster: ClusterState | None = None
        self.routes: tuple[BGPRoute, ...] = ()
        self.synced = False
        self.text: str | None = None
        self.writes = 0
        self.running = True
        self.error = ""  # the last problem reported, so it is reported once

    # -- lifecycle ----------------------------------------------------------------------------
    def on_start(self) -> None:
        routes, synced = self.announcer.attach(self.actor_ref)
        self._take(routes, synced)
        if not synced:
            self.after(self.sync_timeout, self.sync_overdue)

    def on_stop(self) -> None:
        self.announcer.detach(self.actor_ref)

    # -- messages -----------------------------------------------------------------------------
    def on_receive(self, message: Any) -> Any:
        if isinstance(message, RoutesChanged):
            _, synced = self.announcer.take()
            self._take(self.announcer.routes(), synced)
            return None
        return super().on_receive(message)

    def on_event(self, event: Event) -> None:
        if isinstance(event, ConfigApplied):
            self.config = event.config
        elif isinstance(event, ClusterUpdated):
            self.cluster = event.cluster
        self.reconcile()

    def sync_overdue(self) -> None:
        if not self.synced:
            log.warning(
                "frr backend: the speaker sent no routes within %gs; writing %s anyway",
                self.sync_timeout,
                self.path,
            )
            self.synced = True
            self.reconcile()

    # -- asks ---------------------------------------------------------------------------------
    def withdraw_all(self, reason: str = "shutdown") -> int:
        count = len(self.routes)
        if self.config is not None and self.cluster is not None:
            self._write(())
        self.running = False
        return count

    def rendered(self) -> str | None:
        return self.text

    # -- internals ----------------------------------------------------------------------------
    def reconcile(self) -> None:
        if not self.running or not self.synced or self.config is None or self.cluster is None:
            return
        self._write(self.routes)

    def _take(self, routes: dict[RouteKey, BGPRoute], synced: bool) -> None:
        self.routes = tuple(routes[key] for key in sorted(routes))
        self.synced = self.synced or synced
        self.reconcile()

    def _passwords(self) -> dict[str, str]:
        """The passwords that live in Secrets, by BGPPeer name (those found)."""
        assert self.config is not None
        found = {}
        for peer in self.config.peers:
            if peer.password_secret is not None and not peer.password:
                password = session_password(peer, self.secrets)
                if password:
                    found[peer.name] = password
        return found

    def _write(self, routes: tuple[BGPRoute, ...]) -> None:
        assert self.config is not None and self.cluster is not None
        node = self.cluster.nodes.get(self.node)
        labels = node.metadata.labels if node is not None else {}
        try:
            text = render_frr_config(
                self.config, self.node, routes, node_labels=labels, passwords=self._passwords()
            )
        except FrrRenderError as exc:
            self._report(str(exc))
            return
        if text == self.text:
            self.error = ""
            return
        try:
            # Mode 0600: it may hold passwords. FRR's reload sees the old file or the new one.
            changed = replace_if_changed(self.path, text, mode=0o600)
        except OSError as exc:
            log.error("frr backend: cannot write %s: %s", self.path, exc)
            self.publish(ConfigRejected(self.clock.now(), "frr backend", (f"{self.path}: {exc}",)))
            return
        self.text = text
        if changed:
            self.writes += 1
            log.info("frr backend: wrote %s (%d routes)", self.path, len(routes))

    def _report(self, error: str) -> None:
        if error != self.error:
            log.error("frr backend: %s", error)
            self.publish(ConfigRejected(self.clock.now(), "frr backend", (error,)))
        self.error = error
