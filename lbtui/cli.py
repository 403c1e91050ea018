"""The ``lbtui`` command line: one entry point, one subcommand per mode (see ARCHITECTURE.md).

Argument parsing and dispatch only: each subcommand lives in ``lbtui.commands`` (its options
and its ``run``), and the actors are wired by the role builders in ``actors.roles``. Textual
is imported lazily, only by the subcommands that open the console, so headless modes never
load it.
"""

from __future__ import annotations

import argparse
import os
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


class _VersionAction(argparse.Action):
    """``--version``: the package metadata is read only when asked (reading it costs every
    other command's start a scan of the installed distributions)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(
            option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=kwargs.get("help")
        )

    def __call__(self, parser: argparse.ArgumentParser, *_args: object, **_kw: object) -> None:
        sys.stdout.write(f"lbtui {version()}\n")
        parser.exit()


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``only`` (a subcommand's name), that subcommand alone.

    ``main`` builds only the command it runs: building every subcommand's options loads what
    their choices come from (the lab's topology, for one), which that command never uses.
    The narrowed parser parses and reports that command's arguments exactly as the whole one
    does (same ``prog``, same help, same errors)."""
    parser = argparse.ArgumentParser(
        prog="lbtui",
        description="A load balancer for bare-metal Kubernetes that reads MetalLB's configuration.",
    )
    parser.add_argument(
        "--version", action=_VersionAction, help="show program's version number and exit"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        if only is None or _name(command) == only:
            command.add_parser(sub)
    return parser


def _name(command: object) -> str:
    return getattr(command, "__name__", "").rpartition(".")[2]


def main(argv: Sequence[str] | None = None) -> int:
    # Pydantic hands every object it validates (Secrets with BGP passwords included) to the
    # plugins it finds among the installed distributions, and looking for them reads every
    # distribution's metadata at the first validation (milliseconds of each start). lbtui uses
    # none: they stay off unless the environment asks for them.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    argv = list(sys.argv[1:] if argv is None else argv)
    first = argv[0] if argv else None
    parser = build_parser(first if first in {_name(c) for c in COMMANDS} else None)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args, sys.stdout, sys.stderr))
    except BrokenPipeError:
        return EXIT_OK
    except KeyboardInterrupt:
        return 130
