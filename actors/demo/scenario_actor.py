"""Plays a demo scenario (``examples/scenarios/*.yaml``) against the running demo, step by step.

Each step, at its time, becomes fire-and-forget calls to the actors the demo builder named
(``actors.model.names``): the node's speaker and the membership switch for ``kill`` and
``revive``, the cluster source for Service changes, the configuration for ``edit-pool``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pykka

from actors.base import RuntimeActor
from actors.demo.scenario import Scenario, Step
from actors.events import SourceRejected
from actors.model import names


class ScenarioActor(RuntimeActor):
    """Plays a scenario: each step at its time, as fire-and-forget calls to the actors below.

    ``resolve`` finds a running actor by name (the runtime's ``ref``)."""

    actor_name = "scenario"

    def __init__(self, scenario: Scenario, resolve: Callable[[str], Any], **kw: Any) -> None:
        super().__init__(**kw)
        self.scenario = scenario
        self.resolve = resolve
        self.done = 0

    def on_start(self) -> None:
        for index, step in enumerate(self.scenario.steps):
            self.after(step.at, self.run_step, index)

    def run_step(self, index: int) -> None:
        step = self.scenario.steps[index]
        try:
            self._run(step)
        except (ValueError, KeyError, pykka.ActorDeadError) as exc:
            # A step that does not fit the cluster (say, deleting a service twice) is
            # reported and skipped; the demo goes on.
            self.publish(
                SourceRejected(
                    self.clock.now(),
                    self.scenario.source,
                    (f"step {index} ({step.action} at {step.at}s): {exc}",),
                )
            )
        self.done += 1

    def _bgp(self, node: str, what: str) -> None:
        """The node's BGP sessions die and come back with it (when it has a BGP actor)."""
        try:
            ref = self.resolve(names.bgp(node))
        except KeyError:
            return
        getattr(ref.proxy(), what)()

    def _run(self, step: Step) -> None:
        if step.kill is not None:
            self.resolve(names.speaker(step.kill)).proxy().crash()
            self._bgp(step.kill, "crash")
            self.resolve(names.MEMBERSHIP).proxy().kill(step.kill)
        elif step.revive is not None:
            self.resolve(names.MEMBERSHIP).proxy().revive(step.revive)
            self._bgp(step.revive, "revive")
            self.resolve(names.speaker(step.revive)).proxy().revive()
        elif step.add_service is not None:
            spec = step.add_service.to_spec()
            self.resolve(names.CLUSTER).proxy().change(lambda src: src.add_service(spec))
        elif step.delete_service is not None:
            key = step.delete_service
            self.resolve(names.CLUSTER).proxy().change(lambda src: src.delete_service(key))
        elif step.move_endpoints is not None:
            move = step.move_endpoints
            self.resolve(names.CLUSTER).proxy().change(
                lambda src: src.move_endpoints(move.service, move.nodes)
            )
        elif step.edit_pool is not None:
            self.resolve(names.CONFIG).proxy().apply_edit(step.edit_pool.to_document())
