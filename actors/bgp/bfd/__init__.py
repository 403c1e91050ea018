"""BFD (RFC 5880/5881, asynchronous mode): fast detection of a dead path to a BGP peer.

``codec`` (control packets), ``session`` (the pure state machine in virtual time),
``transport`` (UDP sockets) and ``actor`` (one BfdActor per node, driven by BFDProfiles).
"""
