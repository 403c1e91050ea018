"""``lbtui plan``'s table: each column as wide as its widest cell, found without making the
rows twice (issue 19: the widths come from the cells' lengths, each row is made once).

The oracle is the table made the plain way: every row made, the widths taken from the rows,
the rows made again. Generated plans cover what changes a cell's length: one or several
addresses, IPv6 and scoped ones, no pool or an empty one, errors empty or not, owners with
and without a node, messages said by the service's key or not, several services per address,
moved addresses (also ones the owners no longer hold), BGP routes with and without peers and
communities.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from ipaddress import IPv4Address, IPv6Address, ip_address

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.election.l2 import KEY_MESSAGES, L2Owner, L2Owners
from actors.election.plan import Plan
from actors.model.allocation import (
    V6_TAG,
    Allocation,
    PoolUsage,
    ips_text_width,
    ipv4_text,
    ipv4_text_width,
)
from actors.model.route import BGPRoute


def _oracle(plan: Plan, moved: Mapping[str, str]) -> str:
    """The table as it was made before issue 19: rows made twice, widths from the rows."""

    def services() -> Iterator[tuple[str, ...]]:
        for key in sorted(plan.allocations):
            a = plan.allocations[key]
            yield (key, ", ".join(a.ip_texts) or "-", a.pool or "-", a.error or "ok")

    def l2() -> Iterator[tuple[str, ...]]:
        for ip, owner in plan.l2.items():
            yield (
                ("* " if ip in moved else "  ") + ip,
                owner.node or "-",
                ", ".join(owner.services),
                moved.get(ip, owner.message if not owner.node else ""),
            )

    def bgp() -> Iterator[tuple[str, ...]]:
        for node, routes in sorted(plan.bgp.items()):
            for r in routes:
                yield (
                    node,
                    r.prefix,
                    ", ".join(r.peers) or "-",
                    ", ".join(r.communities) or "-",
                    str(r.local_pref),
                    ", ".join(r.services),
                )

    def pools() -> Iterator[tuple[str, ...]]:
        for name, u in sorted(plan.usage.items()):
            yield (
                name,
                f"{u.in_use}/{u.total}",
                f"{u.in_use_v4}/{u.total_v4}",
                f"{u.in_use_v6}/{u.total_v6}",
            )

    out = []
    for title, header, rows in (
        ("SERVICES", ("SERVICE", "IPS", "POOL", "STATUS"), services),
        ("LAYER 2", ("  IP", "NODE", "SERVICES", "NOTE"), l2),
        ("BGP", ("NODE", "PREFIX", "PEERS", "COMMUNITIES", "LOCALPREF", "SERVICES"), bgp),
        ("POOLS", ("POOL", "IN USE", "IPV4", "IPV6"), pools),
    ):
        widths = [len(h) for h in header]
        for row in rows():
            widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
        lines = [title]
        made = list(rows())
        for row in [header, *made] if made else []:
            cells = [cell.ljust(w) for cell, w in zip(row, widths, strict=True)]
            lines.append(("  " + "  ".join(cells)).rstrip())
        out.append("\n".join(lines if made else [title, "  (none)"]) + "\n")
    return "\n".join(out)


V4 = st.integers(0, 2**32 - 1).map(IPv4Address)
V6 = st.integers(0, 2**128 - 1).map(IPv6Address)
SCOPED = st.integers(0, 2**16 - 1).map(lambda n: IPv6Address(f"fe80::{n:x}%eth{n % 3}"))
ADDRESS = st.one_of(V4, V4, V4, V6, SCOPED)
TEXT = st.text("abcdefghij-/.:", max_size=24)
NAME = st.text("abcxyz-", min_size=1, max_size=12)
KEY = st.builds(lambda ns, name: f"{ns}/{name}", NAME, NAME)
ODD = st.text(max_size=6)  # anything: quotes, backslashes, control and non-ASCII characters
ALLOCATION = st.tuples(
    st.lists(ADDRESS, max_size=2),
    st.one_of(st.none(), st.just(""), NAME, ODD),
    st.one_of(st.none(), st.just(""), TEXT, ODD),
)
REASON = st.sampled_from(["announced", "noEndpoints", "unknownService", "noIPs", "noNodes"])
OWNER = st.tuples(
    st.one_of(st.none(), st.just(""), NAME),
    st.lists(KEY, min_size=0, max_size=3),
    REASON,
    st.one_of(TEXT, st.just("")),
    st.booleans(),  # the message is the one the reason says of the first service
)
ROUTE = st.builds(
    BGPRoute,
    prefix=st.one_of(V4.map(lambda a: f"{a}/32"), V6.map(lambda a: f"{a}/128")),
    peers=st.lists(NAME, max_size=3).map(tuple),
    communities=st.lists(TEXT, max_size=2).map(tuple),
    local_pref=st.integers(0, 2**32 - 1),
    services=st.lists(KEY, max_size=3).map(tuple),
)


def _owners(drawn: list[tuple[object, ...]], addresses: list[object]) -> L2Owners:
    owners: dict[int | object, L2Owner] = {}
    order: list[int | object] = []
    for address, (node, services, reason, message, keyed) in zip(addresses, drawn, strict=False):
        text = str(address)
        key = L2Owners._address(text)
        if key is None or key in owners:
            continue
        if keyed and reason in KEY_MESSAGES and services:
            message = KEY_MESSAGES[reason].format(services[0])
        owners[key] = L2Owner(text, node, tuple(services), (), reason, message)  # type: ignore[arg-type]
        order.append(key)
    v4 = sorted(k for k in order if isinstance(k, int))
    v6 = sorted((k for k in order if not isinstance(k, int)), key=lambda a: int(a))  # type: ignore[arg-type]
    return L2Owners(owners, [*v4, *v6])


@st.composite
def plans(draw: st.DrawFn) -> tuple[Plan, dict[str, str]]:
    """A plan, and moved addresses: some of the owners' (their note replaces the message),
    and some no owner holds any more (no row: their note does not count)."""
    allocations = draw(st.dictionaries(KEY, ALLOCATION, max_size=8))
    held = {
        key: Allocation(key, tuple(ips), pool, error)  # type: ignore[arg-type]
        for key, (ips, pool, error) in allocations.items()
    }
    l2 = _owners(draw(st.lists(OWNER, max_size=8)), draw(st.lists(ADDRESS, max_size=8)))
    routes = draw(st.dictionaries(NAME, st.lists(ROUTE, max_size=3).map(tuple), max_size=3))
    texts = list(l2)
    moves = draw(st.lists(st.tuples(st.integers(0, 9), TEXT), max_size=4))
    moved = {texts[i % len(texts)]: note for i, note in moves if texts}
    stray = draw(st.lists(V4.map(str), max_size=2))
    moved.update({ip: "moved from a far away node to nobody" for ip in stray})
    usage = {"p": PoolUsage(10, 3, 10, 0, 3, 0)} if held else {}
    return Plan(held, usage, l2, routes), moved


@settings(max_examples=300, deadline=None)
@given(plans())
def test_the_table_is_the_one_made_from_rows_twice(drawn: tuple[Plan, dict[str, str]]) -> None:
    plan, moved = drawn
    assert plan.to_table(moved) == _oracle(plan, moved)
    assert plan.to_table() == _oracle(plan, {})


@given(st.lists(st.integers(0, 2**32 - 1), max_size=50))
def test_the_widest_ipv4_text_is_found_without_the_texts(values: list[int]) -> None:
    assert ipv4_text_width(values) == max(map(len, map(ipv4_text, values)), default=0)
    assert ipv4_text_width(iter(values)) == ipv4_text_width(values)


def test_the_widest_ipv4_text_at_the_edges() -> None:
    for text in ("0.0.0.0", "255.255.255.255", "10.0.0.1", "1.22.133.4", "100.0.99.255"):
        assert ipv4_text_width([int(ip_address(text))]) == len(text)
    assert ipv4_text_width([]) == 0


@given(st.lists(st.lists(ADDRESS, max_size=2), max_size=6))
def test_the_widest_ips_cell_of_allocations(ips: list[list[object]]) -> None:
    held = [Allocation(f"ns/{i}", tuple(a), "p") for i, a in enumerate(ips)]  # type: ignore[arg-type]
    held += [Allocation.of_keys("ns/k", (int(IPv6Address("fd00::1")) | V6_TAG,), "p")]
    expected = max(len(", ".join(a.ip_texts) or "-") for a in held)
    assert ips_text_width(held) == expected
