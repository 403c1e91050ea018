"""The console: a live, k9s-style view of the runtime, with pool and peer editing.

The app holds one :class:`~lbtui.state.model.ConsoleState`. Runtime events arrive as ActorEvent
messages (posted by the bridge actor or the remote reader, never by direct calls), go through
the pure reducer, and the screens on display update the rows the batch touched. Everything the
console asks of the runtime (edits, deletes, kills, YAML of the configuration) goes through the
ConsolePort inside a thread worker (house rule 5): the UI loop never waits for an actor.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

from textual.app import App, ScreenStackError
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.widgets import Input, TextArea

from actors.config.store import EditOutcome
from actors.events import Event
from lbtui.bridge import ActorEvent, PortStatus, SnapshotLoaded
from lbtui.ports.base import EDITABLE, ConsolePort
from lbtui.ports.documents import yaml_for
from lbtui.ports.explain import describe
from lbtui.ports.tree import service_tree
from lbtui.screens.base import ConsoleScreen
from lbtui.screens.edit import EditScreen, applied_text
from lbtui.screens.modals import (
    ConfirmScreen,
    DescribeScreen,
    HelpScreen,
    TreeScreen,
    WhatIfScreen,
    YamlScreen,
)
from lbtui.screens.views import ALIASES, VIEWS
from lbtui.state.model import ConsoleState, Snapshot
from lbtui.state.reducer import advance, load_snapshot, reduce_all
from lbtui.themes import THEMES_DIR, choose_theme, load_themes
from lbtui.widgets.bars import InfoBar
from lbtui.widgets.table import ResourceTable

VIEW_KEYS = (
    "overview",
    "services",
    "pools",
    "nodes",
    "l2",
    "bgp",
    "peers",
    "events",
    "failovers",
)
COMMANDS = ("kill", "revive", "whatif", "theme", "ns", "quit", "help")


class ConsoleApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "lbtui"
    ENABLE_COMMAND_PALETTE = False
    MODES: ClassVar[dict[str, Any]] = dict(VIEWS)
    DEFAULT_MODE = "overview"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("colon", "command_prompt", "Command", key_display=":"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("ctrl+q", "quit", "Quit", key_display="^q"),
        *(
            Binding(str(index), f"view('{name}')", name, show=False)
            for index, name in enumerate(VIEW_KEYS)
        ),
    ]

    def __init__(
        self,
        port: ConsolePort,
        *,
        theme_name: str | None = None,
        themes_dir: Path = THEMES_DIR,
        readonly: bool = False,
        clock: Callable[[], float] = time.monotonic,
        view: str = "overview",
        start_port: bool = True,
        events: Iterable[Event] = (),
        snapshot: Snapshot | None = None,
        cursor_blink: bool = True,
        exit_after: float | None = None,
    ) -> None:
        themes = load_themes(themes_dir)
        chosen = choose_theme(theme_name, themes)  # raises ThemeError with the choices
        # Start straight in the requested view (App.__init__ reads DEFAULT_MODE), rather than
        # building the overview first and switching.
        self.DEFAULT_MODE = ALIASES.get(view, "overview")  # type: ignore[misc]
        super().__init__()
        for theme in themes.values():
            self.register_theme(theme)
        self.console_themes = tuple(sorted(themes))
        self.theme = chosen
        self.port = port
        self.readonly = readonly or port.readonly
        self.clock = clock
        self.start_port = start_port
        self.cursor_blink = cursor_blink
        self.exit_after = exit_after
        self.state = ConsoleState()
        self.link = ""
        self.namespace = ""  # ``:ns NAME``: the namespaced views show this one's only
        self.link_ok = True
        if snapshot is not None:
            self.state = load_snapshot(self.state, snapshot)
        events = tuple(events)
        if events:
            self.state = reduce_all(self.state, events)
        # The fallback estimate of the runtime's clock (a port that cannot tell it): the
        # runtime's time when events last arrived, and the console's clock then.
        self._anchor = (self.state.now, clock())

    # -- lifecycle ---------------------------------------------------------------------------
    def on_mount(self) -> None:
        self.call_after_refresh(self._keep_long_lived)
        self.set_interval(1.0, self._tick)
        if self.exit_after is not None:
            self.set_timer(self.exit_after, self.exit)
        if self.start_port:
            self.run_worker(self._start_port, thread=True, name="port", exit_on_error=False)

    def _start_port(self) -> None:
        try:
            self.port.start(self)
        except Exception as exc:  # shown to the user; the console stays up
            self.post_message(PortStatus(f"cannot start: {exc}", ok=False))

    def on_unmount(self) -> None:
        self.port.stop()

    def runtime_now(self) -> float:
        """The runtime's clock now, which every age, since and rate is measured against: the
        port's answer when it knows it (the runtime in this process, a speaker's clock as last
        measured), else the newest event's time plus the console's clock since it arrived.
        Never behind the newest event, so nothing is drawn as happening in the future."""
        port_now = getattr(self.port, "now", None)
        now = port_now() if callable(port_now) else None
        if now is None:
            now = self._estimate()
        return max(now, self.state.now)

    def _estimate(self) -> float:
        runtime_t, local_t = self._anchor
        return runtime_t + (self.clock() - local_t)

    def _tick(self) -> None:
        # The timer can still fire while the app shuts down, when screens and their widgets
        # are being taken apart: a redraw then has nothing to draw on, and is skipped.
        with contextlib.suppress(ScreenStackError, NoMatches):
            if self.state.now:
                advanced = advance(self.state, self.runtime_now())
                # Within the same second nothing moves: refreshing with the same state would
                # apply its last batch again and highlight those rows as changed once more.
                if advanced is not self.state:
                    self._set_state(advanced, received=False)
            # Ages ("12s") are drawn from the clock: redraw what is on screen.
            for table in self.screen.query(ResourceTable):
                table.refresh()

    # -- state -------------------------------------------------------------------------------
    def on_actor_event(self, message: ActorEvent) -> None:
        self._set_state(reduce_all(self.state, message.events))

    def on_snapshot_loaded(self, message: SnapshotLoaded) -> None:
        self._set_state(load_snapshot(self.state, message.snapshot))
        self.call_after_refresh(self._keep_long_lived)

    @staticmethod
    def _keep_long_lived() -> None:
        """Once the loaded state is on screen: take what exists now out of the collector's
        full passes. With 10k services a full pass walks ~0.5M objects (hundreds of ms),
        and one starting in the middle of an update is most of that update's lag; frozen
        objects are still freed by reference counting when a later state drops them."""
        gc.freeze()

    def on_port_status(self, message: PortStatus) -> None:
        self.link, self.link_ok = message.text, message.ok
        if not message.ok:
            self.notify(message.text, severity="error", timeout=4)
        self._refresh_screens(self.state)

    def feed(self, events: Iterable[Event]) -> None:
        """Apply events directly (tests and benchmarks feed scripted lists this way)."""
        self._set_state(reduce_all(self.state, tuple(events)))

    def _set_state(self, state: ConsoleState, received: bool = True) -> None:
        if received:
            # Re-anchor only on what the runtime said: the tick's own advance must not be
            # counted again (it was, and ages grew with the square of the time running).
            self._anchor = (max(state.now, self._estimate()), self.clock())
        self.state = state
        self._refresh_screens(state)

    def _refresh_screens(self, state: ConsoleState) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, ConsoleScreen) and screen.is_mounted:
                # Events keep arriving while the app shuts down and takes a screen's widgets
                # apart: that screen has nothing left to draw on and is skipped (the state is
                # kept, and no other screen misses the update).
                with contextlib.suppress(NoMatches):
                    screen.refresh_state(state)

    def show_info(self, screen: ConsoleScreen) -> None:
        # A screen can be mounted a moment before its children are: an event arriving then
        # finds no bar yet (NoMatches), and the screen's own resume shows the info anyway.
        for bar in screen.query(InfoBar):
            bar.show(
                self.state,
                source=self.port.description,
                link=self.link,
                link_ok=self.link_ok,
                readonly=self.readonly,
                view=screen.view_title,
                filter=screen.active_filter,
            )

    def set_blink(self, root: Any) -> None:
        """Text cursors blink unless told not to (snapshot tests and screenshots)."""
        if not self.cursor_blink:
            for widget in root.query("Input, TextArea"):
                if isinstance(widget, Input | TextArea):
                    widget.cursor_blink = False

    # -- commands ----------------------------------------------------------------------------
    def command_words(self) -> list[str]:
        return sorted({*ALIASES, *COMMANDS})

    def action_view(self, name: str) -> None:
        self.switch_mode(name)

    def action_command_prompt(self) -> None:
        if isinstance(self.screen, ConsoleScreen):
            self.screen.prompt().open(":")

    def action_help(self) -> None:
        if isinstance(self.screen, ConsoleScreen):
            self.push_screen(HelpScreen())

    def run_command(self, text: str) -> None:
        words = text.split()
        if not words:
            return
        word, args = words[0].lower().lstrip(":"), words[1:]
        if word in ALIASES:
            before = self.screen
            self.switch_mode(ALIASES[word])
            screen = self.screen
            if args and isinstance(screen, ConsoleScreen):
                pattern = " ".join(args)
                if screen is before:
                    screen.apply_filter(pattern)
                else:  # not mounted yet: applied when it shows
                    screen.pending_filter = pattern
        elif word in ("ns", "namespace"):
            self.set_namespace(args[0] if args else "")
        elif word in ("q", "q!", "quit", "exit"):
            self.exit()
        elif word in ("kill", "revive") and len(args) == 1:
            self.control_node(word, args[0])
        elif word in ("whatif", "what-if"):
            self.open_what_if(tuple(args))
        elif word == "theme" and len(args) == 1:
            if args[0] in self.console_themes:
                self.theme = args[0]
            else:
                known = ", ".join(self.console_themes)
                self.notify(f"unknown theme {args[0]!r} ({known})", severity="error")
        elif word in ("help", "h"):
            self.action_help()
        else:
            self.notify(f"unknown command: {text}", severity="error")

    def set_namespace(self, namespace: str) -> None:
        """``:ns NAME``: the services and layer 2 views show that namespace's only (``:ns``
        or ``:ns all``: every namespace), as k9s does; cluster-wide views are unchanged."""
        namespace = "" if namespace in ("all", "-A", "*") else namespace
        self.namespace = namespace
        known = {k.partition("/")[0] for k in self.state.services}
        if namespace and namespace not in known:
            have = ", ".join(sorted(known)) or "none"
            self.notify(
                f"no LoadBalancer service in namespace {namespace!r} (namespaces: {have})",
                severity="warning",
            )
        for screen in self.screen_stack:
            if isinstance(screen, ConsoleScreen) and screen.is_mounted:
                screen.refresh_state(self.state, full=True)

    # -- pop-ups -----------------------------------------------------------------------------
    def open_describe(self, kind: str, key: str) -> None:
        self.push_screen(DescribeScreen(describe(self.state, kind, key)))

    def open_tree(self, key: str) -> None:
        self.push_screen(TreeScreen(service_tree(self.state, key)))

    def open_what_if(self, preselected: tuple[str, ...]) -> None:
        unknown = [n for n in preselected if n not in self.state.nodes]
        if unknown:
            self.notify(f"unknown node(s): {', '.join(unknown)}", severity="error")
            return
        self.push_screen(WhatIfScreen(self.state.nodes, preselected))

    def open_yaml(self, kind: str, key: str) -> None:
        title = f"{EDITABLE.get(kind, kind)} {key}"
        if kind not in EDITABLE:
            self.push_screen(YamlScreen(title, yaml_for(self.state, kind, key)))
            return

        def fetch() -> None:
            # The object as written in the configuration (an ask: off the UI loop).
            document = self._ask(lambda: self.port.document(EDITABLE[kind], key))
            doc = document if isinstance(document, dict) else None
            self.call_from_thread(
                self.push_screen, YamlScreen(title, yaml_for(self.state, kind, key, doc))
            )

        self.run_worker(fetch, thread=True, group="port", exit_on_error=False)

    def open_edit(self, kind: str, key: str | None) -> None:
        if self.readonly or kind not in EDITABLE:
            return
        if key is None:
            self.push_screen(EditScreen(kind, None), self._edited)
            return

        def fetch() -> None:
            document = self._ask(lambda: self.port.document(EDITABLE[kind], key))
            if not isinstance(document, dict):
                message = f"{EDITABLE[kind]}/{key}: {document or 'not found'}"
                self.call_from_thread(self.notify, message, severity="error")
                return
            self.call_from_thread(self.push_screen, EditScreen(kind, document), self._edited)

        self.run_worker(fetch, thread=True, group="port", exit_on_error=False)

    def _edited(self, outcome: EditOutcome | None) -> None:
        """Say what really happened to an edit: nothing (cancelled), or applied, and where
        it was written, if anywhere."""
        if outcome is not None and outcome.applied:
            self.notify(applied_text(outcome))

    def submit_edit(self, document: dict[str, Any], screen: EditScreen) -> None:
        def apply() -> None:
            outcome = self._ask(lambda: self.port.apply_edit(document))
            self.call_from_thread(screen.show_outcome, outcome)

        self.run_worker(apply, thread=True, group="port", exit_on_error=False)

    def confirm_delete(self, kind: str, key: str) -> None:
        if self.readonly or kind not in EDITABLE:
            return
        what = f"{EDITABLE[kind]}/{key}"
        detail = {
            "pool": "Services holding its addresses lose them.",
            "peer": "Every session with this peer is closed.",
        }[kind]

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_worker(
                    lambda: self._delete(EDITABLE[kind], key),
                    thread=True,
                    group="port",
                    exit_on_error=False,
                )

        self.push_screen(ConfirmScreen(f"Delete {what}?", detail), answered)

    def _delete(self, kind: str, name: str) -> None:
        outcome = self._ask(lambda: self.port.delete(kind, name))
        if isinstance(outcome, EditOutcome) and outcome.applied:
            self.call_from_thread(self.notify, f"deleted {kind}/{name}")
            return
        if isinstance(outcome, EditOutcome):
            errors = [str(i).removeprefix("<memory>: ") for i in outcome.issues]
            text = f"{kind}/{name} not deleted: " + "; ".join(errors)
        else:
            text = f"{kind}/{name} not deleted: {outcome}"
        self.call_from_thread(self.notify, text, severity="error", timeout=8)

    def control_node(self, action: str, node: str) -> None:
        if self.readonly or not self.port.can_kill:
            self.notify("kill/revive is only possible in the demo", severity="error")
            return
        if node not in self.state.nodes:
            self.notify(f"unknown node {node!r}", severity="error")
            return

        def run() -> None:
            call = self.port.kill_node if action == "kill" else self.port.revive_node
            result = self._ask(lambda: call(node))
            if isinstance(result, Exception):
                self.call_from_thread(self.notify, f"{action} {node}: {result}", severity="error")
            else:
                done = "killed" if action == "kill" else "revived"
                self.call_from_thread(self.notify, f"{node} {done}")

        self.run_worker(run, thread=True, group="port", exit_on_error=False)

    @staticmethod
    def _ask(call: Callable[[], Any]) -> Any:
        """Run a port call in a worker thread; an exception is returned, not raised."""
        try:
            return call()
        except Exception as exc:
            return exc
