"""Application records from crafted captures: HTTP/1.x (bodies decoded from gzip/deflate/br), TLS (SNI, JA3,
JA4, JA3S, JA4S, server certificate), SSH banners, ICMP, DNS over TCP."""
from __future__ import annotations

import base64
import gzip
import hashlib
import subprocess
import zlib

import brotli
import pytest
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import ICMP, IP

from sensors.pcap import read_pcap
from sensors.tls import parse_client_hello
from soc_core.events import validate_event
from tests.sensor_traffic import (
    CLIENT,
    SERVER,
    Conversation,
    certificate_message,
    client_hello,
    frame,
    self_signed_certificate,
    server_hello,
    write,
)

UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) edusoc-test"


def by_dataset(events, dataset):
    return [e for e in events if e["event.dataset"] == dataset]


def test_http_request_and_chunked_response_become_one_event_with_lengths_and_carved_bodies(tmp_path):
    upload = b"<?php @eval($_POST['x']); ?>" * 10
    request = (b"POST /upload.php?dir=img HTTP/1.1\r\nHost: www.school1.edu.cn\r\nUser-Agent: " + UA.encode()
               + b"\r\nReferer: http://www.school1.edu.cn/\r\nContent-Length: " + str(len(upload)).encode()
               + b"\r\n\r\n" + upload)
    response = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    talk = Conversation().handshake().send(True, request, size=100).send(False, response).close()
    events, _ = read_pcap(write(tmp_path, talk.packets), carve_bytes=64)
    (http,) = by_dataset(events, "edusoc.http")
    assert http["http.request.method"] == "POST"
    assert http["url.domain"] == "www.school1.edu.cn"
    assert http["url.original"] == "/upload.php?dir=img"
    assert http["url.path"] == "/upload.php" and http["url.query"] == "dir=img"
    assert http["user_agent.original"] == UA
    assert http["http.request.referrer"] == "http://www.school1.edu.cn/"
    assert http["http.response.status_code"] == 200 and http["http.version"] == "1.1"
    assert http["http.request.body.bytes"] == len(upload)
    assert http["http.response.body.bytes"] == len(b"hello world")  # chunk framing not counted
    assert base64.b64decode(http["http.request.body.content"]) == upload[:64]
    assert base64.b64decode(http["http.response.body.content"]) == b"hello world"
    assert http["network.community_id"] == by_dataset(events, "edusoc.flow")[0]["network.community_id"]
    assert validate_event(http)


def test_keep_alive_requests_pair_with_their_responses_in_order(tmp_path):
    talk = Conversation().handshake()
    talk.send(True, b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nHEAD /b HTTP/1.1\r\nHost: h\r\n\r\n")  # pipelined
    talk.send(False, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")
    talk.send(False, b"HTTP/1.1 404 Not Found\r\nContent-Length: 999\r\n\r\n")  # HEAD: no body follows
    talk.send(True, b"GET /c HTTP/1.1\r\nHost: h\r\n\r\n")
    talk.send(False, b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\n").close()
    events, _ = read_pcap(write(tmp_path, talk.packets))
    pairs = [(e["url.original"], e["http.response.status_code"], e["http.response.body.bytes"])
             for e in by_dataset(events, "edusoc.http")]
    assert pairs == [("/a", 200, 3), ("/b", 404, 0), ("/c", 304, 0)]
    assert len({e["event.id"] for e in by_dataset(events, "edusoc.http")}) == 3


def test_unanswered_request_is_reported_when_the_connection_ends(tmp_path):
    talk = Conversation(dport=8080).handshake().send(True, b"GET /x HTTP/1.0\r\n\r\n").close()
    events, _ = read_pcap(write(tmp_path, talk.packets))
    (http,) = by_dataset(events, "edusoc.http")
    assert http["url.original"] == "/x" and "http.response.status_code" not in http


def test_response_without_length_runs_until_the_connection_closes(tmp_path):
    talk = Conversation().handshake().send(True, b"GET / HTTP/1.0\r\n\r\n")
    talk.send(False, b"HTTP/1.0 200 OK\r\n\r\n" + b"x" * 5000).close()
    events, _ = read_pcap(write(tmp_path, talk.packets), carve_bytes=1024)
    (http,) = by_dataset(events, "edusoc.http")
    assert http["http.response.body.bytes"] == 5000
    assert len(base64.b64decode(http["http.response.body.content"])) == 1024


# A real Chrome 143 ClientHello as fingerprinted by a public JA3/JA4 service (ja4_ro gives the original
# order); the expected JA3 and JA4 values are that service's, not computed here.
CHROME_CIPHERS = [0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC013, 0xC014, 0x009C,
                  0x009D, 0x002F, 0x0035]
CHROME_EXTENSIONS = [0x002D, 0x0033, 0x0010, 0xFE0D, 0x0017, 0x44CD, 0x0000, 0x000B, 0x000A, 0x002B, 0xFF01, 0x0023,
                     0x0012, 0x0005, 0x000D, 0x001B]
CHROME_SIG_ALGS = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]
CHROME_JA4 = "t13d1516h2_8daaf6152771_d8a2da3f94cd"
CHROME_JA3 = "98487aa16281980e7d1120d399efb6a4"


def chrome_hello(grease=True):
    ciphers = ([0x7A7A] if grease else []) + CHROME_CIPHERS
    extensions = ([0xFAFA] if grease else []) + CHROME_EXTENSIONS + ([0x2A2A] if grease else [])
    return client_hello(ciphers, extensions, server_name="tls.browserleaks.com",
                        groups=([0x1A1A] if grease else []) + [4588, 29, 23, 24], point_formats=(0,),
                        sig_algs=CHROME_SIG_ALGS, versions=[0x0304, 0x0303], alpn=[b"h2", b"http/1.1"])


def test_ja3_and_ja4_match_the_published_fingerprints_of_a_chrome_hello_with_grease():
    hello = parse_client_hello(chrome_hello()[9:])
    assert hello.ja4() == CHROME_JA4
    assert hello.ja3() == CHROME_JA3
    assert hello.server_name == "tls.browserleaks.com"


def test_tls_handshake_becomes_an_event_with_sni_version_cipher_and_fingerprints(tmp_path):
    talk = Conversation(dport=443).handshake()
    talk.send(True, chrome_hello(), size=200)  # the hello spans several segments
    talk.send(False, server_hello(0x1301, supported_version=0x0304))
    talk.send(False, b"\x17\x03\x03\x00\x05hello").send(True, b"\x17\x03\x03\x00\x02hi").close()
    path = write(tmp_path, talk.packets)
    events, _ = read_pcap(path)
    (tls,) = by_dataset(events, "edusoc.tls")
    assert tls["tls.client.server_name"] == "tls.browserleaks.com"
    assert (tls["tls.version_protocol"], tls["tls.version"]) == ("tls", "1.3")
    assert tls["tls.cipher"] == "TLS_AES_128_GCM_SHA256"
    assert tls["tls.client.ja4"] == CHROME_JA4 and tls["tls.established"] is True
    assert validate_event(tls)
    # tshark (a real dissector) computes the same JA3 from the same capture.
    found = subprocess.run(["tshark", "-r", str(path), "-Y", "tls.handshake.type == 1", "-T", "fields",
                            "-e", "tls.handshake.ja3"], capture_output=True, text=True, check=True).stdout.split()
    assert found == [tls["tls.client.ja3"]]


def http_exchange(body: bytes, encoding: str, chunked: bool = False):
    request = b"GET /app.js HTTP/1.1\r\nHost: www.school1.edu.cn\r\nAccept-Encoding: gzip, deflate, br\r\n\r\n"
    if chunked:
        framed = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 700]), body[i:i + 700]) for i in range(0, len(body), 700))
        head = b"Transfer-Encoding: chunked\r\n"
        body = framed + b"0\r\n\r\n"
    else:
        head = b"Content-Length: %d\r\n" % len(body)
    response = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: " + encoding.encode() + b"\r\n" + head
    talk = Conversation().handshake().send(True, request).send(False, response + b"\r\n" + body).close()
    return talk.packets


WEBSHELL_PAGE = b"<html><body>" + b"<p>school news</p>" * 200 + b"<?php @eval($_POST['cmd']); ?></body></html>"


@pytest.mark.parametrize("encoding, coded, chunked", [
    ("gzip", gzip.compress(WEBSHELL_PAGE), False),
    ("x-gzip", gzip.compress(WEBSHELL_PAGE), True),
    ("deflate", zlib.compress(WEBSHELL_PAGE), False),
    ("deflate", zlib.compress(WEBSHELL_PAGE)[2:-4], True),  # raw DEFLATE, as some servers send it
    ("br", brotli.compress(WEBSHELL_PAGE), False),
])
def test_compressed_bodies_are_carved_decoded(tmp_path, encoding, coded, chunked):
    packets = http_exchange(coded, encoding, chunked=chunked)
    events, stats = read_pcap(write(tmp_path, packets))
    (http,) = by_dataset(events, "edusoc.http")
    assert base64.b64decode(http["http.response.body.content"]) == WEBSHELL_PAGE
    assert http["http.response.body.content_decoded"] is True and http["http.response.content_encoding"] == encoding
    # Zeek's response_body_len is the decoded length; the length sent stays beside it
    assert http["http.response.body.bytes"] == len(WEBSHELL_PAGE)
    assert http["http.response.body.wire_bytes"] == len(coded) and http["http.response.body.truncated"] is False
    assert (stats.http_bodies_decoded, stats.http_bodies_capped, stats.http_decode_errors) == (1, 0, 0)
    assert validate_event(http)


def test_a_decompression_bomb_is_decoded_only_up_to_the_carve_size(tmp_path):
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024))  # 64 MB of zeros in ~64 KB
    packets = http_exchange(bomb, "gzip")
    events, stats = read_pcap(write(tmp_path, packets), carve_bytes=16 * 1024)
    (http,) = by_dataset(events, "edusoc.http")
    assert base64.b64decode(http["http.response.body.content"]) == b"\0" * (16 * 1024)
    assert http["http.response.body.content_decoded"] is True and http["http.response.body.truncated"] is True
    assert http["http.response.body.bytes"] == http["http.response.body.wire_bytes"] == len(bomb)  # decoded size unknown
    assert (stats.http_bodies_decoded, stats.http_bodies_capped) == (1, 1)


def test_a_corrupt_or_unknown_coding_keeps_the_body_as_sent(tmp_path):
    corrupt = b"\x1f\x8b\x08\x00" + b"not gzip at all" * 20
    events, stats = read_pcap(write(tmp_path, http_exchange(corrupt, "gzip"), name="a.pcap"))
    (http,) = by_dataset(events, "edusoc.http")
    assert base64.b64decode(http["http.response.body.content"]) == corrupt
    assert http["http.response.body.content_decoded"] is False and stats.http_decode_errors == 1
    stacked = gzip.compress(gzip.compress(WEBSHELL_PAGE))
    events, stats = read_pcap(write(tmp_path, http_exchange(stacked, "gzip, gzip"), name="b.pcap"))
    (http,) = by_dataset(events, "edusoc.http")
    assert base64.b64decode(http["http.response.body.content"]) == stacked and stats.http_decode_errors == 1


def tls12_with_certificate(certificate: bytes) -> Conversation:
    # The JA4S spec's example server: TLS 1.2, cipher c030, extensions 0005,0017,ff01,0000 in that order.
    hello = client_hello([0xC030, 0xC02F], [0x0000, 0x000A, 0x000B], server_name="www.school1.edu.cn", groups=[23])
    talk = Conversation(dport=443).handshake().send(True, hello)
    server_flight = (server_hello(0xC030, extensions=(0x0005, 0x0017, 0xFF01, 0x0000))
                     + certificate_message(certificate) + b"\x16\x03\x03\x00\x04\x0e\x00\x00\x00")
    talk.send(False, server_flight, size=500)  # the chain spans several segments
    talk.send(True, b"\x14\x03\x03\x00\x01\x01\x16\x03\x03\x00\x28" + b"\x0b" * 40)  # CCS, encrypted Finished
    talk.send(False, b"\x14\x03\x03\x00\x01\x01\x16\x03\x03\x00\x28" + b"\x0b" * 40)
    return talk.send(False, b"\x17\x03\x03\x00\x05hello").close()


def test_tls_server_fingerprints_and_certificate_fields(tmp_path):
    der = self_signed_certificate("www.school1.edu.cn", ["www.school1.edu.cn", "jwc.school1.edu.cn"])
    path = write(tmp_path, tls12_with_certificate(der).packets)
    events, _ = read_pcap(path)
    (tls,) = by_dataset(events, "edusoc.tls")
    assert tls["tls.server.ja4s"] == "t120400_c030_4e8089b08790"  # the spec's own example
    assert tls["tls.server.x509.subject.distinguished_name"] == "CN=www.school1.edu.cn,O=示范区第一中学,C=CN"
    assert tls["tls.server.x509.issuer.common_name"] == ["www.school1.edu.cn"]
    assert tls["tls.server.x509.serial_number"] == "0B6771"
    assert tls["tls.server.x509.not_before"] == "2026-01-01T00:00:00.000000Z"
    assert tls["tls.server.x509.not_after"] == "2027-01-01T00:00:00.000000Z"
    assert tls["tls.server.x509.alternative_names"] == ["www.school1.edu.cn", "jwc.school1.edu.cn"]
    assert tls["tls.server.x509.public_key_curve"] == "secp256r1"
    assert tls["tls.server.hash.sha256"] == hashlib.sha256(der).hexdigest().upper()
    assert tls["tls.established"] is True and validate_event(tls)
    # tshark computes the same JA3S and reads the same serial from the same capture.
    found = subprocess.run(["tshark", "-r", str(path), "-Y", "tls.handshake.type == 2", "-T", "fields",
                            "-e", "tls.handshake.ja3s"], capture_output=True, text=True, check=True).stdout.split()
    assert found == [tls["tls.server.ja3s"]]


def test_a_certificate_that_does_not_parse_costs_only_the_certificate_fields(tmp_path):
    der = bytearray(self_signed_certificate("broken.example"))
    der[30:60] = b"\xff" * 30
    events, stats = read_pcap(write(tmp_path, tls12_with_certificate(bytes(der)).packets))
    (tls,) = by_dataset(events, "edusoc.tls")
    assert tls["tls.server.ja4s"] == "t120400_c030_4e8089b08790" and tls["tls.cipher"].endswith("SHA384")
    assert not any(key.startswith("tls.server.x509") for key in tls)
    assert stats.tls_errors == 1


def test_tls_hello_without_server_answer_still_reports_the_client_side(tmp_path):
    hello = client_hello([0x002F, 0x0035], [0x0000, 0x000A, 0x000B], server_name="sso.edu.cn", groups=[23])
    talk = Conversation(dport=8443).handshake().send(True, hello).close()
    events, _ = read_pcap(write(tmp_path, talk.packets))
    (tls,) = by_dataset(events, "edusoc.tls")
    assert tls["tls.client.server_name"] == "sso.edu.cn" and "tls.version" not in tls
    assert tls["tls.client.ja4"].startswith("t12d0203") and tls["tls.established"] is False


def test_ssh_banners_are_reported_after_pre_banner_lines(tmp_path):
    talk = Conversation(dport=22).handshake()
    talk.send(False, b"Welcome to the school gateway\r\nSSH-2.0-OpenSSH_8.9p1 Ubuntu-3\r\n")
    talk.send(True, b"SSH-2.0-libssh2_1.10.0\r\n").send(True, b"\x00\x00\x01\x00" + b"k" * 200).close()
    events, _ = read_pcap(write(tmp_path, talk.packets))
    (ssh,) = by_dataset(events, "edusoc.ssh")
    assert ssh["ssh.client"] == "SSH-2.0-libssh2_1.10.0"
    assert ssh["ssh.server"] == "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3"
    assert ssh["ssh.version"] == 2 and validate_event(ssh)


def test_icmp_flows_carry_type_and_code(tmp_path):
    packets = [frame(0, CLIENT, SERVER, ICMP(type=8, code=0, id=1, seq=1)),
               frame(0.1, SERVER, CLIENT, ICMP(type=0, code=0, id=1, seq=1)),
               frame(1, "10.20.1.1", CLIENT, ICMP(type=3, code=13) / IP(src=CLIENT, dst="10.9.9.9"))]
    events, _ = read_pcap(write(tmp_path, packets))
    icmp = sorted((e["icmp.type"], e["icmp.code"], e["network.packets"]) for e in by_dataset(events, "edusoc.flow"))
    assert icmp == [(3, 13, 1), (8, 0, 2)]


def test_dns_over_tcp_is_paired_like_udp(tmp_path):
    query = bytes(DNS(id=77, rd=1, qd=DNSQR(qname="axfr.school1.edu.cn", qtype="AXFR")))
    answer = bytes(DNS(id=77, qr=1, qd=DNSQR(qname="axfr.school1.edu.cn", qtype="AXFR"),
                       an=DNSRR(rrname="www.school1.edu.cn", rdata="10.20.1.80", ttl=60)))
    framed_query = len(query).to_bytes(2, "big") + query
    framed_answer = len(answer).to_bytes(2, "big") + answer
    talk = Conversation(dport=53).handshake().send(True, framed_query, size=7).send(False, framed_answer).close()
    events, _ = read_pcap(write(tmp_path, talk.packets))
    (dns,) = by_dataset(events, "edusoc.dns")
    assert dns["network.transport"] == "tcp" and dns["dns.id"] == 77
    assert dns["dns.question.name"] == "axfr.school1.edu.cn" and dns["dns.question.type"] == "AXFR"
    assert dns["dns.resolved_ip"] == ["10.20.1.80"] and validate_event(dns)


@pytest.mark.parametrize("payload", [b"GET", b"\x16\x03\x01\x00", b"SSH-2.0"])
def test_connections_cut_short_inside_the_first_bytes_never_fail(tmp_path, payload):
    talk = Conversation(dport=443).handshake().send(True, payload)
    events, stats = read_pcap(write(tmp_path, talk.packets))
    assert by_dataset(events, "edusoc.flow") and stats.decode_errors == 0
