"""``lbtui demo``'s world: the simulated cluster, scenarios, the simulated network and the
route collector.
"""
