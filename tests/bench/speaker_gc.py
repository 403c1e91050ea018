"""The cyclic garbage collector's pauses in an attacked speaker (issue 18: was the GC behind
the 6 s stall?), with and without ``gc.freeze()`` after start, side by side in one run.

Run as root: ``.venv/bin/python tests/bench/speaker_gc.py [--rounds 1]``.

Each variant runs tests/net/test_load_attack.py's scenario (two speakers, gossip with the
fast profile and an AES key; node-a keeps 30 BGP sessions with a hostile peer, two flooding
UPDATEs, and takes 2,000 half-sent HTTP requests, for 30 s). tests/bench/gc_trace's
sitecustomize times every collection in node-a's speaker through ``gc.callbacks``
(generation, pause); ``freeze after start`` has it call ``gc.freeze()`` 8 s after the
process started (the speaker is up by then: what the objects of its start-up would cost each
full collection is taken off). The table gives, per generation, the collections counted over
the whole run and their pauses (p50/p99/max, milliseconds), and node-a's membership acks as
the prober in node-b saw them; for full collections, when they came (seconds after the
process started; the attack starts some 10 s in, once both speakers see each other).

Measured (2026-12-07, 2 shared cores, Python 3.11): over a whole run ~112 gen-0 collections
(max 7-14 ms), 10 gen-1 (max 5-21 ms) and one gen-2 (27-37 ms), that one 9 s after start,
before the attack: ~140 ms of collection in ~60 s, none long and no full collection under
attack. Freezing after start removes that one full collection and changes the acks by nothing
beyond noise, so the speaker does not freeze: the collector is not the stall.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.net.test_load_attack import NODES, V4, attack  # noqa: E402
from tests.net.topology import Topology  # noqa: E402

VARIANTS = {"as is": None, "freeze after start": "8"}


def speaker_pauses(directory: Path, node: str) -> list[tuple[float, int, float, int]]:
    for path in directory.glob("*.json"):
        trace = json.loads(path.read_text())
        argv = trace["argv"]
        if "speaker" in argv and node in argv:
            return [tuple(p) for p in trace["pauses"]]
    raise AssertionError(f"no trace of {node}'s speaker in {directory}")


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    trace_path = str(REPO / "tests" / "bench" / "gc_trace")
    print(
        f"{'variant':20} {'gen':>3} {'count':>6} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
        f"{'total ms':>8}  {'at s (gen 2)':12} acks p50/p99/max ms, lost"
    )
    for _ in range(args.rounds):
        for variant, freeze in VARIANTS.items():
            with (
                tempfile.TemporaryDirectory(prefix="lbtui-gc-") as tmp,
                Topology(prefix="lbatk", node_names=NODES, service_addresses=[V4]) as topo,
            ):
                traces = Path(tmp) / "gc"
                traces.mkdir()
                saved = dict(os.environ)
                os.environ["PYTHONPATH"] = f"{trace_path}:{REPO}"
                os.environ["LBTUI_GC_TRACE"] = str(traces)
                if freeze:
                    os.environ["LBTUI_GC_FREEZE"] = freeze
                try:
                    seen = attack(topo, Path(tmp))
                finally:
                    os.environ.clear()
                    os.environ.update(saved)
                pauses = speaker_pauses(traces, "node-a")
            acks = seen["acks"]
            ack_text = f"{acks['p50']}/{acks['p99']}/{acks['max']}, {acks['sent'] - acks['acked']}"
            for gen in (0, 1, 2):
                ms = [p[2] * 1000 for p in pauses if p[1] == gen]
                when = ",".join(f"{p[0]:.0f}" for p in pauses if p[1] == 2) if gen == 2 else ""
                print(
                    f"{variant:20} {gen:>3} {len(ms):>6} {quantile(ms, 0.5):>7.2f} "
                    f"{quantile(ms, 0.99):>7.2f} {max(ms, default=float('nan')):>7.2f} "
                    f"{sum(ms):>8.1f}  {when:12} " + (ack_text if gen == 0 else ""),
                    flush=True,
                )


if __name__ == "__main__":
    main()
