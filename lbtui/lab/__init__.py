"""``lbtui lab``: a real network on one Linux machine (root), to watch lbtui on real packets
and to rehearse and measure failures.

netns.py     namespaces and commands in them (shared with tests/net)
topology.py  the lab's plan (pure: names, addresses, MACs) and the effective config/cluster
router.py    BIRD 2 and FRR router configurations (pure) and how to start them
state.py     the state file: everything made is recorded before it is made
lab.py       up, down, status, fail, heal (the orchestration)
httpd.py     the HTTP server every node runs, answering its node's name
traffic.py   the client's traffic generator (many TCP connections, who answered, errors)
"""
