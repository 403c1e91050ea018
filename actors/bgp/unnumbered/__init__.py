"""Unnumbered BGP (a session over an interface's IPv6 link-local address): router
advertisements and solicitations (``ndp``), the pure discovery and advertising state
(``discovery``) and the ICMPv6 socket (``link``)."""
