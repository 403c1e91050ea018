"""Layer 2 mode on the wire: ARP and NDP responders, gratuitous announcements, link awareness."""
