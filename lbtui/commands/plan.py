"""``lbtui plan FILE...``: the offline dry run (allocations, L2 owners, BGP advertisements),
what-if some nodes die (``--node-down``), and how much an ECMP router would reshuffle
(``--ecmp-hash``). Pure: it calls the election's plan functions, no actor runs.
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from actors.config.build import DEFAULT_NAMESPACE
from actors.util.gc_pause import gc_paused
from lbtui.commands.common import EXIT_INVALID, EXIT_OK, load_config


def add_parser(subparsers: Any) -> None:
    plan = subparsers.add_parser(
        "plan",
        help="dry run: allocations, L2 owners and BGP advertisements from files",
        description="FILEs hold configuration and cluster objects (Services, EndpointSlices, "
        "Nodes, Namespaces) together.",
    )
    plan.add_argument("files", nargs="+", metavar="FILE")
    plan.add_argument("-o", "--output", choices=("json", "table"), default="table")
    plan.add_argument(
        "--node-down",
        action="append",
        default=[],
        metavar="NODE",
        help="what-if: treat NODE as dead and show what moves (repeatable)",
    )
    plan.add_argument(
        "--ecmp-hash",
        action="append",
        default=[],
        choices=("modulo", "threshold", "resilient"),
        help="BGP mode: the share of flows a router moves (connections reset) when the "
        "--node-down nodes die, or each node alone, if it hashes flows this way (repeatable)",
    )
    plan.add_argument("--namespace", default=DEFAULT_NAMESPACE, help="MetalLB's namespace")
    plan.add_argument(
        "--lb-class",
        default=None,
        help="handle only services of this loadBalancerClass (default: services without one)",
    )
    plan.add_argument(
        "--ignore-exclude-lb",
        action="store_true",
        help="elect nodes labelled node.kubernetes.io/exclude-from-external-load-balancers "
        "too, as speakers run with --ignore-exclude-lb do",
    )
    plan.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    # One pass over objects that all stay alive to the end: the cyclic collector would walk
    # them again and again and free nothing.
    with gc_paused():
        return _run(args, out, err)


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from actors.cluster.files import cluster_from_inputs
    from actors.election.plan import compute_plan, known_nodes, what_if

    loaded = load_config(args.files, args.namespace, err, err)
    if isinstance(loaded, int):
        return loaded
    inputs, config = loaded
    cluster = cluster_from_inputs(inputs)
    del loaded, inputs  # the Services are in the cluster; what the files held is not needed again
    unknown = sorted(set(args.node_down) - known_nodes(cluster))
    if unknown:
        print(f"--node-down: unknown node(s): {', '.join(unknown)}", file=err)
        return EXIT_INVALID
    plan = compute_plan(
        config, cluster, lb_class=args.lb_class, ignore_exclude_lb=args.ignore_exclude_lb
    )
    report = what_if(config, cluster, plan, frozenset(args.node_down)) if args.node_down else plan
    # Only the output asked for is built: of 100k Services, the other one is 10s of MB.
    if args.output == "json":
        # Written as json.dump(report.to_json(), indent=2) would, a part at a time.
        extra = []
        if args.ecmp_hash:
            rows = _ecmp_rows(args, config, cluster, plan)[1]
            extra.append(("ecmp", [{"down": down, **impact.to_json()} for down, impact in rows]))
        out.writelines(report.json_chunks(extra))
        out.write("\n")
    else:
        out.writelines(report.table_chunks())
        if args.ecmp_hash:
            schemes, rows = _ecmp_rows(args, config, cluster, plan)
            out.write(f"\n{_ecmp_table(rows, schemes)}")
    return EXIT_OK


def _ecmp_rows(
    args: argparse.Namespace, config: Any, cluster: Any, plan: Any
) -> tuple[list[str], list[tuple[str, Any]]]:
    """``--ecmp-hash``: the hashing schemes, and per set of nodes down (the --node-down set,
    else each node alone) the share of flows a router moves, per scheme."""
    from actors.election.ecmp import ecmp_impacts, single_failures
    from actors.election.plan import known_nodes, what_if

    schemes = list(dict.fromkeys(args.ecmp_hash))
    if args.node_down:
        down = ",".join(sorted(args.node_down))
        report = what_if(config, cluster, plan, frozenset(args.node_down))
        return schemes, [(down, i) for i in ecmp_impacts(report.bgp_changes, schemes)]
    return schemes, list(single_failures(config, cluster, plan, known_nodes(cluster), schemes))


def _ecmp_table(rows: list[tuple[str, Any]], schemes: list[str]) -> str:
    from actors.election.ecmp import ecmp_table

    return ecmp_table(rows, schemes)
