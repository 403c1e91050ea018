"""Put on PYTHONPATH by tests/bench/speaker_gc.py: with ``LBTUI_GC_TRACE=DIR`` set, every
Python process started times each cyclic garbage collection (``gc.callbacks``: generation,
pause, objects collected) and writes a summary to ``DIR/<pid>.json`` every second (the
speakers are killed, not stopped). With ``LBTUI_GC_FREEZE=S`` as well, the process calls
``gc.freeze()`` S seconds after it started (what a speaker would do once it is ready)."""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
import time

_DIR = os.environ.get("LBTUI_GC_TRACE")


def _install(directory: str) -> None:
    pauses: list[tuple[float, int, float, int]] = []  # (when, generation, seconds, collected)
    started: dict[str, float] = {}
    born = time.monotonic()

    def callback(phase: str, info: dict) -> None:
        if phase == "start":
            started["t"] = time.perf_counter()
        elif "t" in started:
            pauses.append(
                (
                    time.monotonic() - born,
                    info["generation"],
                    time.perf_counter() - started.pop("t"),
                    info.get("collected", 0),
                )
            )

    gc.callbacks.append(callback)
    freeze = os.environ.get("LBTUI_GC_FREEZE")

    def write() -> None:
        frozen = False
        while True:
            time.sleep(1.0)
            if freeze and not frozen and time.monotonic() - born >= float(freeze):
                gc.freeze()
                frozen = True
            with open(f"{directory}/{os.getpid()}.json.tmp", "w") as f:
                json.dump(
                    {
                        "argv": sys.argv,
                        "frozen": gc.get_freeze_count(),
                        "pauses": list(pauses),
                    },
                    f,
                )
            os.replace(f"{directory}/{os.getpid()}.json.tmp", f"{directory}/{os.getpid()}.json")

    threading.Thread(target=write, name="gc-trace", daemon=True).start()


if _DIR:
    _install(_DIR)
