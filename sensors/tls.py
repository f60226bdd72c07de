"""TLS handshakes: SNI, version, cipher, the JA3/JA4 client and JA3S/JA4S server fingerprints,
and the server's certificate chain.

Only the cleartext handshake is read: the client's ClientHello (server name, offered
versions, ciphers, extensions, ALPN), the server's ServerHello (chosen version, cipher,
extensions, ALPN) and, in TLS 1.2 and older, its Certificate message (DER certificates,
parsed in ``sensors.x509``). The version is what the server chose, read from its supported_versions extension
for TLS 1.3, named like Zeek's ssl.log (TLSv12, TLSv13). JA3 follows
https://github.com/salesforce/ja3, JA4 the FoxIO spec (https://github.com/FoxIO-LLC/ja4).
"""
from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from sensors.tls_ciphers import CIPHER_SUITES
from sensors.x509 import Certificate, CertificateError, parse_certificate

MAX_HANDSHAKE_BYTES = 64 * 1024
_HANDSHAKE, _ALERT, _CHANGE_CIPHER_SPEC = 22, 21, 20
_CLIENT_HELLO, _SERVER_HELLO, _CERTIFICATE = 1, 2, 11
_EXT_SNI, _EXT_GROUPS, _EXT_POINT_FORMATS, _EXT_SIG_ALGS, _EXT_ALPN, _EXT_VERSIONS = 0, 10, 11, 13, 16, 43
VERSION_NAMES = {0x0002: "SSLv2", 0x0300: "SSLv3", 0x0301: "TLSv10", 0x0302: "TLSv11", 0x0303: "TLSv12", 0x0304: "TLSv13"}
_JA4_VERSIONS = {0x0002: "s2", 0x0300: "s3", 0x0301: "10", 0x0302: "11", 0x0303: "12", 0x0304: "13"}


class TlsParseError(ValueError):
    """A hello message is malformed."""


def is_grease(value: int) -> bool:
    """RFC 8701 GREASE values (0x0a0a, 0x1a1a, ...) that fingerprints leave out."""
    return value & 0x0F0F == 0x0A0A and value >> 8 == value & 0xFF


def cipher_name(code: int) -> str:
    """IANA name of a cipher suite, or its hex code when unknown."""
    return CIPHER_SUITES.get(code) or f"0x{code:04x}"


def version_name(code: int) -> str:
    if code >> 8 == 0x7F:  # TLS 1.3 drafts
        return f"TLSv13-draft{code & 0xFF}"
    return VERSION_NAMES.get(code, f"0x{code:04x}")


@dataclass(slots=True)
class ClientHello:
    legacy_version: int
    ciphers: list[int]
    extensions: list[int]
    groups: list[int] = field(default_factory=list)
    point_formats: list[int] = field(default_factory=list)
    signature_algorithms: list[int] = field(default_factory=list)
    supported_versions: list[int] = field(default_factory=list)
    alpn: list[bytes] = field(default_factory=list)
    server_name: str | None = None

    def ja3_string(self) -> str:
        parts = [
            str(self.legacy_version),
            "-".join(str(c) for c in self.ciphers if not is_grease(c)),
            "-".join(str(e) for e in self.extensions if not is_grease(e)),
            "-".join(str(g) for g in self.groups if not is_grease(g)),
            "-".join(str(p) for p in self.point_formats),
        ]
        return ",".join(parts)

    def ja3(self) -> str:
        return hashlib.md5(self.ja3_string().encode("ascii"), usedforsecurity=False).hexdigest()

    def ja4(self, transport: str = "t") -> str:
        versions = [v for v in self.supported_versions if not is_grease(v)]
        version = _JA4_VERSIONS.get(max(versions) if versions else self.legacy_version, "00")
        ciphers = [c for c in self.ciphers if not is_grease(c)]
        extensions = [e for e in self.extensions if not is_grease(e)]
        alpn = _alpn_code(self.alpn[0]) if self.alpn and self.alpn[0] else "00"
        head = (f"{transport}{version}{'d' if self.server_name is not None else 'i'}"
                f"{min(len(ciphers), 99):02d}{min(len(extensions), 99):02d}{alpn}")
        cipher_part = _sha12(",".join(f"{c:04x}" for c in sorted(ciphers))) if ciphers else "0" * 12
        kept = sorted(e for e in extensions if e not in (_EXT_SNI, _EXT_ALPN))
        ext_text = ",".join(f"{e:04x}" for e in kept)
        if self.signature_algorithms:
            ext_text += "_" + ",".join(f"{s:04x}" for s in self.signature_algorithms)
        ext_part = _sha12(ext_text) if kept else "0" * 12
        return f"{head}_{cipher_part}_{ext_part}"


def _sha12(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:12]


@dataclass(slots=True)
class ServerHello:
    version: int  # the version chosen (supported_versions for TLS 1.3)
    cipher: int
    extensions: list[int]
    legacy_version: int = 0  # the hello's own version field (0x0303 for TLS 1.3)
    alpn: bytes | None = None  # the protocol the server chose

    def ja3s_string(self) -> str:
        """SSLVersion,Cipher,SSLExtension (https://github.com/salesforce/ja3, JA3S)."""
        return f"{self.legacy_version},{self.cipher},{'-'.join(str(e) for e in self.extensions)}"

    def ja3s(self) -> str:
        return hashlib.md5(self.ja3s_string().encode("ascii"), usedforsecurity=False).hexdigest()

    def ja4s(self, transport: str = "t") -> str:
        """FoxIO JA4S: version, extension count, chosen ALPN; chosen cipher; hash of the extensions in order."""
        alpn = _alpn_code(self.alpn) if self.alpn else "00"
        head = f"{transport}{_JA4_VERSIONS.get(self.version, '00')}{min(len(self.extensions), 99):02d}{alpn}"
        extensions = _sha12(",".join(f"{e:04x}" for e in self.extensions)) if self.extensions else "0" * 12
        return f"{head}_{self.cipher:04x}_{extensions}"


def _alpn_code(first: bytes) -> str:
    """JA4's two ALPN characters: first and last of the value, or of its hex when not alphanumeric."""
    if chr(first[0]).isalnum() and chr(first[-1]).isalnum() and first[0] < 128 and first[-1] < 128:
        return chr(first[0]) + chr(first[-1])
    hexed = first.hex()
    return hexed[0] + hexed[-1]


def _u16(buf: bytes, at: int) -> int:
    if at + 2 > len(buf):
        raise TlsParseError("hello cut off")
    return (buf[at] << 8) | buf[at + 1]


def _vector(buf: bytes, at: int, width: int) -> tuple[bytes, int]:
    """A length-prefixed vector (1- or 2-byte length) at ``at``: (its bytes, offset after it)."""
    if width == 1:
        if at >= len(buf):
            raise TlsParseError("hello cut off")
        end = at + 1 + buf[at]
    else:
        if at + 2 > len(buf):
            raise TlsParseError("hello cut off")
        end = at + 2 + ((buf[at] << 8) | buf[at + 1])
    if end > len(buf):
        raise TlsParseError("hello cut off")
    return buf[at + width:end], end


def _u16_list(raw: bytes) -> list[int]:
    return list(struct.unpack_from(f"!{len(raw) // 2}H", raw))


def _extensions(body: bytes, at: int) -> list[tuple[int, bytes]]:
    if at >= len(body):
        return []
    raw, _ = _vector(body, at, 2)
    found, i = [], 0
    while i + 4 <= len(raw):
        kind = _u16(raw, i)
        data, i = _vector(raw, i + 2, 2)
        found.append((kind, data))
    return found


def parse_client_hello(body: bytes) -> ClientHello:
    """Parse a ClientHello handshake body (after the 4-byte handshake header)."""
    legacy = _u16(body, 0)
    _session, at = _vector(body, 34, 1)
    ciphers, at = _vector(body, at, 2)
    _compression, at = _vector(body, at, 1)
    hello = ClientHello(legacy, _u16_list(ciphers), [])
    for kind, data in _extensions(body, at):
        hello.extensions.append(kind)
        if kind == _EXT_SNI and len(data) >= 5:
            names, _ = _vector(data, 0, 2)
            if names and names[0] == 0:
                name, _ = _vector(names, 1, 2)
                hello.server_name = name.decode("utf-8", "replace")
            elif hello.server_name is None:
                hello.server_name = ""
        elif kind == _EXT_SNI and hello.server_name is None:
            hello.server_name = ""
        elif kind == _EXT_GROUPS:
            hello.groups = _u16_list(_vector(data, 0, 2)[0])
        elif kind == _EXT_POINT_FORMATS:
            hello.point_formats = list(_vector(data, 0, 1)[0])
        elif kind == _EXT_SIG_ALGS:
            hello.signature_algorithms = _u16_list(_vector(data, 0, 2)[0])
        elif kind == _EXT_VERSIONS:
            hello.supported_versions = _u16_list(_vector(data, 0, 1)[0])
        elif kind == _EXT_ALPN:
            protocols, i = _vector(data, 0, 2)[0], 0
            while i < len(protocols):
                name, i = _vector(protocols, i, 1)
                hello.alpn.append(name)
    return hello


def parse_server_hello(body: bytes) -> ServerHello:
    """Parse a ServerHello handshake body; TLS 1.3's real version comes from supported_versions."""
    version = _u16(body, 0)
    _session, at = _vector(body, 34, 1)
    cipher = _u16(body, at)
    at += 3  # cipher suite, compression method
    hello = ServerHello(version, cipher, [], legacy_version=version)
    for kind, data in _extensions(body, at):
        hello.extensions.append(kind)
        if kind == _EXT_VERSIONS and len(data) >= 2:
            hello.version = _u16(data, 0)
        elif kind == _EXT_ALPN and len(data) >= 3:
            protocols, _ = _vector(data, 0, 2)
            chosen, _ = _vector(protocols, 0, 1)
            hello.alpn = chosen or None
    return hello


MAX_CERTIFICATES = 10  # of a chain, kept per connection (the leaf is the one that is parsed)


def parse_certificate_list(body: bytes) -> list[bytes]:
    """The DER certificates of a (TLS <= 1.2) Certificate message, leaf first."""
    if len(body) < 3:
        raise TlsParseError("certificate list cut off")
    end = 3 + int.from_bytes(body[:3], "big")
    if end > len(body):
        raise TlsParseError("certificate list cut off")
    certificates: list[bytes] = []
    at = 3
    while at + 3 <= end and len(certificates) < MAX_CERTIFICATES:
        stop = at + 3 + int.from_bytes(body[at:at + 3], "big")
        if stop > end:
            raise TlsParseError("certificate cut off")
        certificates.append(body[at + 3:stop])
        at = stop
    return certificates


@dataclass(slots=True)
class TlsHandshake:
    """What one connection's hellos said."""

    ts: float
    client: ClientHello | None = None
    server: ServerHello | None = None
    established: bool = False  # both sides moved on to encrypted data
    alert: bool = False
    certificate: Certificate | None = None  # the server's (leaf) certificate, TLS <= 1.2
    chain_length: int = 0  # certificates in the server's Certificate message
    certificate_error: str | None = None  # why the leaf certificate did not parse


class _Records:
    """Handshake bytes out of TLS records of one direction."""

    __slots__ = ("buffer", "handshake", "dead", "saw_app_data", "saw_alert", "encrypted")

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.handshake = bytearray()
        self.dead = False
        self.saw_app_data = False
        self.saw_alert = False
        self.encrypted = False  # after ChangeCipherSpec, handshake records are ciphertext

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Append bytes; return the complete handshake messages (type, body) now available."""
        self.buffer += data
        messages: list[tuple[int, bytes]] = []
        while len(self.buffer) >= 5:
            kind, major, length = self.buffer[0], self.buffer[1], (self.buffer[3] << 8) | self.buffer[4]
            if major != 3 or kind not in (20, 21, 22, 23, 24):
                self.dead = True
                break
            if len(self.buffer) < 5 + length:
                break
            fragment = bytes(self.buffer[5:5 + length])
            del self.buffer[:5 + length]
            if kind == _HANDSHAKE:
                if not self.encrypted:
                    self.handshake += fragment
            elif kind == _CHANGE_CIPHER_SPEC:
                self.encrypted = True
            elif kind == 23:
                self.saw_app_data = True
            elif kind == _ALERT:
                self.saw_alert = True
        while len(self.handshake) >= 4:
            size = int.from_bytes(self.handshake[1:4], "big")
            if len(self.handshake) < 4 + size:
                break
            messages.append((self.handshake[0], bytes(self.handshake[4:4 + size])))
            del self.handshake[:4 + size]
        if len(self.buffer) + len(self.handshake) > MAX_HANDSHAKE_BYTES:
            self.dead = True
        return messages


class TlsAnalyzer:
    """Feed both directions of one connection; the handshake goes to ``emit`` once, at the latest at finish."""

    def __init__(self, emit: Callable[[TlsHandshake], None], transport: str = "t") -> None:
        self.emit = emit
        self.transport = transport
        self.record: TlsHandshake | None = None
        self.orig, self.resp = _Records(), _Records()
        self.errors = 0
        self.emitted = False

    @property
    def done(self) -> bool:
        return self.emitted or (self.orig.dead and self.resp.dead)

    def data(self, from_orig: bool, chunk: bytes, ts: float) -> None:
        if self.emitted:
            return
        side = self.orig if from_orig else self.resp
        if side.dead:
            return
        for kind, body in side.feed(chunk):
            try:
                if kind == _CLIENT_HELLO and from_orig and (self.record is None or self.record.client is None):
                    self._record(ts).client = parse_client_hello(body)
                elif kind == _SERVER_HELLO and not from_orig and (self.record is None or self.record.server is None):
                    self._record(ts).server = parse_server_hello(body)
                elif kind == _CERTIFICATE and not from_orig and self.record is not None and not self.record.chain_length:
                    self._certificates(parse_certificate_list(body))
            except (TlsParseError, IndexError, ValueError):
                self.errors += 1
        if self.record is not None and (self.resp.saw_app_data or (self.orig.saw_app_data and self.record.server)):
            self.record.established = True
            self._emit()

    def _certificates(self, chain: list[bytes]) -> None:
        assert self.record is not None
        self.record.chain_length = len(chain)
        if chain:
            try:
                self.record.certificate = parse_certificate(chain[0])
            except CertificateError as exc:
                self.errors += 1
                self.record.certificate_error = str(exc)

    def gap(self, from_orig: bool, size: int) -> None:
        side = self.orig if from_orig else self.resp
        side.dead = True

    def finish(self) -> None:
        if self.record is not None:
            self.record.alert = self.orig.saw_alert or self.resp.saw_alert
            self._emit()

    def _record(self, ts: float) -> TlsHandshake:
        if self.record is None:
            self.record = TlsHandshake(ts)
        return self.record

    def _emit(self) -> None:
        if not self.emitted and self.record is not None:
            self.emitted = True
            self.emit(self.record)
