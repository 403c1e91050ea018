"""One module per ``lbtui`` subcommand: ``validate``, ``plan``, ``demo``, ``speaker``,
``controller``, ``console``, ``lab``, ``completion``.

Each has ``add_parser(subparsers)`` (its options, help and defaults) and
``run(args, out, err) -> int`` (its exit code), which turns the parsed options into a role's
options and calls the role builder (``actors.roles``), the Runtime or a pure core. They share
``common`` (exit codes, option groups), ``logs`` (logging) and ``tui`` (opening the Textual
console).
"""
