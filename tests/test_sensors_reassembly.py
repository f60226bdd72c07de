"""TCP segments out of order or retransmitted, and IP fragments, reach the analyzers as Zeek would see them."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import IP, UDP, fragment
from scapy.layers.l2 import Ether

from sensors.ipfrag import Defragmenter
from sensors.pcap import read_pcap
from sensors.tcp_reassembly import TcpStream
from tests.sensor_traffic import CLIENT, SERVER, T0, Conversation, write

REQUEST = b"GET /index.php?id=1 HTTP/1.1\r\nHost: www.school1.edu.cn\r\nUser-Agent: curl/8\r\n\r\n"


def http_events(events):
    return [e for e in events if e["event.dataset"] == "edusoc.http"]


def test_segments_out_of_order_are_put_back_in_order(tmp_path):
    talk = Conversation().handshake()
    base = talk.cseq
    parts = [REQUEST[:10], REQUEST[10:40], REQUEST[40:]]
    talk.segment(True, parts[2], seq=base + 40).segment(True, parts[0], seq=base).segment(True, parts[1], seq=base + 10)
    talk.cseq = base + len(REQUEST)
    talk.send(False, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").close()
    events, stats = read_pcap(write(tmp_path, talk.packets))
    (http,) = http_events(events)
    assert http["url.original"] == "/index.php?id=1" and http["url.domain"] == "www.school1.edu.cn"
    assert stats.tcp_missed_bytes == 0


def test_retransmission_keeps_the_first_copy_and_counts_a_differing_one(tmp_path):
    talk = Conversation().handshake()
    base = talk.cseq
    talk.segment(True, REQUEST[:20], seq=base)
    talk.segment(True, b"GET /evil.php?x=1 HT", seq=base)  # same bytes range, different content
    talk.segment(True, REQUEST[:20], seq=base)  # plain retransmission
    talk.segment(True, REQUEST[20:], seq=base + 20)
    talk.cseq = base + len(REQUEST)
    talk.close()
    events, stats = read_pcap(write(tmp_path, talk.packets))
    (http,) = http_events(events)
    assert http["url.original"] == "/index.php?id=1"  # first bytes win, as in Zeek
    assert stats.tcp_retransmissions >= 2


def test_a_hole_that_never_fills_is_counted_as_missed_bytes(tmp_path):
    talk = Conversation().handshake()
    base = talk.cseq
    talk.segment(True, REQUEST, seq=base)
    talk.segment(False, b"HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\n0123456789")
    talk.segment(False, b"abcdefghij", seq=talk.sseq + 10)  # 10 bytes lost in the middle of the body
    talk.sseq += 20
    talk.close()
    events, stats = read_pcap(write(tmp_path, talk.packets))
    (http,) = http_events(events)
    assert stats.tcp_missed_bytes == 10
    assert http["http.response.status_code"] == 200


def test_sequence_numbers_wrapping_past_2_32_are_followed(tmp_path):
    talk = Conversation(isn=(0xFFFFFFF0, 5000)).handshake().send(True, REQUEST, size=8)
    talk.send(False, b"HTTP/1.1 204 No Content\r\n\r\n").close()
    events, _ = read_pcap(write(tmp_path, talk.packets))
    (http,) = http_events(events)
    assert http["url.original"] == "/index.php?id=1" and http["http.response.status_code"] == 204


@settings(max_examples=80, deadline=None)
@given(data=st.binary(min_size=1, max_size=300), cuts=st.lists(st.integers(0, 300), max_size=8),
       order=st.randoms(use_true_random=False), repeats=st.integers(0, 3))
def test_any_order_of_segments_delivers_the_same_bytes(data, cuts, order, repeats):
    edges = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    segments = [(edges[i], data[edges[i]:edges[i + 1]]) for i in range(len(edges) - 1)]
    segments += [order.choice(segments) for _ in range(repeats)]
    order.shuffle(segments)
    out = bytearray()
    stream = TcpStream(out.extend, lambda size: None)
    stream.syn(999)
    for offset, chunk in segments:
        stream.segment((1000 + offset) % 2**32, chunk)
    stream.flush()
    assert bytes(out) == data and stream.missed == 0


def dns_query_fragments(size=1600):
    query = bytes(DNS(id=4242, rd=1, qd=DNSQR(qname="frag.school1.edu.cn", qtype="TXT")))
    datagram = IP(src=CLIENT, dst=SERVER, id=777) / UDP(sport=40053, dport=53) / (query + b"P" * size)
    pieces = fragment(datagram, fragsize=512)
    frames = []
    for i, piece in enumerate(pieces):
        packet = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / piece
        packet.time = T0 + i * 0.001
        frames.append(packet)
    return frames


def test_ip_fragments_in_any_order_are_reassembled_into_one_datagram(tmp_path):
    frames = dns_query_fragments()
    assert len(frames) >= 4
    shuffled = frames[2:] + frames[:2]
    events, stats = read_pcap(write(tmp_path, shuffled))
    flows = [e for e in events if e["event.dataset"] == "edusoc.flow"]
    assert len(flows) == 1 and flows[0]["destination.port"] == 53 and flows[0]["source.packets"] == 1
    assert stats.fragments == len(frames) and stats.fragments_reassembled == 1
    assert stats.non_ip == 0 and stats.decode_errors == 0
    assert [e["dns.question.name"] for e in events if e["event.dataset"] == "edusoc.dns"] == ["frag.school1.edu.cn"]


def test_a_fragment_that_never_completes_is_dropped_not_decoded(tmp_path):
    frames = dns_query_fragments()[1:]  # the first fragment, with the UDP header, is lost
    events, stats = read_pcap(write(tmp_path, frames))
    assert not events and stats.fragments == len(frames) and stats.fragments_reassembled == 0


def test_overlapping_fragments_keep_the_first_bytes_and_count_the_conflict():
    defrag = Defragmenter()
    key = (4, CLIENT, SERVER, 1, 17)
    assert defrag.add(0.0, key, 0, True, b"AAAAAAAA") is None
    assert defrag.add(0.0, key, 8, True, b"BBBBBBBB") is None
    whole = defrag.add(0.0, key, 8, False, b"CCCCCCCCDDDD")
    assert whole == b"AAAAAAAABBBBBBBBDDDD" and defrag.overlaps_inconsistent == 1


def test_fragment_table_is_bounded_and_expires():
    defrag = Defragmenter(max_datagrams=2, timeout=5.0)
    for ident in range(5):
        defrag.add(0.0, (4, CLIENT, SERVER, ident, 17), 0, True, b"x" * 8)
    assert len(defrag) == 2 and defrag.dropped == 3
    defrag.add(10.0, (4, CLIENT, SERVER, 99, 17), 0, True, b"x" * 8)
    assert len(defrag) == 1
