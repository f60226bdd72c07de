"""sensors.pcap: captures crafted with scapy in the test become Zeek-style flow and DNS events."""
from __future__ import annotations

import base64
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether
from scapy.utils import wrpcap

from sensors.community_id import community_id_v1
from sensors.packets import Frame, PacketDecodeError, decode_frame
from sensors.pcap import PcapReader, read_pcap
from sensors.samples import SAMPLE_PCAP
from soc_core.events import validate_event

T0 = 1_793_581_200.0  # 2026-11-02T01:00:00Z
CLIENT, SERVER = "10.20.1.50", "10.20.1.80"


def frame(t, src, dst, l4):
    packet = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src=src, dst=dst) / l4
    packet.time = T0 + t
    return packet


def handshake_and_teardown(sport=40000, request=b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", response=b"HTTP/1.1 200 OK\r\n\r\nhi"):
    c, s = 1000, 5000
    c2, s2 = c + 1 + len(request), s + 1 + len(response)
    return [
        frame(0.0, CLIENT, SERVER, TCP(sport=sport, dport=80, flags="S", seq=c)),
        frame(0.1, SERVER, CLIENT, TCP(sport=80, dport=sport, flags="SA", seq=s, ack=c + 1)),
        frame(0.2, CLIENT, SERVER, TCP(sport=sport, dport=80, flags="A", seq=c + 1, ack=s + 1)),
        frame(0.3, CLIENT, SERVER, TCP(sport=sport, dport=80, flags="PA", seq=c + 1, ack=s + 1) / request),
        frame(0.4, SERVER, CLIENT, TCP(sport=80, dport=sport, flags="PA", seq=s + 1, ack=c2) / response),
        frame(0.5, CLIENT, SERVER, TCP(sport=sport, dport=80, flags="FA", seq=c2, ack=s2)),
        frame(0.6, SERVER, CLIENT, TCP(sport=80, dport=sport, flags="FA", seq=s2, ack=c2 + 1)),
        frame(0.7, CLIENT, SERVER, TCP(sport=sport, dport=80, flags="A", seq=c2 + 1, ack=s2 + 1)),
    ]


def write(tmp_path: Path, packets, name="t.pcap") -> Path:
    path = tmp_path / name
    wrpcap(str(path), packets)
    return path


def flows(events):
    return [e for e in events if e["event.dataset"] == "edusoc.flow"]


def dns_events(events):
    return [e for e in events if e["event.dataset"] == "edusoc.dns"]


def test_handshake_request_and_fin_teardown_is_one_sf_flow_with_counts(tmp_path):
    packets = handshake_and_teardown()
    events, stats = read_pcap(write(tmp_path, packets))
    [flow] = flows(events)
    orig_bytes = sum(len(p[IP]) for p in packets if p[IP].src == CLIENT)
    resp_bytes = sum(len(p[IP]) for p in packets if p[IP].src == SERVER)
    assert flow["network.connection.state"] == "SF"
    assert (flow["source.ip"], flow["source.port"], flow["destination.ip"], flow["destination.port"]) == (CLIENT, 40000, SERVER, 80)
    assert (flow["source.packets"], flow["destination.packets"], flow["network.packets"]) == (5, 3, 8)
    assert (flow["source.bytes"], flow["destination.bytes"]) == (orig_bytes, resp_bytes)
    assert flow["network.bytes"] == orig_bytes + resp_bytes
    assert flow["network.protocol"] == "http"
    assert flow["event.duration"] == 700_000_000
    assert flow["@timestamp"] == flow["event.start"] == "2026-11-02T01:00:00.000000Z"
    assert flow["event.end"] == "2026-11-02T01:00:00.700000Z"
    assert flow["network.community_id"] == community_id_v1(CLIENT, SERVER, 6, 40000, 80)
    assert stats.packets == 8 and stats.flows == 1 and stats.decode_errors == 0


def test_syn_answered_by_rst_is_rej(tmp_path):
    events, _ = read_pcap(write(tmp_path, [
        frame(0, CLIENT, SERVER, TCP(sport=40001, dport=23, flags="S", seq=1)),
        frame(0.01, SERVER, CLIENT, TCP(sport=23, dport=40001, flags="RA", ack=2)),
    ]))
    [flow] = flows(events)
    assert flow["network.connection.state"] == "REJ"
    assert "network.protocol" not in flow


def test_unanswered_syn_is_s0(tmp_path):
    events, _ = read_pcap(write(tmp_path, [frame(0, CLIENT, SERVER, TCP(sport=40002, dport=445, flags="S"))]))
    assert [f["network.connection.state"] for f in flows(events)] == ["S0"]


@pytest.mark.parametrize(
    ("exchange", "state"),
    [
        (["S", "<SA", "R"], "RSTO"),
        (["S", "<SA", "A", "<R"], "RSTR"),
        (["S", "<SA", "A"], "S1"),
        (["S", "F"], "SH"),
        (["A", "<A"], "OTH"),
    ],
)
def test_zeek_connection_states(tmp_path, exchange, state):
    packets = []
    for i, step in enumerate(exchange):
        if step.startswith("<"):
            packets.append(frame(i * 0.01, SERVER, CLIENT, TCP(sport=22, dport=40003, flags=step[1:])))
        else:
            packets.append(frame(i * 0.01, CLIENT, SERVER, TCP(sport=40003, dport=22, flags=step)))
    events, _ = read_pcap(write(tmp_path, packets))
    assert [f["network.connection.state"] for f in flows(events)] == [state]


def test_flow_first_seen_at_syn_ack_belongs_to_the_syn_sender(tmp_path):
    events, _ = read_pcap(write(tmp_path, [
        frame(0, SERVER, CLIENT, TCP(sport=80, dport=40004, flags="SA")),
        frame(0.01, CLIENT, SERVER, TCP(sport=40004, dport=80, flags="A")),
    ]))
    [flow] = flows(events)
    assert (flow["source.ip"], flow["destination.port"]) == (CLIENT, 80)


def dns_pair(t, txid, name, qtype, answers, rcode=0, sport=5353):
    query = DNS(id=txid, rd=1, qd=DNSQR(qname=name, qtype=qtype))
    response = DNS(id=txid, qr=1, ra=1, rcode=rcode, qd=DNSQR(qname=name, qtype=qtype), an=answers)
    return [
        frame(t, CLIENT, "10.20.0.53", UDP(sport=sport, dport=53) / query),
        frame(t + 0.01, "10.20.0.53", CLIENT, UDP(sport=53, dport=sport) / response),
    ]


def test_dns_query_and_response_pair_into_one_event_with_answers(tmp_path):
    answers = [
        DNSRR(rrname="www.moe.gov.cn", type="CNAME", ttl=300, rdata="moe.cdn.example"),
        DNSRR(rrname="moe.cdn.example", type="A", ttl=60, rdata="192.0.2.10"),
    ]
    events, stats = read_pcap(write(tmp_path, dns_pair(0, 4242, "WWW.Moe.Gov.Cn.", "A", answers)))
    [event] = dns_events(events)
    assert event["dns.id"] == 4242
    assert event["dns.type"] == "answer"
    assert event["dns.question.name"] == "www.moe.gov.cn"
    assert event["dns.question.type"] == "A"
    assert event["dns.response_code"] == "NOERROR"
    assert event["dns.answers"] == [
        {"name": "www.moe.gov.cn", "type": "CNAME", "data": "moe.cdn.example", "ttl": 300},
        {"name": "moe.cdn.example", "type": "A", "data": "192.0.2.10", "ttl": 60},
    ]
    assert event["dns.resolved_ip"] == ["192.0.2.10"]
    assert (event["source.ip"], event["destination.port"], event["network.protocol"]) == (CLIENT, 53, "dns")
    assert event["@timestamp"] == "2026-11-02T01:00:00.000000Z"
    assert stats.dns_transactions == 1


def test_dns_txt_answer_and_nxdomain(tmp_path):
    packets = dns_pair(0, 1, "abc.t.exfil-tunnel.example", "TXT",
                       DNSRR(rrname="abc.t.exfil-tunnel.example", type="TXT", ttl=0, rdata="payload"))
    packets += dns_pair(1, 2, "nothing.example", "A", [], rcode=3, sport=5354)
    events, _ = read_pcap(write(tmp_path, packets))
    by_name = {e["dns.question.name"]: e for e in dns_events(events)}
    assert by_name["abc.t.exfil-tunnel.example"]["dns.answers"] == [
        {"name": "abc.t.exfil-tunnel.example", "type": "TXT", "data": "payload", "ttl": 0}
    ]
    assert by_name["nothing.example"]["dns.response_code"] == "NXDOMAIN"
    assert "dns.resolved_ip" not in by_name["nothing.example"]


def test_dns_response_with_other_transaction_id_does_not_pair(tmp_path):
    query = DNS(id=7, rd=1, qd=DNSQR(qname="a.example"))
    stranger = DNS(id=8, qr=1, qd=DNSQR(qname="a.example"), an=DNSRR(rrname="a.example", rdata="192.0.2.1"))
    events, stats = read_pcap(write(tmp_path, [
        frame(0, CLIENT, "10.20.0.53", UDP(sport=5000, dport=53) / query),
        frame(0.01, "10.20.0.53", CLIENT, UDP(sport=53, dport=5000) / stranger),
    ]))
    assert sorted((e["dns.id"], e["dns.type"]) for e in dns_events(events)) == [(7, "query"), (8, "answer")]
    assert stats.dns_unanswered == 1 and stats.dns_orphan_responses == 1


def test_lone_response_is_named_by_its_first_answer_like_zeek(tmp_path):
    # Zeek's dns.log takes a lone response's query from the first answer record, never from the
    # response's question section, and leaves the type unset.
    answered = DNS(id=21, qr=1, qd=DNSQR(qname="a.example", qtype="A"),
                   an=DNSRR(rrname="cdn.a.example", rdata="192.0.2.7"))
    denial = DNS(id=22, qr=1, aa=1, qd=DNSQR(qname="aei.example", qtype="DS"),
                 ns=DNSRR(rrname="example", type="SOA", ttl=60, rdata=b"\x00" * 22))
    events, stats = read_pcap(write(tmp_path, [
        frame(0, "10.20.0.53", CLIENT, UDP(sport=53, dport=5000) / answered),
        frame(0.1, "10.20.0.53", CLIENT, UDP(sport=53, dport=5001) / denial),
    ]))
    by_id = {e["dns.id"]: e for e in dns_events(events)}
    assert by_id[21]["dns.question.name"] == "cdn.a.example" and "dns.question.type" not in by_id[21]
    assert by_id[21]["source.ip"] == CLIENT and by_id[21]["dns.resolved_ip"] == ["192.0.2.7"]
    assert "dns.question.name" not in by_id[22] and by_id[22]["dns.response_code"] == "NOERROR"
    assert by_id[22]["dns.type"] == "answer" and by_id[22]["dns.answers"] == []
    assert stats.dns_orphan_responses == 2
    for event in by_id.values():
        validate_event(event)


def test_messages_without_questions_are_records_too(tmp_path):
    events, stats = read_pcap(write(tmp_path, [
        frame(0, CLIENT, "10.20.0.53", UDP(sport=5002, dport=53) / DNS(id=31, qd=[])),
        frame(0.01, "10.20.0.53", CLIENT, UDP(sport=53, dport=5002) / DNS(id=31, qr=1, rcode=1, qd=[])),
        frame(0.02, CLIENT, "10.20.0.53", UDP(sport=5003, dport=53) / DNS(id=32, qd=[])),
    ]))
    by_id = {e["dns.id"]: e for e in dns_events(events)}
    assert by_id[31]["dns.type"] == "answer" and by_id[31]["dns.response_code"] == "FORMERR"
    assert by_id[32]["dns.type"] == "query"
    assert all("dns.question.name" not in e for e in by_id.values())
    assert stats.decode_errors == 0


def test_community_id_matches_the_spec_test_vectors():
    assert community_id_v1("128.232.110.120", "66.35.250.204", 6, 34855, 80) == "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
    assert community_id_v1("66.35.250.204", "128.232.110.120", 6, 80, 34855) == "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
    assert community_id_v1("192.168.1.52", "8.8.8.8", 17, 54585, 53) == "1:d/FP5EW3wiY1vCndhwleRRKHowQ="
    assert community_id_v1("192.168.0.89", "192.168.0.1", 1, 8, 0) == "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="
    assert community_id_v1(
        "2001:470:e5bf:dead:4957:2174:e82c:4887", "2607:f8b0:400c:c03::1a", 6, 63943, 25
    ) == "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="


def test_truncated_capture_yields_the_packets_before_the_cut_and_reports_it(tmp_path):
    path = write(tmp_path, handshake_and_teardown())
    data = path.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: len(data) - 20])  # the last record loses its tail
    events, stats = read_pcap(cut)
    assert stats.truncated and "cut off" in stats.truncation_reason
    assert stats.packets == 7
    [flow] = flows(events)
    assert flow["network.packets"] == 7


def test_file_that_is_not_a_capture_is_reported_not_raised(tmp_path):
    path = tmp_path / "notes.pcap"
    path.write_bytes(b"this is not a capture at all")
    events, stats = read_pcap(path)
    assert events == [] and "not a pcap" in stats.not_a_capture


def test_garbage_and_non_ip_frames_are_counted_and_skipped(tmp_path):
    packets = [Ether(src="02:00:00:00:00:01", dst="ff:ff:ff:ff:ff:ff") / ARP(pdst="10.20.0.1")]
    packets[0].time = T0
    broken = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02", type=0x0800) / b"\x45\x00garbage"
    broken.time = T0 + 1
    packets.append(broken)
    packets += handshake_and_teardown()
    events, stats = read_pcap(write(tmp_path, packets))
    assert stats.non_ip == 1 and stats.decode_errors == 1
    assert len(flows(events)) == 1


def test_rereading_gives_identical_event_ids(tmp_path):
    path = write(tmp_path, handshake_and_teardown() + dns_pair(2, 9, "www.edu.cn", "A", []))
    first = [e["event.id"] for e in read_pcap(path)[0]]
    second = [e["event.id"] for e in read_pcap(path)[0]]
    assert first == second and len(set(first)) == len(first) == 4  # flow, http, flow, dns


def test_full_flow_table_evicts_the_least_recently_seen_flow(tmp_path):
    packets = [frame(i * 0.1, CLIENT, SERVER, TCP(sport=41000 + i, dport=80, flags="S")) for i in range(5)]
    reader = PcapReader(write(tmp_path, packets), max_flows=2)
    events = list(reader)
    assert len(flows(events)) == 5
    assert reader.stats.flows_evicted == 3
    assert [f["source.port"] for f in flows(events)][:3] == [41000, 41001, 41002]


def test_idle_flows_expire_and_a_new_syn_after_close_starts_a_new_flow(tmp_path):
    packets = handshake_and_teardown(sport=42000)
    packets += [frame(1.0 + 1, CLIENT, SERVER, TCP(sport=42000, dport=80, flags="S", seq=9))]  # port reuse
    packets += [frame(1000.0, CLIENT, SERVER, TCP(sport=42001, dport=80, flags="S"))]
    reader = PcapReader(write(tmp_path, packets), idle_timeout=60)
    states = [f["network.connection.state"] for f in flows(list(reader))]
    assert states == ["SF", "S0", "S0"]
    assert reader.stats.flows_expired == 1


def test_sample_pcap_events_are_valid_and_tell_the_campus_story():
    events, stats = read_pcap(SAMPLE_PCAP)
    for event in events:
        validate_event(event)
    scan = [f for f in flows(events) if f["source.ip"] == "10.20.3.66"]
    assert len({f["destination.port"] for f in scan}) == 300
    assert sorted(f["destination.port"] for f in scan if f["network.connection.state"] == "RSTO") == [22, 80, 443]
    assert sum(f["network.connection.state"] == "REJ" for f in scan) == 297
    tunnel = [e for e in dns_events(events) if e["dns.question.name"].endswith(".t.exfil-tunnel.example")]
    assert len(tunnel) == 60 and all(e["dns.question.type"] == "TXT" and e["dns.type"] == "answer" for e in tunnel)
    web = [f for f in flows(events) if f.get("network.protocol") == "http"]
    assert len(web) == 5 and {f["network.connection.state"] for f in web} == {"SF"}  # 3 pages, SQLi post, upload
    posts = {e["url.original"]: e for e in events if e.get("event.dataset") == "edusoc.http"
             and e.get("http.request.method") == "POST"}
    assert {url: e["source.ip"] for url, e in posts.items()} == {"/login.php": "10.20.3.66",
                                                                 "/upload.php": "198.51.100.23"}
    assert b"admin%27+or" in base64.b64decode(posts["/login.php"]["http.request.body.content"])
    assert stats.decode_errors == 0 and not stats.truncated


def test_every_event_passes_the_schema(tmp_path):
    packets = handshake_and_teardown() + dns_pair(2, 9, "www.edu.cn", "A", DNSRR(rrname="www.edu.cn", rdata="192.0.2.20"))
    packets.append(frame(3, CLIENT, SERVER, UDP(sport=1234, dport=9999) / b"x"))
    packets.append(frame(4, CLIENT, SERVER, IP(proto=1) / b"\x08\x00\x00\x00"))
    events, _ = read_pcap(write(tmp_path, packets))
    assert len(events) == 6  # tcp flow + its http request, udp/53 flow + dns, udp flow, icmp flow
    for event in events:
        assert validate_event(event)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=200), linktype=st.sampled_from([0, 1, 101, 113, 276, 228, 999]))
def test_random_frames_decode_or_fail_with_a_decode_error(data, linktype):
    try:
        decode_frame(Frame(T0, linktype, data))
    except PacketDecodeError:
        pass


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payloads=st.lists(st.binary(max_size=120), max_size=8), udp53=st.booleans())
def test_random_payloads_in_a_capture_never_raise(tmp_path, payloads, udp53):
    packets = []
    for i, payload in enumerate(payloads):
        if udp53:  # random bytes as DNS messages
            packet = frame(i, CLIENT, SERVER, UDP(sport=5000, dport=53) / payload)
        else:  # random bytes as whole IPv4 frames
            packet = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02", type=0x0800) / payload
            packet.time = T0 + i
        packets.append(packet)
    path = tmp_path / "fuzz.pcap"
    if packets:
        wrpcap(str(path), packets)
    else:
        path.write_bytes(b"")
    events, _ = read_pcap(path)
    for event in events:
        validate_event(event)
    raw = path.read_bytes()
    if raw:
        (tmp_path / "fuzz_cut.pcap").write_bytes(raw[: len(raw) // 2] + b"\xff" * 7)
        read_pcap(tmp_path / "fuzz_cut.pcap")


def test_binary_dns_labels_of_a_tunnel_are_escaped_not_dropped(tmp_path):
    query = DNS(id=3, rd=1, qd=DNSQR(qname=b"zi\xbc\xbd.pirate.sea", qtype="NULL"))
    events, stats = read_pcap(write(tmp_path, [frame(0, CLIENT, "10.20.0.53", UDP(sport=5000, dport=53) / query)]))
    [event] = dns_events(events)
    assert event["dns.question.name"] == "zi\\xbc\\xbd.pirate.sea"
    assert event["dns.question.type"] == "NULL" and event["dns.type"] == "query"
    assert stats.decode_errors == 0
