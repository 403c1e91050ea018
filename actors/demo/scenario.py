"""Demo scenarios: a timeline of cluster changes and failures (``examples/scenarios/*.yaml``).

```yaml
steps:
  - {at: 1, add-service: {name: checkout, namespace: shop, endpoints: [node-2]}}
  - {at: 3, kill: node-1}
  - {at: 6, revive: node-1}
  - {at: 8, move-endpoints: {service: default/web, nodes: [node-3]}}
  - {at: 9, delete-service: shop/checkout}
  - {at: 10, edit-pool: {name: lan, addresses: [10.99.0.100-10.99.0.199]}}
```

Parsing is strict; every problem names the file and the line of the step. A scenario may
carry ``apiVersion: lbtui.io/v1alpha1`` and ``kind: DemoScenario`` (the examples do), so that
``lbtui validate`` on a directory holding it knows it is not configuration and skips it.
"""

from __future__ import annotations

from typing import Literal

import msgspec
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from actors.config.loader import format_loc
from actors.demo.cluster import ServiceSpec
from actors.model.issues import UnreadableInput


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class AddService(_Strict):
    name: str = Field(min_length=1)
    namespace: str = "default"
    ports: tuple[int, ...] = (80,)
    protocol: Literal["TCP", "UDP"] = "TCP"
    endpoints: tuple[str, ...] = ()
    policy: Literal["Cluster", "Local"] = "Cluster"
    dual_stack: bool = Field(default=False, alias="dual-stack")
    pool: str = ""
    shared: str = ""

    def to_spec(self) -> ServiceSpec:
        annotations = []
        if self.pool:
            annotations.append(("metallb.io/address-pool", self.pool))
        if self.shared:
            annotations.append(("metallb.io/allow-shared-ip", self.shared))
        return ServiceSpec(
            name=self.name,
            namespace=self.namespace,
            ports=tuple((p, self.protocol) for p in self.ports),
            endpoints=self.endpoints,
            policy=self.policy,
            dual_stack=self.dual_stack,
            annotations=tuple(annotations),
        )


class MoveEndpoints(_Strict):
    service: str = Field(pattern=r"^[^/]+/[^/]+$")
    nodes: tuple[str, ...]


class EditPool(_Strict):
    name: str = Field(min_length=1)
    addresses: tuple[str, ...] = Field(min_length=1)
    auto_assign: bool = Field(default=True, alias="autoAssign")
    avoid_buggy_ips: bool = Field(default=False, alias="avoidBuggyIPs")

    def to_document(self) -> dict[str, object]:
        return {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": self.name, "namespace": "metallb-system"},
            "spec": {
                "addresses": list(self.addresses),
                "autoAssign": self.auto_assign,
                "avoidBuggyIPs": self.avoid_buggy_ips,
            },
        }


ACTIONS = ("add_service", "delete_service", "move_endpoints", "kill", "revive", "edit_pool")


class Step(_Strict):
    at: float = Field(ge=0)
    add_service: AddService | None = Field(default=None, alias="add-service")
    delete_service: str | None = Field(
        default=None, alias="delete-service", pattern=r"^[^/]+/[^/]+$"
    )
    move_endpoints: MoveEndpoints | None = Field(default=None, alias="move-endpoints")
    kill: str | None = None
    revive: str | None = None
    edit_pool: EditPool | None = Field(default=None, alias="edit-pool")

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        actions = [name for name in ACTIONS if getattr(self, name) is not None]
        if len(actions) != 1:
            raise ValueError(
                "each step needs exactly one of "
                f"{', '.join(a.replace('_', '-') for a in ACTIONS)} (found {len(actions)})"
            )
        return self

    @property
    def action(self) -> str:
        """The step's action as written in the file, e.g. ``add-service``."""
        return next(a.replace("_", "-") for a in ACTIONS if getattr(self, a) is not None)


class Scenario(msgspec.Struct, frozen=True):
    steps: tuple[Step, ...]
    source: str


class ScenarioError(Exception):
    def __init__(self, errors: tuple[str, ...]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def parse_scenario(text: str, file: str, nodes: tuple[str, ...] = ()) -> Scenario:
    """Parse and check a scenario; raises UnreadableInput (bad YAML) or ScenarioError."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise UnreadableInput(
            file, f"YAML syntax error: {exc.problem}", mark.line + 1 if mark else None
        ) from exc
    if root is None:
        raise ScenarioError((f"{file}: empty scenario",))
    data = yaml.SafeLoader(text).get_single_data()
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
        raise ScenarioError(
            (f"{file}:{root.start_mark.line + 1}: expected a mapping with 'steps: [...]'",)
        )
    step_nodes = next(v for k, v in root.value if k.value == "steps").value
    errors: list[str] = []
    steps: list[Step] = []
    for index, (raw, node) in enumerate(zip(data["steps"], step_nodes, strict=True)):
        line = node.start_mark.line + 1
        try:
            step = Step.model_validate(raw)
        except ValidationError as exc:
            for err in exc.errors():
                where = format_loc(err["loc"])
                msg = (
                    "unknown field"
                    if err["type"] == "extra_forbidden"
                    else err["msg"].removeprefix("Value error, ")
                )
                errors.append(f"{file}:{line}: steps[{index}]{'.' + where if where else ''}: {msg}")
            continue
        for node_name in (step.kill, step.revive):
            if node_name is not None and nodes and node_name not in nodes:
                known = ", ".join(nodes)
                errors.append(
                    f"{file}:{line}: steps[{index}]: unknown node {node_name!r} (have {known})"
                )
        steps.append(step)
    if errors:
        raise ScenarioError(tuple(errors))
    return Scenario(tuple(sorted(steps, key=lambda s: s.at)), file)
