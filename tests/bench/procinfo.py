"""What the benchmarks read of a process they measure (from /proc), and code as it was at an
earlier commit (for a before/after row in one run)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import tempfile
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]


def cpu_seconds(pid: int) -> float:
    """User + system time of ``pid`` (``ip netns exec`` execs the interpreter: same pid)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def threads_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(li for li in status.splitlines() if li.startswith("Threads:")).split()[1])


def fds_of(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def module_at(revision: str, path: str, name: str) -> ModuleType:
    """The module at ``path`` (in this repository) as it was at ``revision``, loaded as
    ``name`` (its own imports are today's)."""
    source = subprocess.run(
        ["git", "show", f"{revision}:{path}"], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout
    file = Path(tempfile.mkdtemp()) / f"{name}.py"
    file.write_text(source)
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
