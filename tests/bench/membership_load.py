"""Membership under attack (issue 18): how fast an attacked speaker answers membership
probes, and whether anyone suspects or buries it, side by side in one run.

Run as root: ``.venv/bin/python tests/bench/membership_load.py [--rounds 2]``.

Each round runs tests/net/test_load_attack.py's scenario (two speakers, gossip with the fast
profile and an AES key; node-a keeps 30 BGP sessions with a hostile peer, two flooding
UPDATEs, and takes 2,000 half-sent HTTP requests) for each variant, interleaved, plus a
quiet baseline: a prober in node-b's namespace pings node-a's membership every 20 ms and
times the acks (the probe timeout of the fast profile is 40 ms).

Variants: acks from the transport's reader thread (``fast_acks``, the default) or from the
core after the actor's mailbox (``--ml-timer fast_acks=false``, as before), and the
interpreter's switch interval (``--switch-interval``: 1 ms now, Python's 5 ms before).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.net.test_load_attack import NODES, V4, attack
from tests.net.topology import Topology

VARIANTS = {
    "quiet (no attack)": ((), False),
    "actor acks, 5 ms (before)": (
        ("--ml-timer", "fast_acks=false", "--switch-interval", "5"),
        True,
    ),
    "reader acks, 5 ms": (("--switch-interval", "5"), True),
    "reader acks, 1 ms (now)": ((), True),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    rows: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    for i in range(args.rounds):
        for variant, (extra, hostile) in VARIANTS.items():
            with (
                tempfile.TemporaryDirectory(prefix="lbtui-load-") as tmp,
                Topology(prefix="lbatk", node_names=NODES, service_addresses=[V4]) as topo,
            ):
                seen = attack(topo, Path(tmp), extra, hostile=hostile)
            rows[variant].append(seen)
            a = seen["acks"]
            print(
                f"  round {i + 1} {variant:<28} acks p50 {a['p50']} p99 {a['p99']} max "
                f"{a['max']} ms, {a['sent'] - a['acked']} unanswered; suspicions "
                f"{seen['suspicions']}, deaths {len(seen['deaths'])}, threads {seen['threads']}",
                flush=True,
            )
    print("\nnode-a's membership answering pings every 20 ms (ms), per round, under attack")
    print(f"  {'variant':<28} {'p50':>7} {'p99':>7} {'max':>8} {'lost':>5} {'susp':>5} {'dead':>5}")
    for variant, seen_list in rows.items():
        for seen in seen_list:
            a = seen["acks"]
            print(
                f"  {variant:<28} {a['p50']:>7} {a['p99']:>7} {a['max']:>8} "
                f"{a['sent'] - a['acked']:>5} {seen['suspicions']:>5} {len(seen['deaths']):>5}"
            )


if __name__ == "__main__":
    main()
