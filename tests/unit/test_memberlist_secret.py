"""The memberlist key the MetalLB way: derivation, the mounted Secret, the speaker's option, and
two speakers over real UDP on loopback (127.0.0.7x) that share a Secret or do not."""

from __future__ import annotations

import base64
import hashlib
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.membership.keyring import (
    MEMBERLIST_SECRET_KEY,
    KeyFileError,
    Keyring,
    memberlist_key,
    new_memberlist_secret,
)
from tests.net.test_membership import Cluster

# sha256(b"") as published (FIPS 180 test vector), written out rather than computed.
SHA256_OF_NOTHING = bytes.fromhex(
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)


def secret_dir(path: Path, secret: bytes) -> Path:
    path.mkdir()
    (path / MEMBERLIST_SECRET_KEY).write_bytes(secret)
    return path


def test_the_key_is_the_secret_then_sha256_of_nothing_truncated() -> None:
    secret = b"q8Zr0x1Yb2VdLw9mTn4sPA"  # what the controller writes: 22 base64 characters
    expected = secret + hashlib.sha256(b"").digest()[: 32 - len(secret)]
    assert memberlist_key(secret) == expected
    assert memberlist_key(secret) == secret + SHA256_OF_NOTHING[:10]
    assert len(memberlist_key(secret)) == 32
    # Longer secrets are cut to 32 bytes (Go's [:32]); the digest then plays no part.
    long = bytes(range(40))
    assert memberlist_key(long) == long[:32]


def test_a_new_secret_is_16_random_bytes_in_unpadded_base64() -> None:
    first, second = new_memberlist_secret(), new_memberlist_secret()
    assert first != second
    for secret in (first, second):
        assert re.fullmatch(rb"[A-Za-z0-9+/]{22}", secret)  # RawStdEncoding: no "="
        assert len(base64.b64decode(secret + b"==")) == 16


def test_a_mounted_secret_gives_the_derived_key(tmp_path: Path) -> None:
    secret = new_memberlist_secret()
    ring = Keyring.from_secret_dir(secret_dir(tmp_path / "ml", secret))
    assert ring.primary == memberlist_key(secret)
    assert len(ring) == 1
    # The file's bytes as they are: a trailing newline is part of the secret, as in MetalLB.
    other = Keyring.from_secret_dir(secret_dir(tmp_path / "nl", secret + b"\n"))
    assert other.primary != ring.primary


def test_an_unusable_secret_dir_names_the_file_never_a_key(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot read"):
        Keyring.from_secret_dir(tmp_path / "absent")
    with pytest.raises(KeyFileError, match="empty"):
        Keyring.from_secret_dir(secret_dir(tmp_path / "empty", b""))


def speaker_membership(*argv: str) -> tuple[object, str]:
    from actors.roles.errors import OptionsError
    from actors.roles.membership import membership_spec
    from lbtui.cli import build_parser
    from lbtui.commands.common import refused
    from lbtui.commands.speaker import speaker_options

    args = build_parser().parse_args(["speaker", "--node-name", "n1", "--cluster", "c.yaml", *argv])
    err = io.StringIO()
    options = speaker_options(args)
    try:
        return membership_spec("n1", options.membership, on_kube=options.on_kube), ""
    except OptionsError as exc:
        return refused(exc, err), err.getvalue()


def test_the_speaker_option_reads_the_secret_dir(tmp_path: Path) -> None:
    secret = new_memberlist_secret()
    mounted = secret_dir(tmp_path / "ml_secret_key", secret)
    spec, err = speaker_membership("--ml-bind", "127.0.0.1:0", "--ml-secret-key-path", str(mounted))
    assert err == ""
    sealer = spec.kwargs["sealer"]  # type: ignore[attr-defined]
    assert isinstance(sealer, Keyring) and sealer.primary == memberlist_key(secret)
    code, err = speaker_membership("--ml-secret-key-path", str(tmp_path / "nowhere"))
    assert code == 2 and "--ml-secret-key-path" in err and "secretkey" in err
    plain = tmp_path / "keys"
    plain.write_text(base64.b64encode(bytes(32)).decode() + "\n")
    code, err = speaker_membership(
        "--ml-secret-file", str(plain), "--ml-secret-key-path", str(mounted)
    )
    assert code == 1 and "not both" in err
    assert secret.decode() not in err


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    try:
        yield c
    finally:
        c.close()


def test_speakers_sharing_the_secret_join_and_one_with_another_does_not(
    cluster: Cluster, tmp_path: Path
) -> None:
    shared = secret_dir(tmp_path / "shared", new_memberlist_secret())
    other = secret_dir(tmp_path / "other", new_memberlist_secret())
    cluster.start("s-a", "127.0.0.71", sealer=Keyring.from_secret_dir(shared))
    cluster.start("s-b", "127.0.0.72", join=["s-a"], sealer=Keyring.from_secret_dir(shared))
    cluster.wait_converged(["s-a", "s-b"])
    cluster.start("s-x", "127.0.0.73", join=["s-a", "s-b"], sealer=Keyring.from_secret_dir(other))
    # It keeps trying and is refused each time: the other key opens none of its packets.
    cluster.wait(lambda _e: cluster.stats("s-a")["auth_failures"] >= 3)
    assert cluster.view("s-a") == cluster.view("s-b") == frozenset({"s-a", "s-b"})
    assert cluster.view("s-x") in (None, frozenset({"s-x"}))
