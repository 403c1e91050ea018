"""Network namespaces and commands run in them: the helpers the lab and tests/net share.

Everything goes through the ``ip`` command (iproute2), as an operator would type it, so every
step can be read in a log and repeated by hand. Root only.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shlex
import signal
import subprocess
from collections.abc import Iterator, Sequence

NETNS_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000


class NetnsError(RuntimeError):
    """A command failed (the message names it, its exit status and its stderr)."""


def run(cmd: Sequence[str] | str, *, check: bool = True, timeout: float = 30) -> str:
    """Run ``cmd`` and return its stdout; NetnsError if it fails and ``check``."""
    args = shlex.split(cmd) if isinstance(cmd, str) else list(cmd)
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        if check:
            raise NetnsError(f"{' '.join(args)}: {exc}") from exc
        return ""
    if check and proc.returncode != 0:
        raise NetnsError(f"{' '.join(args)}: exit {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def namespaces() -> list[str]:
    """Every named network namespace (``ip netns list``)."""
    out = run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def namespace_pids(netns: str) -> list[int]:
    return [int(p) for p in run(["ip", "netns", "pids", netns], check=False).split() if p.isdigit()]


def kill_namespace(netns: str) -> None:
    """Kill whatever still runs in ``netns``, then delete it."""
    for pid in namespace_pids(netns):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    run(["ip", "netns", "del", netns], check=False)


def remove_leftovers(prefix: str) -> None:
    """Namespaces ``<prefix>-<pid>-...`` of earlier runs whose process is gone (a crashed or
    killed test session)."""
    for name in namespaces():
        parts = name.split("-")
        if len(parts) < 3 or parts[0] != prefix or not parts[1].isdigit():
            continue
        pid = int(parts[1])
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            kill_namespace(name)


@contextlib.contextmanager
def entered(netns: str) -> Iterator[None]:
    """Run the block with this thread in ``netns`` (sockets it opens live there); threads
    started inside inherit it. The thread's own namespace is restored afterwards."""
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(os.path.join(NETNS_DIR, netns), os.O_RDONLY)
        try:
            if libc.setns(target, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise NetnsError(f"cannot enter network namespace {netns}: {os.strerror(err)}")
        finally:
            os.close(target)
        try:
            yield
        finally:
            libc.setns(own, CLONE_NEWNET)
    finally:
        os.close(own)


def process_start(pid: int) -> int | None:
    """The start time of process ``pid`` (clock ticks since boot), None if it is gone or a
    zombie: with the pid, it names one process even after pids are reused."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ")".
    fields = stat.rpartition(")")[2].split()
    if not fields or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def alive(pid: int, start: int | None) -> bool:
    """Whether the process recorded as (``pid``, ``start``) still runs."""
    now = process_start(pid)
    return now is not None and (start is None or now == start)
