"""What the kernel ARP/NDP checks share, inside a namespace holding veth0 <-> veth1: the two
ends (the responder's veth0, the asker's raw socket on veth1), whether the link shows an XDP
program, and a responder answering in the kernel from a process of its own, to freeze or kill.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from actors.l2 import xdp
from actors.l2.interfaces import Link, read_links
from actors.l2.responder import InterfaceDuty, L2Responder


def veth_ends() -> tuple[Link, Link, socket.socket]:
    """(veth0, veth1, a raw socket on veth1 that sees every frame)."""
    links = {li.name: li for li in read_links()}
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    sock.bind(("veth1", 0))
    return links["veth0"], links["veth1"], sock


def xdp_on(ifname: str) -> bool:
    """Whether the link shows an XDP program attached (``ip -d link``: prog/xdp id N)."""
    text = subprocess.run(
        ["ip", "-d", "link", "show", ifname], capture_output=True, text=True, check=True
    ).stdout
    return "prog/xdp" in text or "xdpgeneric" in text


@contextmanager
def kernel_beside_readers(
    duty: InterfaceDuty, **kernel: object
) -> Iterator[tuple[L2Responder, xdp.KernelNeighbours]]:
    """Readers in user space answering for ``duty`` on veth0, and a kernel program beside
    them (``kernel``: KernelNeighbours' keywords) whose addresses and lease the check sets;
    both closed on the way out."""
    readers = L2Responder()
    program = None
    try:
        readers.update({"veth0": duty})
        program = xdp.KernelNeighbours(duty.index, duty.mac, **kernel)  # type: ignore[arg-type]
        yield readers, program
    finally:
        if program is not None:
            program.close()
        readers.close()


_CHILD = """
import time
from types import MappingProxyType
from actors.l2.interfaces import read_links
from actors.l2.responder import InterfaceDuty, L2Responder
link = {li.name: li for li in read_links()}["veth0"]
addresses = {%r: MappingProxyType({%r: %r})}
duty = InterfaceDuty("veth0", link.index, link.mac, link.link_local, **addresses)
responder = L2Responder(in_kernel=True)
errors = responder.update({"veth0": duty})
responder.settle()  # the program is on the link
print(errors, flush=True)
time.sleep(120)
"""


@contextmanager
def responder_process(packed: bytes, text: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A process answering for one address on veth0 in the kernel: (the process, the errors
    its update returned). Killed on the way out if it still runs."""
    family = "ipv4" if len(packed) == 4 else "ipv6"
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD % (family, packed, text)], stdout=subprocess.PIPE, text=True
    )
    try:
        yield child, child.stdout.readline().strip()  # type: ignore[union-attr]
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
