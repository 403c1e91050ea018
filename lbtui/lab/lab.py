"""``lbtui lab``: the lab as one object, ``Lab``, whose verbs (up, down, fail, heal, status)
``lbtui lab`` runs (see topology.py for the lab's shape).

``Lab`` holds what every verb shares: the lab's name, its state file (state.py) and the processes
this command started (processes.py). Each verb takes the state file's lock, does its work through
the module that holds it (up.py, down.py, faults.py, status.py) and saves the state; reads
(probe.py, readiness.py) take no lock. Speakers are real ``lbtui speaker`` processes with gossip,
layer 2 on raw sockets and BGP sessions to the router; each serves its status endpoint
(``--status-addr``) and metrics inside its namespace, which the lab reads from inside the
client's namespace.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO

from lbtui.lab import probe, readiness
from lbtui.lab.down import DownReport, lab_namespaces, remove_lab
from lbtui.lab.faults import fail_node, heal_node
from lbtui.lab.processes import LabProcesses
from lbtui.lab.router import check_router
from lbtui.lab.state import DEFAULT_DIR, LabState, StateFileError, StateStore
from lbtui.lab.status import lab_status
from lbtui.lab.topology import HOWS, LabError, LabPlan, plan_lab
from lbtui.lab.up import build


def check_host() -> None:
    """LabError unless this is Linux, we are root and iproute2 is there."""
    if not sys.platform.startswith("linux"):
        raise LabError("lbtui lab needs Linux (network namespaces)")
    if os.geteuid() != 0:
        raise LabError("lbtui lab needs root (network namespaces, raw sockets, port 179)")
    if shutil.which("ip") is None:
        raise LabError("lbtui lab needs the ip command: install the Debian package iproute2")


class Lab:
    def __init__(
        self,
        name: str = "lblab",
        directory: Path = DEFAULT_DIR,
        *,
        python: str = sys.executable,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        plan_lab(name)  # validates the name
        self.name = name
        self.store = StateStore(name, directory)
        self.progress = progress or (lambda _text: None)
        self.processes = LabProcesses(self.store, python)

    # -- state -------------------------------------------------------------------------------
    def state(self) -> LabState:
        state = self.store.load()
        if state is None:
            raise LabError(f"lab {self.name} is not up (lbtui lab up)")
        return state

    def plan(self, state: LabState | None = None) -> LabPlan:
        state = state or self.state()
        return plan_lab(state.name, len(state.nodes), state.mode, state.router)

    # -- up and down -------------------------------------------------------------------------
    def up(
        self, nodes: int = 3, mode: str = "both", router: str = "bird", timeout: float = 60.0
    ) -> LabState:
        check_host()
        plan = plan_lab(self.name, nodes, mode, router)
        if plan.bgp:
            check_router(router)
        with self.store.locked():
            if self.store.exists():
                raise LabError(
                    f"lab {self.name} is up already (or a crashed one is left): "
                    f"lbtui lab down{self._name_flag()} first"
                )
            leftovers = lab_namespaces(self.name)
            if leftovers:
                raise LabError(
                    f"namespaces of lab {self.name} exist without a state file "
                    f"({', '.join(leftovers)}): lbtui lab down{self._name_flag()} removes them"
                )
            workdir = self.store.dir / self.name
            state = LabState(
                self.name, mode, router, list(plan.nodes), str(workdir), created=time.time()
            )
            self.store.save(state)
            try:
                build(plan, state, self.store, self.processes, self.progress, timeout)
            except BaseException:
                self.progress("lab up failed: removing what was made")
                remove_lab(state, self.store, self.processes)
                raise
            state.complete = True
            self.store.save(state)
            return state

    def _name_flag(self) -> str:
        return "" if self.name == "lblab" else f" --name {self.name}"

    def down(self) -> DownReport:
        check_host()
        with self.store.locked():
            try:
                state = self.store.load()
            except StateFileError:
                state = None  # unreadable: sweep by name
            report = remove_lab(state, self.store, self.processes)
        self.store.remove_lock()
        return report

    # -- breaking and mending ----------------------------------------------------------------
    def fail(self, node: str, how: str = "kill") -> None:
        if how not in HOWS:
            raise LabError(f"--how {how}: one of {', '.join(HOWS)}")
        with self.store.locked():
            state = self.state()
            fail_node(self.plan(state), state, node, how, self.processes)
            self.store.save(state)

    def heal(self, node: str) -> list[str]:
        """Put ``node`` back: its cable in, its speaker running. Returns what was done."""
        with self.store.locked():
            state = self.state()
            done = heal_node(self.plan(state), state, node, self.processes)
            self.store.save(state)
        return done

    # -- what is going on --------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Everything ``lab status`` shows, as JSON."""
        state = self.state()
        return lab_status(self.plan(state), state)

    def not_ready(self, plan: LabPlan | None = None) -> list[str]:
        """Why the lab is not serving yet (see readiness.not_ready; empty: it serves)."""
        state = self.state()
        return readiness.not_ready(plan or self.plan(state), state)

    def expected_owners(self, down: Iterable[str] = ()) -> dict[str, str | None]:
        """The layer 2 owner of every address the election predicts, ``down`` nodes dead."""
        return readiness.expected_owners(Path(self.state().workdir), down)

    def views(self, plan: LabPlan | None = None, timeout: float = 1.0) -> dict[str, Any]:
        """Each node's ``GET /state`` (nodes that do not answer are left out)."""
        return probe.views(plan or self.plan(), timeout)

    def fetch(self, node: str, path: str, timeout: float = 2.0) -> Any:
        """``GET path`` from one node's status endpoint (or its /metrics, as text)."""
        return probe.fetch(self.plan(), node, path, timeout)


def traffic_targets(lab: Lab) -> list[str]:
    """``IP:PORT`` of every service of the lab (``lab traffic`` without ``--target``)."""
    return [f"{ip}:{port}" for _service, ip, port in probe.services(lab.state())]


def print_progress(stream: TextIO) -> Callable[[str], None]:
    def show(text: str) -> None:
        print(f"lab: {text}", file=stream, flush=True)

    return show
