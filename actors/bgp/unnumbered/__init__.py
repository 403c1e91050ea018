"""Unnumbered BGP (a session over an interface's IPv6 link-local address): router
advertisements and solicitations (``ndp``), the pure discovery, advertising and flood-gate
state (``discovery``), the ICMPv6 socket (``link``), the kernel's neighbour table
(``neighbours``), and ``links``, which the BGP speaker actor holds."""
