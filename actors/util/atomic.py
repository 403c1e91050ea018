"""Replacing a file atomically, written once: readers see the old content or the new."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomically(path: str | Path, data: str | bytes, mode: int | None = None) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then rename it over.

    ``mode`` (e.g. ``0o600`` for keys and passwords) is set before the rename, so the file is
    never readable by others, not even for an instant.
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=str(target.parent or "."))
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data.encode("utf-8") if isinstance(data, str) else data)
            out.flush()
            os.fsync(out.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def replace_if_changed(path: str | Path, data: str | bytes, mode: int | None = None) -> bool:
    """:func:`write_atomically` unless the file already holds ``data``; whether it changed."""
    target = Path(path)
    expected = data.encode("utf-8") if isinstance(data, str) else data
    with contextlib.suppress(OSError):
        if target.read_bytes() == expected:
            return False
    write_atomically(target, data, mode)
    return True
