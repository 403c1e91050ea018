"""MetalLB's Service annotations: their names (``metallb.io/*``, and the deprecated
``metallb.universe.tf/*``) and how one is read.
"""

from __future__ import annotations

from collections.abc import Mapping

STABLE_PREFIX = "metallb.io/"
DEPRECATED_PREFIX = "metallb.universe.tf/"
ADDRESS_POOL = "address-pool"
LOAD_BALANCER_IPS = "loadBalancerIPs"
ALLOW_SHARED_IP = "allow-shared-ip"
ANNOTATION_ADDRESS_POOL = STABLE_PREFIX + ADDRESS_POOL
ANNOTATION_LOAD_BALANCER_IPS = STABLE_PREFIX + LOAD_BALANCER_IPS
ANNOTATION_ALLOW_SHARED_IP = STABLE_PREFIX + ALLOW_SHARED_IP
# Written by the controller next to the status; never read back (MetalLB does the same).
ANNOTATION_IP_ALLOCATED_FROM_POOL = STABLE_PREFIX + "ip-allocated-from-pool"
DEPRECATED_ALLOW_SHARED_IP = DEPRECATED_PREFIX + ALLOW_SHARED_IP


def annotation(annotations: Mapping[str, str], name: str) -> str:
    """``metallb.io/<name>`` if present (even empty), else the deprecated spelling, else ""."""
    value = annotations.get(STABLE_PREFIX + name)
    if value is None:
        value = annotations.get(DEPRECATED_PREFIX + name, "")
    return value
