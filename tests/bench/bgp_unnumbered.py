"""What unnumbered BGP costs the speaker: N IPv4 /32s sent on a numbered session (NEXT_HOP and
the IPv4 NLRI field) and on an unnumbered one (RFC 8950: MP_REACH_NLRI with a 16-byte
link-local next hop), side by side in one run, rounds interleaved.

    PYTHONPATH=. .venv/bin/python tests/bench/bgp_unnumbered.py [--sizes 10000,100000] [--rounds 3]

Each figure is the CPU time (``time.process_time``, not wall time: the machine may be busy)
of one hand-over of N routes to an established session of the real BgpSpeakerActor, driven in
its own thread as the unit tests drive it (fake transport, virtual clock): the actor's route
bookkeeping, the session's Adj-RIB-Out diff and the packing of the UPDATEs. The median of the
rounds is printed, with the UPDATEs and bytes that would go on the wire.
"""

from __future__ import annotations

import argparse
import statistics
import time

from actors.bgp.announcer import RoutesChanged
from actors.model.route import BGPRoute
from tests.unit.test_bgp_actor import Harness, peer
from tests.unit.test_bgp_unnumbered import Unnumbered


def prefixes(n: int) -> list[str]:
    return [f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}/32" for i in range(n)]


def one(kind: str, n: int) -> tuple[float, int, int]:
    if kind == "numbered":
        h: Harness = Harness(peer())
        conn, name = h.establish(), "router"
    else:
        u = Unnumbered()
        u.hear()
        conn, name, h = u.establish_link(), "leaf", u
    h.transport.sent[conn].clear()
    for prefix in prefixes(n):
        h.announcer.announce_bgp(BGPRoute(prefix, (name,), (), 0, ("default/web",)))
    start = time.process_time()
    h.actor.on_receive(RoutesChanged())
    cpu = time.process_time() - start
    frames = h.transport.sent[conn]
    assert len(h.actor.sessions[name].adj_out) == n
    return cpu, len(frames), sum(len(f) for f in frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"{'routes':>8} {'session':<11} {'CPU ms':>8} {'UPDATEs':>8} {'bytes':>10}")
    for n in (int(s) for s in args.sizes.split(",")):
        results: dict[str, list[tuple[float, int, int]]] = {"numbered": [], "unnumbered": []}
        for _ in range(args.rounds):
            for kind in results:  # interleaved: load on the machine hits both alike
                results[kind].append(one(kind, n))
        for kind, runs in results.items():
            cpu = statistics.median(r[0] for r in runs)
            _, frames, size = runs[0]
            print(f"{n:>8} {kind:<11} {cpu * 1000:>8.0f} {frames:>8} {size:>10}")


if __name__ == "__main__":
    main()
