"""Address allocation: the pure MetalLB-compatible allocator core (core.py) and its actor."""
