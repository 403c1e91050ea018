"""The ``lbtui`` command line: one entry point, one subcommand per mode (see DESIGN.md).

This is the one module that wires runtime and console together. Textual is imported lazily,
only by the subcommands that open the console, so headless modes never load it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TextIO

from actors.config.build import DEFAULT_NAMESPACE, BuildResult, build_config
from actors.config.issues import UnreadableInput
from actors.config.loader import Inputs, load_files

EXIT_OK, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2


def _read(files: Sequence[str], err: TextIO) -> Inputs | None:
    try:
        return load_files(files)
    except UnreadableInput as exc:
        print(f"{exc}", file=err)
        return None


def _report(inputs: Inputs, result: BuildResult, out: TextIO) -> int:
    issues = [*inputs.issues, *result.issues]
    for issue in sorted(issues, key=lambda i: (i.severity != "error", i.file, i.line or 0)):
        print(issue, file=out)
    return sum(1 for i in issues if i.severity == "error")


def cmd_validate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    inputs = _read(args.files, err)
    if inputs is None:
        return EXIT_UNREADABLE
    result = build_config(inputs, namespace=args.namespace)
    errors = _report(inputs, result, out)
    if errors:
        print(f"{errors} error(s) in {len(args.files)} file(s)", file=err)
        return EXIT_INVALID
    cfg = result.config
    assert cfg is not None
    print(
        f"valid: {len(cfg.pools)} pool(s), {len(cfg.l2_advertisements)} L2Advertisement(s), "
        f"{len(cfg.bgp_advertisements)} BGPAdvertisement(s), {len(cfg.peers)} BGPPeer(s), "
        f"{len(cfg.bfd_profiles)} BFDProfile(s), {len(cfg.communities)} community alias(es)",
        file=err,
    )
    return EXIT_OK


def cmd_plan(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from actors.cluster.files import cluster_from_inputs
    from actors.election.plan import compute_plan, known_nodes, what_if

    inputs = _read(args.files, err)
    if inputs is None:
        return EXIT_UNREADABLE
    result = build_config(inputs, namespace=args.namespace)
    if _report(inputs, result, err):
        return EXIT_INVALID
    assert result.config is not None
    cluster = cluster_from_inputs(inputs)
    unknown = sorted(set(args.node_down) - known_nodes(cluster))
    if unknown:
        print(f"--node-down: unknown node(s): {', '.join(unknown)}", file=err)
        return EXIT_INVALID
    plan = compute_plan(result.config, cluster, lb_class=args.lb_class)
    if args.node_down:
        report = what_if(result.config, cluster, plan, frozenset(args.node_down))
        if args.output == "json":
            json.dump(report.to_json(), out, indent=2)
            out.write("\n")
        else:
            out.write(report.to_table())
        return EXIT_OK
    if args.output == "json":
        json.dump(plan.to_json(), out, indent=2)
        out.write("\n")
    else:
        out.write(plan.to_table())
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lbtui",
        description="A load balancer for bare-metal Kubernetes that reads MetalLB's configuration.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = sub.add_parser(
        "validate",
        help="check MetalLB configuration files offline",
        description="Exit 0 if valid, 1 if invalid (every error printed, one a line), "
        "2 if a file cannot be read or is not YAML.",
    )
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument("--namespace", default=DEFAULT_NAMESPACE, help="MetalLB's namespace")
    validate.set_defaults(func=cmd_validate)

    plan = sub.add_parser(
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
    plan.add_argument("--namespace", default=DEFAULT_NAMESPACE, help="MetalLB's namespace")
    plan.add_argument(
        "--lb-class",
        default=None,
        help="handle only services of this loadBalancerClass (default: services without one)",
    )
    plan.set_defaults(func=cmd_plan)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args, sys.stdout, sys.stderr))
    except BrokenPipeError:
        return EXIT_OK
    except KeyboardInterrupt:
        return 130
