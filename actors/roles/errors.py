"""The one error a role builder raises for options it refuses before anything starts.

A builder checks what it can before it returns a single spec (addresses parse, files can be
read, raw sockets may be opened, ...) and raises :class:`OptionsError` with the whole message
the command prints; the command turns it into its exit code. Nothing here imports an actor.
"""

from __future__ import annotations


class OptionsError(Exception):
    """Options a role refuses. ``str(error)`` is the message as the user reads it (one or
    more lines); ``unreadable`` says that an input could not be read (the commands exit 2)
    rather than that it is wrong (exit 1)."""

    def __init__(self, message: str, *, unreadable: bool = False) -> None:
        super().__init__(message)
        self.unreadable = unreadable
