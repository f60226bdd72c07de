"""pcapng through the hand-written block reader: the same events as the classic pcap of the same packets,
per-interface link types and time resolutions, both byte orders, cut-off and corrupt files."""
from __future__ import annotations

import struct
import subprocess
from pathlib import Path

from scapy.layers.inet import IP, TCP, UDP
from scapy.utils import wrpcap

from sensors.pcap import read_pcap
from tests.conftest import corpus
from tests.sensor_traffic import CLIENT, SERVER, T0, Conversation, write


def conversation_packets():
    talk = Conversation().handshake()
    talk.send(True, b"GET /index.html HTTP/1.1\r\nHost: www.school1.edu.cn\r\n\r\n")
    talk.send(False, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
    return talk.close().packets


def converted(tmp_path: Path, source: Path, name: str, *extra: str) -> Path:
    """A pcapng written by Wireshark's own editcap/mergecap from classic pcaps."""
    target = tmp_path / name
    subprocess.run([*extra, str(target), str(source)] if extra else
                   ["editcap", "-F", "pcapng", str(source), str(target)], check=True, capture_output=True)
    return target


def block(kind: int, body: bytes, order: str = "<") -> bytes:
    body += b"\0" * (-len(body) % 4)
    length = 12 + len(body)
    return struct.pack(order + "II", kind, length) + body + struct.pack(order + "I", length)


def handmade_pcapng(frames: list[tuple[float, bytes]], order: str = "<", tsresol: int = 9, linktype: int = 1) -> bytes:
    """Section header, one interface with if_tsresol = 10^-tsresol, enhanced packet blocks."""
    shb = block(0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1), order)
    options = struct.pack(order + "HH", 9, 1) + bytes([tsresol]) + b"\0\0\0" + struct.pack(order + "HH", 0, 0)
    idb = block(1, struct.pack(order + "HHI", linktype, 0, 262144) + options, order)
    packets = b""
    for when, data in frames:
        units = round(when * 10**tsresol)
        packets += block(6, struct.pack(order + "IIIII", 0, units >> 32, units & 0xFFFFFFFF, len(data), len(data)) + data,
                         order)
    return shb + idb + packets


def test_a_pcapng_from_editcap_gives_the_same_events_as_its_pcap(tmp_path):
    source = write(tmp_path, conversation_packets())
    pcapng = converted(tmp_path, source, "t.pcapng")
    assert pcapng.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    classic, classic_stats = read_pcap(source)
    events, stats = read_pcap(pcapng)
    assert events == classic and stats.packets == classic_stats.packets == 8 and not stats.truncated


def test_interfaces_with_different_link_types_in_one_pcapng(tmp_path):
    ethernet = write(tmp_path, conversation_packets(), name="eth.pcap")
    raw_ip = tmp_path / "raw.pcap"
    dns = IP(src=CLIENT, dst=SERVER) / UDP(sport=5353, dport=5353) / bytes(12)
    dns.time = T0 + 5
    wrpcap(str(raw_ip), [dns], linktype=101)
    merged = tmp_path / "merged.pcapng"
    subprocess.run(["mergecap", "-F", "pcapng", "-w", str(merged), str(ethernet), str(raw_ip)], check=True)
    events, stats = read_pcap(merged)
    transports = sorted(e["network.transport"] for e in events if e["event.dataset"] == "edusoc.flow")
    assert transports == ["tcp", "udp"] and stats.decode_errors == 0 and stats.non_ip == 0


def test_nanosecond_resolution_and_both_byte_orders(tmp_path):
    frame = bytes(conversation_packets()[0])
    when = 1_793_581_200.123456789
    for order in ("<", ">"):
        path = tmp_path / f"ns{order == '>'}.pcapng"
        path.write_bytes(handmade_pcapng([(when, frame)], order=order))
        events, stats = read_pcap(path)
        (flow,) = events
        assert flow["event.start"] == "2026-11-02T01:00:00.123457Z" and stats.packets == 1


def test_a_cut_off_pcapng_keeps_the_packets_before_the_cut(tmp_path):
    data = handmade_pcapng([(T0 + i, bytes(frame)) for i, frame in enumerate(conversation_packets())])
    path = tmp_path / "cut.pcapng"
    path.write_bytes(data[:-30])
    events, stats = read_pcap(path)
    assert stats.truncated and "cut off" in stats.truncation_reason and stats.packets == 7
    assert sorted(e["event.dataset"] for e in events) == ["edusoc.flow", "edusoc.http"]


def test_a_corrupt_block_length_ends_reading_with_a_reason(tmp_path):
    data = bytearray(handmade_pcapng([(T0, bytes(conversation_packets()[0]))] * 3))
    starts, at = [], 0
    while at < len(data):  # walk the blocks: section header, interface, three packets
        starts.append(at)
        at += struct.unpack_from("<I", data, at + 4)[0]
    second_packet = starts[3]
    data[second_packet + 4:second_packet + 8] = struct.pack("<I", 7)  # not a multiple of 4
    path = tmp_path / "corrupt.pcapng"
    path.write_bytes(bytes(data))
    _, stats = read_pcap(path)
    assert stats.truncated and "corrupt pcapng block length 7" in stats.truncation_reason and stats.packets == 1


def test_the_corpus_pcapng_trace_reads_whole():
    events, stats = read_pcap(corpus("zeek_btest", "traces", "http", "cooper-grill-dvwa.pcapng"))
    assert stats.packets == 64 and not stats.truncated and stats.decode_errors == 0
    assert sum(e["event.dataset"] == "edusoc.http" for e in events) >= 1
