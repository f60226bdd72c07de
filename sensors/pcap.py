"""Read a pcap/pcapng file into edusoc events: one flow event per connection, one DNS event per transaction.

    reader = PcapReader("campus.pcap")
    for event in reader:          # flat ECS dicts that pass soc_core.events.validate_event
        ...
    reader.stats                  # PcapStats: what was read, skipped and why

Bad input is never fatal: a cut-off file yields every complete packet before the cut,
undecodable packets are counted in ``stats`` and skipped.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from soc_core.events import stable_event_id, timestamp_from_epoch
from sensors.community_id import IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, community_id_v1
from sensors.dns import DnsTracker, DnsTransaction
from sensors.flows import TRANSPORT_NAMES, Flow, FlowTable
from sensors.packets import CaptureEnd, CaptureFormatError, PacketDecodeError, decode_frame, read_frames

FLOW_DATASET = "edusoc.flow"
DNS_DATASET = "edusoc.dns"
MODULE = "pcap"
_MAX_REASONS = 20  # distinct decode-error reasons kept in the stats


@dataclass
class PcapStats:
    """What reading one capture saw; every skipped packet is counted under a reason."""

    path: str = ""
    packets: int = 0
    bytes: int = 0  # captured bytes of all records
    non_ip: int = 0  # frames without IP (ARP, LLDP, STP...), skipped
    decode_errors: int = 0  # frames or DNS messages that could not be decoded, skipped
    decode_error_reasons: Counter[str] = field(default_factory=Counter)
    snapped: int = 0  # records shorter on disk than on the wire (capture snaplen)
    truncated: bool = False  # the file ends in the middle of a record
    truncation_reason: str = ""
    not_a_capture: str = ""  # set when the file is not pcap/pcapng at all
    flows: int = 0
    flows_evicted: int = 0  # emitted early because the flow table was full
    flows_expired: int = 0  # emitted after the idle timeout
    dns_transactions: int = 0
    dns_unanswered: int = 0
    dns_orphan_responses: int = 0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["decode_error_reasons"] = dict(self.decode_error_reasons)
        return data

    def count_error(self, reason: str) -> None:
        self.decode_errors += 1
        if reason in self.decode_error_reasons or len(self.decode_error_reasons) < _MAX_REASONS:
            self.decode_error_reasons[reason] += 1


class PcapReader:
    """Iterate the events of one capture file; ``stats`` is complete once iteration ends."""

    def __init__(
        self,
        path: str | Path,
        *,
        max_flows: int = 100_000,
        idle_timeout: float = 300.0,
        max_pending_dns: int = 10_000,
        dns_timeout: float = 30.0,
    ) -> None:
        self.path = Path(path)
        self.stats = PcapStats(path=str(path))
        self._flows = FlowTable(max_flows=max_flows, idle_timeout=idle_timeout)
        self._dns = DnsTracker(max_pending=max_pending_dns, timeout=dns_timeout)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        stats = self.stats
        end = CaptureEnd()
        with self.path.open("rb") as stream:
            try:
                for frame in read_frames(stream, end):
                    stats.packets += 1
                    stats.bytes += len(frame.data)
                    stats.snapped += frame.snapped
                    try:
                        packet = decode_frame(frame)
                    except PacketDecodeError as exc:
                        stats.count_error(str(exc).split(":")[0])
                        continue
                    if packet is None:
                        stats.non_ip += 1
                        continue
                    for flow in self._flows.add(packet):
                        yield flow_event(flow)
                    if DnsTracker.wants(packet):
                        try:
                            for transaction in self._dns.add(packet):
                                yield dns_event(transaction)
                        except PacketDecodeError:
                            stats.count_error("malformed DNS message")
            except CaptureFormatError as exc:
                stats.not_a_capture = str(exc)
        stats.truncated, stats.truncation_reason = end.truncated, end.reason
        for flow in self._flows.flush():
            yield flow_event(flow)
        for transaction in self._dns.flush():
            yield dns_event(transaction)
        self._update_counters()

    def _update_counters(self) -> None:
        counters = self._flows.counters
        self.stats.flows = counters.flows
        self.stats.flows_evicted = counters.evicted
        self.stats.flows_expired = counters.expired
        self.stats.dns_unanswered = self._dns.unanswered
        self.stats.dns_orphan_responses = self._dns.orphan_responses
        self.stats.dns_transactions = self._dns.transactions


def read_pcap(path: str | Path, **options: Any) -> tuple[list[dict[str, Any]], PcapStats]:
    """All events of a capture file and the stats of reading it (options as for PcapReader)."""
    reader = PcapReader(path, **options)
    events = list(reader)
    return events, reader.stats


def _duration_ns(start: float, end: float) -> int:
    # Capture times are microsecond (or nanosecond) counts held in floats; round away float noise.
    return round((end - start) * 1e6) * 1000


def flow_event(flow: Flow) -> dict[str, Any]:
    """The edusoc.flow event of one finished flow."""
    start = timestamp_from_epoch(flow.start)
    community_id = flow.community_id
    transport = TRANSPORT_NAMES.get(flow.proto, str(flow.proto))
    state = flow.conn_state()
    has_ports = flow.proto not in (IPPROTO_ICMP, IPPROTO_ICMPV6)
    event: dict[str, Any] = {
        "@timestamp": start,
        "event.id": stable_event_id(FLOW_DATASET, community_id, start, flow.orig_ip, flow.orig_port),
        "event.kind": "event",
        "event.category": ["network"],
        "event.type": ["connection"],
        "event.dataset": FLOW_DATASET,
        "event.module": MODULE,
        "event.start": start,
        "event.end": timestamp_from_epoch(flow.last),
        "event.duration": _duration_ns(flow.start, flow.last),
        "source.ip": flow.orig_ip,
        "source.packets": flow.orig_packets,
        "source.bytes": flow.orig_bytes,
        "destination.ip": flow.resp_ip,
        "destination.packets": flow.resp_packets,
        "destination.bytes": flow.resp_bytes,
        "network.transport": transport,
        "network.community_id": community_id,
        "network.packets": flow.orig_packets + flow.resp_packets,
        "network.bytes": flow.orig_bytes + flow.resp_bytes,
        "network.connection.state": state,
    }
    if has_ports:
        event["source.port"] = flow.orig_port
        event["destination.port"] = flow.resp_port
        where = f"{flow.orig_ip}:{flow.orig_port} -> {flow.resp_ip}:{flow.resp_port}"
    else:
        where = f"{flow.orig_ip} -> {flow.resp_ip} type {flow.orig_port} code {flow.resp_port}"
    if flow.protocol:
        event["network.protocol"] = flow.protocol
    event["message"] = f"{transport} {where} {state}"
    return event


def dns_event(transaction: DnsTransaction) -> dict[str, Any]:
    """The edusoc.dns event of one query/response pair (or a lone query or response)."""
    ts = timestamp_from_epoch(transaction.ts)
    community_id = community_id_v1(
        transaction.client_ip, transaction.server_ip, IPPROTO_UDP, transaction.client_port, transaction.server_port
    )
    event: dict[str, Any] = {
        "@timestamp": ts,
        "event.id": stable_event_id(DNS_DATASET, community_id, ts, transaction.id, transaction.question_name),
        "event.kind": "event",
        "event.category": ["network"],
        "event.type": ["protocol"],
        "event.dataset": DNS_DATASET,
        "event.module": MODULE,
        "source.ip": transaction.client_ip,
        "source.port": transaction.client_port,
        "destination.ip": transaction.server_ip,
        "destination.port": transaction.server_port,
        "network.transport": "udp",
        "network.protocol": "dns",
        "network.community_id": community_id,
        "dns.id": transaction.id,
        "dns.type": "answer" if transaction.responded else "query",
    }
    if transaction.question_name is not None:
        event["dns.question.name"] = transaction.question_name
        event["dns.question.type"] = transaction.question_type
    if transaction.responded:
        event["dns.response_code"] = transaction.response_code
        event["dns.answers"] = [answer.as_dict() for answer in transaction.answers]
        resolved = [a.data for a in transaction.answers if a.type in ("A", "AAAA")]
        if resolved:
            event["dns.resolved_ip"] = resolved
    question = f"{transaction.question_type or '?'} {transaction.question_name or '?'}"
    outcome = transaction.response_code if transaction.responded else "no response"
    event["message"] = f"dns {transaction.client_ip} asked {transaction.server_ip} {question}: {outcome}"
    return event
