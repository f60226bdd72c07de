"""Craft HTTP exchanges as real packets with scapy (for the sample capture, tests and benches).

    content_type, body = multipart_form({"title": "作业"}, [("file", "hw.php", "text/plain", data)])
    request = http_request("POST", "/upload.php", "www.school.edu.cn", body, content_type=content_type)
    packets = tcp_exchange(start, client, server, 41000, request, http_response(200, b"ok"))

Nothing is ever sent: the packets are written to a capture file by the caller.
"""
from __future__ import annotations

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.packet import Packet

SEGMENT = 1400


def _mac(ip: str) -> str:
    # A fixed locally administered MAC per host, so scapy never looks one up.
    return "02:00:" + ":".join(f"{int(o):02x}" for o in ip.split("."))


def _frame(ts: float, src: str, dst: str, l4: Packet) -> Packet:
    packet = Ether(src=_mac(src), dst=_mac(dst)) / IP(src=src, dst=dst, id=0, ttl=64) / l4
    packet.time = round(ts, 6)
    return packet


def multipart_form(fields: dict[str, str], files: list[tuple[str, str, str, bytes]],
                   boundary: str = "----edusocFormBoundary7MA4YWxkTrZu0gW") -> tuple[str, bytes]:
    """(Content-Type, body) of a multipart/form-data body: text fields, then (field, filename, type, data) files."""
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
                     + value.encode("utf-8") + b"\r\n")
    for field, filename, mime, data in files:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
                     f"Content-Type: {mime}\r\n\r\n".encode("utf-8") + data + b"\r\n")
    return f"multipart/form-data; boundary={boundary}", b"".join(parts) + f"--{boundary}--\r\n".encode()


def http_request(method: str, target: str, host: str, body: bytes = b"", *, content_type: str | None = None,
                 headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}",
             "User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64)", "Accept: */*"]
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


def http_response(status: int, body: bytes, content_type: str = "text/html; charset=utf-8") -> bytes:
    reason = {200: "OK", 201: "Created", 403: "Forbidden", 404: "Not Found"}.get(status, "OK")
    return (f"HTTP/1.1 {status} {reason}\r\nServer: nginx\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def tcp_exchange(start: float, client: str, server: str, sport: int, request: bytes, response: bytes, *,
                 dport: int = 80, isn: tuple[int, int] = (1000, 5000)) -> list[Packet]:
    """Handshake, the request and the response in segments of 1400 bytes, each acknowledged, and close."""
    c, s = isn
    t = start
    packets: list[Packet] = []

    def add(src: str, dst: str, tcp: Packet) -> None:
        nonlocal t
        t += 0.0005
        packets.append(_frame(t, src, dst, tcp))

    add(client, server, TCP(sport=sport, dport=dport, flags="S", seq=c))
    add(server, client, TCP(sport=dport, dport=sport, flags="SA", seq=s, ack=c + 1))
    cseq, sseq = c + 1, s + 1
    add(client, server, TCP(sport=sport, dport=dport, flags="A", seq=cseq, ack=sseq))
    for i in range(0, len(request), SEGMENT):
        chunk = request[i:i + SEGMENT]
        add(client, server, TCP(sport=sport, dport=dport, flags="PA", seq=cseq % 2**32, ack=sseq) / chunk)
        cseq += len(chunk)
    add(server, client, TCP(sport=dport, dport=sport, flags="A", seq=sseq, ack=cseq % 2**32))
    for i in range(0, len(response), SEGMENT):
        chunk = response[i:i + SEGMENT]
        add(server, client, TCP(sport=dport, dport=sport, flags="PA", seq=sseq % 2**32, ack=cseq % 2**32) / chunk)
        sseq += len(chunk)
    add(client, server, TCP(sport=sport, dport=dport, flags="FA", seq=cseq % 2**32, ack=sseq % 2**32))
    add(server, client, TCP(sport=dport, dport=sport, flags="FA", seq=sseq % 2**32, ack=(cseq + 1) % 2**32))
    add(client, server, TCP(sport=sport, dport=dport, flags="A", seq=(cseq + 1) % 2**32, ack=(sseq + 1) % 2**32))
    return packets
