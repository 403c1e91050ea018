"""What every view shares: the info bar, the prompt, the footer, and the table views' keys.

A view is a Screen; views are Textual modes (one per ``:`` command), and drilling down pushes
a scoped view (e.g. the services of one pool) onto the mode's stack, which ``esc`` pops.
The app calls :meth:`ConsoleScreen.refresh_state` after every batch of events; a table view
then updates only the rows the batch touched.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Label

from lbtui.state.model import ConsoleState
from lbtui.state.rows import Column, Row
from lbtui.widgets.bars import InfoBar, KeyBar, PromptBar
from lbtui.widgets.table import ResourceTable

if TYPE_CHECKING:
    from lbtui.app import ConsoleApp

# Actions that change the runtime: hidden (and refused) with --readonly or a remote port.
MUTATING = frozenset({"edit", "new", "delete", "kill", "revive"})


@dataclass(frozen=True, slots=True)
class Scope:
    """A drill-down: only the rows ``keep`` accepts, under a title saying what they are."""

    title: str
    keep: Callable[[ConsoleState, str], bool]


class ConsoleScreen(Screen[None]):
    VIEW: ClassVar[str] = ""
    TITLE: ClassVar[str] = ""
    pending_filter: str | None = None

    @property
    def console(self) -> ConsoleApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield InfoBar(id="info")
        with Vertical(id="body"):
            yield from self.compose_body()
        yield PromptBar(self.console.command_words(), id="prompt")
        yield KeyBar(id="keys")

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_screen_resume(self) -> None:
        self.refresh_state(self.console.state, full=True)

    def refresh_state(self, state: ConsoleState, full: bool = False) -> None:
        self.console.show_info(self)

    def prompt(self) -> PromptBar:
        return self.query_one(PromptBar)

    def apply_filter(self, pattern: str) -> None:
        """Views with rows filter them (``:svc REGEX``); the others ignore it."""

    @property
    def active_filter(self) -> str:
        """The ``/`` filter in force (shown in the header), "" for none."""
        return ""

    def on_prompt_bar_submitted(self, event: PromptBar.Submitted) -> None:
        if event.mode == ":":
            self.console.run_command(event.value)

    def on_prompt_bar_cancelled(self, event: PromptBar.Cancelled) -> None:
        self.focus_body()

    def focus_body(self) -> None:
        self.focus_next()

    @property
    def view_title(self) -> str:
        return self.TITLE


class _AbstractScreenMeta(type(Screen), ABCMeta):  # type: ignore[misc]
    """Screens with abstract methods: a view missing one cannot even be made."""


class TableScreen(ConsoleScreen, metaclass=_AbstractScreenMeta):
    """A view that is one ResourceTable of one kind of object (see SmallTableScreen and
    BigTableScreen for how its rows are kept up to date)."""

    KIND: ClassVar[str] = ""
    NAMESPACED: ClassVar[bool] = False  # its rows belong to namespaces (``:ns`` narrows it)
    COLUMNS: ClassVar[tuple[Column, ...]] = ()
    ACTIONS: ClassVar[frozenset[str]] = frozenset({"describe", "yaml"})
    EMPTY: ClassVar[str] = "nothing here yet"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d", "describe", "Describe"),
        Binding("y", "yaml", "YAML"),
        Binding("x", "tree", "Tree"),
        Binding("w", "what_if", "What-if"),
        Binding("e", "edit", "Edit"),
        Binding("n", "new", "New"),
        Binding("ctrl+d", "delete", "Delete"),
        Binding("K", "kill", "Kill node"),
        Binding("R", "revive", "Revive node"),
        Binding("slash", "filter", "Filter"),
        Binding("escape", "back", "Back", show=False),
    ]

    def __init__(self, scope: Scope | None = None) -> None:
        super().__init__()
        self.scope = scope
        self._loaded = False
        self.pending_filter: str | None = None

    @property
    def view_title(self) -> str:
        title = f"{self.TITLE}: {self.scope.title}" if self.scope else self.TITLE
        namespace = self.console.namespace if self.NAMESPACED else ""
        return f"{title} in {namespace}" if namespace else title

    def in_namespace(self, state: ConsoleState, key: str, namespace: str) -> bool:
        """Whether the row ``key`` belongs to ``namespace`` (``:ns``); only views of
        namespaced objects (NAMESPACED) are asked."""
        return True

    def _keep(self) -> Callable[[ConsoleState, str], bool] | None:
        """The rows this view shows: its scope's (a drill-down) and the ``:ns`` namespace's."""
        scope = self.scope.keep if self.scope is not None else None
        namespace = self.console.namespace if self.NAMESPACED else ""
        if not namespace:
            return scope
        if scope is None:
            return lambda s, k: self.in_namespace(s, k, namespace)
        return lambda s, k: scope(s, k) and self.in_namespace(s, k, namespace)

    def compose_body(self) -> ComposeResult:
        yield Label(self.view_title, id="view-title")
        yield ResourceTable(
            self.COLUMNS,
            now=self.console.runtime_now,
            clock=self.console.clock,
            sort_key=self.sort_key,
            empty_text=self.EMPTY,
            id="table",
        )

    def on_mount(self) -> None:
        self.table.focus()

    def on_screen_resume(self) -> None:
        # Textual calls the handler of every class in the MRO: ConsoleScreen's refreshes the
        # state. Calling it here too refreshed every view twice on each switch (with 10k
        # services, twice the rows loaded).
        if self.pending_filter is not None:
            pattern, self.pending_filter = self.pending_filter, None
            self.apply_filter(pattern)

    def apply_filter(self, pattern: str) -> None:
        error = self.table.set_filter(pattern)
        if error:
            self.console.notify(error, severity="error")
        self.console.show_info(self)

    def focus_body(self) -> None:
        self.table.focus()

    @property
    def active_filter(self) -> str:
        return self.table.filter_pattern

    @property
    def table(self) -> ResourceTable:
        return self.query_one("#table", ResourceTable)

    def sort_key(self, key: str) -> Any:
        return key

    # -- rows --------------------------------------------------------------------------------
    def refresh_state(self, state: ConsoleState, full: bool = False) -> None:
        super().refresh_state(state, full)
        whole = full or not self._loaded or state.changes.full
        if full and self.NAMESPACED:  # the title says the namespace (``:ns``)
            for label in self.query("#view-title"):
                if isinstance(label, Label):
                    label.update(self.view_title)
        self.fill(self.table, state, whole)
        self._loaded = True

    @abstractmethod
    def fill(self, table: ResourceTable, state: ConsoleState, whole: bool) -> None:
        """Put the state's rows into the table: all of them when ``whole``, otherwise those
        the last batch touched (or all, if that is cheap)."""

    # -- keys --------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in {"filter", "back"}:
            return True
        if action not in self.ACTIONS:
            return False
        if action in MUTATING and self.console.readonly:
            return False
        return action not in {"kill", "revive"} or self.console.port.can_kill

    @property
    def selected(self) -> str | None:
        return self.table.selected_key

    def action_filter(self) -> None:
        self.prompt().open("/", self.table.filter_pattern)

    def action_back(self) -> None:
        if self.table.filter_pattern:
            self.table.set_filter(None)
            self.console.show_info(self)
        elif len(self.console.screen_stack) > 1:
            self.console.pop_screen()

    def on_prompt_bar_changed(self, event: PromptBar.Changed) -> None:
        if event.mode == "/":
            error = self.table.set_filter(event.value)
            self.prompt().set_error(error)

    def on_prompt_bar_submitted(self, event: PromptBar.Submitted) -> None:
        # Textual calls the handler of every class in the MRO: ConsoleScreen's runs the ':'
        # command after this one. Calling it here too ran every command twice (two what-if
        # pop-ups, one Esc each; a kill sent twice).
        self.table.focus()
        if event.mode == "/":
            self.apply_filter(event.value)

    def on_resource_table_selected(self, event: ResourceTable.Selected) -> None:
        self.drill(event.key)

    def drill(self, key: str) -> None:
        """Enter: the default is to describe the row."""
        self.console.open_describe(self.KIND, key)

    def action_describe(self) -> None:
        if self.selected is not None:
            self.console.open_describe(self.KIND, self.selected)

    def action_yaml(self) -> None:
        if self.selected is not None:
            self.console.open_yaml(self.KIND, self.selected)

    def action_tree(self) -> None:
        if self.selected is not None:
            self.console.open_tree(self.selected)

    def action_what_if(self) -> None:
        self.console.open_what_if(self.what_if_nodes())

    def what_if_nodes(self) -> tuple[str, ...]:
        return ()

    def action_edit(self) -> None:
        if self.selected is not None:
            self.console.open_edit(self.KIND, self.selected)

    def action_new(self) -> None:
        self.console.open_edit(self.KIND, None)

    def action_delete(self) -> None:
        if self.selected is not None:
            self.console.confirm_delete(self.KIND, self.selected)

    def action_kill(self) -> None:
        node = self.selected_node()
        if node:
            self.console.control_node("kill", node)

    def action_revive(self) -> None:
        node = self.selected_node()
        if node:
            self.console.control_node("revive", node)

    def selected_node(self) -> str | None:
        return None


class SmallTableScreen(TableScreen):
    """A table of a few rows per node, pool or peer: made whole after every batch."""

    @abstractmethod
    def all_rows(self, state: ConsoleState) -> Mapping[str, Row]:
        """Every row of the view, keyed."""

    def fill(self, table: ResourceTable, state: ConsoleState, whole: bool) -> None:
        keep = self._keep()
        rows = {
            k: r
            for k, r in self.all_rows(state).items()
            if r is not None and (keep is None or keep(state, k))
        }
        table.set_rows(rows, highlight=self._loaded)


class BigTableScreen(TableScreen):
    """A table of one row per service, address or event (tens of thousands): the keys are
    loaded, each row is made when it is drawn, and a batch updates only the keys it touched."""

    @abstractmethod
    def row_keys(self, state: ConsoleState) -> Iterable[str]:
        """Every key of the view."""

    @abstractmethod
    def make_row(self, key: str) -> Row | None:
        """One row, from the console's current state (None: gone)."""

    @abstractmethod
    def changed_keys(self, state: ConsoleState) -> Iterable[str]:
        """The keys whose rows the last batch touched, made, or removed."""

    @abstractmethod
    def has_row(self, state: ConsoleState, key: str) -> bool:
        """Whether the view has a row for ``key`` in this state."""

    def fill(self, table: ResourceTable, state: ConsoleState, whole: bool) -> None:
        keep = self._keep()
        if whole:
            keys = self.row_keys(state)
            if keep is not None:
                keys = [k for k in keys if keep(state, k)]
            table.load(keys, self.make_row)
        elif keep is None:
            table.update_keys(self.changed_keys(state), lambda k: self.has_row(state, k))
        else:
            table.update_keys(
                self.changed_keys(state),
                lambda k: self.has_row(state, k) and keep(state, k),
            )
