"""The lab's processes: started inside a namespace and recorded in the state file, signalled,
waited for.

A process is recorded as (pid, start time) the moment it is started, so ``lab down`` finds it
whatever happens next; the ones this command started are also kept as Popen objects, so they are
reaped rather than left as zombies.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from lbtui.lab.netns import alive, process_start
from lbtui.lab.state import LabState, Process, StateStore
from lbtui.lab.topology import HTTP_PORT, LabPlan, speaker_args


class LabProcesses:
    """Starts, signals and waits for the lab's processes (``python`` runs the lab's own)."""

    def __init__(self, store: StateStore, python: str) -> None:
        self.store = store
        self.python = python
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def spawn(
        self,
        state: LabState,
        role: str,
        node: str,
        netns: str,
        argv: list[str],
        log: Path,
        stdout: Path | None = None,
    ) -> Process:
        out = open(stdout or log, "ab")  # noqa: SIM115 - handed to the child
        err = out if stdout is None else open(log, "ab")  # noqa: SIM115
        try:
            child = subprocess.Popen(
                ["ip", "netns", "exec", netns, *argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                close_fds=True,
            )
        finally:
            out.close()
            if err is not out:
                err.close()
        self._children[child.pid] = child
        proc = Process(role, node, netns, child.pid, process_start(child.pid), argv, str(log))
        state.processes.append(proc)
        self.store.save(state)
        return proc

    def start_httpd(self, plan: LabPlan, state: LabState, node: str, workdir: Path) -> None:
        argv = [self.python, "-m", "lbtui.lab.httpd", node, "--port", str(HTTP_PORT)]
        self.spawn(state, "httpd", node, plan.host(node).netns, argv, workdir / f"{node}.httpd")

    def start_speaker(self, plan: LabPlan, state: LabState, node: str, workdir: Path) -> None:
        argv = [self.python, "-m", "lbtui", *speaker_args(plan, node, workdir)]
        self.spawn(
            state,
            "speaker",
            node,
            plan.host(node).netns,
            argv,
            workdir / f"{node}.log",
            stdout=workdir / f"{node}.events.jsonl",
        )

    def send_signal(self, proc: Process, sig: int) -> None:
        if alive(proc.pid, proc.start):
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, sig)

    def wait_exit(self, proc: Process, timeout: float) -> None:
        """Until ``proc`` has exited; SIGKILL when it has not within ``timeout`` seconds."""
        child = self._children.get(proc.pid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if child is not None and child.poll() is not None:
                return
            if child is None and not alive(proc.pid, proc.start):
                return
            time.sleep(0.01)
        self.send_signal(proc, signal.SIGKILL)

    def reap(self) -> None:
        """Collect the exit status of every process this command started."""
        for child in self._children.values():
            with contextlib.suppress(Exception):
                child.wait(timeout=1)
