"""The lab's state file: everything ``lab up`` makes is recorded in it *before* it is made.

So ``lab down`` can remove it all whatever happened since: ``lab up`` crashed half way, a
daemon died, the machine is under load. Processes are recorded as (pid, start time), so a pid
reused by an unrelated process is never killed. The file is replaced atomically on every change
and guarded by a lock file (one ``lbtui lab`` command at a time per lab).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from actors.util.atomic import write_atomically

DEFAULT_DIR = Path(os.environ.get("LBTUI_LAB_DIR", "/run/lbtui/lab"))


@dataclass
class Process:
    role: str  # speaker | httpd | router
    node: str  # the node (router, client: the host's role)
    netns: str
    pid: int
    start: int | None  # /proc start time: with the pid, names exactly one process
    argv: list[str]
    log: str = ""


@dataclass
class LabState:
    name: str
    mode: str
    router: str
    nodes: list[str]
    workdir: str
    created: float = 0.0
    complete: bool = False  # lab up finished
    namespaces: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)  # directories made outside workdir
    processes: list[Process] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # node -> how (kill|link|stop)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> LabState:
        procs = [Process(**p) for p in body.get("processes", [])]
        return cls(**{**body, "processes": procs})

    def process(self, role: str, node: str) -> Process | None:
        """The last recorded process of that role on that node."""
        for proc in reversed(self.processes):
            if proc.role == role and proc.node == node:
                return proc
        return None


class StateStore:
    """``<dir>/<name>.json`` and its lock ``<dir>/<name>.lock``."""

    def __init__(self, name: str, directory: Path = DEFAULT_DIR) -> None:
        self.name = name
        self.dir = Path(directory)
        self.path = self.dir / f"{name}.json"
        self.lock_path = self.dir / f"{name}.lock"

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> LabState | None:
        try:
            body = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise StateFileError(f"{self.path}: unreadable lab state: {exc}") from exc
        try:
            return LabState.from_json(body)
        except TypeError as exc:
            raise StateFileError(f"{self.path}: not a lab state: {exc}") from exc

    def save(self, state: LabState) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        write_atomically(self.path, json.dumps(state.to_json(), indent=2) + "\n")

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def remove_lock(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.lock_path.unlink()


class StateFileError(Exception):
    pass
