"""DNS over UDP/53: pair each query with its response into one transaction record.

A query and a response belong together when they share the transaction id and the
(client, server) address and port pair, like Zeek's dns.log.
"""
from __future__ import annotations

import socket
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field

import dpkt

from sensors.community_id import IPPROTO_UDP
from sensors.packets import Packet, PacketDecodeError

DNS_PORT = 53

QTYPE_NAMES = {
    1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 10: "NULL", 12: "PTR", 13: "HINFO", 15: "MX", 16: "TXT", 17: "RP",
    18: "AFSDB", 24: "SIG", 25: "KEY", 28: "AAAA", 29: "LOC", 33: "SRV", 35: "NAPTR", 39: "DNAME", 41: "OPT",
    43: "DS", 46: "RRSIG", 47: "NSEC", 48: "DNSKEY", 50: "NSEC3", 52: "TLSA", 64: "SVCB", 65: "HTTPS",
    99: "SPF", 249: "TKEY", 250: "TSIG", 251: "IXFR", 252: "AXFR", 255: "ANY", 256: "URI", 257: "CAA",
}
RCODE_NAMES = {
    0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED",
    6: "YXDOMAIN", 7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH", 10: "NOTZONE",
}


def _escape_label(label: bytes) -> str:
    # Tunnels (iodine, dnscat) put raw bytes in labels; keep them visible as \xHH like Zeek does.
    try:
        return label.decode("utf-8")
    except UnicodeDecodeError:
        return "".join(chr(b) if 0x20 < b < 0x7F else f"\\x{b:02x}" for b in label)


def _unpack_name(buf: bytes, off: int) -> tuple[str, int]:
    """dpkt.dns.unpack_name, but labels that are not UTF-8 are escaped instead of raising."""
    labels: list[str] = []
    saved_off = 0
    start_off = off
    length = 0
    while True:
        if off >= len(buf):
            raise dpkt.NeedData()
        n = buf[off]
        if n == 0:
            off += 1
            break
        if n & 0xC0 == 0xC0:
            if off + 2 > len(buf):
                raise dpkt.NeedData()
            ptr = ((n & 0x3F) << 8) | buf[off + 1]
            if ptr >= start_off:
                raise dpkt.UnpackError("invalid label compression pointer")
            off += 2
            if not saved_off:
                saved_off = off
            start_off = off = ptr
        elif n & 0xC0 == 0:
            off += 1
            labels.append(_escape_label(buf[off:off + n]))
            length += n + 1
            if length > 255:
                raise dpkt.UnpackError("name longer than 255 bytes")
            off += n
        else:
            raise dpkt.UnpackError(f"invalid label length {n:02x}")
    return ".".join(labels), saved_off or off


# dpkt decodes names as strict UTF-8 and so drops exactly the DNS tunnel traffic we most
# want to see; its DNS classes look the function up at call time, so this replaces it.
dpkt.dns.unpack_name = _unpack_name


def qtype_name(code: int) -> str:
    """Mnemonic of an RR type; unknown types as TYPEnnn (RFC 3597)."""
    return QTYPE_NAMES.get(code, f"TYPE{code}")


def normalise_name(name: str) -> str:
    return name.rstrip(".").lower()


@dataclass(frozen=True, slots=True)
class DnsAnswer:
    name: str
    type: str
    data: str
    ttl: int

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "type": self.type, "data": self.data, "ttl": self.ttl}


@dataclass(slots=True)
class DnsTransaction:
    """One query (and its response, when seen). ``client`` sent the query."""

    client_ip: str
    client_port: int
    server_ip: str
    server_port: int
    id: int
    ts: float
    question_name: str | None = None
    question_type: str | None = None
    responded: bool = False
    response_code: str | None = None
    answers: list[DnsAnswer] = field(default_factory=list)


def _answer_data(rr: dpkt.dns.DNS.RR) -> str:
    if rr.type == dpkt.dns.DNS_A and len(rr.rdata) == 4:
        return socket.inet_ntop(socket.AF_INET, rr.rdata)
    if rr.type == dpkt.dns.DNS_AAAA and len(rr.rdata) == 16:
        return socket.inet_ntop(socket.AF_INET6, rr.rdata)
    for attribute in ("cname", "nsname", "ptrname", "mxname", "srvname", "mname"):
        value = getattr(rr, attribute, None)
        if isinstance(value, str):
            return normalise_name(value)
    text = getattr(rr, "text", None)
    if isinstance(text, list):
        return " ".join(t if isinstance(t, str) else t.decode("utf-8", "replace") for t in text)
    return rr.rdata.hex()


def parse_dns(payload: bytes) -> dpkt.dns.DNS:
    """Parse one DNS message; raises PacketDecodeError on anything malformed."""
    try:
        message = dpkt.dns.DNS(payload)
        # Touch every answer so rdata decoding errors surface here, not later.
        for rr in message.an:
            _answer_data(rr)
        for q in message.qd:
            normalise_name(q.name)
        return message
    except Exception as exc:  # dpkt raises assorted types (UnpackError, UnicodeDecodeError, IndexError...)
        raise PacketDecodeError(f"malformed DNS message: {type(exc).__name__}: {exc}") from None


DnsKey = tuple[str, int, str, int, int]


@dataclass
class DnsTracker:
    """Queries wait here for their response; at most ``max_pending`` queries wait, each ``timeout`` s."""

    max_pending: int = 10_000
    timeout: float = 30.0

    def __post_init__(self) -> None:
        self._pending: OrderedDict[DnsKey, DnsTransaction] = OrderedDict()
        self.unanswered = 0
        self.orphan_responses = 0
        self.retransmissions = 0
        self.transactions = 0

    @staticmethod
    def wants(packet: Packet) -> bool:
        return packet.proto == IPPROTO_UDP and DNS_PORT in (packet.sport, packet.dport) and bool(packet.payload)

    def add(self, packet: Packet) -> Iterator[DnsTransaction]:
        """Account one UDP/53 packet; yield transactions completed or given up on. Raises PacketDecodeError."""
        message = parse_dns(packet.payload)
        yield from self._expire(packet.ts)
        question = message.qd[0] if message.qd else None
        if message.qr == dpkt.dns.DNS_Q:
            key = (packet.src, packet.sport, packet.dst, packet.dport, message.id)
            if key in self._pending:
                self.retransmissions += 1
                return
            if len(self._pending) >= self.max_pending:
                yield self._unanswered(self._pending.popitem(last=False)[1])
            self._pending[key] = DnsTransaction(
                packet.src, packet.sport, packet.dst, packet.dport, message.id, packet.ts,
                question_name=normalise_name(question.name) if question is not None else None,
                question_type=qtype_name(question.type) if question is not None else None,
            )
            return
        key = (packet.dst, packet.dport, packet.src, packet.sport, message.id)
        transaction = self._pending.pop(key, None)
        if transaction is None:
            self.orphan_responses += 1
            transaction = DnsTransaction(packet.dst, packet.dport, packet.src, packet.sport, message.id, packet.ts)
        if question is not None and transaction.question_name is None:
            transaction.question_name = normalise_name(question.name)
            transaction.question_type = qtype_name(question.type)
        self.transactions += 1
        transaction.responded = True
        transaction.response_code = RCODE_NAMES.get(message.rcode, str(message.rcode))
        transaction.answers = [
            DnsAnswer(normalise_name(rr.name), qtype_name(rr.type), _answer_data(rr), rr.ttl) for rr in message.an
        ]
        yield transaction

    def flush(self) -> Iterator[DnsTransaction]:
        """Give up on every waiting query (end of capture)."""
        while self._pending:
            yield self._unanswered(self._pending.popitem(last=False)[1])

    def _expire(self, now: float) -> Iterator[DnsTransaction]:
        while self._pending:
            key, transaction = next(iter(self._pending.items()))
            if transaction.ts > now - self.timeout:
                return
            del self._pending[key]
            yield self._unanswered(transaction)

    def _unanswered(self, transaction: DnsTransaction) -> DnsTransaction:
        self.unanswered += 1
        self.transactions += 1
        return transaction
