"""Opening the Textual console from a command (``demo``, ``console``, ``lab console``): its
options, the theme check and the run itself.

Textual is imported only inside :func:`run_console` and :func:`theme_ok`, so that the
headless commands never load it (tests/unit/test_project.py checks).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, TextIO

from lbtui.commands.common import EXIT_INVALID, EXIT_OK


def add_console_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--theme",
        default=None,
        help="console theme: a themes/*.toml name (dark, light, colorblind); "
        "default $LBTUI_THEME or dark",
    )
    parser.add_argument(
        "--readonly", action="store_true", help="console: hide every key that changes anything"
    )
    parser.add_argument(
        "--view",
        default=None,
        help="console: the view to open (overview, svc, pools, nodes, l2, bgp, peers, events)",
    )
    parser.add_argument("--log-file", metavar="FILE", help="console: write logs to FILE")


@dataclass(frozen=True)
class ConsoleSettings:
    """How to open the console: ``--theme``, ``--readonly``, ``--view`` and, for the demo,
    ``--duration`` (close after that many seconds)."""

    theme: str | None = None
    readonly: bool = False
    view: str = "overview"
    exit_after: float | None = None


def console_settings(args: argparse.Namespace, *, readonly: bool | None = None) -> ConsoleSettings:
    """The settings the command line asked for; ``readonly`` True overrides ``--readonly``
    (a console on a read-only status endpoint)."""
    return ConsoleSettings(
        theme=args.theme,
        readonly=args.readonly if readonly is None else readonly,
        view=args.view or "overview",
        exit_after=getattr(args, "duration", None),
    )


def theme_ok(theme: str | None, err: TextIO) -> bool:
    """Checked before a runtime is built, so a typo in --theme costs nothing."""
    from lbtui.themes import ThemeError, choose_theme, load_themes

    try:
        choose_theme(theme, load_themes())
    except ThemeError as exc:
        print(f"lbtui: {exc}", file=err)
        return False
    return True


def run_console(port: Any, settings: ConsoleSettings, err: TextIO) -> int:
    """Run the console on ``port`` until the user quits (or ``exit_after`` passes)."""
    from lbtui.app import ConsoleApp
    from lbtui.themes import ThemeError

    try:
        app = ConsoleApp(
            port,
            theme_name=settings.theme,
            readonly=settings.readonly,
            view=settings.view,
            exit_after=settings.exit_after,
        )
    except ThemeError as exc:
        print(f"lbtui: {exc}", file=err)
        return EXIT_INVALID
    app.run()
    return EXIT_OK
