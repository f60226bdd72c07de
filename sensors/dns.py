"""DNS (UDP and TCP, Zeek's DNS ports): pair each query with its response into one transaction record.

A query and a response belong together when they share the transaction id and the
(client, server) address and port pair, like Zeek's dns.log.
"""
from __future__ import annotations

import ipaddress
import socket
import struct
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field

from sensors.community_id import IPPROTO_TCP, IPPROTO_UDP
from sensors.packets import Packet, PacketDecodeError

DNS_PORT = 53
# Zeek's DNS analyzer ports: DNS, NetBIOS name service, multicast DNS, LLMNR (UDP); DNS (TCP).
DNS_UDP_PORTS = frozenset({53, 137, 5353, 5355})
DNS_TCP_PORTS = frozenset({53})
NETBIOS_PORT = 137
_OPCODE_UPDATE = 5

QTYPE_NAMES = {
    1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 10: "NULL", 12: "PTR", 13: "HINFO", 15: "MX", 16: "TXT", 17: "RP",
    18: "AFSDB", 24: "SIG", 25: "KEY", 28: "AAAA", 29: "LOC", 33: "SRV", 35: "NAPTR", 39: "DNAME", 41: "OPT",
    43: "DS", 46: "RRSIG", 47: "NSEC", 48: "DNSKEY", 50: "NSEC3", 52: "TLSA", 64: "SVCB", 65: "HTTPS",
    99: "SPF", 249: "TKEY", 250: "TSIG", 251: "IXFR", 252: "AXFR", 255: "ANY", 256: "URI", 257: "CAA",
    # rarer types, named as Zeek names them (base/protocols/dns/consts.zeek)
    3: "MD", 4: "MF", 7: "MB", 8: "MG", 9: "MR", 11: "WKS", 14: "MINFO", 19: "X25", 20: "ISDN", 21: "RT",
    22: "NSAP", 23: "NSAP-PTR", 26: "PX", 27: "GPOS", 30: "NXT", 31: "EID", 32: "NIMLOC", 34: "ATMA", 36: "KX",
    37: "CERT", 38: "A6", 42: "APL", 44: "SSHFP", 45: "IPSECKEY", 49: "DHCID", 51: "NSEC3PARAM", 55: "HIP",
    59: "CDS", 60: "CDNSKEY", 61: "OPENPGPKEY", 62: "CSYNC", 63: "ZONEMD", 100: "UINFO", 101: "UID", 102: "GID",
    103: "UNSPEC", 108: "EUI48", 109: "EUI64", 32768: "TA", 32769: "DLV",
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


_MAX_POINTER_HOPS = 64


def _read_name(buf: bytes, off: int) -> tuple[str, int]:
    """A (possibly compressed) domain name at ``off``: (name with labels that are not UTF-8 escaped,
    offset after it). Raises PacketDecodeError on names running off the end, looping or too long."""
    labels: list[bytes] = []
    after = 0  # where the name ends in the message, once a pointer was followed
    hops = length = 0
    size = len(buf)
    while True:
        if off >= size:
            raise PacketDecodeError("malformed DNS message: name runs off the end")
        n = buf[off]
        if n == 0:
            off += 1
            break
        if n >= 0xC0:
            if off + 2 > size:
                raise PacketDecodeError("malformed DNS message: name runs off the end")
            hops += 1
            if hops > _MAX_POINTER_HOPS:
                raise PacketDecodeError("malformed DNS message: compression pointer loop")
            if not after:
                after = off + 2
            off = ((n & 0x3F) << 8) | buf[off + 1]
            continue
        if n > 63:
            raise PacketDecodeError(f"malformed DNS message: invalid label length {n:02x}")
        off += 1 + n
        if off > size:
            raise PacketDecodeError("malformed DNS message: label runs off the end")
        labels.append(buf[off - n:off])
        length += n + 1
        if length > 255:
            raise PacketDecodeError("malformed DNS message: name longer than 255 bytes")
    try:  # one decode per name; escaping label by label only for names that are not UTF-8
        return b".".join(labels).decode("utf-8"), after or off
    except UnicodeDecodeError:
        return ".".join(_escape_label(label) for label in labels), after or off


def qtype_name(code: int) -> str:
    """Mnemonic of an RR type; unknown types as TYPEnnn (RFC 3597)."""
    return QTYPE_NAMES.get(code, f"TYPE{code}")


def normalise_name(name: str) -> str:
    return name.rstrip(".").lower()


def decode_netbios_name(name: str) -> str:
    """NetBIOS first-level encoding (RFC 1001 14.1): 32 letters 'A'..'P' to 16 bytes; the name is the
    first 15 without padding (the 16th is the service suffix), as Zeek's decode_netbios_name gives it."""
    label = name.split(".")[0]
    if len(label) != 32 or not all("A" <= c <= "P" for c in label.upper()):
        return name
    upper = label.upper()
    raw = bytes(((ord(upper[i]) - 65) << 4) | (ord(upper[i + 1]) - 65) for i in range(0, 32, 2))
    return raw[:15].rstrip(b" \x00").decode("latin-1").lower()


def _question_name(name: str, netbios: bool) -> str:
    return decode_netbios_name(name) if netbios else normalise_name(name)


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
    transport: int = IPPROTO_UDP  # IANA protocol: UDP, or TCP for length-framed DNS
    community_id: str | None = None  # of the connection, when the caller knew it (its flow's)


_NAME_TYPES = {2: 0, 5: 0, 12: 0, 39: 0, 15: 2, 33: 6, 6: 0}  # rdata is a name at this offset: NS, CNAME, PTR,
# DNAME, MX (after preference), SRV (after priority, weight, port), SOA (its MNAME)
_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")


def _answer_data(buf: bytes, off: int, rtype: int, size: int) -> str:
    rdata = buf[off:off + size]
    if rtype == 1 and size == 4:
        return socket.inet_ntoa(rdata)
    if rtype == 28 and size == 16:
        return socket.inet_ntop(socket.AF_INET6, rdata)
    skip = _NAME_TYPES.get(rtype)
    if skip is not None and size > skip:
        return normalise_name(_read_name(buf, off + skip)[0])
    if rtype in (16, 13):  # TXT, HINFO: character-strings
        texts, rest = [], rdata
        while rest:
            texts.append(_escape_label(rest[1:1 + rest[0]]))
            rest = rest[1 + rest[0]:]
        return " ".join(texts)
    return rdata.hex()


@dataclass(slots=True)
class DnsMessage:
    """The parts of one DNS message the tracker uses; names as on the wire (not yet normalised)."""

    id: int
    qr: int
    opcode: int
    rcode: int
    questions: list[tuple[str, int]]
    answers: list[DnsAnswer]
    authority_names: list[str]


def parse_dns(payload: bytes) -> DnsMessage:
    """Parse one DNS message (header, questions, answers; authority names for UPDATE).

    Raises PacketDecodeError on anything malformed. Hand-written: dpkt's DNS objects cost several
    times more per message, and DNS is a large share of a campus's packets.
    """
    if len(payload) < 12:
        raise PacketDecodeError("malformed DNS message: header cut off")
    ident, flags, qdcount, ancount, nscount, _arcount = _HEADER.unpack_from(payload)
    opcode = (flags >> 11) & 0xF
    off, size = 12, len(payload)
    questions: list[tuple[str, int]] = []
    for _ in range(qdcount):
        name, off = _read_name(payload, off)
        if off + 4 > size:
            raise PacketDecodeError("malformed DNS message: question cut off")
        questions.append((name, (payload[off] << 8) | payload[off + 1]))
        off += 4
    answers: list[DnsAnswer] = []
    authority: list[str] = []
    for index in range(ancount + (nscount if opcode == _OPCODE_UPDATE else 0)):
        name, off = _read_name(payload, off)
        if off + 10 > size:
            raise PacketDecodeError("malformed DNS message: resource record cut off")
        rtype, _rclass, ttl, rdlength = _RR.unpack_from(payload, off)
        off += 10
        if off + rdlength > size:
            raise PacketDecodeError("malformed DNS message: rdata runs off the end")
        if index < ancount:
            answers.append(DnsAnswer(normalise_name(name), qtype_name(rtype), _answer_data(payload, off, rtype, rdlength), ttl))
        else:
            authority.append(name)
        off += rdlength
    return DnsMessage(ident, flags >> 15, opcode, flags & 0xF, questions, answers, authority)


DnsKey = tuple[str, int, str, int, int]


def _response_goes_to_client(packet: Packet) -> bool:
    """A lone response answers a query we missed, so its receiver is the client; except a response
    sent to a group (mDNS/LLMNR announcements), whose sender originates, as in Zeek's dns.log."""
    if packet.proto == IPPROTO_TCP:
        return True
    try:
        group = ipaddress.ip_address(packet.dst)
    except ValueError:
        return True
    return not (group.is_multicast or packet.dst.endswith(".255"))


@dataclass
class DnsTracker:
    """Queries wait here for their response; at most ``max_pending`` queries wait, each ``timeout`` s."""

    max_pending: int = 10_000
    timeout: float = 30.0

    def __post_init__(self) -> None:
        # Queries waiting per (client, server, id); a repeated query waits behind the first, as in Zeek.
        self._pending: OrderedDict[DnsKey, list[DnsTransaction]] = OrderedDict()
        self.unanswered = 0
        self.orphan_responses = 0
        self.retransmissions = 0
        self.transactions = 0

    @staticmethod
    def wants(packet: Packet) -> bool:
        return packet.proto == IPPROTO_UDP and bool(packet.payload) and (
            packet.dport in DNS_UDP_PORTS or packet.sport in DNS_UDP_PORTS
        )

    def add(self, packet: Packet, community_id: str | None = None) -> list[DnsTransaction]:
        """Account one UDP/53 packet; return the transactions completed or given up on. Raises PacketDecodeError.

        ``community_id`` is the packet's connection's, when the caller has it (the flow computed it
        anyway): the DNS event then need not hash the tuple again. A list, not a generator: this runs
        for every DNS packet and usually completes at most one.
        """
        message = parse_dns(packet.payload)
        done = self._expire(packet.ts) if self._pending else []
        question = message.questions[0] if message.questions else None
        netbios = NETBIOS_PORT in (packet.sport, packet.dport)
        name = _question_name(question[0], netbios) if question is not None else None
        qtype = qtype_name(question[1]) if question is not None else None
        if message.opcode == _OPCODE_UPDATE:
            # The "question" of an UPDATE is the zone; like Zeek, name it by the first record it changes.
            changed = [a.name for a in message.answers] + [normalise_name(n) for n in message.authority_names]
            if changed:
                name, qtype, question = changed[0], None, None
        if message.qr == 0:
            key = (packet.src, packet.sport, packet.dst, packet.dport, message.id)
            waiting = self._pending.get(key)
            if waiting is None:
                if len(self._pending) >= self.max_pending:
                    done.extend(self._unanswered(t) for t in self._pending.popitem(last=False)[1])
                waiting = self._pending[key] = []
            else:
                self.retransmissions += 1
            waiting.append(DnsTransaction(
                packet.src, packet.sport, packet.dst, packet.dport, message.id, packet.ts,
                question_name=name,
                question_type=qtype,
                transport=packet.proto,
                community_id=community_id,
            ))
            return done
        key = (packet.dst, packet.dport, packet.src, packet.sport, message.id)
        waiting = self._pending.get(key)
        transaction = waiting.pop(0) if waiting else None
        if waiting is not None and not waiting:
            del self._pending[key]
        if transaction is None:
            self.orphan_responses += 1
            if _response_goes_to_client(packet):
                transaction = DnsTransaction(packet.dst, packet.dport, packet.src, packet.sport, message.id,
                                             packet.ts, transport=packet.proto, community_id=community_id)
            else:  # e.g. an mDNS announcement, 5353 -> 5353: the sender originates, as in Zeek
                transaction = DnsTransaction(packet.src, packet.sport, packet.dst, packet.dport, message.id,
                                             packet.ts, transport=packet.proto, community_id=community_id)
            # Zeek names a response it saw no query for by its first answer, never by the response's
            # question section, and leaves the type unset: a lone DNSSEC denial or referral (no
            # answers) is logged without a query, an mDNS announcement by the name it announces.
            if message.answers:
                transaction.question_name = message.answers[0].name
            elif message.opcode == _OPCODE_UPDATE:
                transaction.question_name = name
        elif question is not None and transaction.question_name is None:
            transaction.question_name, transaction.question_type = name, qtype
        self.transactions += 1
        transaction.responded = True
        transaction.response_code = RCODE_NAMES.get(message.rcode, str(message.rcode))
        transaction.answers = message.answers
        done.append(transaction)
        return done

    def flush(self) -> Iterator[DnsTransaction]:
        """Give up on every waiting query (end of capture)."""
        while self._pending:
            for transaction in self._pending.popitem(last=False)[1]:
                yield self._unanswered(transaction)

    def _expire(self, now: float) -> list[DnsTransaction]:
        expired: list[DnsTransaction] = []
        while self._pending:
            key, waiting = next(iter(self._pending.items()))
            if waiting[-1].ts > now - self.timeout:
                break
            del self._pending[key]
            expired.extend(self._unanswered(transaction) for transaction in waiting)
        return expired

    def _unanswered(self, transaction: DnsTransaction) -> DnsTransaction:
        self.unanswered += 1
        self.transactions += 1
        return transaction
