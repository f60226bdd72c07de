"""Frames in, events out: the packet pipeline shared by capture files and live capture.

    traffic = TrafficAnalyzer(TrafficOptions())
    for frame in frames:
        yield from traffic.feed(frame)
    yield from traffic.flush()

Per packet: decode (``sensors.packets``, IP fragments reassembled), account in the bounded
flow table, hand UDP DNS to the DNS tracker and TCP payload to the connection's analyzer
(HTTP, TLS, SSH, DNS over TCP) through stream reassembly. Bad packets are counted in
``stats`` and skipped; nothing here raises on input.
"""
from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sensors.community_id import IPPROTO_TCP, IPPROTO_UDP
from sensors.dns import DNS_UDP_PORTS, DnsTracker
from sensors.flows import Flow, FlowTable
from sensors.http import DEFAULT_CARVE_BUDGET_BYTES, DEFAULT_CARVE_BYTES
from sensors.ipfrag import Defragmenter
from sensors.netevents import dns_event, flow_event, http_events, ssh_event, tls_event
from sensors.packets import Frame, PacketDecodeError, decode
from sensors.sessions import SessionTable, Sink

_MAX_REASONS = 20  # distinct decode-error reasons kept in the stats
_NO_EVENTS: tuple[dict[str, Any], ...] = ()  # what most packets complete


def relax_gc() -> None:
    """Collect garbage less often in a sensor process.

    A full flow table is hundreds of thousands of long-lived objects; with the default thresholds
    the cyclic collector walks them all every few thousand allocations (~15 % of the packet rate).
    The pipeline creates no reference cycles per packet, so fewer young collections lose nothing.
    """
    gc.collect()
    gc.freeze()  # what exists at start-up (modules, config) is never collected anyway
    gc.set_threshold(50_000, 50, 1000)
_RECORD_EVENTS: dict[str, Callable[[Flow, Any], dict[str, Any]]] = {"tls": tls_event, "ssh": ssh_event}


@dataclass(frozen=True)
class TrafficOptions:
    """Bounds and switches of the packet pipeline."""

    max_flows: int = 100_000
    idle_timeout: float = 300.0
    max_pending_dns: int = 10_000
    dns_timeout: float = 30.0
    carve_bytes: int = DEFAULT_CARVE_BYTES  # first N bytes of each HTTP body kept for YARA and file extraction
    carve_budget_bytes: int = DEFAULT_CARVE_BUDGET_BYTES  # all bodies' carves held at once, at most
    max_fragmented_datagrams: int = 10_000
    fragment_timeout: float = 30.0
    analyzers: frozenset[str] = frozenset({"http", "tls", "ssh", "dns"})


@dataclass
class TrafficStats:
    """What the pipeline saw; every skipped packet is counted under a reason."""

    path: str = ""
    packets: int = 0
    bytes: int = 0  # captured bytes of all records
    non_ip: int = 0  # frames without IP (ARP, LLDP, STP...), skipped
    decode_errors: int = 0  # frames or messages that could not be decoded, skipped
    decode_error_reasons: Counter[str] = field(default_factory=Counter)
    snapped: int = 0  # records shorter on disk than on the wire (capture snaplen)
    truncated: bool = False  # the file ends in the middle of a record
    truncation_reason: str = ""
    not_a_capture: str = ""  # set when the file is not pcap/pcapng at all
    fragments: int = 0  # IP fragments seen
    fragments_reassembled: int = 0  # datagrams rebuilt from fragments
    fragments_dropped: int = 0  # incomplete datagrams given up on
    flows: int = 0
    flows_evicted: int = 0  # emitted early because the flow table was full
    flows_expired: int = 0  # emitted after the idle timeout
    dns_transactions: int = 0
    dns_unanswered: int = 0
    dns_orphan_responses: int = 0
    tcp_sessions: int = 0  # connections handed to an application analyzer
    tcp_missed_bytes: int = 0  # bytes never seen in analysed connections (capture loss)
    tcp_retransmissions: int = 0
    tcp_inconsistent_retransmissions: int = 0  # retransmitted bytes that differ from the first copy
    tls_errors: int = 0  # malformed TLS handshake messages and server certificates that did not parse
    http_bodies_decoded: int = 0  # HTTP bodies carved decoded (Content-Encoding gzip, deflate, br undone)
    http_bodies_capped: int = 0  # ... whose decoding stopped at the carve size (a large body or a bomb)
    http_decode_errors: int = 0  # bodies with an unknown, stacked or corrupt coding, carved as sent
    http_carves_cut_by_budget: int = 0  # carves stopped short because packets.carve_budget_mb was spent
    events: Counter[str] = field(default_factory=Counter)  # events by dataset

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["decode_error_reasons"] = dict(self.decode_error_reasons)
        data["events"] = dict(self.events)
        return data

    def count_error(self, reason: str) -> None:
        self.decode_errors += 1
        if reason in self.decode_error_reasons or len(self.decode_error_reasons) < _MAX_REASONS:
            self.decode_error_reasons[reason] += 1


class TrafficAnalyzer:
    """The packet pipeline's state: flow table, DNS tracker, TCP sessions, fragment buffer."""

    def __init__(self, options: TrafficOptions | None = None, stats: TrafficStats | None = None) -> None:
        self.options = options = options or TrafficOptions()
        self.stats = stats or TrafficStats()
        self.flows = FlowTable(max_flows=options.max_flows, idle_timeout=options.idle_timeout)
        self.dns = DnsTracker(max_pending=options.max_pending_dns, timeout=options.dns_timeout)
        self.fragments = Defragmenter(options.max_fragmented_datagrams, options.fragment_timeout)
        self._sink: Sink = []
        self.sessions = SessionTable(self.dns, self._sink, carve_bytes=options.carve_bytes,
                                     analyzers=options.analyzers, carve_budget_bytes=options.carve_budget_bytes)
        self._tcp_analysis = bool(options.analyzers)

    def feed(self, frame: Frame) -> Sequence[dict[str, Any]]:
        """Account one captured frame; return the events it completed (usually none)."""
        return self.feed_record(frame.ts, frame.linktype, frame.data, frame.snapped)

    def feed_record(self, ts: float, linktype: int, data: bytes, snapped: bool = False) -> Sequence[dict[str, Any]]:
        """``feed`` of a record given as its parts (``sensors.packets.read_records``): no Frame per packet."""
        stats = self.stats
        stats.packets += 1
        stats.bytes += len(data)
        if snapped:
            stats.snapped += 1
        try:
            packet = decode(ts, linktype, data, self.fragments)
        except PacketDecodeError as exc:
            stats.count_error(str(exc).split(":")[0])
            return _NO_EVENTS
        if packet is None:
            if self.fragments.held_last:
                self.fragments.held_last = False
            else:
                stats.non_ip += 1
            return _NO_EVENTS
        flows = self.flows
        finished = flows.add(packet)
        events: list[dict[str, Any]] = [event for flow in finished for event in self._finished(flow)] \
            if finished else []
        if packet.proto == IPPROTO_TCP:
            flow = flows.current
            if self._tcp_analysis and flow.session is not False:  # type: ignore[union-attr]
                self.sessions.packet(flow, packet, flows.current_from_orig)  # type: ignore[arg-type]
        elif packet.payload and packet.proto == IPPROTO_UDP and (
                packet.dport in DNS_UDP_PORTS or packet.sport in DNS_UDP_PORTS):
            try:
                for transaction in self.dns.add(packet, flows.current.community_id):  # type: ignore[union-attr]
                    events.append(self._count(dns_event(transaction)))
            except PacketDecodeError:
                stats.count_error("malformed DNS message")
        if self._sink:
            events.extend(self._drain())
        return events or _NO_EVENTS

    def flush(self) -> Iterator[dict[str, Any]]:
        """End of input: emit every flow, session record and DNS query still open."""
        for flow in self.flows.flush():
            yield from self._finished(flow)
        for transaction in self.dns.flush():
            yield self._count(dns_event(transaction))
        self.update_counters()

    def update_counters(self) -> None:
        stats, flows, dns, sessions = self.stats, self.flows.counters, self.dns, self.sessions.counters
        stats.flows, stats.flows_evicted, stats.flows_expired = flows.flows, flows.evicted, flows.expired
        stats.dns_unanswered, stats.dns_orphan_responses = dns.unanswered, dns.orphan_responses
        stats.dns_transactions = dns.transactions
        stats.fragments, stats.fragments_reassembled = self.fragments.fragments, self.fragments.reassembled
        stats.fragments_dropped = self.fragments.dropped
        stats.tcp_sessions, stats.tcp_missed_bytes = sessions.sessions, sessions.missed_bytes
        stats.tcp_retransmissions = sessions.retransmitted_segments
        stats.tcp_inconsistent_retransmissions = sessions.inconsistent_retransmissions
        stats.tls_errors = sessions.tls_errors
        stats.http_bodies_decoded, stats.http_bodies_capped = sessions.http_bodies_decoded, sessions.http_bodies_capped
        stats.http_decode_errors = sessions.http_decode_errors
        stats.http_carves_cut_by_budget = self.sessions.carve_budget.starved

    def _finished(self, flow: Flow) -> Iterator[dict[str, Any]]:
        if flow.session is not None:
            self.sessions.finish(flow)
            if self._sink:
                yield from self._drain()
        yield self._count(flow_event(flow))

    def _drain(self) -> Iterator[dict[str, Any]]:
        records = self._sink[:]
        self._sink.clear()
        for kind, flow, record in records:
            if kind == "dns":
                yield self._count(dns_event(record))
            elif kind == "http":
                for event in http_events(flow, record):
                    yield self._count(event)
            else:
                yield self._count(_RECORD_EVENTS[kind](flow, record))

    def _count(self, event: dict[str, Any]) -> dict[str, Any]:
        self.stats.events[event["event.dataset"]] += 1
        return event
