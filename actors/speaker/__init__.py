"""The speaker: one node's desired announcements diffed against what it announces, and the Announcer
protocol that layer 2, BGP and FRR implement."""
