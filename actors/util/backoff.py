"""Exponential backoff, written once: how long to wait after the n-th failure in a row.

Every retry loop in lbtui (supervised restarts, Kubernetes watches and status writes, webhook
certificates, the console's speaker streams) doubles its wait from an initial delay up to a
cap; the ones that many processes share add jitter so that they do not all come back at once.
"""

from __future__ import annotations

import random


def backoff_delay(
    failures: int, initial: float, maximum: float, rng: random.Random | None = None
) -> float:
    """``initial`` after the first failure, doubling up to ``maximum``.

    With ``rng``, ±10% jitter: speakers that lost the API together do not all retry in the
    same instant. ``failures`` below 1 counts as 1.
    """
    base = min(maximum, initial * 2 ** max(0, failures - 1))
    if rng is None:
        return base
    return base * (0.9 + 0.2 * rng.random())
