"""Membership: SWIM gossip with Lifeguard's refinements, encrypted with AES-GCM.

``core`` is the pure protocol state machine, ``codec`` the wire format, ``keyring`` the
encryption, ``transport`` the UDP/TCP sockets, ``actor`` the MembershipActor that joins them,
``sim`` an in-memory network in virtual time for tests and benchmarks.
"""
