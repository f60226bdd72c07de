"""Community ID v1 flow hashing (https://github.com/corelight/community-id-spec).

The same 5-tuple hashes to the same id in either direction, so a flow seen by this
sensor, by Zeek and by Suricata links up by ``network.community_id``.
"""
from __future__ import annotations

import base64
import hashlib
import socket
import struct

IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_ICMPV6 = 58
IPPROTO_SCTP = 132

# ICMP message types that come in request/response pairs: the pair hashes like a port pair,
# so an echo request and its reply get the same id. Other types are one-way.
_ICMP4_COUNTERPART = {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 10: 9, 9: 10, 17: 18, 18: 17}
_ICMP6_COUNTERPART = {128: 129, 129: 128, 133: 134, 134: 133, 135: 136, 136: 135, 130: 131, 131: 130, 144: 145, 145: 144}
_PORTED = (IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, IPPROTO_ICMP, IPPROTO_ICMPV6)


def _packed(address: str) -> bytes:
    # inet_pton is several times faster than ipaddress and this runs once per flow.
    try:
        return socket.inet_pton(socket.AF_INET6 if ":" in address else socket.AF_INET, address)
    except OSError:
        raise ValueError(f"{address!r} is not an IP address") from None


def icmp_port_equivalents(proto: int, icmp_type: int, icmp_code: int) -> tuple[int, int, bool]:
    """(source port, destination port, one-way) that Community ID uses for an ICMP message."""
    table = _ICMP6_COUNTERPART if proto == IPPROTO_ICMPV6 else _ICMP4_COUNTERPART
    if icmp_type in table:
        return icmp_type, table[icmp_type], False
    return icmp_type, icmp_code, True


def community_id_v1(
    source_ip: str, destination_ip: str, proto: int, source_port: int = 0, destination_port: int = 0, seed: int = 0
) -> str:
    """Community ID v1 of a flow; for ICMP pass the type and code as the ports."""
    saddr, daddr = _packed(source_ip), _packed(destination_ip)
    sport, dport, one_way = source_port, destination_port, False
    if proto in (IPPROTO_ICMP, IPPROTO_ICMPV6):
        sport, dport, one_way = icmp_port_equivalents(proto, source_port, destination_port)
    # Order the endpoints so both directions hash alike; one-way ICMP keeps its direction.
    if not one_way and (saddr, sport) > (daddr, dport):
        saddr, daddr, sport, dport = daddr, saddr, dport, sport
    material = struct.pack("!H", seed) + saddr + daddr + struct.pack("!BB", proto, 0)
    if proto in _PORTED:
        material += struct.pack("!HH", sport, dport)
    return "1:" + base64.b64encode(hashlib.sha1(material).digest()).decode("ascii")
