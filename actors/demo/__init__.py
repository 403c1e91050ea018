"""``lbtui demo``'s world: the simulated cluster (``cluster``), scenarios (``scenario``, played
by ``scenario_actor``), the membership switch that kills and revives nodes (``membership``)
and the route collector standing in for the router (``collector``).

The demo's actors are wired in ``actors.roles.demo``, never here.
"""
