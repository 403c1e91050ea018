"""Pausing the cyclic garbage collector for a bulk pass, written once.

A bulk pass (allocating 100k services, packing 100k routes, reducing a console batch) creates
many small objects that mostly stay alive, so every collection it triggers walks the growing
heap and frees nothing. Reference counting still frees everything else meanwhile; the
collector's previous state is restored, even on error.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused(size: int | None = None, threshold: int = 0) -> Iterator[None]:
    """Pause the collector inside the block, unless ``size`` is below ``threshold``
    (small passes are not worth it) or the collector is already off."""
    if not gc.isenabled() or (size is not None and size < threshold):
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
