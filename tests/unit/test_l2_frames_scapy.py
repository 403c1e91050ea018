"""Our ARP/NDP frames byte for byte against scapy's, for generated addresses.

The speaker builds every frame with ``struct`` (actors/l2/arp.py, ndp.py) and never imports
scapy; scapy is the oracle here: for any MACs and addresses hypothesis makes up, the reply,
the gratuitous ARPs and the advertisements must be exactly the bytes scapy builds for the same
fields (checksum included), and the requests and solicitations scapy builds must parse to the
fields scapy reads back.
"""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet6 import (
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
)
from scapy.layers.l2 import ARP, Ether

from actors.l2 import arp, ndp

EXAMPLES = settings(max_examples=150, deadline=None)


def _unicast(raw: bytes) -> bytes:
    return bytes([raw[0] & 0xFE]) + raw[1:]  # clear the group bit


macs = st.binary(min_size=6, max_size=6).map(_unicast)
ipv4s = st.binary(min_size=4, max_size=4)
ipv6s = st.binary(min_size=16, max_size=16).filter(lambda b: b[0] != 0xFF)  # not multicast
link_locals = st.one_of(
    st.none(), st.binary(min_size=8, max_size=8).map(lambda b: b"\xfe\x80" + bytes(6) + b)
)


def mac_text(mac: bytes) -> str:
    return mac.hex(":")


def ip_text(packed: bytes) -> str:
    return str(ipaddress.ip_address(packed))


# -- ARP -------------------------------------------------------------------------------------


@EXAMPLES
@given(ours=macs, asker=macs, sender=ipv4s, target=ipv4s, padded=st.booleans())
def test_the_arp_reply_is_scapys_reply(
    ours: bytes, asker: bytes, sender: bytes, target: bytes, padded: bool
) -> None:
    request = bytes(
        Ether(src=mac_text(asker), dst="ff:ff:ff:ff:ff:ff")
        / ARP(op=1, hwsrc=mac_text(asker), psrc=ip_text(sender), pdst=ip_text(target))
    )
    if padded:
        request += bytes(18)  # the minimum Ethernet frame, as a NIC hands it over
    expected = bytes(
        Ether(dst=mac_text(asker), src=mac_text(ours))
        / ARP(
            op=2,
            hwsrc=mac_text(ours),
            psrc=ip_text(target),
            hwdst=mac_text(asker),
            pdst=ip_text(sender),
        )
    )
    replier = arp.ArpReplier(ours)
    reply, ip = replier.answer(request, {target: ip_text(target)})
    if sender == target:
        assert (reply, ip) == (None, "gratuitous")
        return
    assert (reply, ip) == (expected, ip_text(target))
    parsed = arp.parse_request(request)
    assert parsed is not None
    assert (parsed.sender_mac, parsed.sender_ip, parsed.target_ip) == (asker, sender, target)
    assert replier.reply(parsed) == expected


@EXAMPLES
@given(ours=macs, ip=ipv4s)
def test_gratuitous_arps_are_scapys(ours: bytes, ip: bytes) -> None:
    expected = tuple(
        bytes(
            Ether(dst="ff:ff:ff:ff:ff:ff", src=mac_text(ours))
            / ARP(
                op=op,
                hwsrc=mac_text(ours),
                psrc=ip_text(ip),
                hwdst="ff:ff:ff:ff:ff:ff",
                pdst=ip_text(ip),
            )
        )
        for op in (1, 2)
    )
    assert arp.ArpReplier(ours).gratuitous(ip) == expected


@EXAMPLES
@given(asker=macs, sender=ipv4s, target=ipv4s)
def test_our_request_builder_is_scapys_request(asker: bytes, sender: bytes, target: bytes) -> None:
    expected = Ether(src=mac_text(asker), dst="ff:ff:ff:ff:ff:ff") / ARP(
        op=1, hwsrc=mac_text(asker), psrc=ip_text(sender), pdst=ip_text(target)
    )
    assert arp.request_frame(asker, sender, target) == bytes(expected)


# -- NDP -------------------------------------------------------------------------------------


def scapy_na(
    eth_dst: bytes, ours: bytes, src: bytes, dst: bytes, target: bytes, solicited: bool
) -> bytes:
    return bytes(
        Ether(dst=mac_text(eth_dst), src=mac_text(ours))
        / IPv6(src=ip_text(src), dst=ip_text(dst), hlim=255)
        / ICMPv6ND_NA(R=0, S=int(solicited), O=1, tgt=ip_text(target))
        / ICMPv6NDOptDstLLAddr(lladdr=mac_text(ours))
    )


@EXAMPLES
@given(
    ours=macs,
    asker=macs,
    asker_ip=ipv6s,
    target=ipv6s,
    link_local=link_locals,
    slla=st.booleans(),
    multicast=st.booleans(),
)
def test_the_solicited_na_is_scapys(
    ours: bytes,
    asker: bytes,
    asker_ip: bytes,
    target: bytes,
    link_local: bytes | None,
    slla: bool,
    multicast: bool,
) -> None:
    dst = ndp.solicited_node(target) if multicast else target
    ns = (
        Ether(src=mac_text(asker), dst=mac_text(ndp.multicast_mac(dst)))
        / IPv6(src=ip_text(asker_ip), dst=ip_text(dst), hlim=255)
        / ICMPv6ND_NS(tgt=ip_text(target))
    )
    if slla:
        ns = ns / ICMPv6NDOptSrcLLAddr(lladdr=mac_text(asker))
    frame = bytes(ns)
    parsed = ndp.parse_solicitation(frame)
    if asker_ip == ndp.UNSPECIFIED:
        return  # a DAD probe: its own test
    assert parsed is not None
    assert (parsed.eth_src, parsed.src, parsed.dst, parsed.target) == (asker, asker_ip, dst, target)
    assert parsed.source_lladdr == (asker if slla else None)
    expected = scapy_na(asker, ours, link_local or target, asker_ip, target, solicited=True)
    replier = ndp.NdpReplier(ours, link_local)
    assert replier.reply(parsed) == expected
    assert replier.answer(frame, {target: ip_text(target)}) == (expected, ip_text(target))


@EXAMPLES
@given(ours=macs, target=ipv6s, link_local=link_locals)
def test_the_unsolicited_na_and_the_dad_defence_are_scapys(
    ours: bytes, target: bytes, link_local: bytes | None
) -> None:
    expected = scapy_na(
        ndp.ALL_NODES_MAC, ours, link_local or target, ndp.ALL_NODES, target, solicited=False
    )
    replier = ndp.NdpReplier(ours, link_local)
    assert replier.unsolicited(target) == expected
    group = ndp.solicited_node(target)
    probe = bytes(
        Ether(src="02:00:00:00:00:09", dst=mac_text(ndp.multicast_mac(group)))
        / IPv6(src="::", dst=ip_text(group), hlim=255)
        / ICMPv6ND_NS(tgt=ip_text(target))
    )
    assert replier.answer(probe, {target: ip_text(target)}) == (expected, ip_text(target))


@EXAMPLES
@given(asker=macs, src=ipv6s, target=ipv6s)
def test_our_solicitation_builder_is_scapys(asker: bytes, src: bytes, target: bytes) -> None:
    group = ndp.solicited_node(target)
    expected = (
        Ether(src=mac_text(asker), dst=mac_text(ndp.multicast_mac(group)))
        / IPv6(src=ip_text(src), dst=ip_text(group), hlim=255)
        / ICMPv6ND_NS(tgt=ip_text(target))
        / ICMPv6NDOptSrcLLAddr(lladdr=mac_text(asker))
    )
    assert ndp.solicitation_frame(asker, src, target) == bytes(expected)
