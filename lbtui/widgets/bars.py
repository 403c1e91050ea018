"""The console's chrome: the info bar on top and the ``:``/``/`` prompt at the bottom."""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.markup import escape
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widgets import Input, Label, Static

from lbtui.state.model import ConsoleState
from lbtui.state.rows import counts


class InfoBar(Static):
    """Where the console is attached and the headline numbers."""

    def show(
        self,
        state: ConsoleState,
        *,
        source: str,
        link: str,
        link_ok: bool,
        readonly: bool,
        view: str,
        filter: str = "",
    ) -> None:
        c = counts(state)
        dead = c["nodes"] - c["alive"]
        nodes = f"nodes [$lb-alive]{c['alive']}[/] alive"
        if dead:
            nodes += f" [$lb-dead]{dead} down[/]"
        parts = [
            f"[b]lbtui[/b] {escape(source)}",
            f"[b]{escape(view)}[/b]"
            + (f" [$accent]filter /{escape(filter)}/[/]" if filter else ""),
            nodes,
            f"services {c['services']} ({c['announced']} announced)",
            f"L2 {c['l2']}",
            f"routes {c['routes']}",
        ]
        if state.config_errors:
            parts.append("[$lb-dead]config rejected[/]")
        if readonly:
            parts.append("[$lb-muted]read-only[/]")
        if link:
            style = "$lb-alive" if link_ok else "$lb-dead"
            parts.append(f"[{style}]{escape(link)}[/]")
        self.update(" │ ".join(parts))


class KeyBar(Static):
    """The keys that work here, k9s style, on one line (Textual's Footer builds a widget per
    key and costs a third of a second per view switch; this is one line of text)."""

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._changed)
        self.show_keys()

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _changed(self, _screen: object) -> None:
        self.show_keys()

    def show_keys(self) -> None:
        seen: set[str] = set()
        parts = []
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if not binding.show or not active.enabled or binding.action in seen:
                continue
            seen.add(binding.action)
            key = binding.key_display or self.app.get_key_display(binding)
            parts.append(f"[b $accent]{escape(key)}[/] {escape(binding.description)}")
        self.update("  ".join(parts))


class PromptBar(Horizontal):
    """k9s' prompt: ``:`` runs a command (views, kill, what-if...), ``/`` filters by regex."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", show=False)]

    class Submitted(Message):
        def __init__(self, mode: str, value: str) -> None:
            super().__init__()
            self.mode = mode
            self.value = value

    class Changed(Message):
        def __init__(self, mode: str, value: str) -> None:
            super().__init__()
            self.mode = mode
            self.value = value

    class Cancelled(Message):
        def __init__(self, mode: str) -> None:
            super().__init__()
            self.mode = mode

    def __init__(self, commands: list[str], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.commands = commands
        self.mode = ""

    def compose(self) -> ComposeResult:
        yield Label(":", id="prompt-label")
        yield Input(id="prompt-input", compact=True)
        yield Label("", id="prompt-error")

    def on_mount(self) -> None:
        set_blink = getattr(self.app, "set_blink", None)
        if set_blink is not None:
            set_blink(self)

    def open(self, mode: str, value: str = "") -> None:
        self.mode = mode
        self.query_one("#prompt-label", Label).update(mode)
        field = self.query_one(Input)
        field.suggester = SuggestFromList(self.commands) if mode == ":" else None
        field.value = value
        field.cursor_position = len(value)
        self.add_class("-open")
        # At once, not on the next idle (focus() is deferred): keys typed right after the
        # ':' or '/' must land in the prompt, not in the table.
        self.screen.set_focus(field)

    def close(self) -> None:
        self.remove_class("-open")
        self.set_error(None)
        self.mode = ""

    def set_error(self, error: str | None) -> None:
        """Say what is wrong with what is typed, beside it (an invalid ``/`` regex)."""
        self.set_class(bool(error), "-invalid")
        self.query_one(Input).tooltip = error
        self.query_one("#prompt-error", Label).update(error or "")

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if self.mode:
            self.post_message(self.Changed(self.mode, event.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        mode = self.mode
        self.close()
        self.post_message(self.Submitted(mode, event.value.strip()))

    def action_cancel(self) -> None:
        mode = self.mode
        self.close()
        self.post_message(self.Cancelled(mode))

    def on_descendant_blur(self, event: events.DescendantBlur) -> None:
        if self.mode:
            self.action_cancel()
