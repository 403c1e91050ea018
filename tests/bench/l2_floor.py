"""The floor under a Python ARP responder: what a serial request costs without our code.

Run as root: ``.venv/bin/python tests/bench/l2_floor.py [--count N] [--rounds N]``.

The kernel answers an ARP request inside the asker's own ``send`` (softirq on the sending
CPU: nobody is woken). A responder in a process must be woken, run, and send. This bench
puts, one after the other on the same client/node namespaces as tests/bench/l2.py, the same
Python client (its cost cancels out) against:

- ``kernel``: the node's own address;
- ``recv loop``: the smallest Python responder, C-free: a packet socket with our BPF filter, a
  blocking ``recv``, the reply from a template, ``send``; nothing else;
- ``recv loop in a thread``: the same loop in a thread of its own, the main thread asleep
  (as the responder's readers run);
- ``recv loop + answer()``: the same loop calling the responder's ``ArpReplier.answer``;
- ``recv loop + SO_RCVTIMEO``: the same with a receive timeout of 0.5 s (how the responder's
  readers notice they were retired);
- ``recv loop, our socket``: the same loop on a socket opened as the responder opens its own
  (``packet_socket.open_packet_socket``: its options, then the filter);
- ``poll + recv loop``: ``poll`` (no timeout) on the socket and a stop pipe, then a
  non-blocking ``recv``: a timer-free way to let a reader be stopped (tried in the responder,
  and reverted: no faster than the receive timeout within this machine's noise);
- ``recv loop + busy poll``: the same with ``SO_BUSY_POLL`` (50 us; the kernel polls the
  device queue in ``recv`` instead of sleeping, where the driver supports it);
- ``recv loop + spin``: the same, but after each reply it polls the socket without blocking
  for up to 200 us before blocking again (a busy socket's next request is caught awake);
- ``ring loop (poll)``, ``(epoll)``, ``+ spin``: the smallest responder on a receive ring
  (``tests/bench/rx_ring.py``), sleeping in poll or epoll, or spinning 200 us on the next slot
  first;
- ``recvmmsg loop``: the smallest batched responder: every frame already queued taken by one
  ``recvmmsg`` (``MSG_WAITFORONE``: it blocks for the first only), the replies sent by one
  ``sendmmsg`` (``actors/l2/mmsg.py``);
- ``responder``: lbtui's L2Responder (filter, blocking ``recv``, batched rounds under a burst,
  counters, duty table); ``responder, 1 frame/call``: the same with ``batched=False``.

Each row: serial p50 and p99 over ``--count`` requests and the flood rate (``--flood``
requests, 32 in flight), medians of ``--rounds`` rounds, the ratios to the kernel, and the
responder's CPU time per reply (all its threads, user and system, from
``/proc/PID/task/*/schedstat``: what the responder costs a busy machine, whose load moves the
rates but not this). No
timed assertions anywhere: this prints a table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.bench.l2 import cpu_seconds, measure

VIP4 = "10.99.0.100"

SERVER = r"""
import ipaddress, socket, sys, time
from actors.l2 import arp, bpf
mode, vip = sys.argv[1], ipaddress.ip_address(sys.argv[2]).packed
if mode.startswith("responder"):
    from types import MappingProxyType
    from actors.l2.interfaces import read_links
    from actors.l2.responder import InterfaceDuty, L2Responder
    link = {li.name: li for li in read_links()}["eth0"]
    responder = L2Responder(batched=mode != "responder1")
    responder.update({"eth0": InterfaceDuty("eth0", link.index, link.mac, link.link_local,
                                            ipv4=MappingProxyType({vip: sys.argv[2]}))})
    print("ready", flush=True)
    time.sleep(3600)
if mode == "opener":  # the responder's own socket (its options), read by the minimal loop
    from actors.l2.packet_socket import open_packet_socket
    sock = open_packet_socket("eth0", arp.ETH_P_ARP)
else:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
if mode == "rcvtimeo":
    import struct
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("@ll", 0, 500000))
bpf.attach(sock, bpf.arp_program([vip]))
if mode == "busypoll":
    sock.setsockopt(socket.SOL_SOCKET, 46, 50)  # SO_BUSY_POLL, microseconds
if mode != "opener":
    sock.bind(("eth0", arp.ETH_P_ARP))
with open("/sys/class/net/eth0/address") as f:
    mac = bytes.fromhex(f.read().strip().replace(":", ""))
middle = arp.ArpReplier(mac)._reply_middle
recv, send, dontwait = sock.recv, sock.send, socket.MSG_DONTWAIT
print("ready", flush=True)
if mode == "spin":
    spin = 200e-6
    clock = time.perf_counter
    while True:
        f = recv(2048)
        sha = f[22:28]
        send(sha + middle + f[38:42] + sha + f[28:32], dontwait)
        until = clock() + spin
        while clock() < until:
            try:
                f = recv(2048, dontwait)
            except BlockingIOError:
                continue
            sha = f[22:28]
            send(sha + middle + f[38:42] + sha + f[28:32], dontwait)
            until = clock() + spin
if mode == "mmsg":  # the smallest batched loop: every queued frame per recvmmsg, one sendmmsg
    from actors.l2 import mmsg
    batch = mmsg.batcher(sock)
    while True:
        replies = [f[22:28] + middle + f[38:42] + f[22:28] + f[28:32] for f in batch.receive()]
        if len(replies) == 1:
            send(replies[0], dontwait)
        else:
            batch.send(replies)
if mode.startswith("ring"):
    import select
    from tests.bench.rx_ring import MappedRing
    rx = MappedRing(sock).ring
    take = rx.next_frame
    if mode == "ringepoll":
        ep = select.epoll()
        ep.register(sock.fileno(), select.EPOLLIN)
        wait = lambda: ep.poll(0.5)
    else:
        p = select.poll()
        p.register(sock, select.POLLIN)
        wait = lambda: p.poll(500)
    ready = rx.ready
    clock = time.perf_counter
    while True:
        f = take()
        if f is None:
            if mode == "ringspin":
                until = clock() + 200e-6
                while not ready() and clock() < until:
                    pass
                if ready():
                    continue
            wait()
            continue
        sha = f[22:28]
        send(sha + middle + f[38:42] + sha + f[28:32], dontwait)
def loop():
    while True:
        try:
            f = recv(2048)
        except BlockingIOError:  # SO_RCVTIMEO's timeout (the rcvtimeo and opener rows)
            continue
        sha = f[22:28]
        send(sha + middle + f[38:42] + sha + f[28:32], dontwait)
def loop_answer():
    answer, announced = arp.ArpReplier(mac).answer, {vip: sys.argv[2]}
    while True:
        reply, ip = answer(recv(2048), announced)
        if reply is not None:
            send(reply, dontwait)
def loop_poll():
    import select
    stop_r, _stop_w = os.pipe()
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    poller.register(stop_r, select.POLLIN)
    wait = poller.poll
    while True:
        wait()
        try:
            f = recv(2048, dontwait)
        except BlockingIOError:
            continue
        sha = f[22:28]
        send(sha + middle + f[38:42] + sha + f[28:32], dontwait)
if mode == "pollrecv":
    import os
    loop_poll()
if mode == "thread":
    import threading
    threading.Thread(target=loop, daemon=True).start()
    time.sleep(3600)
loop_answer() if mode == "answer" else loop()
"""

MODES = (
    ("recv loop", "loop"),
    ("recv loop in a thread", "thread"),
    ("recv loop + answer()", "answer"),
    ("recv loop + SO_RCVTIMEO", "rcvtimeo"),
    ("recv loop, our socket", "opener"),
    ("poll + recv loop", "pollrecv"),
    ("recv loop + busy poll", "busypoll"),
    ("recv loop + spin", "spin"),
    ("ring loop (poll)", "ringpoll"),
    ("ring loop (epoll)", "ringepoll"),
    ("ring loop + spin", "ringspin"),
    ("recvmmsg loop", "mmsg"),
    ("responder", "responder"),
    ("responder, 1 frame/call", "responder1"),
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--flood", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--only", action="append", default=[], help="measure only these rows (repeatable)"
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("tests/bench/l2_floor.py needs root (network namespaces)")
    from tests.net.topology import Topology

    modes = [(n, m) for n, m in MODES if not args.only or n in args.only]
    results: dict[str, list[dict]] = {}
    with Topology(node_names=["node-a"], service_addresses=[VIP4], prefix="lbl2f") as topo:
        node, client = topo.node("node-a"), topo.client
        for _ in range(args.rounds):
            kernel = measure(topo, node.ipv4, client.ipv4, args.count, args.flood)
            results.setdefault("kernel", []).append({**kernel, "cpu": 0.0})
            for name, mode in modes:
                proc = topo.spawn(
                    "node-a",
                    [sys.executable, "-c", SERVER, mode, VIP4],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                )
                assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
                time.sleep(0.2)
                before = cpu_seconds(proc.pid)
                result = measure(topo, VIP4, client.ipv4, args.count, args.flood)
                cpu = (cpu_seconds(proc.pid) - before) * 1e6 / (args.count + args.flood)
                results.setdefault(name, []).append({**result, "cpu": cpu})
                proc.kill()
                proc.wait()

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    print(
        f"\nARP round trip, {args.count} serial requests and a flood of {args.flood} "
        f"(32 in flight), medians of {args.rounds} round(s)"
    )
    print(
        f"{'':24} {'p50 (us)':>9} {'p99 (us)':>9} {'p50/kernel':>11} {'p99/kernel':>11} "
        f"{'flood/s':>9} {'flood/kernel':>13} {'CPU us/reply':>13}"
    )
    for name in ("kernel", *(n for n, _ in modes)):
        p50, p99, rate = median(name, "p50"), median(name, "p99"), median(name, "flood_rate")
        print(
            f"{name:24} {p50:>9.1f} {p99:>9.1f} {p50 / median('kernel', 'p50'):>11.2f} "
            f"{p99 / median('kernel', 'p99'):>11.2f} {rate:>9.0f} "
            f"{rate / median('kernel', 'flood_rate'):>13.2f} {median(name, 'cpu'):>13.1f}"
        )


if __name__ == "__main__":
    main()
