"""Capture files to decoded packets: pcap/pcapng framing and dpkt layer decoding.

Framing of classic pcap is done here by hand so a cut-off file is noticed (dpkt's reader
silently returns a short last record); pcapng goes through dpkt's reader. Link, IP and
transport layers are decoded with dpkt.
"""
from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import dpkt

from sensors.community_id import IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP

# Link types (http://www.tcpdump.org/linktypes.html)
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_LINUX_SLL2 = 276
_RAW_ALIASES = (12, 14, LINKTYPE_RAW, 228, 229)  # DLT_RAW differs between BSDs; 228/229: IPv4/IPv6

# A record claiming more than this is corrupt framing, not a jumbo frame.
MAX_RECORD_BYTES = 256 * 1024

_PCAP_MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
_PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"

TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10


class CaptureFormatError(ValueError):
    """The file is not a pcap or pcapng capture at all."""


class PacketDecodeError(ValueError):
    """One frame could not be decoded; the reason says at which layer."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One captured record: time, link type, captured bytes, and whether the capture cut it short."""

    ts: float
    linktype: int
    data: bytes
    snapped: bool = False


@dataclass(slots=True)
class CaptureEnd:
    """How reading a capture ended: cleanly, or cut off / corrupt after ``frames`` records."""

    truncated: bool = False
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Packet:
    """The parts of one IP packet the flow table and the DNS tracker need."""

    ts: float
    src: str
    dst: str
    proto: int  # IANA protocol number
    sport: int  # for ICMP: type
    dport: int  # for ICMP: code
    ip_bytes: int  # IP total length from the header (wire size, headers included)
    tcp_flags: int
    payload: bytes


def read_frames(stream: BinaryIO, end: CaptureEnd) -> Iterator[Frame]:
    """Yield every complete record of a pcap or pcapng stream; set ``end`` when cut off.

    Raises CaptureFormatError only when the file header is not a capture's.
    """
    head = stream.read(24)
    if head[:4] == _PCAPNG_MAGIC:
        stream.seek(0)
        yield from _read_pcapng(stream, end)
        return
    if len(head) < 24 or head[:4] not in _PCAP_MAGIC:
        if len(head) < 24 and head[:4] in _PCAP_MAGIC:
            end.truncated, end.reason = True, "file header cut off"
            return
        raise CaptureFormatError(f"not a pcap or pcapng file (magic {head[:4].hex() or 'empty'})")
    order, unit = _PCAP_MAGIC[head[:4]]
    linktype = struct.unpack(order + "I", head[20:24])[0] & 0xFFFF  # upper bits carry FCS flags
    record = struct.Struct(order + "IIII")
    while True:
        header = stream.read(16)
        if not header:
            return
        if len(header) < 16:
            end.truncated, end.reason = True, "record header cut off"
            return
        sec, frac, caplen, wirelen = record.unpack(header)
        if caplen > MAX_RECORD_BYTES:
            end.truncated, end.reason = True, f"corrupt record length {caplen}"
            return
        data = stream.read(caplen)
        if len(data) < caplen:
            end.truncated, end.reason = True, f"record cut off ({len(data)} of {caplen} bytes)"
            return
        yield Frame(sec + frac * unit, linktype, data, snapped=caplen < wirelen)


def _read_pcapng(stream: BinaryIO, end: CaptureEnd) -> Iterator[Frame]:
    try:
        reader = dpkt.pcapng.Reader(stream)
    except (ValueError, dpkt.UnpackError, struct.error) as exc:
        raise CaptureFormatError(f"bad pcapng header: {exc}") from None
    linktype = reader.datalink()
    packets = iter(reader)
    while True:
        try:
            ts, data = next(packets)
        except StopIteration:
            return
        except (dpkt.UnpackError, ValueError, struct.error) as exc:
            end.truncated, end.reason = True, f"pcapng block cut off or corrupt: {exc or type(exc).__name__}"
            return
        yield Frame(float(ts), linktype, bytes(data))


def _network_layer(frame: bytes, linktype: int) -> object | None:
    """The IPv4/IPv6 dpkt object inside a frame, or None for non-IP frames."""
    if linktype == LINKTYPE_ETHERNET:
        eth = dpkt.ethernet.Ethernet(frame)
        ip = eth.data
        if eth.type in (dpkt.ethernet.ETH_TYPE_IP, dpkt.ethernet.ETH_TYPE_IP6) and not isinstance(
            ip, (dpkt.ip.IP, dpkt.ip6.IP6)
        ):
            # dpkt leaves an undecodable IP payload as bytes; that is a bad packet, not a non-IP one.
            raise PacketDecodeError("IP header cut off or malformed")
    elif linktype in _RAW_ALIASES:
        version = frame[0] >> 4 if frame else 0
        ip = dpkt.ip.IP(frame) if version == 4 else dpkt.ip6.IP6(frame) if version == 6 else None
    elif linktype == LINKTYPE_LINUX_SLL:
        ip = dpkt.sll.SLL(frame).data
    elif linktype == LINKTYPE_LINUX_SLL2:
        ip = dpkt.sll2.SLL2(frame).data
    elif linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        ip = dpkt.loopback.Loopback(frame).data
    else:
        raise PacketDecodeError(f"unsupported link type {linktype}")
    if isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)):
        return ip
    return None


def decode_frame(frame: Frame) -> Packet | None:
    """Decode one frame to a Packet; None for frames that carry no IP (ARP, LLDP...).

    Raises PacketDecodeError, and nothing else, for frames that cannot be decoded.
    """
    try:
        ip = _network_layer(frame.data, frame.linktype)
        if ip is None:
            return None
        if isinstance(ip, dpkt.ip.IP):
            if ip.offset & dpkt.ip.IP_OFFMASK:
                raise PacketDecodeError("non-first IP fragment")
            src, dst = socket.inet_ntop(socket.AF_INET, ip.src), socket.inet_ntop(socket.AF_INET, ip.dst)
            ip_bytes = ip.len or len(frame.data)  # 0 with TCP segmentation offload
        else:
            src, dst = socket.inet_ntop(socket.AF_INET6, ip.src), socket.inet_ntop(socket.AF_INET6, ip.dst)
            ip_bytes = ip.plen + 40
        proto, l4 = ip.p, ip.data
        if proto == IPPROTO_TCP:
            if not isinstance(l4, dpkt.tcp.TCP):
                raise PacketDecodeError("TCP header cut off or malformed")
            return Packet(frame.ts, src, dst, proto, l4.sport, l4.dport, ip_bytes, l4.flags, bytes(l4.data))
        if proto == IPPROTO_UDP:
            if not isinstance(l4, dpkt.udp.UDP):
                raise PacketDecodeError("UDP header cut off or malformed")
            return Packet(frame.ts, src, dst, proto, l4.sport, l4.dport, ip_bytes, 0, bytes(l4.data))
        if proto in (IPPROTO_ICMP, IPPROTO_ICMPV6):
            raw = bytes(l4) if not isinstance(l4, bytes) else l4
            if len(raw) < 2:
                raise PacketDecodeError("ICMP header cut off")
            return Packet(frame.ts, src, dst, proto, raw[0], raw[1], ip_bytes, 0, b"")
        return Packet(frame.ts, src, dst, proto, 0, 0, ip_bytes, 0, b"")
    except PacketDecodeError:
        raise
    except (dpkt.UnpackError, struct.error, ValueError, IndexError, AttributeError, TypeError, KeyError) as exc:
        # dpkt reports short and malformed headers through several exception types.
        raise PacketDecodeError(f"{type(exc).__name__}: {exc}") from None
