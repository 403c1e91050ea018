"""KernelNeighbourSet's bookkeeping with fake programs: where a program cannot be attached the
interface is left to the readers (said once per reason), a changed interface (or NA source)
gets a new program, both families reach it, and replies counted by detached programs are
kept. Programs are attached by the set's thread: announcing never waits for one, and what was
asked while it was being attached is what it answers for."""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections.abc import Iterator

import pytest

from actors.l2 import xdp

VIP = bytes([10, 0, 0, 1])
VIP6 = bytes.fromhex("fd000000000000000000000000000001")
LINK_LOCAL = bytes.fromhex("fe800000000000000000000000000001")


class FakeKernel:
    def __init__(self, ifindex: int, mac: bytes, source: bytes | None = None) -> None:
        self.ifindex, self.mac, self.source = ifindex, mac, source
        self.announced: dict[bytes, str] = {}
        self.renewed = 0
        self.closed = False

    def announce(self, ipv4: dict[bytes, str], ipv6: dict[bytes, str] | None = None) -> list[str]:
        self.announced = {**ipv4, **(ipv6 or {})}
        return []

    def renew(self) -> None:
        self.renewed += 1

    def replies(self) -> dict[str, int]:
        return {text: 3 for text in self.announced.values()}

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def made() -> list[FakeKernel]:
    return []


@pytest.fixture
def kernels(made: list[FakeKernel]) -> xdp.KernelNeighbourSet:
    def make(ifindex: int, mac: bytes, source: bytes | None) -> FakeKernel:
        made.append(FakeKernel(ifindex, mac, source))
        return made[-1]

    s = xdp.KernelNeighbourSet(make)  # type: ignore[arg-type]
    yield s
    s.close()


def test_an_interface_is_attached_once_and_renewed_at_attach(
    kernels: xdp.KernelNeighbourSet, made: list[FakeKernel]
) -> None:
    kernels.announce("eth0", 2, b"\x02" * 6, {VIP: "10.0.0.1"})
    assert kernels.settle()
    kernels.announce("eth0", 2, b"\x02" * 6, {})
    assert kernels.settle()
    assert len(made) == 1 and made[0].renewed >= 1 and made[0].announced == {}
    assert kernels.attached() == ["eth0"]


def test_a_changed_interface_gets_a_new_program_and_the_old_counts_are_kept(
    kernels: xdp.KernelNeighbourSet, made: list[FakeKernel]
) -> None:
    kernels.announce("eth0", 2, b"\x02" * 6, {VIP: "10.0.0.1"})
    assert kernels.settle()
    kernels.announce("eth0", 3, b"\x02" * 6, {VIP: "10.0.0.1"})  # replaced: a new index
    assert kernels.settle()
    assert [k.closed for k in made] == [True, False]
    assert kernels.replies() == {"10.0.0.1": 6}
    kernels.detach("eth0")
    assert made[1].closed and kernels.attached() == []
    assert kernels.replies() == {"10.0.0.1": 6}


def test_where_no_program_can_be_attached_the_readers_answer_and_it_is_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def refuse(ifindex: int, mac: bytes, source: bytes | None) -> xdp.KernelNeighbours:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    kernels = xdp.KernelNeighbourSet(refuse)
    with caplog.at_level(logging.WARNING, logger="actors.l2.xdp"):
        kernels.announce("eth0", 2, b"\x02" * 6, {VIP: "10.0.0.1"})
        assert kernels.settle()
        kernels.announce("eth1", 3, b"\x04" * 6, {VIP: "10.0.0.1"})
        assert kernels.settle()
    assert kernels.attached() == [] and kernels.replies() == {}
    said = [r.getMessage() for r in caplog.records]
    assert said == [
        "ARP and NDP are answered from user space on eth0: XDP could not be attached "
        "(Operation not permitted)"
    ]
    kernels.close()


def test_both_families_reach_the_program_and_are_counted(
    kernels: xdp.KernelNeighbourSet, made: list[FakeKernel]
) -> None:
    kernels.announce("eth0", 2, b"\x02" * 6, {VIP: "10.0.0.1"}, {VIP6: "fd00::1"})
    assert kernels.settle()
    assert made[0].announced == {VIP: "10.0.0.1", VIP6: "fd00::1"}
    assert kernels.replies() == {"10.0.0.1": 3, "fd00::1": 3}


def test_a_new_na_source_gets_a_new_program(
    kernels: xdp.KernelNeighbourSet, made: list[FakeKernel]
) -> None:
    """The link-local address is written into the program: when it comes (or changes) the
    program is replaced, and what the old one counted is kept."""
    kernels.announce("eth0", 2, b"\x02" * 6, {}, {VIP6: "fd00::1"})
    assert kernels.settle()
    kernels.announce("eth0", 2, b"\x02" * 6, {}, {VIP6: "fd00::1"}, LINK_LOCAL)
    assert kernels.settle()
    kernels.announce("eth0", 2, b"\x02" * 6, {}, {VIP6: "fd00::1"}, LINK_LOCAL)
    assert kernels.settle()
    assert [(k.source, k.closed) for k in made] == [(None, True), (LINK_LOCAL, False)]
    assert kernels.replies() == {"fd00::1": 6}


class Held:
    """A set whose programs take until ``release`` is set to attach (as a slow verifier);
    ``attaching`` is set once the set's thread is attaching one."""

    def __init__(self, made: list[FakeKernel]) -> None:
        self.attaching, self.release = threading.Event(), threading.Event()
        self.kernels = xdp.KernelNeighbourSet(self._make)  # type: ignore[arg-type]
        self._made = made

    def _make(self, ifindex: int, mac: bytes, source: bytes | None) -> FakeKernel:
        self.attaching.set()
        self.release.wait(5)
        self._made.append(FakeKernel(ifindex, mac, source))
        return self._made[-1]


@pytest.fixture
def held(made: list[FakeKernel]) -> Iterator[Held]:
    h = Held(made)
    yield h
    h.release.set()
    h.kernels.close()


def test_announcing_does_not_wait_for_the_program(held: Held, made: list[FakeKernel]) -> None:
    held.kernels.announce("eth0", 2, b"\x02" * 6, {VIP: "10.0.0.1"})
    assert not held.kernels.settle(0.1)  # still attaching: the readers answer meanwhile
    assert held.kernels.attached() == [] and made == []
    held.release.set()
    assert held.kernels.settle()
    assert held.kernels.attached() == ["eth0"] and made[0].announced == {VIP: "10.0.0.1"}


def test_the_program_answers_for_what_was_announced_last_while_it_was_attached(
    held: Held, made: list[FakeKernel]
) -> None:
    held.kernels.announce("eth0", 2, b"\x02" * 6, {VIP: "10.0.0.1"})
    assert held.attaching.wait(5)
    held.kernels.announce("eth0", 2, b"\x02" * 6, {}, {VIP6: "fd00::1"})  # 10.0.0.1 withdrawn
    held.release.set()
    assert held.kernels.settle()
    assert len(made) == 1 and made[0].announced == {VIP6: "fd00::1"}


def test_a_program_detached_while_it_was_attached_is_closed_not_kept(
    held: Held, made: list[FakeKernel]
) -> None:
    held.kernels.announce("eth0", 2, b"\x02" * 6, {VIP: "10.0.0.1"})
    assert held.attaching.wait(5)
    held.kernels.detach("eth0")
    assert held.kernels.settle()  # nothing is pending any more
    held.release.set()
    for _ in range(500):
        if made and made[0].closed:
            break
        time.sleep(0.01)
    assert [k.closed for k in made] == [True] and held.kernels.attached() == []


def test_an_interface_changed_while_its_program_was_attached_gets_a_new_one(
    held: Held, made: list[FakeKernel]
) -> None:
    held.kernels.announce("eth0", 2, b"\x02" * 6, {VIP: "10.0.0.1"})
    assert held.attaching.wait(5)
    held.kernels.announce("eth0", 3, b"\x02" * 6, {VIP: "10.0.0.1"})  # replaced meanwhile
    held.release.set()
    assert held.kernels.settle()
    assert [(k.ifindex, k.closed) for k in made] == [(2, True), (3, False)]
    assert made[1].announced == {VIP: "10.0.0.1"} and held.kernels.attached() == ["eth0"]
