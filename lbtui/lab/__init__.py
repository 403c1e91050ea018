"""``lbtui lab``: a real network on one Linux machine (root), to watch lbtui on real packets
and to rehearse and measure failures.

netns.py     namespaces and commands in them (shared with tests/net)
topology.py  the lab's plan (pure: names, addresses, MACs) and the effective config/cluster
router.py    BIRD 2 and FRR router configurations (pure) and how to start them
state.py     the state file: everything made is recorded before it is made
lab.py       Lab: the verbs up, down, fail, heal, status (lock, state, the modules below)
processes.py the lab's processes: started in a namespace and recorded, signalled, reaped
up.py        lab up: files, namespaces, bridge, router, nodes' processes, wait until it serves
down.py      lab down: remove everything a lab made (DownReport), also after a crash
faults.py    lab fail / lab heal: a speaker killed or stopped, a cable out, and back
probe.py     what the running lab says: status endpoints, kernels' routes and neighbours
readiness.py whether the lab serves: the election's prediction against what the nodes say
status.py    lab status: as JSON and for people
httpd.py     the HTTP server every node runs, answering its node's name
traffic.py   the client's traffic generator (many TCP connections, who answered, errors)
"""
