"""Editing an IPAddressPool or a BGPPeer: a form, or the object as YAML in a text area.

Nothing is validated here: the document goes to the ConfigActor, which validates the whole
configuration exactly as ``lbtui validate`` does and applies and persists it only if it is
valid. Its issues come back and are shown next to the field they name (``spec.addresses[1]``
-> the addresses field); issues about other objects (say, the pool now overlapping another
one) are listed under the form. A rejected edit changes nothing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import yaml
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import (
    Button,
    Input,
    Label,
    Static,
    Switch,
    TabbedContent,
    TabPane,
    TextArea,
)

from actors.config.store import MEMORY, EditOutcome
from actors.model.issues import Issue
from lbtui.ports.base import EDITABLE
from lbtui.ports.documents import redact, restore_password

if TYPE_CHECKING:
    from lbtui.app import ConsoleApp


@dataclass(frozen=True, slots=True)
class Field:
    id: str
    path: str  # dotted path in the document
    title: str
    kind: str = "text"  # text | int | list | bool | password
    default: Any = None


FIELDS: dict[str, tuple[Field, ...]] = {
    "pool": (
        Field("name", "metadata.name", "Name"),
        Field("addresses", "spec.addresses", "Addresses (CIDR or a-b, comma separated)", "list"),
        Field("autoAssign", "spec.autoAssign", "autoAssign", "bool", True),
        Field("avoidBuggyIPs", "spec.avoidBuggyIPs", "avoidBuggyIPs", "bool", False),
        Field("priority", "spec.serviceAllocation.priority", "serviceAllocation.priority", "int"),
        Field(
            "namespaces",
            "spec.serviceAllocation.namespaces",
            "serviceAllocation.namespaces (comma separated)",
            "list",
        ),
    ),
    "peer": (
        Field("name", "metadata.name", "Name"),
        Field("myASN", "spec.myASN", "myASN", "int"),
        Field("peerASN", "spec.peerASN", "peerASN", "int"),
        Field("peerAddress", "spec.peerAddress", "peerAddress"),
        Field("peerPort", "spec.peerPort", "peerPort (default 179)", "int"),
        Field("sourceAddress", "spec.sourceAddress", "sourceAddress"),
        Field("holdTime", "spec.holdTime", "holdTime (e.g. 90s)"),
        Field("keepaliveTime", "spec.keepaliveTime", "keepaliveTime (e.g. 30s)"),
        Field("password", "spec.password", "password (TCP MD5; empty: none)", "password"),
        Field("bfdProfile", "spec.bfdProfile", "bfdProfile"),
        Field("ebgpMultiHop", "spec.ebgpMultiHop", "ebgpMultiHop", "bool", False),
        Field(
            "enableGracefulRestart",
            "spec.enableGracefulRestart",
            "enableGracefulRestart",
            "bool",
            False,
        ),
    ),
}

TEMPLATES: dict[str, dict[str, Any]] = {
    "pool": {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": "", "namespace": "metallb-system"},
        "spec": {"addresses": []},
    },
    "peer": {
        "apiVersion": "metallb.io/v1beta2",
        "kind": "BGPPeer",
        "metadata": {"name": "", "namespace": "metallb-system"},
        "spec": {"myASN": 64512, "peerASN": 64512, "peerAddress": ""},
    },
}

# Issue paths that belong to a field other than the one their first segment names.
FIELD_ALIASES = {
    "passwordSecret": "password",
    "dynamicASN": "peerASN",
    "interface": "peerAddress",
}


def field_for(kind: str, issue: Issue) -> str | None:
    """The form field an issue is about, or None (shown under the form)."""
    path = issue.field
    for prefix in ("spec.", "metadata."):
        if path.startswith(prefix):
            path = path[len(prefix) :]
            break
    if path.startswith("serviceAllocation."):
        path = path[len("serviceAllocation.") :]
    head = path.split("[", 1)[0].split(".", 1)[0]
    head = FIELD_ALIASES.get(head, head)
    ids = {f.id for f in FIELDS[kind]}
    return head if head in ids else None


def _get(doc: dict[str, Any], path: str) -> Any:
    node: Any = doc
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    """Set (or with None, remove) the value at a dotted path."""
    parts = path.split(".")
    if value is None:
        parents = [doc]
        for part in parts[:-1]:
            child = parents[-1].get(part)
            if not isinstance(child, dict):
                return
            parents.append(child)
        parents[-1].pop(parts[-1], None)
        # Drop containers the edit emptied below spec (serviceAllocation: {} is not unset).
        for depth in range(len(parts) - 1, 1, -1):
            if parents[depth]:
                break
            parents[depth - 1].pop(parts[depth - 1], None)
        return
    node = doc
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value


def applied_text(outcome: EditOutcome) -> str:
    """What the console says after an applied edit: where it was written, if anywhere."""
    if outcome.path == MEMORY:
        return "applied (in memory only: not saved to a file)"
    if outcome.path:
        return f"applied and saved to {outcome.path}"
    return "applied"


class FormScroll(VerticalScroll, can_focus=False):
    """The form's scrolling body: not a focus stop of its own (Tab goes field to field; the
    focused field is scrolled into view)."""


class EditScreen(ModalScreen[EditOutcome | None]):
    """Dismissed with the ConfigActor's outcome when an edit was applied, else None."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "apply", "Apply"),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, kind: str, document: dict[str, Any] | None) -> None:
        super().__init__()
        self.kind = kind
        self.original = document
        self.is_new = document is None
        self.document = copy.deepcopy(document) if document else copy.deepcopy(TEMPLATES[kind])
        self.busy = False

    @property
    def console(self) -> ConsoleApp:
        return self.app  # type: ignore[return-value]

    @property
    def object_name(self) -> str:
        return str(_get(self.document, "metadata.name") or "")

    def compose(self) -> ComposeResult:
        what = EDITABLE[self.kind]
        title = f"New {what}" if self.is_new else f"Edit {what}/{self.object_name}"
        with Vertical(classes="popup", id="edit") as box:
            box.border_title = title
            with TabbedContent(id="edit-tabs"):
                with TabPane("Form", id="tab-form"), FormScroll(id="edit-form"):
                    for field in FIELDS[self.kind]:
                        yield from self._compose_field(field)
                with TabPane("YAML", id="tab-yaml"):
                    yield TextArea(self._yaml(), id="edit-yaml", show_line_numbers=True)
            yield Static("", id="edit-errors")
            with Horizontal(id="edit-buttons"):
                yield Button("Apply (ctrl+s)", variant="primary", id="apply")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.console.set_blink(self)
        self.query_one("#edit").border_subtitle = "ctrl+s: apply   esc: cancel"
        # Focus starts on the Form/YAML tab bar; the first Tab goes to the first field that
        # can be edited (the name of a new object, the addresses or ASN of an existing one).

    def _compose_field(self, field: Field) -> ComposeResult:
        value = _get(self.document, field.path)
        with Horizontal(classes="field", id=f"field-{field.id}"):
            yield Label(field.title, classes="field-title")
            if field.kind == "bool":
                yield Switch(
                    value=field.default if value is None else bool(value), id=f"in-{field.id}"
                )
            else:
                text = self._text(field, value)
                yield Input(
                    text,
                    id=f"in-{field.id}",
                    password=field.kind == "password",
                    disabled=field.id == "name" and not self.is_new,
                    compact=True,
                )
        yield Static("", classes="field-error", id=f"error-{field.id}")

    @staticmethod
    def _text(field: Field, value: Any) -> str:
        if value is None:
            return ""
        if field.kind == "list" and isinstance(value, list):
            return ", ".join(str(v) for v in value)
        return str(value)

    def _yaml(self) -> str:
        return yaml.safe_dump(redact(self.document), sort_keys=False)

    # -- form <-> document -------------------------------------------------------------------
    def form_document(self) -> dict[str, Any]:
        """The document with the form's values (other fields of the object are kept)."""
        doc = copy.deepcopy(self.document)
        for field in FIELDS[self.kind]:
            if field.kind == "bool":
                on = self.query_one(f"#in-{field.id}", Switch).value
                had = _get(doc, field.path) is not None
                _set(doc, field.path, on if (had or on != field.default) else None)
                continue
            text = self.query_one(f"#in-{field.id}", Input).value.strip()
            if field.kind == "password" and not text:
                _set(doc, field.path, None)
                continue
            if not text:
                _set(doc, field.path, [] if field.id == "addresses" else None)
                continue
            value: Any = text
            if field.kind == "int":
                try:
                    value = int(text)
                except ValueError:
                    value = text  # the validator names the field and says what is wrong
            elif field.kind == "list":
                value = [part.strip() for part in text.split(",") if part.strip()]
            _set(doc, field.path, value)
        return restore_password(doc, self.original)

    def yaml_document(self) -> dict[str, Any] | str:
        """The YAML tab's document, or the reason it cannot be read."""
        text = self.query_one("#edit-yaml", TextArea).text
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            return f"YAML: {exc}"
        if not isinstance(doc, dict):
            return "YAML: the object must be a mapping"
        expected = EDITABLE[self.kind]
        if doc.get("kind") != expected:
            return f"YAML: kind must be {expected}"
        return restore_password(doc, self.original)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "tab-yaml":
            self.document = self.form_document()
            self.query_one("#edit-yaml", TextArea).text = self._yaml()
        elif event.pane.id == "tab-form":
            doc = self.yaml_document()
            if isinstance(doc, dict):
                self.document = doc
                self._fill_form()

    def _fill_form(self) -> None:
        for field in FIELDS[self.kind]:
            value = _get(self.document, field.path)
            if field.kind == "bool":
                self.query_one(f"#in-{field.id}", Switch).value = (
                    field.default if value is None else bool(value)
                )
            else:
                self.query_one(f"#in-{field.id}", Input).value = self._text(field, value)

    # -- applying ----------------------------------------------------------------------------
    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "apply":
            self.action_apply()
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_apply(self) -> None:
        if self.busy:
            return
        tabs = self.query_one(TabbedContent)
        doc = self.yaml_document() if tabs.active == "tab-yaml" else self.form_document()
        if isinstance(doc, str):
            self.show_errors({}, [doc])
            return
        if not self.is_new and doc == self.original:
            self.show_errors({}, ["nothing changed: no field differs from the object as it is"])
            return
        self.busy = True
        self.query_one("#edit-errors", Static).update("applying…")
        self.console.submit_edit(doc, self)

    def show_outcome(self, outcome: EditOutcome | Exception) -> None:
        """Called on the UI thread with the ConfigActor's answer."""
        self.busy = False
        if isinstance(outcome, Exception):
            self.show_errors({}, [str(outcome)])
            return
        if outcome.applied:
            self.dismiss(outcome)
            return
        mine = f"{EDITABLE[self.kind]}/{self.form_document_name()}"
        by_field: dict[str, list[str]] = {}
        general: list[str] = []
        for issue in outcome.issues:
            if issue.severity != "error":
                continue
            field = field_for(self.kind, issue) if issue.obj.startswith(mine) else None
            if field is None:
                general.append(str(issue).removeprefix("<memory>: "))
            else:
                by_field.setdefault(field, []).append(issue.message)
        self.show_errors(by_field, general)

    def form_document_name(self) -> str:
        tabs = self.query_one(TabbedContent)
        doc = self.yaml_document() if tabs.active == "tab-yaml" else self.form_document()
        return str(_get(doc, "metadata.name") or "") if isinstance(doc, dict) else ""

    def show_errors(self, by_field: dict[str, list[str]], general: list[str]) -> None:
        for field in FIELDS[self.kind]:
            messages = by_field.get(field.id, [])
            error = self.query_one(f"#error-{field.id}", Static)
            error.update("\n".join(messages))
            error.set_class(bool(messages), "-shown")
            self.query_one(f"#field-{field.id}").set_class(bool(messages), "-invalid")
        summary = general + (
            [f"{sum(len(v) for v in by_field.values())} problem(s) in the form, see above"]
            if by_field
            else []
        )
        self.query_one("#edit-errors", Static).update("\n".join(summary))
        self.query_one("#edit-errors", Static).set_class(bool(summary), "-shown")
