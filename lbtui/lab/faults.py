"""``lab fail`` and ``lab heal``: break a node on purpose (its speaker killed or stopped, or its
cable out) and put it back, noting in the state how it was broken.

The caller (``Lab``) holds the lock, loads the state and saves it afterwards.
"""

from __future__ import annotations

import signal
from pathlib import Path

from lbtui.lab.netns import alive, run
from lbtui.lab.probe import link_states
from lbtui.lab.processes import LabProcesses
from lbtui.lab.state import LabState
from lbtui.lab.topology import LabError, LabPlan


def fail_node(plan: LabPlan, state: LabState, node: str, how: str, processes: LabProcesses) -> None:
    """Break ``node``: ``kill`` (SIGKILL its speaker), ``stop`` (SIGTERM) or ``link``."""
    host = plan.host(node)
    if how == "link":
        set_link(plan, host.port, "down")
    else:
        speaker = state.process("speaker", node)
        if speaker is None or not alive(speaker.pid, speaker.start):
            raise LabError(f"{node}'s speaker is not running (lbtui lab heal {node})")
        processes.send_signal(speaker, signal.SIGKILL if how == "kill" else signal.SIGTERM)
        processes.wait_exit(speaker, 15.0)
    previous = state.failed.get(node, "")
    state.failed[node] = ",".join(sorted({*previous.split(","), how} - {""}))


def heal_node(plan: LabPlan, state: LabState, node: str, processes: LabProcesses) -> list[str]:
    """Put ``node`` back: its cable in, its speaker running. Returns what was done."""
    done = []
    host = plan.host(node)
    if link_states(plan).get(host.port) != "up":
        set_link(plan, host.port, "up")
        done.append("link up")
    speaker = state.process("speaker", node)
    if speaker is None or not alive(speaker.pid, speaker.start):
        processes.start_speaker(plan, state, node, Path(state.workdir))
        done.append("speaker started")
    state.failed.pop(node, None)
    return done


def set_link(plan: LabPlan, port: str, updown: str) -> None:
    """A host's cable in (``up``) or out (``down``): its port on the bridge."""
    run(["ip", "-n", plan.switch, "link", "set", port, updown])
