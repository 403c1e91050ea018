"""Pure election: the L2 owner of each address and each node's BGP routes (no I/O, no clocks)."""
