"""Where one reading of a YAML file goes, stage by stage, above libyaml's events.

Run: ``PYTHONPATH=. .venv/bin/python tests/bench/config_stages.py [--mb 10] [--repeat 2]``.
Writes the file ``tests/bench/config_parse.py`` writes (Services filling the size) and
prints the CPU seconds (the least of ``--repeat`` runs, the cyclic collector off) of:

- ``events``: every event through PyYAML's libyaml binding, nothing built (the floor);
- ``nodes`` three ways: libyaml's composer with PyYAML's own resolver (``CSafeLoader``),
  with lbtui's resolver but the composer's per-node path-resolver calls in Python (as before
  issue 19), and lbtui's loader as it is (``GoCompatibleCLoader``);
- ``documents()``: lbtui's objects (``actors/config/yamlread.py``: nodes, then the objects);
- ``classify``: the loader's kinds and pydantic models of those objects (``load_documents``);
- ``plan:`` what ``lbtui plan`` does once the file is loaded (``actors/election/plan.py``):
  ``allocate`` (``allocate_cluster``), ``elect`` (L2 owners and BGP routes of those
  allocations), ``table`` (the text written, to /dev/null).

Measured (issue 19, 2-core machine with a load average of 7 from other work, one run):

    CPU s                       10 MB   50 MB
    events (the floor)           1.22    6.47
    nodes, CSafeLoader           1.84    9.91
    nodes, Python descend        1.60    8.27
    nodes, lbtui's loader        1.38    7.28
    documents()                  2.11    9.92
    classify (kinds, models)     0.28    1.51

So above the floor: composing nodes +0.8 s at 50 MB (Node objects and their marks, a
``resolve`` call each), building Python objects from them +2.6 s, the models +1.5 s, and the
interpreter's start and imports ~0.4 s.

Plan after loading (issue 19, later; 50 MB, 111,325 Services, none with endpoints, so every
L2 verdict is "no serving endpoint"; CPU s, least of 3, main and this change interleaved, two
runs each, while other tests ran beside them):

    CPU s                       before        after
    plan: allocate            1.61-1.66   1.21-1.28   a pool asked for: its lowest free address
    plan: elect (L2, BGP)     1.33-1.45   0.60-0.67   no decision made for a node-free verdict
    plan: table               1.70-1.89   1.08-1.12   IPv4 text by inet_ntoa, one format a line
    all three                 4.66-5.08   2.92-3.08

Later (issue 19: each table row made once, its columns' widths found from the cells'
lengths; no layer-2 election or filter where every pool in use, or none, is in layer 2
mode), the same stages, least of 3, interleaved with main: elect 0.64-0.68 -> 0.44 s, table
1.11-1.12 -> 0.55-0.56 s; allocate unchanged (~1.25 s).

With endpoints (a 17.5 MB file of 20,000 Services, each with an EndpointSlice of three ready
endpoints on ten nodes), the election is most of it: 1.23 -> 0.90 s (each set of
advertisements' node facts made once per election, not once per service).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from config_parse import write_file

from actors.allocator.converge import allocate_cluster
from actors.cluster.files import cluster_from_inputs
from actors.config import yamlread
from actors.config.build import build_config
from actors.config.loader import load_documents
from actors.election.plan import compute_plan


class _PythonDescend(yamlread.GoCompatibleCLoader):
    """lbtui's loader with the composer's path-resolver calls in Python, as PyYAML has them."""

    descend_resolver = yaml.resolver.BaseResolver.descend_resolver
    ascend_resolver = yaml.resolver.BaseResolver.ascend_resolver


def cpu(run: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=10.0, help="the file's size in MB")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each stage")
    args = parser.parse_args()
    gc.disable()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        services = write_file(path, None, int(args.mb * 2**20))

        def events() -> None:
            with path.open("rb") as f:
                loader = yaml.CSafeLoader(f)
                while loader.check_event():
                    loader.get_event()

        def nodes(cls: type) -> Callable[[], None]:
            def run() -> None:
                with path.open("rb") as f:
                    loader = cls(f)
                    while loader.check_node():
                        loader.get_node()

            return run

        def documents() -> None:
            with path.open("rb") as f:
                for _ in yamlread.documents(f):
                    pass

        with path.open("rb") as f:
            held = list(yamlread.documents(f))
        print(f"{args.mb:g} MB, {services} Services; CPU s, least of {args.repeat}")
        for name, run in (
            ("events (the floor)", events),
            ("nodes, CSafeLoader", nodes(yaml.CSafeLoader)),
            ("nodes, Python descend", nodes(_PythonDescend)),
            ("nodes, lbtui's loader", nodes(yamlread.GoCompatibleCLoader)),
            ("documents()", documents),
            ("classify (kinds, models)", lambda: load_documents(held, str(path))),
        ):
            print(f"{name:<26} {cpu(run, args.repeat):>6.2f}", flush=True)
        inputs = load_documents(held, str(path))
        held.clear()
        config = build_config(inputs).config
        assert config is not None
        cluster = cluster_from_inputs(inputs)
        del inputs
        allocations, usage = allocate_cluster(config, cluster)
        plan = compute_plan(config, cluster, allocations=allocations, usage=usage)

        def table() -> None:
            with open(os.devnull, "w") as out:
                out.writelines(plan.table_chunks())

        for name, run in (
            ("plan: allocate", lambda: allocate_cluster(config, cluster)),
            (
                "plan: elect (L2, BGP)",
                lambda: compute_plan(config, cluster, allocations=allocations, usage=usage),
            ),
            ("plan: table", table),
        ):
            print(f"{name:<26} {cpu(run, args.repeat):>6.2f}", flush=True)


if __name__ == "__main__":
    main()
