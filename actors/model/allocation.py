"""What the allocator hands out: one service's :class:`Allocation` and one pool's
:class:`PoolUsage`, with the kinds of error and drop an Allocation reports (see
actors/allocator/converge.py for how they are computed).
"""

from __future__ import annotations

from dataclasses import dataclass

from actors.model.config import IPAddress

# What kind of error an Allocation reports (``error_kind``).
ERROR_ALLOCATION = ""  # no address could be had (pools, requests refused, sharing, ...)
ERROR_REQUEST = "invalid-request"  # the requested addresses do not parse / cannot be asked for
ERROR_NOT_ENOUGH_CLUSTER_IPS = "not-enough-cluster-ips"  # RequireDualStack, one clusterIP
ERROR_CLUSTER_IP_FAMILY = "cluster-ip-family"  # the clusterIPs give no address family
ERROR_NO_POOLS = "no-pools"  # the configuration has no pool: MetalLB posts no Event for it
# What kind of drop an Allocation's ``cleared`` reports (``cleared_kind``).
CLEARED_OTHER = ""  # a changed request, pool or family: MetalLB clears silently
CLEARED_NOT_ALLOWED = "not-allowed"  # the configuration no longer admits the addresses
CLEARED_NO_IP_FAMILY = "no-ip-family"  # the addresses in the status have no address family
# The allocator starts these drops so; cleared_kind tells them apart by it.
NOT_ALLOWED_PREFIX = "current IP for "
# MetalLB's ipfamily.ForAddresses errors start so; the drop's text is that error.
NO_FAMILY_PREFIX = "IPFamilyForAddresses: "


@dataclass(frozen=True, slots=True)
class Allocation:
    """What one service holds after convergence (see the module docstring)."""

    service: str
    ips: tuple[IPAddress, ...]
    pool: str | None
    error: str | None = None
    cleared: str | None = None
    error_kind: str = ERROR_ALLOCATION
    notice: str | None = None

    @property
    def cleared_kind(self) -> str:
        """What kind of drop ``cleared`` reports (derived, so it never outlives the text)."""
        cleared = self.cleared
        if cleared is None:
            return CLEARED_OTHER
        if cleared.startswith(NOT_ALLOWED_PREFIX):
            return CLEARED_NOT_ALLOWED
        if cleared.startswith(NO_FAMILY_PREFIX):
            return CLEARED_NO_IP_FAMILY
        return CLEARED_OTHER


@dataclass(frozen=True, slots=True)
class PoolUsage:
    """Addresses of one pool: how many it has and how many are held, per family."""

    total: int
    in_use: int
    total_v4: int
    total_v6: int
    in_use_v4: int
    in_use_v6: int
