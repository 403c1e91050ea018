"""The membership wire: codec, AES-GCM keyring, and what the transport does with hostile bytes.

The fuzz tests feed random and mutated datagrams to the transport's receive path: nothing may
raise, every bad datagram is counted, and a good one still gets through afterwards.
"""

from __future__ import annotations

import base64
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.membership import codec
from actors.membership.actor import decode_tags, encode_tags
from actors.membership.codec import CodecError
from actors.membership.keyring import AuthError, KeyFileError, Keyring, Plaintext, encode_key
from actors.membership.messages import (
    Ack,
    Alive,
    Dead,
    IndirectPing,
    MemberRecord,
    Message,
    Nack,
    Ping,
    PushPull,
    Status,
    Suspect,
)
from actors.membership.transport import Transport, parse_address

names = st.text(
    alphabet=st.characters(categories=("L", "N"), include_characters="-._"),
    min_size=1,
    max_size=40,
)
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)
addresses = st.tuples(st.one_of(ipv4, ipv6), st.integers(1, 65535))
seqs = st.integers(0, codec.MAX_SEQ)
incs = st.integers(0, codec.MAX_INCARNATION)
metas = st.binary(max_size=64)
records = st.builds(MemberRecord, names, addresses, incs, st.sampled_from(Status), metas)
messages: st.SearchStrategy[Message] = st.one_of(
    st.builds(Ping, seqs, names, names, addresses),
    st.builds(IndirectPing, seqs, names, addresses, names, addresses, st.booleans()),
    st.builds(Ack, seqs),
    st.builds(Nack, seqs),
    st.builds(Alive, names, incs, addresses, metas),
    st.builds(Suspect, names, incs, names),
    st.builds(Dead, names, incs, names),
    st.builds(PushPull, names, st.booleans(), st.lists(records, max_size=5).map(tuple)),
)

KEY = Keyring([bytes(range(32))])
OTHER = Keyring([bytes(range(1, 33))])


def normalized(msg: Message) -> Message:
    """What a message decodes to: addresses in their canonical text form."""
    return codec.decode(codec.encode([msg]))[0]


@given(st.lists(messages, min_size=1, max_size=8))
@settings(max_examples=300, deadline=None)
def test_every_message_survives_the_round_trip(batch: list[Message]) -> None:
    decoded = codec.decode(codec.encode(batch))
    assert decoded == tuple(normalized(m) for m in batch)
    assert codec.decode(codec.encode(decoded)) == decoded  # canonical after one trip


#: One of each message, and the bytes the codec wrote for them when the messages were still
#: dataclasses: the wire must not change with the classes that carry it.
GOLDEN_BATCH: list[Message] = [
    Ping(7, "node-b", "node-a", ("10.0.0.1", 7946)),
    IndirectPing(8, "node-c", ("fd00::3", 7946), "node-a", ("10.0.0.1", 7946), False),
    Ack(7),
    Nack(8),
    Alive("node-a", 3, ("10.0.0.1", 7946), b"\x81\xa4zone\xa1a"),
    Suspect("node-c", 2, "node-b"),
    Dead("node-d", 5, "node-d"),
    PushPull("node-a", True, (MemberRecord("node-b", ("10.0.0.2", 7946), 1, Status.SUSPECT),)),
]
GOLDEN_BYTES = bytes.fromhex(
    "920198960107a66e6f64652d62a66e6f64652d61a831302e302e302e31cd1f0a990208a66e6f64652d63a766"
    "6430303a3a33cd1f0aa66e6f64652d61a831302e302e302e31cd1f0ac29203079204089605a66e6f64652d61"
    "03a831302e302e302e31cd1f0ac40881a47a6f6e65a1619406a66e6f64652d6302a66e6f64652d629407a66e"
    "6f64652d6405a66e6f64652d649408a66e6f64652d61c39196a66e6f64652d62a831302e302e302e32cd1f0a"
    "0101c400"
)


def test_the_wire_format_is_byte_for_byte_what_it_was() -> None:
    assert codec.encode(GOLDEN_BATCH) == GOLDEN_BYTES
    assert list(codec.decode(GOLDEN_BYTES)) == GOLDEN_BATCH


def test_encoded_size_is_what_a_message_adds_to_a_packet() -> None:
    msgs = [Alive("node-a", 12, ("10.0.0.1", 7946), b"x"), Suspect("node-b", 3, "node-a")]
    total = len(codec.encode(msgs))
    assert total <= sum(codec.encoded_size(m) for m in msgs) + codec.PACKET_OVERHEAD


@pytest.mark.parametrize(
    "packet",
    [
        b"",
        b"\x00",
        b"\x92\x02\x90",  # unknown version
        b"\x92\x01\x90",  # no messages
        codec.encode([Ack(1)]).replace(b"\x03", b"\x63", 1),  # unknown type
        __import__("msgpack").packb([1, [[1, 5, "a", "b", "not-an-ip", 7946]]]),
        __import__("msgpack").packb([1, [[1, 5, "a", "b", "10.0.0.1", 0]]]),
        __import__("msgpack").packb([1, [[3, -1]]]),
        __import__("msgpack").packb([1, [[3, True]]]),
        __import__("msgpack").packb([1, [[5, "", 1, "10.0.0.1", 1, b""]]]),
        __import__("msgpack").packb([1, [[8, "a", False, [[1, 2]]]]]),
        __import__("msgpack").packb([1, [[8, "a", False, [["n", "10.0.0.1", 1, 1, 9, b""]]]]]),
        __import__("msgpack").packb({"a": 1}),
    ],
)
def test_malformed_packets_raise_codec_error_only(packet: bytes) -> None:
    with pytest.raises(CodecError):
        codec.decode(packet)


# -- keyring -----------------------------------------------------------------------------------


def test_sealed_packets_open_with_the_key_and_nothing_else() -> None:
    sealed = KEY.seal(b"hello")
    assert KEY.open(sealed) == b"hello"
    assert sealed != KEY.seal(b"hello")  # a fresh nonce every time
    with pytest.raises(AuthError):
        OTHER.open(sealed)
    tampered = bytearray(sealed)
    tampered[20] ^= 1
    with pytest.raises(AuthError):
        KEY.open(bytes(tampered))
    with pytest.raises(AuthError):
        KEY.open(sealed[:10])
    with pytest.raises(AuthError):
        KEY.open(Plaintext().seal(b"hello"))  # an encrypted node takes no plaintext
    with pytest.raises(AuthError):
        Plaintext().open(sealed)  # and a keyless one no ciphertext


def test_rotation_seals_with_the_primary_and_opens_with_any() -> None:
    old, new = bytes(range(16)), bytes(range(100, 132))
    before, during, after = Keyring([old]), Keyring([new, old]), Keyring([new])
    assert during.open(before.seal(b"x")) == b"x"  # not yet rotated peers are understood
    assert after.open(during.seal(b"y")) == b"y"  # the rotated primary reaches the next step
    with pytest.raises(AuthError):
        after.open(before.seal(b"z"))


def test_key_files(tmp_path) -> None:
    key = Keyring.generate().primary
    good = tmp_path / "secret"
    good.write_text(f"# rotated on Monday\n{encode_key(key)}\n\n{encode_key(bytes(16))}\n")
    ring = Keyring.from_file(good)
    assert len(ring) == 2 and ring.primary == key
    assert repr(ring) == "Keyring(2 keys)"
    bad = tmp_path / "bad"
    bad.write_text("c2hvcnQ=\n")  # base64 of b"short"
    with pytest.raises(KeyFileError, match=r"bad:1: a key is 16, 24 or 32 bytes") as info:
        Keyring.from_file(bad)
    assert "c2hvcnQ" not in str(info.value)  # never echo key material
    bad.write_text("not base64 at all!\n")
    with pytest.raises(KeyFileError, match="bad:1: not base64"):
        Keyring.from_file(bad)
    bad.write_text("# nothing\n")
    with pytest.raises(KeyFileError, match="no key"):
        Keyring.from_file(bad)
    with pytest.raises(KeyFileError, match="cannot read"):
        Keyring.from_file(tmp_path / "missing")
    assert base64.b64decode(encode_key(key)) == key


def test_tags_travel_as_meta_and_garbage_means_none() -> None:
    assert decode_tags(encode_tags({"candidate": "false"})) == {"candidate": "false"}
    assert encode_tags({}) == b""
    for junk in (b"\xc1", b"\x93\x01\x02\x03", b"\x81\x01\x02", b"\xff" * 10):
        assert decode_tags(junk) == {}


def test_addresses_on_the_command_line() -> None:
    assert parse_address("127.0.0.2:7000") == ("127.0.0.2", 7000)
    assert parse_address("10.1.2.3") == ("10.1.2.3", 7946)
    assert parse_address("[fd00::1]:7001") == ("fd00::1", 7001)
    assert parse_address("fd00::1") == ("fd00::1", 7946)
    for bad in ("node-a:7946", "10.0.0.1:99999", "10.0.0.1:x", "[fd00::1", "[::1]x"):
        with pytest.raises(ValueError):
            parse_address(bad)


# -- fuzz: the transport's receive path ----------------------------------------------------------


class Sink:
    def __init__(self) -> None:
        self.got: list[tuple[Message, ...]] = []


def transport(sealer=KEY) -> tuple[Transport, Sink]:
    sink = Sink()
    t = Transport(
        ("127.0.0.1", 0),
        sealer,
        on_datagram=lambda msgs, src: sink.got.append(msgs),
        on_stream=lambda msg, src: None,
        on_stream_reply=lambda msg, src: None,
    )
    return t, sink


VALID = KEY.seal(codec.encode([Ping(9, "a", "b", ("10.0.0.2", 7946)), Suspect("c", 4, "b")]))
PLAIN_VALID = codec.encode([Alive("a", 1, ("10.0.0.1", 7946))])


@given(st.binary(max_size=2000))
@settings(max_examples=500, deadline=None)
def test_random_datagrams_never_raise_and_are_counted(data: bytes) -> None:
    for sealer in (KEY, Plaintext()):
        t, sink = transport(sealer)
        assert t.handle_datagram(data, ("127.0.0.9", 1)) is None
        assert t.stats.auth_failures + t.stats.decode_failures == 1
        assert sink.got == []


@given(st.data())
@settings(max_examples=500, deadline=None)
def test_mutated_datagrams_never_raise(data: st.DataObject) -> None:
    base = data.draw(st.sampled_from([VALID, Plaintext().seal(PLAIN_VALID)]))
    packet = bytearray(base)
    for _ in range(data.draw(st.integers(1, 6))):
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        pos = data.draw(st.integers(0, max(0, len(packet) - 1)))
        if action == "flip" and packet:
            packet[pos] ^= data.draw(st.integers(1, 255))
        elif action == "cut":
            del packet[pos:]
        else:
            packet[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
    for sealer in (KEY, Plaintext()):
        t, _ = transport(sealer)
        t.handle_datagram(bytes(packet), ("127.0.0.9", 1))  # must not raise
        s = t.stats
        assert s.datagrams_in == 1
        assert s.auth_failures + s.decode_failures <= 1


@given(st.data())
@settings(max_examples=300, deadline=None)
def test_mutated_plaintext_under_a_valid_seal_is_a_decode_failure_not_a_crash(
    data: st.DataObject,
) -> None:
    """An insider with the key sending garbage: authentication passes, decoding rejects."""
    payload = bytearray(codec.encode([Alive("a", 1, ("10.0.0.1", 7946), b"m")]))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(payload) - 1))
        payload[pos] = data.draw(st.integers(0, 255))
    t, _ = transport()
    result = t.handle_datagram(KEY.seal(bytes(payload)), ("127.0.0.9", 1))
    assert (result is None) == (t.stats.decode_failures == 1)
    assert t.stats.auth_failures == 0


def test_a_good_datagram_after_garbage_is_delivered() -> None:
    t, sink = transport()
    rng = random.Random(5)
    for _ in range(200):
        t.handle_datagram(rng.randbytes(rng.randrange(0, 300)), ("127.0.0.9", 1))
    assert t.handle_datagram(VALID, ("127.0.0.9", 1)) is not None
    assert len(sink.got) == 1 and t.stats.auth_failures == 200
