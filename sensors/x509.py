"""X.509 certificates from TLS handshakes: the server certificate's fields, as Zeek's x509.log has them.

Only TLS 1.2 and older send the Certificate message in the clear. The DER is parsed with the
``cryptography`` library; a server's certificate repeats on every connection to it, so parsed
certificates are cached by their SHA-256 (bounded). A certificate that does not parse is
reported as such (``CertificateError``) and costs the record nothing else.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

_CACHE_SIZE = 4096


class CertificateError(ValueError):
    """The bytes are not a DER certificate this parser can read."""


@dataclass(frozen=True, slots=True)
class Certificate:
    """The fields of one certificate that the tls.server.x509.* event fields carry."""

    sha256: str  # of the DER, lower-case hex (Zeek's fingerprint)
    sha1: str
    version: int
    serial: str  # upper-case hex, an even number of digits (as Zeek writes it)
    subject: str  # RFC 4514 string, most specific first: CN=...,O=...,C=...
    issuer: str
    subject_common_names: tuple[str, ...]
    issuer_common_names: tuple[str, ...]
    subject_organizations: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    dns_names: tuple[str, ...]  # subjectAltName dNSName entries
    ip_addresses: tuple[str, ...]  # subjectAltName iPAddress entries
    public_key_algorithm: str  # rsa, ecdsa, dsa, ed25519, ed448
    public_key_size: int | None
    public_key_curve: str | None
    public_key_exponent: int | None
    signature_algorithm: str | None  # OID name, e.g. sha256WithRSAEncryption


def _attributes(name: x509.Name, oid: x509.ObjectIdentifier) -> tuple[str, ...]:
    return tuple(str(attribute.value) for attribute in name.get_attributes_for_oid(oid))


def _public_key(cert: x509.Certificate) -> tuple[str, int | None, str | None, int | None]:
    try:
        key = cert.public_key()
    except (ValueError, TypeError, NotImplementedError):  # e.g. an algorithm the library does not know
        return cert.public_key_algorithm_oid._name, None, None, None
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa", key.key_size, None, key.public_numbers().e
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ecdsa", key.key_size, key.curve.name, None
    if isinstance(key, dsa.DSAPublicKey):
        return "dsa", key.key_size, None, None
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519", 256, None, None
    if isinstance(key, ed448.Ed448PublicKey):
        return "ed448", 456, None, None
    return type(key).__name__, None, None, None


def _parse(der: bytes, sha256: str) -> Certificate:
    try:
        cert = x509.load_der_x509_certificate(der)
        serial = f"{cert.serial_number:X}"
        if len(serial) % 2:
            serial = "0" + serial
        dns_names: tuple[str, ...] = ()
        ip_addresses: tuple[str, ...] = ()
        try:
            alternative = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            dns_names = tuple(alternative.get_values_for_type(x509.DNSName))
            ip_addresses = tuple(str(ip) for ip in alternative.get_values_for_type(x509.IPAddress))
        except x509.ExtensionNotFound:
            pass
        algorithm, size, curve, exponent = _public_key(cert)
        try:
            signature = cert.signature_algorithm_oid._name
        except ValueError:
            signature = None
        return Certificate(
            sha256=sha256,
            sha1=hashlib.sha1(der, usedforsecurity=False).hexdigest(),
            version=cert.version.value + 1,
            serial=serial,
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            subject_common_names=_attributes(cert.subject, NameOID.COMMON_NAME),
            issuer_common_names=_attributes(cert.issuer, NameOID.COMMON_NAME),
            subject_organizations=_attributes(cert.subject, NameOID.ORGANIZATION_NAME),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            dns_names=dns_names,
            ip_addresses=ip_addresses,
            public_key_algorithm=algorithm,
            public_key_size=size,
            public_key_curve=curve,
            public_key_exponent=exponent,
            signature_algorithm=signature,
        )
    except (ValueError, TypeError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as exc:
        raise CertificateError(f"certificate does not parse: {exc}") from None


class CertificateCache:
    """Parsed certificates by SHA-256 of their DER, the ``size`` most recently used."""

    def __init__(self, size: int = _CACHE_SIZE) -> None:
        self.size = size
        self._parsed: OrderedDict[str, Certificate] = OrderedDict()
        self.hits = 0

    def parse(self, der: bytes) -> Certificate:
        """The certificate in ``der``; raises CertificateError when it does not parse."""
        sha256 = hashlib.sha256(der).hexdigest()
        found = self._parsed.get(sha256)
        if found is not None:
            self._parsed.move_to_end(sha256)
            self.hits += 1
            return found
        parsed = _parse(der, sha256)
        self._parsed[sha256] = parsed
        if len(self._parsed) > self.size:
            self._parsed.popitem(last=False)
        return parsed


_shared = CertificateCache()


def parse_certificate(der: bytes) -> Certificate:
    """Parse one DER certificate (through a process-wide bounded cache)."""
    return _shared.parse(der)
