"""ARP and NDP frames: our struct code against scapy as the oracle, and bad input never raises."""

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
from actors.l2.responder import InterfaceDuty, answer_arp, answer_ndp

OUR_MAC = bytes.fromhex("029900000001")
ASKER_MAC = bytes.fromhex("0299000000fe")
VIP4 = ipaddress.IPv4Address("10.99.0.100").packed
ASKER4 = ipaddress.IPv4Address("10.99.0.2").packed
VIP6 = ipaddress.IPv6Address("fd00:99::100").packed
ASKER6 = ipaddress.IPv6Address("fd00:99::2").packed
LINK_LOCAL = ipaddress.IPv6Address("fe80::99:1").packed
DUTY = InterfaceDuty(
    "eth0", 2, OUR_MAC, LINK_LOCAL, ipv4={VIP4: "10.99.0.100"}, ipv6={VIP6: "fd00:99::100"}
)


def scapy_checksum_ok(frame: bytes) -> bool:
    packet = Ether(frame)
    icmp = packet[IPv6].payload
    given_sum = icmp.cksum
    icmp.cksum = None
    return Ether(bytes(packet))[IPv6].payload.cksum == given_sum


# -- ARP -------------------------------------------------------------------------------------


def test_a_scapy_request_parses_and_the_reply_is_what_scapy_expects() -> None:
    request = bytes(
        Ether(src="02:99:00:00:00:fe", dst="ff:ff:ff:ff:ff:ff")
        / ARP(op=1, hwsrc="02:99:00:00:00:fe", psrc="10.99.0.2", pdst="10.99.0.100")
    )
    parsed = arp.parse_request(request)
    assert parsed is not None
    assert (parsed.sender_ip, parsed.target_ip, parsed.sender_mac) == (ASKER4, VIP4, ASKER_MAC)
    reply, ip = answer_arp(request, DUTY, arp.ArpReplier(OUR_MAC))
    assert ip == "10.99.0.100" and reply is not None
    packet = Ether(reply)
    assert packet.dst == "02:99:00:00:00:fe" and packet.src == "02:99:00:00:00:01"
    assert packet[ARP].op == 2
    assert (packet[ARP].hwsrc, packet[ARP].psrc) == ("02:99:00:00:00:01", "10.99.0.100")
    assert (packet[ARP].hwdst, packet[ARP].pdst) == ("02:99:00:00:00:fe", "10.99.0.2")
    # scapy agrees the reply answers the request
    assert packet[ARP].answers(Ether(request)[ARP])


def test_padded_requests_parse_like_unpadded_ones() -> None:
    request = arp.request_frame(ASKER_MAC, ASKER4, VIP4)
    assert arp.parse_request(request + b"\x00" * 18) == arp.parse_request(request)


def test_gratuitous_arp_comes_in_request_and_reply_form_with_sender_equal_target() -> None:
    request_form, reply_form = arp.ArpReplier(OUR_MAC).gratuitous(VIP4)
    for frame, op in ((request_form, 1), (reply_form, 2)):
        packet = Ether(frame)
        assert packet.dst == "ff:ff:ff:ff:ff:ff" and packet.src == "02:99:00:00:00:01"
        assert packet[ARP].op == op
        assert packet[ARP].psrc == packet[ARP].pdst == "10.99.0.100"
        assert packet[ARP].hwsrc == "02:99:00:00:00:01"


def test_what_the_arp_responder_leaves_unanswered() -> None:
    replier = arp.ArpReplier(OUR_MAC)
    other = ipaddress.IPv4Address("10.99.0.101").packed
    assert answer_arp(arp.request_frame(ASKER_MAC, ASKER4, other), DUTY, replier) == (
        None,
        "not announced",
    )
    garp = arp.request_frame(ASKER_MAC, VIP4, VIP4)
    assert answer_arp(garp, DUTY, replier) == (None, "gratuitous")
    unicast_elsewhere = (
        bytes.fromhex("020000000077") + arp.request_frame(ASKER_MAC, ASKER4, VIP4)[6:]
    )
    assert answer_arp(unicast_elsewhere, DUTY, replier) == (None, "not for us")
    to_us = OUR_MAC + arp.request_frame(ASKER_MAC, ASKER4, VIP4)[6:]
    assert answer_arp(to_us, DUTY, replier)[1] == "10.99.0.100"
    reply_op = bytearray(arp.request_frame(ASKER_MAC, ASKER4, VIP4))
    reply_op[21] = 2
    assert answer_arp(bytes(reply_op), DUTY, replier) == (None, "malformed")
    assert answer_arp(b"", DUTY, replier) == (None, "malformed")


def test_an_arp_request_from_a_multicast_or_broadcast_sender_mac_is_ignored() -> None:
    """A group MAC is never a real host: answering it would reflect our reply to a group."""
    replier = arp.ArpReplier(OUR_MAC)
    for group in (bytes.fromhex("01005e000001"), bytes.fromhex("333300000001"), b"\xff" * 6):
        in_arp = arp.request_frame(group, ASKER4, VIP4)
        assert answer_arp(in_arp, DUTY, replier) == (None, "multicast sender")
        in_ethernet = bytearray(arp.request_frame(ASKER_MAC, ASKER4, VIP4))
        in_ethernet[6:12] = group
        assert answer_arp(bytes(in_ethernet), DUTY, replier) == (None, "multicast sender")
    assert answer_arp(arp.request_frame(ASKER_MAC, ASKER4, VIP4), DUTY, replier)[1] == (
        "10.99.0.100"
    )


def test_a_solicitation_from_a_multicast_sender_is_ignored() -> None:
    """The same for NDP: a group as the Ethernet source, in the source link-layer option or
    as the IPv6 source is never a real host (the advertisement would go to a group)."""
    replier = ndp.NdpReplier(OUR_MAC, LINK_LOCAL)
    group_mac = bytes.fromhex("333300000001")
    in_option = ndp.solicitation_frame(group_mac, ASKER6, VIP6)
    asked = ndp.solicitation_frame(ASKER_MAC, ASKER6, VIP6)
    in_ethernet = asked[:6] + group_mac + asked[12:]  # the checksum does not cover Ethernet
    from_group = ndp.solicitation_frame(ASKER_MAC, ndp.ALL_NODES, VIP6)
    for frame in (in_option, in_ethernet, from_group):
        assert answer_ndp(frame, DUTY, replier) == (None, "multicast sender")
    assert answer_ndp(ndp.solicitation_frame(ASKER_MAC, ASKER6, VIP6), DUTY, replier)[1] == (
        "fd00:99::100"
    )


def test_an_arp_probe_from_zero_is_answered_so_the_prober_sees_the_address_in_use() -> None:
    probe = arp.request_frame(ASKER_MAC, b"\x00" * 4, VIP4)
    reply, ip = answer_arp(probe, DUTY, arp.ArpReplier(OUR_MAC))
    assert ip == "10.99.0.100" and reply is not None
    assert Ether(reply)[ARP].pdst == "0.0.0.0"


# -- NDP -------------------------------------------------------------------------------------


def scapy_ns(hlim: int = 255) -> bytes:
    return bytes(
        Ether(src="02:99:00:00:00:fe", dst="33:33:ff:00:01:00")
        / IPv6(src="fd00:99::2", dst="ff02::1:ff00:100", hlim=hlim)
        / ICMPv6ND_NS(tgt="fd00:99::100")
        / ICMPv6NDOptSrcLLAddr(lladdr="02:99:00:00:00:fe")
    )


def test_a_scapy_solicitation_gets_a_solicited_override_na_with_our_mac() -> None:
    ns = ndp.parse_solicitation(scapy_ns())
    assert ns is not None
    assert (ns.src, ns.target, ns.source_lladdr) == (ASKER6, VIP6, ASKER_MAC)
    reply, ip = answer_ndp(scapy_ns(), DUTY, ndp.NdpReplier(OUR_MAC, LINK_LOCAL))
    assert ip == "fd00:99::100" and reply is not None
    packet = Ether(reply)
    assert packet.dst == "02:99:00:00:00:fe" and packet.src == "02:99:00:00:00:01"
    assert packet[IPv6].src == "fe80::99:1" and packet[IPv6].dst == "fd00:99::2"
    assert packet[IPv6].hlim == 255
    na = packet[ICMPv6ND_NA]
    assert (na.R, na.S, na.O, na.tgt) == (0, 1, 1, "fd00:99::100")
    assert packet[ICMPv6NDOptDstLLAddr].lladdr == "02:99:00:00:00:01"
    assert scapy_checksum_ok(reply)


def test_our_solicitation_builder_is_a_valid_ns_for_scapy() -> None:
    frame = ndp.solicitation_frame(ASKER_MAC, ASKER6, VIP6)
    packet = Ether(frame)
    assert packet[ICMPv6ND_NS].tgt == "fd00:99::100"
    assert packet[IPv6].dst == "ff02::1:ff00:100" and packet.dst == "33:33:ff:00:01:00"
    assert scapy_checksum_ok(frame)
    assert ndp.parse_solicitation(frame) is not None


def test_without_a_link_local_address_the_na_comes_from_the_target() -> None:
    reply = ndp.NdpReplier(OUR_MAC, None).reply(ndp.parse_solicitation(scapy_ns()))  # type: ignore[arg-type]
    assert Ether(reply)[IPv6].src == "fd00:99::100"
    assert scapy_checksum_ok(reply)


def test_unsolicited_na_goes_to_all_nodes_with_override_and_not_solicited() -> None:
    frame = ndp.NdpReplier(OUR_MAC, LINK_LOCAL).unsolicited(VIP6)
    packet = Ether(frame)
    assert packet.dst == "33:33:00:00:00:01" and packet[IPv6].dst == "ff02::1"
    na = packet[ICMPv6ND_NA]
    assert (na.S, na.O, na.tgt) == (0, 1, "fd00:99::100")
    assert scapy_checksum_ok(frame)


def test_solicitations_rfc4861_says_to_discard() -> None:
    good = bytearray(scapy_ns())
    assert ndp.parse_solicitation(bytes(good)) is not None
    assert ndp.parse_solicitation(scapy_ns(hlim=64)) is None  # forwarded by a router
    bad_sum = bytearray(good)
    bad_sum[56] ^= 0xFF
    assert ndp.parse_solicitation(bytes(bad_sum)) is None
    zero_option = bytearray(good)
    zero_option[79] = 0  # option length 0
    assert ndp.parse_solicitation(bytes(zero_option)) is None
    truncated = bytes(good[:-4])
    assert ndp.parse_solicitation(truncated) is None
    multicast_target = bytes(
        Ether() / IPv6(src="fd00:99::2", dst="ff02::1", hlim=255) / ICMPv6ND_NS(tgt="ff02::1")
    )
    assert ndp.parse_solicitation(multicast_target) is None


def dad_probe(target: str) -> bytes:
    """A DAD probe as a host sends it: from ::, to the target's solicited-node group."""
    low = ipaddress.IPv6Address(target).packed[-3:]
    group = ipaddress.IPv6Address(ipaddress.IPv6Address("ff02::1:ff00:0").packed[:13] + low)
    mac = "33:33:" + ":".join(f"{b:02x}" for b in group.packed[-4:])
    return bytes(
        Ether(src="02:99:00:00:00:fe", dst=mac)
        / IPv6(src="::", dst=str(group), hlim=255)
        / ICMPv6ND_NS(tgt=target)
    )


def test_a_dad_probe_for_an_announced_address_is_defended_to_all_nodes() -> None:
    """RFC 4862 §5.4.3, RFC 4861 §7.2.4: a probe from :: gets an NA to all nodes, Solicited
    clear and Override set, so the prober sees the address in use and does not take it."""
    replier = ndp.NdpReplier(OUR_MAC, LINK_LOCAL)
    reply, ip = answer_ndp(dad_probe("fd00:99::100"), DUTY, replier)
    assert ip == "fd00:99::100" and reply is not None
    packet = Ether(reply)
    assert packet.dst == "33:33:00:00:00:01" and packet.src == "02:99:00:00:00:01"
    assert packet[IPv6].dst == "ff02::1" and packet[IPv6].hlim == 255
    na = packet[ICMPv6ND_NA]
    assert (na.R, na.S, na.O, na.tgt) == (0, 0, 1, "fd00:99::100")
    assert packet[ICMPv6NDOptDstLLAddr].lladdr == "02:99:00:00:00:01"
    # A probe for an address we do not announce is none of our business.
    assert answer_ndp(dad_probe("fd00:99::101"), DUTY, replier) == (None, "dad")


def test_a_solicitation_without_slla_is_answered_to_its_ethernet_source() -> None:
    replier = ndp.NdpReplier(OUR_MAC, LINK_LOCAL)
    unicast_probe = bytes(
        Ether(src="02:99:00:00:00:fe", dst="02:99:00:00:00:01")
        / IPv6(src="fd00:99::2", dst="fd00:99::100", hlim=255)
        / ICMPv6ND_NS(tgt="fd00:99::100")
    )
    reply, ip = answer_ndp(unicast_probe, DUTY, replier)
    assert ip == "fd00:99::100" and Ether(reply).dst == "02:99:00:00:00:fe"


def test_solicited_node_group_and_its_mac() -> None:
    group = ndp.solicited_node(VIP6)
    assert ipaddress.IPv6Address(group) == ipaddress.IPv6Address("ff02::1:ff00:100")
    assert ndp.multicast_mac(group).hex() == "3333ff000100"


# -- bad input -------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_raise(data: bytes) -> None:
    answer_arp(data, DUTY, arp.ArpReplier(OUR_MAC))
    answer_ndp(data, DUTY, ndp.NdpReplier(OUR_MAC, LINK_LOCAL))


VALID = [arp.request_frame(ASKER_MAC, ASKER4, VIP4), scapy_ns()]


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(VALID),
    st.lists(st.tuples(st.integers(0, 120), st.integers(0, 255)), max_size=6),
    st.integers(0, 120),
    st.binary(max_size=3000),
)
def test_mutated_truncated_and_oversized_frames_never_raise(
    frame: bytes, flips: list[tuple[int, int]], cut: int, tail: bytes
) -> None:
    mutated = bytearray(frame)
    for at, value in flips:
        if at < len(mutated):
            mutated[at] = value
    for candidate in (bytes(mutated), bytes(mutated[:cut]), bytes(mutated) + tail):
        for answer, replier in (
            (answer_arp, arp.ArpReplier(OUR_MAC)),
            (answer_ndp, ndp.NdpReplier(OUR_MAC, LINK_LOCAL)),
        ):
            reply, _ = answer(candidate, DUTY, replier)  # type: ignore[operator]
            assert reply is None or len(reply) in (arp.FRAME_LEN, ndp.NA_LEN)
