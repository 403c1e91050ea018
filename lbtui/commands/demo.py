"""``lbtui demo``: the simulated cluster with the real actors (``actors.roles.demo``), in the
console, or headless with one JSON object per event on stdout.
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from lbtui.commands.common import (
    EXIT_INVALID,
    EXIT_OK,
    add_status_options,
    refused,
    status_options,
)
from lbtui.commands.logs import add_logging_options, setup_console_logging, setup_logging
from lbtui.commands.tui import (
    add_console_options,
    console_settings,
    run_console,
    theme_ok,
)


def add_parser(subparsers: Any) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="a simulated cluster with the real actors, no root and no cluster needed",
        description="Runs N simulated nodes, sample services and a scenario that shows "
        "failover. With --headless, prints one JSON object per event on stdout.",
    )
    demo.add_argument("--nodes", type=int, default=3, help="number of simulated nodes")
    demo.add_argument("--scenario", metavar="FILE", help="scenario file (examples/scenarios/)")
    demo.add_argument("--headless", action="store_true", help="no console: JSON events on stdout")
    demo.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="S",
        help="stop after S seconds (default: until interrupted)",
    )
    add_logging_options(demo)
    add_console_options(demo)
    add_status_options(demo)
    demo.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from actors.roles import demo as role
    from actors.roles.errors import OptionsError
    from actors.runtime import run_until_stopped

    if args.headless:
        setup_logging(args)
    else:
        setup_console_logging(args)
    try:
        status = status_options(args)
        if not args.headless and not theme_ok(args.theme, err):
            return EXIT_INVALID
        options = role.DemoOptions(nodes=args.nodes, scenario_file=args.scenario, status=status)
        # Headless, the events go to stdout; otherwise the terminal belongs to the console.
        demo = role.build(options, events=out if args.headless else None)
    except OptionsError as exc:
        return refused(exc, err)
    if not args.headless:
        return _console(args, demo.runtime, err)
    run_until_stopped(demo.runtime, args.duration)
    return EXIT_OK


def _console(args: argparse.Namespace, runtime: Any, err: TextIO) -> int:
    """The console on the demo runtime; the console starts the runtime (after subscribing,
    so it sees every event) and the runtime stops when the console quits."""
    from actors.roles.demo import kill_node, revive_node
    from lbtui.ports.local import LocalPort

    port = LocalPort(
        runtime,
        kill_node=kill_node,
        revive_node=revive_node,
        readonly=args.readonly,
        description=f"demo, {args.nodes} nodes in process",
    )
    try:
        return run_console(port, console_settings(args), err)
    finally:
        runtime.stop("console closed")
