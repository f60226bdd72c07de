"""Crafting helpers for the sensor tests: TCP conversations and TLS hellos as real packets (scapy)."""
from __future__ import annotations

import json
import struct
from pathlib import Path

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

T0 = 1_793_581_200.0  # 2026-11-02T01:00:00Z
CLIENT, SERVER = "10.20.1.50", "10.20.1.80"


def frame(t, src, dst, l4):
    packet = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src=src, dst=dst) / l4
    packet.time = T0 + t
    return packet


class Conversation:
    """A TCP connection whose segments the test lays out one by one (any order, any repeats)."""

    def __init__(self, sport=40000, dport=80, client=CLIENT, server=SERVER, isn=(1000, 5000)):
        self.sport, self.dport, self.client, self.server = sport, dport, client, server
        self.cseq, self.sseq = isn[0] + 1, isn[1] + 1
        self.isn = isn
        self.t = 0.0
        self.packets = []

    def _tick(self):
        self.t += 0.01
        return self.t

    def handshake(self):
        c, s = self.isn
        self.packets += [
            frame(self._tick(), self.client, self.server, TCP(sport=self.sport, dport=self.dport, flags="S", seq=c)),
            frame(self._tick(), self.server, self.client, TCP(sport=self.dport, dport=self.sport, flags="SA", seq=s, ack=(c + 1) % 2**32)),
            frame(self._tick(), self.client, self.server, TCP(sport=self.sport, dport=self.dport, flags="A", seq=(c + 1) % 2**32, ack=s + 1)),
        ]
        return self

    def segment(self, from_client: bool, data: bytes, seq=None, flags="PA"):
        """One segment; ``seq`` defaults to the next in-order byte (and advances it)."""
        if from_client:
            at = self.cseq if seq is None else seq
            if seq is None:
                self.cseq += len(data)
            packet = frame(self._tick(), self.client, self.server,
                           TCP(sport=self.sport, dport=self.dport, flags=flags, seq=at % 2**32, ack=self.sseq % 2**32) / data)
        else:
            at = self.sseq if seq is None else seq
            if seq is None:
                self.sseq += len(data)
            packet = frame(self._tick(), self.server, self.client,
                           TCP(sport=self.dport, dport=self.sport, flags=flags, seq=at % 2**32, ack=self.cseq % 2**32) / data)
        self.packets.append(packet)
        return self

    def send(self, from_client: bool, data: bytes, size: int = 1400):
        for i in range(0, len(data), size):
            self.segment(from_client, data[i:i + size])
        return self

    def close(self):
        self.packets += [
            frame(self._tick(), self.client, self.server, TCP(sport=self.sport, dport=self.dport, flags="FA", seq=self.cseq % 2**32, ack=self.sseq % 2**32)),
            frame(self._tick(), self.server, self.client, TCP(sport=self.dport, dport=self.sport, flags="FA", seq=self.sseq % 2**32, ack=(self.cseq + 1) % 2**32)),
            frame(self._tick(), self.client, self.server, TCP(sport=self.sport, dport=self.dport, flags="A", seq=(self.cseq + 1) % 2**32, ack=(self.sseq + 1) % 2**32)),
        ]
        return self


def write(tmp_path: Path, packets, name="t.pcap") -> Path:
    path = tmp_path / name
    wrpcap(str(path), packets)
    return path


def _vec(data: bytes, width: int) -> bytes:
    return len(data).to_bytes(width, "big") + data


def _u16s(values) -> bytes:
    return b"".join(struct.pack("!H", v) for v in values)


def client_hello(ciphers, extensions, *, server_name=None, groups=(), point_formats=(0,), sig_algs=(),
                 versions=(), alpn=(), legacy_version=0x0303) -> bytes:
    """A TLS record holding a ClientHello with the extensions in the order given (by type code)."""
    bodies = {
        0: _vec(b"\x00" + _vec((server_name or "").encode(), 2), 2),
        10: _vec(_u16s(groups), 2),
        11: _vec(bytes(point_formats), 1),
        13: _vec(_u16s(sig_algs), 2),
        16: _vec(b"".join(_vec(p, 1) for p in alpn), 2),
        43: _vec(_u16s(versions), 1),
    }
    ext = b"".join(struct.pack("!H", e) + _vec(bodies.get(e, b""), 2) for e in extensions)
    body = (struct.pack("!H", legacy_version) + b"\x11" * 32 + _vec(b"\x22" * 32, 1) + _vec(_u16s(ciphers), 2)
            + _vec(b"\x00", 1) + _vec(ext, 2))
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + _vec(handshake, 2)


def server_hello(cipher, version=0x0303, supported_version=None, extensions=(), alpn=None) -> bytes:
    """A TLS record holding a ServerHello; ``extensions`` (type codes, in order) are sent empty,
    except ALPN (16) which carries ``alpn``."""
    ext = b""
    if supported_version is not None:
        ext = struct.pack("!H", 43) + _vec(struct.pack("!H", supported_version), 2)
    for kind in extensions:
        body = _vec(_vec(alpn, 1), 2) if kind == 16 and alpn else b""
        ext += struct.pack("!H", kind) + _vec(body, 2)
    body = struct.pack("!H", version) + b"\x33" * 32 + _vec(b"", 1) + struct.pack("!H", cipher) + b"\x00" + _vec(ext, 2)
    handshake = b"\x02" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x03" + _vec(handshake, 2)


def certificate_message(*ders: bytes) -> bytes:
    """A TLS 1.2 record holding a Certificate handshake message with the DER certificates given."""
    chain = b"".join(_vec(der, 3) for der in ders)
    handshake = b"\x0b" + _vec(_vec(chain, 3), 3)
    return b"\x16\x03\x03" + _vec(handshake, 2)


def self_signed_certificate(common_name: str, dns_names=(), serial=0x0B6771) -> bytes:
    """A real DER certificate (cryptography), valid 2026-01-01 .. 2027-01-01."""
    from datetime import datetime, timezone

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "示范区第一中学"),
                         x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
               .serial_number(serial).not_valid_before(datetime(2026, 1, 1, tzinfo=timezone.utc))
               .not_valid_after(datetime(2027, 1, 1, tzinfo=timezone.utc)))
    if dns_names:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), False)
    return builder.sign(key, hashes.SHA256()).public_bytes(Encoding.DER)


def answer_json(handler, status: int, payload: dict) -> None:
    """Answer a request of a test HTTP server (http.server handler) with JSON."""
    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
