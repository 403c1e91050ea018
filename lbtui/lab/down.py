"""``lab down``: remove everything a lab made, from its state file and by name, so also after
``lab up`` crashed half way or the state file is gone or unreadable.

Processes first (recorded ones by pid and start time, then whatever still runs in a lab
namespace), then the namespaces (the switch last), then the directories; the state file last.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from lbtui.lab.netns import alive, kill_namespace, namespace_pids, namespaces
from lbtui.lab.processes import LabProcesses
from lbtui.lab.state import LabState, StateStore

ROLES = ("sw", "router", "client")


@dataclass
class DownReport:
    namespaces: list[str] = field(default_factory=list)
    processes: int = 0
    paths: list[str] = field(default_factory=list)

    def text(self) -> str:
        if not (self.namespaces or self.processes or self.paths):
            return "nothing to remove\n"
        return (
            f"removed {len(self.namespaces)} namespace(s) ({', '.join(self.namespaces) or '-'}), "
            f"stopped {self.processes} process(es), deleted {len(self.paths)} path(s)\n"
        )


def remove_lab(state: LabState | None, store: StateStore, processes: LabProcesses) -> DownReport:
    """Remove what ``state`` recorded and every leftover of lab ``store.name`` (the caller
    holds the lock); ``state`` None: the state file is gone or unreadable, sweep by name."""
    name = store.name
    report = DownReport()
    procs = state.processes if state is not None else []
    for proc in procs:
        if alive(proc.pid, proc.start):
            processes.send_signal(proc, signal.SIGKILL)
            report.processes += 1
    for proc in procs:
        processes.wait_exit(proc, 5.0)
    existing = set(namespaces())
    wanted = set(state.namespaces if state is not None else ()) | set(lab_namespaces(name))
    # The nodes first, the switch last (deleting it takes every port with it).
    for netns in sorted(wanted & existing, key=lambda n: n.endswith("-sw")):
        report.processes += len(namespace_pids(netns))
        kill_namespace(netns)
        report.namespaces.append(netns)
    paths = list(state.paths) if state is not None else []
    paths += [str(p) for p in Path(tempfile.gettempdir()).glob(f"{name}-frr-*")]
    if state is not None:
        paths.append(state.workdir)
    for path in dict.fromkeys(paths):
        if Path(path).exists():
            shutil.rmtree(path, ignore_errors=True)
            report.paths.append(path)
    store.remove()
    processes.reap()
    return report


def lab_namespaces(name: str) -> list[str]:
    """The existing namespaces named as lab ``name``'s (with or without a state file)."""
    prefix = f"{name}-"
    out = []
    for netns in namespaces():
        role = netns[len(prefix) :] if netns.startswith(prefix) else ""
        if role in ROLES or (role.startswith("n") and role[1:].isdigit()):
            out.append(netns)
    return out
