"""Application analyzers on TCP connections: pick one per connection, feed it reassembled bytes.

The analyzer is chosen from the first payload (HTTP method or status line, ``SSH-``, a TLS
handshake record) and falls back to the responder's well-known port, roughly as Zeek's
dynamic protocol detection does. Its records go to a shared ``sink`` as
``(kind, flow, record)``; the pcap reader turns them into events. Once an analyzer has
what it wants (TLS and SSH after the hellos/banners) the connection is no longer reassembled.
"""
from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from sensors.dns import DNS_TCP_PORTS, DnsTracker
from sensors.flows import Flow
from sensors.http import DEFAULT_CARVE_BUDGET_BYTES, DEFAULT_CARVE_BYTES, CarveBudget, HttpAnalyzer, HttpTransaction
from sensors.packets import TCP_SYN, Packet, PacketDecodeError
from sensors.ssh import SshAnalyzer
from sensors.tcp_reassembly import TcpStream
from sensors.tls import TlsAnalyzer

_HTTP_START = (b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ", b"CONNECT ", b"TRACE ",
               b"PROPFIND ", b"PROPPATCH ", b"MKCOL ", b"COPY ", b"MOVE ", b"LOCK ", b"UNLOCK ", b"QUERY ",
               b"HTTP/1.")
_HTTP_PORTS = frozenset({80, 81, 631, 1080, 3128, 8000, 8080, 8888})
_SSH_PORTS = frozenset({22})
_TLS_PORTS = frozenset({443, 465, 563, 585, 614, 636, 853, 989, 990, 992, 993, 994, 995, 5223, 8443})

SNIFF_BYTES = 16  # bytes of a direction looked at to choose the analyzer

Sink = list[tuple[str, Flow, Any]]


class Analyzer(Protocol):
    @property
    def done(self) -> bool: ...

    def data(self, from_orig: bool, chunk: bytes, ts: float) -> None: ...
    def gap(self, from_orig: bool, size: int) -> None: ...
    def finish(self) -> None: ...


@dataclass
class SessionCounters:
    sessions: int = 0
    missed_bytes: int = 0
    retransmitted_segments: int = 0
    inconsistent_retransmissions: int = 0
    dns_errors: int = 0
    tls_errors: int = 0  # malformed TLS handshake messages and certificates that did not parse
    http_bodies_decoded: int = 0  # bodies with a Content-Encoding whose carve holds the decoded bytes
    http_bodies_capped: int = 0  # ... of which decoding stopped at the carve size (large body or bomb)
    http_decode_errors: int = 0  # bodies whose coding was unknown, stacked or corrupt: carved as sent


class DnsOverTcp:
    """DNS messages framed by a 2-byte length (RFC 1035 4.2.2), handed to the shared DNS tracker."""

    def __init__(self, flow: Flow, tracker: DnsTracker, sink: Sink, counters: SessionCounters) -> None:
        self.flow, self.tracker, self.sink, self.counters = flow, tracker, sink, counters
        self.buffers = (bytearray(), bytearray())
        self.dead = [False, False]
        self.done = False

    def data(self, from_orig: bool, chunk: bytes, ts: float) -> None:
        side = 0 if from_orig else 1
        if self.dead[side]:
            return
        buffer = self.buffers[side]
        buffer += chunk
        flow = self.flow
        src, sport, dst, dport = (
            (flow.orig_ip, flow.orig_port, flow.resp_ip, flow.resp_port) if from_orig
            else (flow.resp_ip, flow.resp_port, flow.orig_ip, flow.orig_port)
        )
        while len(buffer) >= 2:
            size = struct.unpack_from("!H", buffer)[0]
            if len(buffer) < 2 + size:
                break
            message = bytes(buffer[2:2 + size])
            del buffer[:2 + size]
            packet = Packet(ts, src, dst, flow.proto, sport, dport, 0, 0, message)
            try:
                for transaction in self.tracker.add(packet, flow.community_id):
                    self.sink.append(("dns", flow, transaction))
            except PacketDecodeError:
                self.counters.dns_errors += 1

    def gap(self, from_orig: bool, size: int) -> None:
        self.dead[0 if from_orig else 1] = True

    def finish(self) -> None:
        pass


class TcpSession:
    """Reassembly of both directions of one connection, feeding one analyzer."""

    __slots__ = ("flow", "orig", "resp", "analyzer", "decided", "ts", "name", "heads", "choose")

    def __init__(self, flow: Flow, choose: Callable[[TcpSession], None]) -> None:
        self.flow = flow
        self.orig = TcpStream(self._orig_data, self._orig_gap)
        self.resp = TcpStream(self._resp_data, self._resp_gap)
        self.analyzer: Analyzer | None = None
        self.decided = False
        self.ts = 0.0
        self.name: str | None = None
        # The first in-order bytes of each direction, held until the analyzer is chosen (a client
        # may send its request a byte at a time).
        self.heads: tuple[bytearray, bytearray] = (bytearray(), bytearray())
        self.choose = choose

    @property
    def active(self) -> bool:
        return not self.decided or (self.analyzer is not None and not self.analyzer.done)

    def decide(self, name: str | None, analyzer: Analyzer | None) -> None:
        """Fix the analyzer and replay the held bytes into it."""
        self.decided, self.name, self.analyzer = True, name, analyzer
        heads, self.heads = self.heads, (bytearray(), bytearray())
        if analyzer is not None:
            for from_orig, head in ((True, heads[0]), (False, heads[1])):
                if head:
                    analyzer.data(from_orig, bytes(head), self.ts)

    def _hold(self, side: int, chunk: bytes) -> None:
        head = self.heads[side]
        head += chunk
        if len(head) >= SNIFF_BYTES or b"\n" in head:
            self.choose(self)

    def _orig_data(self, chunk: bytes) -> None:
        if self.analyzer is not None:
            self.analyzer.data(True, chunk, self.ts)
        elif not self.decided:
            self._hold(0, chunk)

    def _resp_data(self, chunk: bytes) -> None:
        if self.analyzer is not None:
            self.analyzer.data(False, chunk, self.ts)
        elif not self.decided:
            self._hold(1, chunk)

    def _orig_gap(self, size: int) -> None:
        if self.analyzer is not None:
            self.analyzer.gap(True, size)

    def _resp_gap(self, size: int) -> None:
        if self.analyzer is not None:
            self.analyzer.gap(False, size)


def sniff_tcp(payload: bytes, resp_port: int) -> str | None:
    """The analyzer for a connection from its first payload bytes and the responder's port."""
    if payload.startswith(_HTTP_START):
        return "http"
    if payload.startswith(b"SSH-"):
        return "ssh"
    if len(payload) > 5 and payload[0] == 0x16 and payload[1] == 0x03:
        return "tls"
    if resp_port in DNS_TCP_PORTS:
        return "dns"
    if resp_port in _SSH_PORTS:
        return "ssh"  # the server may talk before its banner
    if resp_port in _HTTP_PORTS:
        return "http"
    if resp_port in _TLS_PORTS:
        return "tls"
    return None


class SessionTable:
    """Creates, feeds and finishes the TCP sessions of the flows in the flow table."""

    def __init__(self, dns: DnsTracker, sink: Sink, *, carve_bytes: int = DEFAULT_CARVE_BYTES,
                 analyzers: frozenset[str] = frozenset({"http", "tls", "ssh", "dns"}),
                 carve_budget_bytes: int = DEFAULT_CARVE_BUDGET_BYTES) -> None:
        self.dns, self.sink = dns, sink
        self.carve_bytes = carve_bytes
        self.carve_budget = CarveBudget(carve_budget_bytes)  # shared by every connection's HTTP bodies
        self.analyzers = analyzers
        self.counters = SessionCounters()

    def packet(self, flow: Flow, packet: Packet, from_orig: bool) -> None:
        """Account one TCP packet of ``flow``."""
        session: TcpSession | Literal[False] | None = flow.session
        if session is False:
            return
        flags, payload = packet.tcp_flags, packet.payload
        seq = packet.seq
        if flags & TCP_SYN:
            # Kept on the flow, not in a session: scans and unanswered SYNs never cost a session.
            if from_orig:
                flow.orig_isn = seq if flow.orig_isn < 0 else flow.orig_isn
            else:
                flow.resp_isn = seq if flow.resp_isn < 0 else flow.resp_isn
            seq = (seq + 1) & 0xFFFFFFFF
        if not payload:
            return
        if session is None:
            session = flow.session = TcpSession(flow, self._choose)
            self.counters.sessions += 1
            if flow.orig_isn >= 0:
                session.orig.syn(flow.orig_isn)
            if flow.resp_isn >= 0:
                session.resp.syn(flow.resp_isn)
        if session.decided and (session.analyzer is None or session.analyzer.done):  # type: ignore[union-attr]
            return  # TcpSession.active, without the property call on every segment
        stream = session.orig if from_orig else session.resp
        session.ts = packet.ts
        stream.segment(seq, payload)
        analyzer = session.analyzer
        if session.decided and (analyzer is None or analyzer.done):
            # Nothing more to learn from this connection (TLS after the hellos, SSH after the
            # banners): stop reassembling it.
            self._retire(flow, session)
            if analyzer is not None:
                self._finish(analyzer)

    def finish(self, flow: Flow) -> None:
        """The flow ended: flush reassembly and let the analyzer report what is left."""
        session = flow.session
        if not isinstance(session, TcpSession):
            return
        for stream in (session.orig, session.resp):
            if session.active:
                stream.flush()
        if not session.decided and (session.heads[0] or session.heads[1]):
            self._choose(session)
        self._retire(flow, session)
        if session.analyzer is not None:
            self._finish(session.analyzer)

    def _finish(self, analyzer: Analyzer) -> None:
        analyzer.finish()
        if isinstance(analyzer, TlsAnalyzer):
            self.counters.tls_errors += analyzer.errors
        elif isinstance(analyzer, HttpAnalyzer) and analyzer.decoding:
            outcomes, counters = analyzer.decoding, self.counters
            counters.http_bodies_decoded += outcomes["decoded"] + outcomes["capped"]
            counters.http_bodies_capped += outcomes["capped"]
            counters.http_decode_errors += outcomes["error"] + outcomes["unsupported"]

    def _retire(self, flow: Flow, session: TcpSession) -> None:
        flow.session = False
        counters = self.counters
        for stream in (session.orig, session.resp):
            counters.missed_bytes += stream.missed
            counters.retransmitted_segments += stream.retransmitted
            counters.inconsistent_retransmissions += stream.inconsistent

    def _choose(self, session: TcpSession) -> None:
        head = session.heads[0] or session.heads[1]
        name = sniff_tcp(bytes(head), session.flow.resp_port)
        analyzer = self._analyzer(name, session.flow) if name in self.analyzers else None
        session.decide(name if analyzer is not None else None, analyzer)

    def _analyzer(self, name: str | None, flow: Flow) -> Analyzer | None:
        emit: Callable[[Any], None]
        if name == "http":
            def emit(record: HttpTransaction) -> None:
                self.sink.append(("http", flow, record))

            def tunnel() -> Analyzer | None:  # TLS through an HTTP proxy's CONNECT
                if "tls" not in self.analyzers:
                    return None
                return TlsAnalyzer(lambda record: self.sink.append(("tls", flow, record)))
            return HttpAnalyzer(emit, self.carve_bytes, self.carve_budget, tunnel)  # type: ignore[arg-type]
        if name == "tls":
            return TlsAnalyzer(lambda record: self.sink.append(("tls", flow, record)))
        if name == "ssh":
            return SshAnalyzer(lambda record: self.sink.append(("ssh", flow, record)))
        if name == "dns":
            return DnsOverTcp(flow, self.dns, self.sink, self.counters)
        return None
