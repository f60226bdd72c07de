"""Craft the sensor benchmark capture: a realistic campus traffic mix, >= 1 M packets, with scapy.

    .venv/bin/python bench/make_campus_pcap.py [--packets 1200000] [--out .cache/bench/campus_mix.pcap]

Every conversation shape is built packet by packet with scapy (handshakes, TLS hellos with SNI,
HTTP requests with bodies, DNS queries and answers, SSH banners, ICMP, scans); the million
packets are those shapes replayed between many (client, port) pairs on a school's /16, with
addresses, ports and the IP checksum rewritten per conversation, and interleaved in time like
a busy uplink. Mix by packets (roughly a school's day per the region's NetFlow): TLS ~55 %,
HTTP ~15 %, QUIC/other UDP ~12 %, DNS ~8 %, SSH ~4 %, scans/rejects ~4 %, ICMP ~2 %.
The file goes under .cache/ (ignored by git): it is ~0.5 GB and never committed.
"""
from __future__ import annotations

import argparse
import heapq
import random
import struct
import sys
from pathlib import Path

from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Ether

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.sensor_traffic import client_hello, server_hello  # noqa: E402  (same crafting as the tests)

CLIENT_TEMPLATE, SERVER_TEMPLATE = "10.20.0.2", "203.0.113.10"
SPORT_TEMPLATE = 40000
SNIS = ["www.baidu.com", "mooc.edu.cn", "zhihu.com", "qq.com", "weixin.qq.com", "bilibili.com", "cnki.net",
        "office.com", "github.com", "apple.com", "smartedu.cn", "jwxt.school1.edu.cn", "update.microsoft.com"]
HOSTS = ["www.school1.edu.cn", "jwc.school2.edu.cn", "mirrors.ustc.edu.cn", "download.windowsupdate.com",
         "ocsp.digicert.cn", "www.moe.gov.cn", "lib.school1.edu.cn"]
UAS = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
       "Microsoft-CryptoAPI/10.0", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) Mobile/15E148",
       "Windows-Update-Agent/10.0.10011.16384 Client-Protocol/2.50"]
NAMES = SNIS + HOSTS + ["time.windows.com", "api.weixin.qq.com", "dns.msftncsi.com", "gateway.icloud.com"]


def _eth(l3):
    return bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / l3)


class Shape:
    """One conversation as crafted packets: (seconds from start, from_client, frame bytes)."""

    def __init__(self, proto: int, server_port: int) -> None:
        self.proto, self.server_port = proto, server_port
        self.packets: list[tuple[float, bool, bytes]] = []
        self.t = 0.0

    def add(self, from_client: bool, l4, gap: float = 0.002) -> None:
        src, dst = (CLIENT_TEMPLATE, SERVER_TEMPLATE) if from_client else (SERVER_TEMPLATE, CLIENT_TEMPLATE)
        self.t += gap
        self.packets.append((self.t, from_client, _eth(IP(src=src, dst=dst, ttl=64 if from_client else 52) / l4)))


def tcp_shape(port: int, exchanges: list[tuple[bool, bytes]], *, segment: int = 1400, close: str = "fin") -> Shape:
    shape = Shape(6, port)
    c, s = 1000, 90000
    shape.add(True, TCP(sport=SPORT_TEMPLATE, dport=port, flags="S", seq=c - 1))
    shape.add(False, TCP(sport=port, dport=SPORT_TEMPLATE, flags="SA", seq=s - 1, ack=c), gap=0.015)
    shape.add(True, TCP(sport=SPORT_TEMPLATE, dport=port, flags="A", seq=c, ack=s))
    for from_client, data in exchanges:
        for i in range(0, len(data), segment):
            piece = data[i:i + segment]
            if from_client:
                shape.add(True, TCP(sport=SPORT_TEMPLATE, dport=port, flags="PA", seq=c, ack=s) / piece)
                c += len(piece)
            else:
                shape.add(False, TCP(sport=port, dport=SPORT_TEMPLATE, flags="PA", seq=s, ack=c) / piece)
                s += len(piece)
                if (i // segment) % 2:  # delayed ACK every second segment
                    shape.add(True, TCP(sport=SPORT_TEMPLATE, dport=port, flags="A", seq=c, ack=s), gap=0.0005)
    if close == "fin":
        shape.add(True, TCP(sport=SPORT_TEMPLATE, dport=port, flags="FA", seq=c, ack=s))
        shape.add(False, TCP(sport=port, dport=SPORT_TEMPLATE, flags="FA", seq=s, ack=c + 1))
        shape.add(True, TCP(sport=SPORT_TEMPLATE, dport=port, flags="A", seq=c + 1, ack=s + 1))
    else:
        shape.add(True, TCP(sport=SPORT_TEMPLATE, dport=port, flags="RA", seq=c, ack=s))
    return shape


def shapes(rng: random.Random) -> list[tuple[float, Shape]]:
    """(weight by conversations, shape) for the whole mix."""
    out: list[tuple[float, Shape]] = []
    for sni in SNIS:
        hello = client_hello([0x1301, 0x1302, 0xC02B, 0xC02F, 0x009C, 0x002F], [0, 10, 11, 13, 16, 43, 51, 23],
                             server_name=sni, groups=[29, 23, 24], sig_algs=[0x0403, 0x0804], versions=[0x0304, 0x0303],
                             alpn=[b"h2", b"http/1.1"])
        answer = server_hello(0x1301, supported_version=0x0304) + b"\x17\x03\x03\x0b\xb8" + rng.randbytes(3000)
        size = rng.choice([4_000, 20_000, 60_000])
        talk = [(True, hello), (False, answer), (True, b"\x17\x03\x03\x01\x00" + rng.randbytes(256)),
                (False, b"\x17\x03\x03" + struct.pack("!H", size) + rng.randbytes(size))]
        out.append((4.0, tcp_shape(443, talk)))
    for host in HOSTS:
        body = rng.randbytes(rng.choice([2_000, 8_000, 30_000]))
        request = (f"GET /static/{rng.randrange(10**6)}.js?v=3 HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {rng.choice(UAS)}\r\n"
                   f"Referer: http://{host}/\r\nAccept: */*\r\n\r\n").encode()
        response = (f"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/javascript\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        out.append((3.0, tcp_shape(80, [(True, request), (False, response)])))
        post = b"username=stu2024&password=" + rng.randbytes(8).hex().encode()
        login = (f"POST /login.php HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {rng.choice(UAS)}\r\nContent-Type: "
                 f"application/x-www-form-urlencoded\r\nContent-Length: {len(post)}\r\n\r\n").encode() + post
        out.append((1.0, tcp_shape(80, [(True, login), (False, b"HTTP/1.1 302 Found\r\nLocation: /\r\nContent-Length: 0\r\n\r\n")])))
    for name in NAMES:
        for qtype, rdata in (("A", "198.51.100.7"), ("AAAA", "2001:db8::7")):
            shape = Shape(17, 53)
            ident = rng.randrange(65536)
            shape.add(True, UDP(sport=SPORT_TEMPLATE, dport=53) / DNS(id=ident, rd=1, qd=DNSQR(qname=name, qtype=qtype)))
            shape.add(False, UDP(sport=53, dport=SPORT_TEMPLATE) / DNS(id=ident, qr=1, qd=DNSQR(qname=name, qtype=qtype),
                                                                    an=DNSRR(rrname=name, type=qtype, rdata=rdata, ttl=300)), gap=0.01)
            out.append((3.0, shape))
    for _ in range(4):  # QUIC-like UDP/443 video
        shape = Shape(17, 443)
        shape.add(True, UDP(sport=SPORT_TEMPLATE, dport=443) / rng.randbytes(1200))
        for i in range(40):
            shape.add(False, UDP(sport=443, dport=SPORT_TEMPLATE) / rng.randbytes(1200), gap=0.001)
            if i % 8 == 0:
                shape.add(True, UDP(sport=SPORT_TEMPLATE, dport=443) / rng.randbytes(60))
        out.append((0.6, shape))
    ssh = [(False, b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6\r\n"), (True, b"SSH-2.0-OpenSSH_9.6\r\n"),
           (True, rng.randbytes(1500)), (False, rng.randbytes(1100))] + [(i % 2 == 0, rng.randbytes(96)) for i in range(20)]
    out.append((0.5, tcp_shape(22, ssh)))
    scan = Shape(6, 445)  # port scan probe answered by a reset (REJ)
    scan.add(True, TCP(sport=SPORT_TEMPLATE, dport=445, flags="S", seq=7))
    scan.add(False, TCP(sport=445, dport=SPORT_TEMPLATE, flags="RA", seq=0, ack=8))
    out.append((4.0, scan))
    probe = Shape(6, 3389)  # unanswered probe (S0)
    probe.add(True, TCP(sport=SPORT_TEMPLATE, dport=3389, flags="S", seq=7))
    out.append((3.0, probe))
    ping = Shape(1, 0)
    for i in range(4):
        ping.add(True, ICMP(type=8, id=1, seq=i) / rng.randbytes(56), gap=1.0)
        ping.add(False, ICMP(type=0, id=1, seq=i) / rng.randbytes(56), gap=0.003)
    out.append((0.6, ping))
    return out


def _ip_checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def instance(shape: Shape, client_ip: bytes, sport: int, server_ip: bytes, start: float):
    """The shape's packets between this client/port and server, with their capture times."""
    for dt, from_client, raw in shape.packets:
        frame = bytearray(raw)
        if from_client:
            frame[26:30], frame[30:34] = client_ip, server_ip
        else:
            frame[26:30], frame[30:34] = server_ip, client_ip
        frame[24:26] = b"\x00\x00"
        frame[24:26] = struct.pack("!H", _ip_checksum(bytes(frame[14:34])))
        if shape.proto in (6, 17):
            at = 34 if from_client else 36
            frame[at:at + 2] = struct.pack("!H", sport)
        yield start + dt, bytes(frame)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=1_200_000)
    parser.add_argument("--out", type=Path, default=Path(".cache/bench/campus_mix.pcap"))
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    mix = shapes(rng)
    weights = [w for w, _ in mix]
    mean = sum(w * len(s.packets) for w, s in mix) / sum(weights)
    conversations = int(args.packets / mean) + 1
    duration = conversations / 400.0  # ~400 new conversations a second: a busy school uplink
    args.out.parent.mkdir(parents=True, exist_ok=True)
    t0 = 1_793_581_200.0
    starts = sorted(rng.uniform(0, duration) for _ in range(conversations))
    heap: list[tuple[float, int, bytes, object]] = []
    written = 0
    with args.out.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        record = struct.Struct("<IIII")

        def emit(ts: float, data: bytes) -> None:
            sec = int(ts)
            out.write(record.pack(sec, int((ts - sec) * 1e6), len(data), len(data)))
            out.write(data)

        def emit_until(limit: float) -> int:
            """Write every queued packet up to ``limit``, in time order across conversations."""
            count = 0
            while heap and heap[0][0] <= limit:
                ts, key, data, rest = heapq.heappop(heap)
                emit(ts, data)
                count += 1
                nxt = next(rest, None)  # type: ignore[call-overload]
                if nxt is not None:
                    heapq.heappush(heap, (nxt[0], key, nxt[1], rest))
            return count

        for number, start in enumerate(starts):
            written += emit_until(start)
            _, shape = rng.choices(mix, weights)[0]
            host = 0x0A140000 | rng.randrange(1, 0xFFFF)  # 10.20.0.0/16
            server = struct.pack("!I", rng.choice([0xCB007100, 0xC6336400, 0x7B7D0000]) | rng.randrange(1, 255))
            packets = instance(shape, struct.pack("!I", host), rng.randrange(32768, 61000), server, t0 + start)
            first = next(packets)
            heapq.heappush(heap, (first[0], number, first[1], packets))
        written += emit_until(float("inf"))
    print(f"{args.out}: {written} packets, {conversations} conversations over {duration:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
