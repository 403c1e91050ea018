"""ConfigActor: holds the configuration in force and is the only way to change it.

A new configuration (from a file change, a console edit or a scenario step) is applied only
if it is valid; otherwise ConfigRejected is published and the last good one stays in force
(house rule 6). Applied configurations are published as ConfigApplied for the allocator and
the speakers.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from typing import Any

import pykka

from actors.base import RuntimeActor, Tick
from actors.config.store import ConfigStore, EditOutcome, PersistRejected
from actors.events import ConfigApplied, ConfigPersisted, ConfigRejected
from actors.model.config import Config
from actors.model.issues import UnreadableInput

log = logging.getLogger(__name__)


class ConfigActor(RuntimeActor):
    actor_name = "config"

    def __init__(self, store: ConfigStore, *, watch_interval: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store = store
        self.config: Config | None = None
        self.watch_interval = watch_interval
        self._mtimes: dict[str, float] = {}
        self._unsubscribe: Callable[[], None] | None = None
        self._reload_pending = False

    def on_start(self) -> None:
        self._apply(self.store, source="startup")
        self._mtimes = self._current_mtimes()
        if self.watch_interval > 0:
            self._schedule_watch()
        # A store that pushes changes (the Kubernetes API) says when to reload.
        subscribe = getattr(self.store, "subscribe", None)
        self._unsubscribe = subscribe(self._store_changed) if callable(subscribe) else None

    def on_stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    def _store_changed(self) -> None:
        """Called from the store's thread: coalesce bursts into one reload in our thread."""
        if not self._reload_pending:
            self._reload_pending = True
            with contextlib.suppress(pykka.ActorDeadError):
                self.actor_ref.tell(Tick(self._pushed_reload))

    def _pushed_reload(self) -> None:
        self._reload_pending = False
        self.reload()

    # -- asks from above (runtime, console port, scenario) ----------------------------------
    def current(self) -> Config | None:
        return self.config

    def republish(self) -> None:
        """Publish the configuration in force again (after a subscriber restarted)."""
        if self.config is not None:
            self.publish(ConfigApplied(self.clock.now(), self.config, "republish"))

    def reload(self) -> bool:
        try:
            fresh = self.store.reload()
        except UnreadableInput as exc:
            self.publish(ConfigRejected(self.clock.now(), "reload", (str(exc),)))
            return False
        return self._apply(fresh, source="reload")

    def document(self, kind: str, name: str) -> dict[str, Any] | None:
        return self.store.document(kind, name)

    def apply_edit(self, doc: dict[str, Any]) -> EditOutcome:
        """Replace or create one metallb.io object; validate, apply, persist."""
        try:
            candidate, path = self.store.with_document(doc)
        except ValueError as exc:
            return self._refuse("edit", str(exc))
        return self._commit(candidate, path, source="edit")

    def delete(self, kind: str, name: str) -> EditOutcome:
        try:
            candidate, path = self.store.without_document(kind, name)
        except KeyError as exc:
            return self._refuse("delete", str(exc.args[0]))
        return self._commit(candidate, path, source="delete")

    # -- timers ------------------------------------------------------------------------------
    def watch(self) -> None:
        mtimes = self._current_mtimes()
        if mtimes != self._mtimes:
            self._mtimes = mtimes
            self.reload()
        self._schedule_watch()

    def _schedule_watch(self) -> None:
        self.after(self.watch_interval, self.watch)

    def _current_mtimes(self) -> dict[str, float]:
        out = {}
        for path in self.store.files:
            try:
                out[path] = os.stat(path).st_mtime
            except OSError:
                out[path] = -1.0
        return out

    # -- internals ---------------------------------------------------------------------------
    def _refuse(self, source: str, message: str) -> EditOutcome:
        from actors.model.issues import Issue

        issue = Issue("", "", "", message)
        self.publish(ConfigRejected(self.clock.now(), source, (message,)))
        return EditOutcome(False, (issue,))

    def _commit(self, candidate: ConfigStore, path: str, source: str) -> EditOutcome:
        _, result = candidate.build()
        if result.config is None:
            errors = tuple(str(i) for i in result.errors)
            self.publish(ConfigRejected(self.clock.now(), source, errors))
            return EditOutcome(False, tuple(result.errors))
        try:
            backup = candidate.persist(path)
        except PersistRejected as exc:
            self.publish(ConfigRejected(self.clock.now(), source, tuple(map(str, exc.issues))))
            return EditOutcome(False, exc.issues)
        self.store = candidate
        self._mtimes = self._current_mtimes()
        self.config = result.config
        if backup or path:
            self.publish(ConfigPersisted(self.clock.now(), path, backup))
        self.publish(ConfigApplied(self.clock.now(), result.config, source))
        return EditOutcome(True, tuple(result.warnings), path, backup)

    def _apply(self, store: ConfigStore, source: str) -> bool:
        _, result = store.build()
        if result.config is None:
            errors = tuple(str(i) for i in result.errors)
            for line in errors:
                log.warning("configuration rejected: %s", line)
            self.publish(ConfigRejected(self.clock.now(), source, errors))
            return False
        for warning in result.warnings:
            log.warning("%s", warning)
        self.store = store
        self.config = result.config
        self.publish(ConfigApplied(self.clock.now(), result.config, source))
        return True
