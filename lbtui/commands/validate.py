"""``lbtui validate FILE...``: offline lint of MetalLB configuration.

Exit 0 if valid, 1 if invalid (every error printed, one a line), 2 if a file cannot be read
or is not YAML.
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from actors.config.build import DEFAULT_NAMESPACE
from lbtui.commands.common import EXIT_OK, load_config


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
    loaded = load_config(args.files, args.namespace, out, err, count_errors=True)
    if isinstance(loaded, int):
        return loaded
    _, cfg = loaded
    print(
        f"valid: {len(cfg.pools)} pool(s), {len(cfg.l2_advertisements)} L2Advertisement(s), "
        f"{len(cfg.bgp_advertisements)} BGPAdvertisement(s), {len(cfg.peers)} BGPPeer(s), "
        f"{len(cfg.bfd_profiles)} BFDProfile(s), {len(cfg.communities)} community alias(es)",
        file=err,
    )
    return EXIT_OK
