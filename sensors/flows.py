"""A bounded flow table that turns packets into Zeek-style connection records.

A flow is keyed by its 5-tuple in either direction. The originator is the sender of the
first packet seen, except that a flow first seen at a SYN/ACK belongs to the SYN/ACK's
receiver (its SYN was missed). TCP endpoint states follow Zeek's TCP analyzer closely
enough to give its ``conn_state`` values (base/protocols/conn/main.zeek).
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from sensors.community_id import (
    IPPROTO_ICMP,
    IPPROTO_ICMPV6,
    IPPROTO_TCP,
    IPPROTO_UDP,
    community_id_v1,
    icmp_port_equivalents,
)
from sensors.packets import TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, Packet

TRANSPORT_NAMES = {IPPROTO_TCP: "tcp", IPPROTO_UDP: "udp", IPPROTO_ICMP: "icmp", IPPROTO_ICMPV6: "ipv6-icmp"}

# Application protocol by well-known responder port, used only once payload was exchanged.
PORT_PROTOCOLS = {53: "dns", 80: "http", 8080: "http", 22: "ssh", 443: "tls", 8443: "tls", 853: "tls"}
# A UDP flow first seen from one of these ports to another port started with a missed request.
_UDP_SERVICE_PORTS = frozenset({53, 67, 123, 161, 514})
_HTTP_METHODS = (b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ", b"CONNECT ", b"TRACE ")


class Endpoint(Enum):
    """One side's TCP state, as Zeek's TCP_Endpoint tracks it."""

    INACTIVE = "inactive"
    SYN_SENT = "syn_sent"
    SYN_ACK_SENT = "syn_ack_sent"
    PARTIAL = "partial"
    ESTABLISHED = "established"
    CLOSED = "closed"
    RESET = "reset"


_ESTABLISHED = Endpoint.ESTABLISHED


@dataclass(slots=True)
class Flow:
    """One connection as seen so far; ``orig_*`` is the originator, ``resp_*`` the responder."""

    proto: int
    orig_ip: str
    orig_port: int
    resp_ip: str
    resp_port: int
    start: float
    last: float
    orig_packets: int = 0
    orig_bytes: int = 0
    orig_payload: int = 0
    resp_packets: int = 0
    resp_bytes: int = 0
    resp_payload: int = 0
    orig_state: Endpoint = Endpoint.INACTIVE
    resp_state: Endpoint = Endpoint.INACTIVE
    orig_syn_first: bool = False  # the originator's first packet was a bare SYN
    resp_syn_ack: bool = False  # the responder ever sent a SYN/ACK
    protocol: str | None = None
    session: Any = None  # the TCP session (sensors.sessions) once payload was seen; False: none wanted
    orig_isn: int = -1  # sequence number of each side's SYN, kept for reassembly (-1: not seen)
    resp_isn: int = -1

    community_id_cache: str | None = None
    queued: float = 0.0  # capture time the flow table last put this flow at the end of its order

    @property
    def community_id(self) -> str:
        if self.community_id_cache is None:  # the flow event and its protocol records all need it
            self.community_id_cache = community_id_v1(self.orig_ip, self.resp_ip, self.proto, self.orig_port,
                                                      self.resp_port)
        return self.community_id_cache

    @property
    def finished(self) -> bool:
        """Both sides closed, or one reset: a new SYN on this 5-tuple starts a new connection."""
        done = (Endpoint.CLOSED, Endpoint.RESET)
        return Endpoint.RESET in (self.orig_state, self.resp_state) or (
            self.orig_state in done and self.resp_state in done
        )

    def conn_state(self) -> str:
        """Zeek's conn_state for this flow (S0, S1, SF, REJ, S2, S3, RSTO, RSTR, RSTOS0, RSTRH, SH, SHR, OTH)."""
        if self.proto != IPPROTO_TCP:
            if self.orig_packets:
                return "SF" if self.resp_packets else "S0"
            return "SHR" if self.resp_packets else "OTH"
        os, rs = self.orig_state, self.resp_state
        o_inactive = os in (Endpoint.INACTIVE, Endpoint.PARTIAL)
        r_inactive = rs in (Endpoint.INACTIVE, Endpoint.PARTIAL)
        if rs is Endpoint.RESET:
            if os in (Endpoint.SYN_SENT, Endpoint.SYN_ACK_SENT) or (
                os is Endpoint.RESET and self.orig_payload == 0 and self.resp_payload == 0
            ):
                return "REJ"
            return "RSTRH" if o_inactive else "RSTR"
        if os is Endpoint.RESET:
            if r_inactive:
                return "RSTOS0" if self.orig_syn_first and not self.resp_syn_ack else "OTH"
            return "RSTO"
        if os is Endpoint.CLOSED and rs is Endpoint.CLOSED:
            return "SF"
        if os is Endpoint.CLOSED:
            return "SH" if r_inactive else "S2"
        if rs is Endpoint.CLOSED:
            return "SHR" if o_inactive else "S3"
        if os is Endpoint.SYN_SENT and rs is Endpoint.INACTIVE:
            return "S0"
        if os is Endpoint.ESTABLISHED and rs is Endpoint.ESTABLISHED:
            return "S1"
        return "OTH"

    def add(self, packet: Packet, from_orig: bool) -> None:
        if packet.ts > self.last:
            self.last = packet.ts
        size = len(packet.payload)
        if from_orig:
            self.orig_packets += 1
            self.orig_bytes += packet.ip_bytes
            self.orig_payload += size
        else:
            self.resp_packets += 1
            self.resp_bytes += packet.ip_bytes
            self.resp_payload += size
        if self.proto == IPPROTO_TCP:
            flags = packet.tcp_flags
            # Data or an ACK inside an established connection changes no state: skip the call.
            if flags & 0x07 or self.orig_state is not _ESTABLISHED or self.resp_state is not _ESTABLISHED:
                self._update_tcp(flags, size, from_orig)
        if self.protocol is None and size:
            self.protocol = _sniff_protocol(packet.payload, self.resp_port, self.proto)

    def _update_tcp(self, flags: int, size: int, from_orig: bool) -> None:
        me = self.orig_state if from_orig else self.resp_state
        peer = self.resp_state if from_orig else self.orig_state
        if not flags & 0x07 and me is Endpoint.ESTABLISHED and peer is Endpoint.ESTABLISHED:
            return  # data or ACK inside an established connection: the common case changes nothing
        syn, ack, fin, rst = flags & TCP_SYN, flags & TCP_ACK, flags & TCP_FIN, flags & TCP_RST
        if rst:
            me = Endpoint.RESET
        elif syn and not ack:
            if me is Endpoint.INACTIVE:
                me = Endpoint.SYN_SENT
        elif syn and ack:
            if not from_orig:
                self.resp_syn_ack = True
            if me in (Endpoint.INACTIVE, Endpoint.SYN_SENT):
                me = Endpoint.SYN_ACK_SENT
        else:
            if me in (Endpoint.SYN_SENT, Endpoint.SYN_ACK_SENT) and peer in (
                Endpoint.SYN_ACK_SENT, Endpoint.ESTABLISHED, Endpoint.CLOSED
            ):
                me = Endpoint.ESTABLISHED
                if peer is Endpoint.SYN_ACK_SENT:
                    peer = Endpoint.ESTABLISHED
            elif me is Endpoint.INACTIVE:
                me = Endpoint.PARTIAL
            elif me is Endpoint.PARTIAL and peer not in (Endpoint.INACTIVE, Endpoint.PARTIAL):
                me = Endpoint.ESTABLISHED
        if fin and me is not Endpoint.RESET:
            me = Endpoint.CLOSED
        if from_orig:
            self.orig_state, self.resp_state = me, peer
        else:
            self.resp_state, self.orig_state = me, peer


def _sniff_protocol(payload: bytes, resp_port: int, proto: int) -> str | None:
    if payload.startswith(_HTTP_METHODS) or payload.startswith(b"HTTP/1."):
        return "http"
    if payload.startswith(b"SSH-"):
        return "ssh"
    if proto == IPPROTO_TCP and len(payload) > 5 and payload[0] == 0x16 and payload[1] == 0x03:
        return "tls"
    return PORT_PROTOCOLS.get(resp_port)


FlowKey = tuple[int, str, int, str, int]
_NOTHING_FINISHED: tuple[Flow, ...] = ()
# A flow goes back to the end of the table's order at most once per this many seconds of capture
# time, not on every packet: the idle sweep runs once a second anyway, and one reordering per
# flow and second is much less work than one per packet.
_REQUEUE_SECONDS = 1.0


@dataclass(slots=True)
class FlowCounters:
    flows: int = 0  # flows emitted
    evicted: int = 0  # emitted early because the table was full
    expired: int = 0  # emitted after idle_timeout without packets
    reused: int = 0  # emitted because a new SYN reused a finished 5-tuple


@dataclass
class FlowTable:
    """Packets in, finished flows out. Bounded by ``max_flows``; flows idle ``idle_timeout`` s expire."""

    max_flows: int = 100_000
    idle_timeout: float = 300.0
    counters: FlowCounters = field(default_factory=FlowCounters)

    def __post_init__(self) -> None:
        if self.max_flows < 1:
            raise ValueError("max_flows must be at least 1")
        # Ordered by Flow.queued, the capture time a flow was last put at the end (see _expire).
        self._flows: OrderedDict[FlowKey, Flow] = OrderedDict()
        self._now = float("-inf")
        self._next_sweep = float("-inf")
        self.current: Flow | None = None  # the flow of the packet last added, and its direction
        self.current_from_orig = True

    def __len__(self) -> int:
        return len(self._flows)

    def add(self, packet: Packet) -> Sequence[Flow]:
        """Account one packet; return the flows this packet caused to finish (expired, evicted, reused).

        Runs once per packet and usually finishes nothing: then it returns the same empty tuple.
        """
        finished: list[Flow] | None = None
        now = self._now
        if packet.ts > now:
            now = self._now = packet.ts
            if now >= self._next_sweep:
                finished = self._expire()
                self._next_sweep = now + 1.0
        proto, src, dst, sport, dport = packet.proto, packet.src, packet.dst, packet.sport, packet.dport
        if proto == IPPROTO_ICMP or proto == IPPROTO_ICMPV6:
            # Pair ICMP messages like Community ID does: echo request and reply share a flow.
            sport, dport, _ = icmp_port_equivalents(proto, sport, dport)
        # Direction-free key: the lower (address, port) endpoint first, without building tuples to compare.
        if src < dst or (src == dst and sport <= dport):
            key = (proto, src, sport, dst, dport)
        else:
            key = (proto, dst, dport, src, sport)
        flows = self._flows
        flow = flows.get(key)
        if flow is not None and proto == IPPROTO_TCP and packet.tcp_flags & 0x12 == TCP_SYN and flow.finished:
            del flows[key]  # a new SYN on a finished 5-tuple starts a new connection
            self.counters.reused += 1
            finished = finished or []
            finished.append(self._emit(flow))
            flow = None
        if flow is None:
            if len(flows) >= self.max_flows:
                _, oldest = flows.popitem(last=False)
                self.counters.evicted += 1
                finished = finished or []
                finished.append(self._emit(oldest))
            flow = self._new_flow(packet)
            flow.queued = now
            flows[key] = flow
        elif flow.queued < now - _REQUEUE_SECONDS:
            flows.move_to_end(key)
            flow.queued = now
        from_orig = src == flow.orig_ip and (
            packet.sport == flow.orig_port or proto == IPPROTO_ICMP or proto == IPPROTO_ICMPV6)
        flow.add(packet, from_orig)
        self.current, self.current_from_orig = flow, from_orig
        return finished or _NOTHING_FINISHED

    def flush(self) -> Iterator[Flow]:
        """Emit every flow still open (end of capture)."""
        while self._flows:
            _, flow = self._flows.popitem(last=False)
            yield self._emit(flow)

    def _expire(self) -> list[Flow] | None:
        """Flows idle for idle_timeout, oldest first (None when there are none).

        Stops at the first flow that is not idle. A flow that had a packet was queued again no
        more than _REQUEUE_SECONDS before it, so every flow behind that one had a packet after
        deadline - _REQUEUE_SECONDS: an idle flow is emitted at most that much late.
        """
        deadline = self._now - self.idle_timeout
        flows = self._flows
        expired: list[Flow] | None = None
        while flows:
            key, flow = next(iter(flows.items()))
            if flow.last > deadline:
                break
            del flows[key]
            self.counters.expired += 1
            if expired is None:
                expired = []
            expired.append(self._emit(flow))
        return expired

    def _emit(self, flow: Flow) -> Flow:
        self.counters.flows += 1
        return flow

    @staticmethod
    def _new_flow(packet: Packet) -> Flow:
        orig = (packet.src, packet.sport, packet.dst, packet.dport)
        if packet.proto == IPPROTO_TCP and packet.tcp_flags & (TCP_SYN | TCP_ACK) == TCP_SYN | TCP_ACK:
            orig = (packet.dst, packet.dport, packet.src, packet.sport)  # the SYN was missed
        elif (
            packet.proto == IPPROTO_UDP
            and packet.sport in _UDP_SERVICE_PORTS
            and packet.dport not in _UDP_SERVICE_PORTS
            and packet.dst != "255.255.255.255"  # a broadcast address never originates
        ):
            orig = (packet.dst, packet.dport, packet.src, packet.sport)  # the request was missed
        flow = Flow(packet.proto, orig[0], orig[1], orig[2], orig[3], start=packet.ts, last=packet.ts)
        if packet.proto == IPPROTO_TCP and packet.tcp_flags & (TCP_SYN | TCP_ACK) == TCP_SYN:
            flow.orig_syn_first = True
        return flow
