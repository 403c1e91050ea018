"""The ``lbtui`` command line: one entry point, one subcommand per mode (see ARCHITECTURE.md).

Argument parsing and dispatch only: each subcommand lives in ``lbtui.commands`` (its options
and its ``run``), and the actors are wired by the role builders in ``actors.roles``. Textual
is imported lazily, only by the subcommands that open the console, so headless modes never
load it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lbtui.commands import (
    completion,
    console,
    controller,
    demo,
    lab,
    plan,
    speaker,
    validate,
)
from lbtui.commands.common import EXIT_OK

#: The subcommands, in the order ``lbtui --help`` lists them.
COMMANDS = (validate, plan, demo, speaker, controller, console, lab, completion)


def version() -> str:
    """The installed package's version (its metadata), or a word saying it is not installed."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("lbtui")
    except PackageNotFoundError:
        return "unknown (not installed: run from a source tree)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lbtui",
        description="A load balancer for bare-metal Kubernetes that reads MetalLB's configuration.",
    )
    parser.add_argument("--version", action="version", version=f"lbtui {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
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
