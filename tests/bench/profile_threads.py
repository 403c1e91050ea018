"""A CPU profile of a whole lbtui process, every thread: ``python -m cProfile`` sees only the
main thread, and the controller's work happens in its actors' and reflectors' threads.

    python tests/bench/profile_threads.py OUT.txt -- controller --kubeconfig=... [arguments]

Runs ``lbtui <arguments>`` in this interpreter with one ``cProfile.Profile`` per thread,
timed by ``time.thread_time`` (CPU time of that thread: waiting on a socket or a queue costs
nothing, unlike a sampler whose samples pile up where threads release the GIL). On exit
(SIGTERM stops lbtui gracefully) it writes to OUT.txt the merged statistics sorted by own
time and by cumulative time, and OUT.txt.pstats for ``pstats``. Profiling slows the process
(every call is counted): read the shares, not the totals. Used by ``kube_real.py --profile``.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

_profiles: list[cProfile.Profile] = []
_lock = threading.Lock()


def _profile_this_thread(frame: FrameType, event: str, arg: Any) -> None:
    """The first profiling event of a new thread: swap in a CPU-timed cProfile for it."""
    sys.setprofile(None)
    profile = cProfile.Profile(time.thread_time)
    with _lock:
        _profiles.append(profile)
    profile.enable()


def write(out: Path) -> None:
    with _lock:
        profiles = list(_profiles)
    for p in profiles:
        p.disable()  # only stops the calling thread's; the others are snapshotted as they are
    stats: pstats.Stats | None = None
    for p in profiles:
        try:
            p.create_stats()
        except Exception:
            continue
        if not getattr(p, "stats", None):
            continue
        stats = pstats.Stats(p) if stats is None else stats.add(p)
    if stats is None:
        out.write_text("no profile\n")
        return
    stats.dump_stats(str(out) + ".pstats")
    text = io.StringIO()
    stats.stream = text  # type: ignore[attr-defined]
    stats.strip_dirs()
    print(f"CPU seconds profiled (all threads): {stats.total_tt:.1f}\n", file=text)
    stats.sort_stats("tottime").print_stats(45)
    stats.sort_stats("cumulative").print_stats(70)
    out.write_text(text.getvalue())


def main() -> int:
    out = Path(sys.argv[1])
    args = sys.argv[3:] if sys.argv[2:3] == ["--"] else sys.argv[2:]
    threading.setprofile(_profile_this_thread)
    main_profile = cProfile.Profile(time.thread_time)
    _profiles.append(main_profile)
    main_profile.enable()
    started = time.process_time()
    try:
        from lbtui.cli import main as lbtui_main

        return lbtui_main(args)
    finally:
        main_profile.disable()
        threading.setprofile(None)  # type: ignore[arg-type]
        write(out)
        print(f"profile: {out} ({time.process_time() - started:.1f} s CPU)", file=sys.stderr)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    raise SystemExit(main())
