"""Pop-ups: help, describe, YAML, tree, what-if and the delete confirmation."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Button, Label, SelectionList, Static, TextArea, Tree
from textual.widgets.selection_list import Selection
from textual.widgets.tree import TreeNode
from textual.worker import Worker, WorkerState

from lbtui.ports.explain import Description
from lbtui.ports.tree import TreeItem
from lbtui.ports.what_if import WhatIfResult, what_if
from lbtui.state.rows import Column
from lbtui.widgets.table import ResourceTable

if TYPE_CHECKING:
    from lbtui.app import ConsoleApp

# Semantic style -> theme variable, for markup.
STYLE_VARIABLE = {
    "ok": "$success",
    "error": "$error",
    "warning": "$warning",
    "muted": "$lb-muted",
    "alive": "$lb-alive",
    "suspect": "$lb-suspect",
    "dead": "$lb-dead",
    "l2": "$lb-l2",
    "bgp": "$lb-bgp",
}


def styled(text: str, style: str) -> str:
    variable = STYLE_VARIABLE.get(style)
    return f"[{variable}]{escape(text)}[/]" if variable else escape(text)


class Popup(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "dismiss_popup", "Close"),
    ]

    @property
    def console(self) -> ConsoleApp:
        return self.app  # type: ignore[return-value]

    def action_dismiss_popup(self) -> None:
        self.dismiss(None)

    def on_mount(self) -> None:
        for box in self.query(".popup"):
            box.border_subtitle = "esc: close"


class HelpScreen(Popup):
    KEYS: ClassVar[list[tuple[str, str]]] = [
        (
            ":",
            "command: a view (svc, pools, nodes, l2, bgp, peers, events, failovers, overview), "
            "kill NODE, revive NODE, whatif NODE..., ns NAME (ns: all), theme NAME, quit",
        ),
        ("/", "filter the rows by a regular expression (esc clears it)"),
        ("A-Z", "shift+letter: sort by that column (again: reversed; a third time: unsorted)"),
        ("← / →", "columns a narrow terminal leaves out (shift: to either end)"),
        ("0-8", "overview, services, pools, nodes, l2, bgp, peers, events, failovers"),
        ("enter", "drill down (pool → its services, node → its addresses, service → tree)"),
        ("d", "describe: why (no IP, this owner, this node ruled out)"),
        ("y", "YAML of the object in MetalLB's form"),
        ("x", "tree of a service: IP → pool → advertisement → node → sessions"),
        ("w", "what-if: mark nodes down, see what would move where (nothing is touched)"),
        ("e / n", "edit / new pool or BGP peer (form or YAML), validated like lbtui validate"),
        ("ctrl+d", "delete the pool or peer (asks first)"),
        ("K / R", "kill / revive the selected node (demo only)"),
        ("esc", "back, or clear the filter"),
        ("ctrl+q", "quit"),
    ]

    def compose(self) -> ComposeResult:
        readonly = self.console.readonly
        with Vertical(classes="popup", id="help") as box:
            box.border_title = "Keys"
            lines = []
            for key, text in self.KEYS:
                mutating = key in {"e / n", "ctrl+d", "K / R"}
                if mutating and readonly:
                    continue
                lines.append(f"[b $accent]{escape(key):>8}[/]  {escape(text)}")
            if readonly:
                lines.append("\n[$lb-muted]read-only: editing and kill/revive are off[/]")
            yield Static("\n".join(lines))


class DescribeScreen(Popup):
    def __init__(self, description: Description) -> None:
        super().__init__()
        self.description = description

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="popup", id="describe") as box:
            box.border_title = self.description.title
            for section in self.description.sections:
                if section.title:
                    yield Label(section.title, classes="section-title")
                yield Static(
                    "\n".join(styled(line.text, line.style) for line in section.lines),
                    classes="section-body",
                )


class YamlScreen(Popup):
    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.title_text = title
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(classes="popup", id="yaml") as box:
            box.border_title = self.title_text
            yield TextArea(self.text, read_only=True, show_line_numbers=True, id="yaml-text")

    def on_mount(self) -> None:
        super().on_mount()
        self.console.set_blink(self)


class TreeScreen(Popup):
    def __init__(self, root: TreeItem) -> None:
        super().__init__()
        self.root_item = root

    def compose(self) -> ComposeResult:
        with Vertical(classes="popup", id="tree") as box:
            box.border_title = "Service tree"
            self._variables = self.app.get_css_variables()
            tree: Tree[None] = Tree(self._label(self.root_item))
            tree.show_root = True
            self._add(tree.root, self.root_item)
            tree.root.expand_all()
            yield tree

    def _label(self, item: TreeItem) -> Text:
        # Tree labels are Rich text: the theme's colour is looked up, never written here.
        variable = STYLE_VARIABLE.get(item.style, "").lstrip("$")
        colour = self._variables.get(variable)
        return Text(item.label, style=Style(color=colour) if colour else Style())

    def _add(self, node: TreeNode[None], item: TreeItem) -> None:
        for child in item.children:
            branch = node.add(self._label(child), allow_expand=bool(child.children))
            self._add(branch, child)


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, detail: str = "") -> None:
        super().__init__()
        self.question = question
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical(classes="popup", id="confirm") as box:
            box.border_title = "Confirm"
            yield Label(self.question, id="confirm-question")
            if self.detail:
                yield Label(self.detail, id="confirm-detail")
            with Horizontal(id="confirm-buttons"):
                yield Button("Delete (y)", variant="error", id="yes")
                yield Button("Cancel (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


WHAT_IF_COLUMNS = (
    Column("ADDRESS/PREFIX", 14, priority=0),
    Column("PROTO", 5, priority=2),
    Column("NOW", 10, priority=0),
    Column("THEN", 10, priority=0),
    Column("SERVICES", 10, flex=True),
)


class WhatIfScreen(Popup):
    """Mark nodes down and see what would move where, from the election core alone."""

    def __init__(
        self,
        nodes: tuple[str, ...],
        preselected: tuple[str, ...],
        result: WhatIfResult | None = None,
    ) -> None:
        super().__init__()
        self.nodes = nodes
        self.preselected = preselected
        # Given a result (already computed for these nodes), nothing is computed on mount.
        self.result = result

    def compose(self) -> ComposeResult:
        with Vertical(classes="popup", id="what-if") as box:
            box.border_title = "What if these nodes went down? (nothing is touched)"
            with Horizontal(id="what-if-body"):
                yield SelectionList[str](
                    *(Selection(n, n, n in self.preselected) for n in self.nodes),
                    id="what-if-nodes",
                )
                with Vertical(id="what-if-result"):
                    yield Label("", id="what-if-summary")
                    yield ResourceTable(
                        WHAT_IF_COLUMNS,
                        empty_text="nothing would move",
                        id="what-if-moves",
                    )

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(SelectionList).focus()
        if self.result is None:
            self.compute()
        else:
            self.show(self.result)

    def on_selection_list_selected_changed(self, event: SelectionList.SelectedChanged) -> None:
        if self.result is None or set(event.selection_list.selected) != self.result.down:
            self.compute()

    def compute(self) -> None:
        down = tuple(self.query_one(SelectionList).selected)
        state = self.console.state
        # The election over the whole cluster can take a while at 10k services: a worker.
        self.run_worker(lambda: what_if(state, down), thread=True, exclusive=True, group="what-if")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is not WorkerState.SUCCESS or event.worker.group != "what-if":
            return
        result = event.worker.result
        if isinstance(result, WhatIfResult):
            self.show(result)

    def show(self, result: WhatIfResult) -> None:
        self.result = result
        summary = self.query_one("#what-if-summary", Label)
        if result.error:
            summary.update(styled(result.error, "error"))
        elif not result.down:
            summary.update("select nodes to mark them down")
        else:
            moved = sum(1 for m in result.moves if m.after)
            lines = [f"{', '.join(sorted(result.down))} down: {moved} move(s)"]
            if result.stranded:
                lines.append(styled(f"no node left for: {', '.join(result.stranded)}", "error"))
            if result.ecmp:
                lines.append(f"ECMP flows moved: {result.ecmp}")
            summary.update("\n".join(lines))
        rows = {
            f"{m.protocol}/{m.target}": (
                m.target,
                "L2" if m.protocol == "layer2" else "BGP",
                ", ".join(m.before) or "-",
                ", ".join(m.after) or "-",
                ", ".join(m.services),
            )
            for m in result.moves
        }
        self.query_one("#what-if-moves", ResourceTable).set_rows(rows)
