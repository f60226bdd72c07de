"""Capture files to decoded packets: pcap/pcapng framing and the fast layer decoder.

Framing of classic pcap and pcapng is done here by hand, so a cut-off file is noticed (dpkt's
readers silently return a short last record) and no object is built per block. Link, IP and
transport headers are decoded by hand with ``struct``/indexing: building dpkt objects per
layer costs several times more per packet, and this is the sensor's hot path
(``bench/sensor_pps.py`` measures it). IP fragments are reassembled by ``sensors.ipfrag``
when a reassembler is passed in.
"""
from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

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
_READ_BLOCK = 4 * 1024 * 1024

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


# Frame and Packet are not frozen: a frozen dataclass sets each field through object.__setattr__,
# which doubles the cost of creating one, and one of each is created per packet.
@dataclass(slots=True)
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


@dataclass(slots=True)
class Packet:
    """The parts of one IP packet the flow table and the protocol analyzers need."""

    ts: float
    src: str
    dst: str
    proto: int  # IANA protocol number
    sport: int  # for ICMP: type
    dport: int  # for ICMP: code
    ip_bytes: int  # IP total length from the header (wire size, headers included)
    tcp_flags: int
    payload: bytes
    seq: int = 0  # TCP sequence number
    ack: int = 0  # TCP acknowledgement number


def read_frames(stream: BinaryIO, end: CaptureEnd) -> Iterator[Frame]:
    """Yield every complete record of a pcap or pcapng stream; set ``end`` when cut off.

    Raises CaptureFormatError only when the file header is not a capture's.
    """
    for ts, linktype, data, snapped in read_records(stream, end):
        yield Frame(ts, linktype, data, snapped)


Record = tuple[float, int, bytes, bool]  # time, link type, captured bytes, cut short by the snap length


class _Blocks:
    """Large reads of a capture stream that records are cut out of: two small reads per record cost more."""

    __slots__ = ("stream", "eof")

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.eof = False

    def refill(self, buffer: bytes, at: int, keep: int) -> tuple[bytes, int, bool]:
        """(buffer, offset, end of stream): the unread rest plus the next block once fewer than ``keep`` bytes are left."""
        if not self.eof and len(buffer) - at < keep:
            more = self.stream.read(_READ_BLOCK)
            self.eof = not more
            return buffer[at:] + more, 0, self.eof
        return buffer, at, self.eof

    @staticmethod
    def ended(end: CaptureEnd, left: int, need: int, reason: str) -> bool:
        """Fewer than ``need`` bytes are left: the stream is over, cleanly when nothing is left."""
        if left >= need:
            return False
        if left > 0:
            end.truncated, end.reason = True, reason
        return True


def read_records(stream: BinaryIO, end: CaptureEnd) -> Iterator[Record]:
    """``read_frames`` without a Frame object per record: plain tuples, for the hot path.

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
    record = struct.Struct(order + "IIII").unpack_from
    # Read in large blocks and cut records out of them: two small reads per record cost more.
    blocks = _Blocks(stream)
    buffer, at, eof = b"", 0, False
    while True:
        buffer, at, eof = blocks.refill(buffer, at, 16 + MAX_RECORD_BYTES)
        size = len(buffer)
        if blocks.ended(end, size - at, 16, "record header cut off"):
            return
        # Records are cut out until the block runs low, without going back to the outer loop.
        limit = size if eof else size - 16 - MAX_RECORD_BYTES
        while True:
            sec, frac, caplen, wirelen = record(buffer, at)
            if caplen > MAX_RECORD_BYTES:
                end.truncated, end.reason = True, f"corrupt record length {caplen}"
                return
            stop = at + 16 + caplen
            if stop > size:
                end.truncated, end.reason = True, f"record cut off ({size - at - 16} of {caplen} bytes)"
                return
            yield sec + frac * unit, linktype, buffer[at + 16:stop], caplen < wirelen
            at = stop
            if at > limit or size - at < 16:
                break


_SHB, _IDB, _OPB, _SPB, _EPB = 0x0A0D0D0A, 1, 2, 3, 6
_BYTE_ORDER_MAGIC = 0x1A2B3C4D
_OPT_TSRESOL, _OPT_TSOFFSET = 9, 14
MAX_BLOCK_BYTES = MAX_RECORD_BYTES + 4096  # a packet block: the packet plus headers and options


def _resolution(options: bytes, order: str) -> tuple[float, int]:
    """(seconds per timestamp unit, offset in seconds) from an Interface Description Block's options."""
    unit, offset, at = 1e-6, 0, 0
    while at + 4 <= len(options):
        code, length = struct.unpack_from(order + "HH", options, at)
        if code == 0:
            break
        value = options[at + 4:at + 4 + length]
        if code == _OPT_TSRESOL and length >= 1:
            exponent = value[0] & 0x7F
            unit = 2.0 ** -exponent if value[0] & 0x80 else 10.0 ** -exponent
        elif code == _OPT_TSOFFSET and length >= 8:
            offset = struct.unpack_from(order + "q", value)[0]
        at += 4 + ((length + 3) & ~3)
    return unit, offset


def _read_pcapng(stream: BinaryIO, end: CaptureEnd) -> Iterator[Record]:
    """Blocks of a pcapng stream (sections, interfaces with their link type and time resolution,
    enhanced/simple/obsolete packet blocks), cut out of large reads like classic pcap records."""
    blocks = _Blocks(stream)
    buffer, at = b"", 0
    order = ""
    interfaces: list[tuple[int, float, int, int]] = []  # link type, seconds per unit, offset, snap length
    while True:
        buffer, at, _eof = blocks.refill(buffer, at, MAX_BLOCK_BYTES)
        size = len(buffer)
        if blocks.ended(end, size - at, 12, "pcapng block header cut off"):
            return
        kind = struct.unpack_from("<I", buffer, at)[0]
        if kind == _SHB:
            magic = buffer[at + 8:at + 12]
            if magic == b"\x4d\x3c\x2b\x1a":
                order = "<"
            elif magic == b"\x1a\x2b\x3c\x4d":
                order = ">"
            else:
                if not order:
                    raise CaptureFormatError("bad pcapng header: unknown byte-order magic")
                end.truncated, end.reason = True, "pcapng section header with an unknown byte-order magic"
                return
            interfaces = []  # interface ids start again in each section
        elif not order:
            raise CaptureFormatError("bad pcapng header: the file does not start with a section header")
        kind, length = struct.unpack_from(order + "II", buffer, at)
        if length < 12 or length % 4 or length > MAX_BLOCK_BYTES and kind in (_EPB, _SPB, _OPB):
            end.truncated, end.reason = True, f"corrupt pcapng block length {length}"
            return
        stop = at + length
        if stop > size:
            if length > MAX_BLOCK_BYTES:  # a huge non-packet block (e.g. a name table): skip it unread
                skip = stop - size
                if len(stream.read(skip)) < skip:
                    end.truncated, end.reason = True, "pcapng block cut off"
                    return
                buffer, at = b"", 0
                continue
            end.truncated, end.reason = True, f"pcapng block cut off ({size - at} of {length} bytes)"
            return
        body = at + 8
        if kind == _EPB or kind == _OPB:
            if kind == _EPB:
                interface, high, low, caplen, wirelen = struct.unpack_from(order + "IIIII", buffer, body)
            else:
                interface, _drops, high, low, caplen, wirelen = struct.unpack_from(order + "HHIIII", buffer, body)
            if interface >= len(interfaces) or body + 20 + caplen > stop - 4:
                end.truncated, end.reason = True, f"corrupt pcapng packet block (interface {interface}, {caplen} bytes)"
                return
            linktype, unit, offset, _snaplen = interfaces[interface]
            yield ((high << 32) | low) * unit + offset, linktype, buffer[body + 20:body + 20 + caplen], caplen < wirelen
        elif kind == _SPB:
            if not interfaces:
                end.truncated, end.reason = True, "pcapng simple packet block before any interface"
                return
            linktype, _unit, _offset, snaplen = interfaces[0]
            wirelen = struct.unpack_from(order + "I", buffer, body)[0]
            caplen = min(wirelen, snaplen or wirelen, stop - 4 - (body + 4))
            yield 0.0, linktype, buffer[body + 4:body + 4 + caplen], caplen < wirelen  # SPBs carry no time
        elif kind == _IDB:
            linktype, snaplen = struct.unpack_from(order + "HxxI", buffer, body)
            unit, offset = _resolution(buffer[body + 8:stop - 4], order)
            interfaces.append((linktype, unit, offset, snaplen))
        at = stop


_ETH_VLAN = (0x8100, 0x88A8, 0x9100)
_ETH_IPV4, _ETH_IPV6 = 0x0800, 0x86DD
_AF_INET6_VALUES = (10, 24, 28, 30)  # AF_INET6 on Linux, BSDs, macOS (DLT_NULL/LOOP)
_IPV6_EXTENSIONS = (0, 43, 60)  # hop-by-hop, routing, destination options: (len+1)*8 bytes
_IPV6_FRAGMENT, _IPV6_AH = 44, 51
_u16 = struct.Struct("!H").unpack_from
_IPV4 = struct.Struct("!BxHHHxBxxII").unpack_from  # version/IHL, length, id, fragment, protocol, addresses
_TCP = struct.Struct("!HHIIBB").unpack_from  # ports, seq, ack, data offset, flags
_UDP = struct.Struct("!HHH").unpack_from
_ntoa = socket.inet_ntoa


_V4_NAMES: dict[int, str] = {}  # IPv4 address as an integer -> dotted quad
_V4_NAMES_MAX = 1 << 16
_pack_u32 = struct.Struct("!I").pack


def _v4_name(address: int) -> str:
    if len(_V4_NAMES) >= _V4_NAMES_MAX:  # a scan of a /8 must not grow it without bound
        _V4_NAMES.clear()
    name = _V4_NAMES[address] = _ntoa(_pack_u32(address))
    return name


def _ntop6(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6, raw)


class Reassembly(Protocol):
    """Where IP fragments go (``sensors.ipfrag.Defragmenter``): whole payload back once complete."""

    def add(self, ts: float, key: tuple[Any, ...], offset: int, more: bool, data: bytes) -> bytes | None: ...


def _ip_start(data: bytes, linktype: int) -> tuple[int, int]:
    """(offset of the IP header, IP version) in a frame; version 0 means not IP."""
    if linktype == LINKTYPE_ETHERNET:
        if len(data) < 14:
            raise PacketDecodeError("Ethernet header cut off")
        etype, off = (data[12] << 8) | data[13], 14
        while etype in _ETH_VLAN:
            if len(data) < off + 4:
                raise PacketDecodeError("VLAN tag cut off")
            etype, off = (data[off + 2] << 8) | data[off + 3], off + 4
        return off, 4 if etype == _ETH_IPV4 else 6 if etype == _ETH_IPV6 else 0
    if linktype in _RAW_ALIASES:
        version = data[0] >> 4 if data else 0
        return 0, version if version in (4, 6) else 0
    if linktype == LINKTYPE_LINUX_SLL:
        if len(data) < 16:
            raise PacketDecodeError("SLL header cut off")
        etype = (data[14] << 8) | data[15]
        return 16, 4 if etype == _ETH_IPV4 else 6 if etype == _ETH_IPV6 else 0
    if linktype == LINKTYPE_LINUX_SLL2:
        if len(data) < 20:
            raise PacketDecodeError("SLL2 header cut off")
        etype = (data[0] << 8) | data[1]
        return 20, 4 if etype == _ETH_IPV4 else 6 if etype == _ETH_IPV6 else 0
    if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        if len(data) < 4:
            raise PacketDecodeError("loopback header cut off")
        family = data[0] or data[3]
        return 4, 4 if family == 2 else 6 if family in _AF_INET6_VALUES else 0
    raise PacketDecodeError(f"unsupported link type {linktype}")


def decode_frame(frame: Frame, fragments: Reassembly | None = None) -> Packet | None:
    """Decode one frame to a Packet; None for frames that carry no IP (ARP, LLDP...) and for
    IP fragments held until their datagram is complete (when ``fragments`` is given).

    Without ``fragments`` a non-first fragment is a decode error and a first one is decoded as
    far as it goes. Raises PacketDecodeError, and nothing else, for frames that cannot be decoded.
    """
    return decode(frame.ts, frame.linktype, frame.data, fragments)


def decode(ts: float, linktype: int, data: bytes, fragments: Reassembly | None = None) -> Packet | None:
    """``decode_frame`` of a record given as its parts (no Frame object on the hot path)."""
    try:
        if linktype == LINKTYPE_ETHERNET and len(data) >= 34 and data[12] == 8 and data[13] == 0:
            off, version = 14, 4  # the common case, Ethernet + IPv4, without a function call
        else:
            off, version = _ip_start(data, linktype)
        if version == 4:
            if len(data) < off + 20:
                raise PacketDecodeError("IP header cut off or malformed")
            vihl, total, ident, frag, proto, src_int, dst_int = _IPV4(data, off)
            ihl = (vihl & 0x0F) * 4
            if vihl >> 4 != 4 or ihl < 20 or len(data) < off + ihl:
                raise PacketDecodeError("IP header cut off or malformed")
            if total == 0:  # TCP segmentation offload: the NIC fills the length in later
                total = len(data) - off
            elif total < ihl:
                raise PacketDecodeError("IP header cut off or malformed")
            # A few thousand addresses make up nearly every packet: their strings come from a cache.
            src = _V4_NAMES.get(src_int)
            if src is None:
                src = _v4_name(src_int)
            dst = _V4_NAMES.get(dst_int)
            if dst is None:
                dst = _v4_name(dst_int)
            start, end, ip_bytes = off + ihl, off + total, total
            if frag & 0x3FFF:  # more-fragments flag or a fragment offset
                offset, more = (frag & 0x1FFF) * 8, bool(frag & 0x2000)
                if fragments is None:
                    if offset:
                        raise PacketDecodeError("non-first IP fragment")
                else:
                    whole = fragments.add(ts, (4, src, dst, ident, proto), offset, more, data[start:end])
                    if whole is None:
                        return None
                    data, start, end, ip_bytes = whole, 0, len(whole), ihl + len(whole)
            if end > len(data):
                end = len(data)
        elif version == 6:
            if len(data) < off + 40:
                raise PacketDecodeError("IPv6 header cut off")
            plen = _u16(data, off + 4)[0]
            proto = data[off + 6]
            src, dst = _ntop6(data[off + 8:off + 24]), _ntop6(data[off + 24:off + 40])
            l6 = data[off + 40:off + 40 + plen] if plen else data[off + 40:]
            ip_bytes = 40 + (plen or len(l6))
            while proto in _IPV6_EXTENSIONS or proto in (_IPV6_FRAGMENT, _IPV6_AH):
                if len(l6) < 8:
                    raise PacketDecodeError("IPv6 extension header cut off")
                nxt = l6[0]
                if proto == _IPV6_FRAGMENT:
                    frag = _u16(l6, 2)[0]
                    offset, more = frag & 0xFFF8, bool(frag & 1)
                    ident = struct.unpack_from("!I", l6, 4)[0]
                    l6 = l6[8:]
                    if offset or more:
                        if fragments is None:
                            if offset:
                                raise PacketDecodeError("non-first IP fragment")
                        else:
                            whole = fragments.add(ts, (6, src, dst, ident, nxt), offset, more, l6)
                            if whole is None:
                                return None
                            l6, ip_bytes = whole, 40 + len(whole)
                else:
                    size = (l6[1] + 2) * 4 if proto == _IPV6_AH else (l6[1] + 1) * 8
                    l6 = l6[size:]
                proto = nxt
            data, start, end = l6, 0, len(l6)
        else:
            return None
        if proto == IPPROTO_TCP:
            if end - start < 20:
                raise PacketDecodeError("TCP header cut off or malformed")
            sport, dport, seq, ack, doff, flags = _TCP(data, start)
            doff = (doff >> 4) * 4
            if doff < 20 or start + doff > end:
                raise PacketDecodeError("TCP header cut off or malformed")
            return Packet(ts, src, dst, proto, sport, dport, ip_bytes, flags, data[start + doff:end], seq, ack)
        if proto == IPPROTO_UDP:
            if end - start < 8:
                raise PacketDecodeError("UDP header cut off or malformed")
            sport, dport, ulen = _UDP(data, start)
            stop = start + ulen if 8 <= ulen and start + ulen < end else end
            return Packet(ts, src, dst, proto, sport, dport, ip_bytes, 0, data[start + 8:stop])
        if proto in (IPPROTO_ICMP, IPPROTO_ICMPV6):
            if end - start < 2:
                raise PacketDecodeError("ICMP header cut off")
            return Packet(ts, src, dst, proto, data[start], data[start + 1], ip_bytes, 0, b"")
        return Packet(ts, src, dst, proto, 0, 0, ip_bytes, 0, b"")
    except PacketDecodeError:
        raise
    except (struct.error, ValueError, IndexError, OSError) as exc:
        raise PacketDecodeError(f"{type(exc).__name__}: {exc}") from None
