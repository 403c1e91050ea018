"""Address allocation: the pure MetalLB-compatible allocator (converge.py over demand, pools,
ranges and holdings) and its actor (actor.py, leading.py)."""
