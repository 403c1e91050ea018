"""Making and checking X.509 certificates, written once: a CA and the serving certificates it
signs, as MetalLB's cert-controller makes them (ECDSA P-256 with ``cryptography``).

Validity as cert-controller's: a CA for 10 years, a serving certificate for 1 year; both start
an hour back so clocks a little behind accept them. Pure (PEM bytes in, PEM bytes out, ``now``
in POSIX seconds); imports nothing of ours. The webhooks' certificates
(:mod:`actors.kube.certificates`) and the metrics endpoint's self-signed one
(:mod:`actors.observability.health`) are made here.
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_NAME = "cert"
CA_ORGANIZATION = "metallb"
DAY = 24 * 3600.0
CA_VALIDITY = 10 * 365 * DAY
CERT_VALIDITY = 365 * DAY
BACKDATE = 3600.0


def _when(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


# -- making ----------------------------------------------------------------------------------


def new_ca(now: float, validity: float = CA_VALIDITY) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) of a fresh self-signed CA."""
    key = _new_key()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, CA_ORGANIZATION),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_when(now - BACKDATE))
        .not_valid_after(_when(now + validity))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def new_serving_cert(
    ca_cert: bytes, ca_key: bytes, name: str, now: float, validity: float = CERT_VALIDITY
) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) for ``name``, signed by the CA."""
    ca = x509.load_pem_x509_certificate(ca_cert)
    signer = serialization.load_pem_private_key(ca_key, password=None)
    if not isinstance(signer, ec.EllipticCurvePrivateKey):
        raise ValueError("the CA key is not an ECDSA key")
    key = _new_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_when(now - BACKDATE))
        .not_valid_after(_when(now + validity))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), False
        )
        .sign(signer, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


# -- checking --------------------------------------------------------------------------------


def ca_usable(ca_cert: bytes, ca_key: bytes, now: float, lookahead: float) -> bool:
    """Whether the CA and its key read, belong together and stay valid past ``now`` +
    ``lookahead``."""
    try:
        ca = x509.load_pem_x509_certificate(ca_cert)
        key = serialization.load_pem_private_key(ca_key, password=None)
    except (ValueError, TypeError):
        return False
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return False
    if key.public_key().public_numbers() != ca.public_key().public_numbers():  # type: ignore[union-attr]
        return False
    return ca.not_valid_after_utc.timestamp() - lookahead > now


def cert_usable(
    ca_cert: bytes, cert_pem: bytes, key_pem: bytes, name: str, now: float, lookahead: float
) -> bool:
    """Whether the certificate is signed by the CA, names ``name``, matches its key and stays
    valid past ``now`` + ``lookahead``."""
    try:
        ca = x509.load_pem_x509_certificate(ca_cert)
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
        cert.verify_directly_issued_by(ca)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    if name not in names.get_values_for_type(x509.DNSName):
        return False
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return False
    if key.public_key().public_numbers() != cert.public_key().public_numbers():  # type: ignore[union-attr]
        return False
    return cert.not_valid_after_utc.timestamp() - lookahead > now


def still_valid(pem: bytes, now: float) -> bool:
    """Whether ``pem`` is a certificate that has not expired at ``now``."""
    if not pem:
        return False
    try:
        return expires(pem) > now
    except ValueError:
        return False


def expires(pem: bytes) -> float:
    """When a PEM certificate stops being valid (POSIX seconds)."""
    return x509.load_pem_x509_certificate(pem).not_valid_after_utc.timestamp()
