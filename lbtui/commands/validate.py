"""``lbtui validate FILE...``: offline lint of MetalLB configuration.

Exit 0 if valid, 1 if invalid (every error printed, one a line), 2 if a file cannot be read
or is not YAML.
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from actors.config.build import DEFAULT_NAMESPACE, build_config
from lbtui.commands.common import (
    EXIT_INVALID,
    EXIT_OK,
    EXIT_UNREADABLE,
    read_inputs,
    report_issues,
)


def add_parser(subparsers: Any) -> None:
    validate = subparsers.add_parser(
        "validate",
        help="check MetalLB configuration files offline",
        description="Exit 0 if valid, 1 if invalid (every error printed, one a line), "
        "2 if a file cannot be read or is not YAML.",
    )
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument("--namespace", default=DEFAULT_NAMESPACE, help="MetalLB's namespace")
    validate.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    inputs = read_inputs(args.files, err)
    if inputs is None:
        return EXIT_UNREADABLE
    result = build_config(inputs, namespace=args.namespace)
    errors = report_issues(inputs, result, out)
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
