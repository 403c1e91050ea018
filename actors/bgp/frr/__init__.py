"""FRR as lbtui's BGP backend (``--bgp-backend frr``): an announcer like L2 and native BGP.

- ``render``: the frr.conf for a node's routes and configuration (pure);
- ``writer``: the actor that keeps the file equal to it, fed by the speaker through
  ``actors.bgp.announcer.FrrAnnouncer``.
"""
