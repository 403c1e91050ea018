"""The console's chrome: the info bar on top and the ``:``/``/`` prompt at the bottom."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from rich.cells import cell_len
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
    """Where the console is attached and the headline numbers, fitted to the terminal's
    width (:func:`fit_parts`: short forms first, then the least needed parts left out)."""

    _last: tuple[ConsoleState, dict[str, Any]] | None = None

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
        options = dict(
            source=source, link=link, link_ok=link_ok, readonly=readonly, view=view, filter=filter
        )
        self._last = (state, options)
        parts = info_parts(state, **options)
        width = self.size.width or self.app.size.width
        self.update(fit_parts(parts, width - 2))  # the bar's padding

    def on_resize(self, _event: events.Resize) -> None:
        if self._last is not None:
            state, options = self._last
            self.show(state, **options)


# A part of the info bar: (how much it is needed, 0 most; its markup; a shorter markup or "").
Part = tuple[int, str, str]


def info_parts(
    state: ConsoleState,
    *,
    source: str,
    link: str,
    link_ok: bool,
    readonly: bool,
    view: str,
    filter: str = "",
) -> list[Part]:
    """The info bar's parts, in the order shown (pure)."""
    c = counts(state)
    dead = c["nodes"] - c["alive"]
    nodes = f"nodes [$lb-alive]{c['alive']}[/] alive"
    short_nodes = f"[$lb-alive]{c['alive']}[/]/{c['nodes']} nodes"
    if dead:
        nodes += f" [$lb-dead]{dead} down[/]"
        short_nodes = f"[$lb-alive]{c['alive']}[/]/[$lb-dead]{c['nodes']}[/] nodes"
    where = f"[b]{escape(view)}[/b]" + (f" [$accent]filter /{escape(filter)}/[/]" if filter else "")
    short_where = f"[b]{escape(view)}[/b]" + (f" [$accent]/{escape(filter)}/[/]" if filter else "")
    parts: list[Part] = [
        (4, f"[b]lbtui[/b] {escape(source)}", "[b]lbtui[/b]"),
        (0, where, short_where),
        (1, nodes, short_nodes),
        (
            1,
            f"services {c['services']} ({c['announced']} announced)",
            f"svc {c['announced']}/{c['services']}",
        ),
        (3, f"L2 {c['l2']}", ""),
        (3, f"routes {c['routes']}", ""),
    ]
    if state.config_errors:
        parts.append((0, "[$lb-dead]config rejected[/]", "[$lb-dead]rejected[/]"))
    if readonly:
        parts.append((2, "[$lb-muted]read-only[/]", "[$lb-muted]ro[/]"))
    if link:
        style = "$lb-alive" if link_ok else "$lb-dead"
        head = link.split(" · ", 1)[0] if " · " in link else ""  # the rest: in the toast
        short = f"[{style}]{escape(head)}[/]" if head else ""
        parts.append((2 if link_ok else 1, f"[{style}]{escape(link)}[/]", short))
    return parts


SEPARATOR = " │ "
_TAG = re.compile(r"(?<!\\)\[[^\]]*\]")


def plain_text(markup: str) -> str:
    """``markup`` without its tags, as on screen."""
    return _TAG.sub("", markup).replace("\\[", "[")


def plain_length(markup: str) -> int:
    """How many cells ``markup`` takes on screen (its tags take none)."""
    return cell_len(plain_text(markup))


def fit_parts(parts: list[Part], width: int) -> str:
    """The parts joined, within ``width`` cells if they can be: the least needed are made
    short first, then left out; what is most needed stays (a long last part is cut by the
    terminal, never the view's name)."""
    texts = [full for _, full, _ in parts]

    def length() -> int:
        kept = [t for t in texts if t]
        return sum(map(plain_length, kept)) + len(SEPARATOR) * (len(kept) - 1)

    by_need = sorted(range(len(parts)), key=lambda i: (-parts[i][0], -i))
    for i in by_need:  # short forms, least needed first
        if length() <= width:
            break
        if parts[i][2]:
            texts[i] = parts[i][2]
    for i in by_need:  # then leave out, least needed first (never what is needed most)
        if length() <= width or parts[i][0] == 0:
            break
        texts[i] = ""
    return SEPARATOR.join(t for t in texts if t)


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
