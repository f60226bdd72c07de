"""Deep dissection through tshark for protocols the fast path does not analyse.

    for event in deep_events("capture.pcap"):     # edusoc.deep events, one per connection and protocol
        ...

The fast path (``sensors.traffic``) covers flows, DNS, HTTP, TLS and SSH. For the rest —
DHCP, SMB, Kerberos, LDAP, RDP, FTP, SMTP, QUIC's SNI, SNMP, VNC... — ``tshark -T ek`` decodes
the packets of a capture file (Wireshark's dissectors, slow but thorough) and each
(connection, protocol) becomes one event: the selected fields tshark found, as ``deep.fields``
``name=value`` strings (tshark field names), and the ones ECS has a place for mapped there
(``user.name``, ``host.hostname``, ``tls.client.server_name``, ``file.name``). Passwords and
AUTH parameters are never recorded. The event id is stable: dataset, Community ID, first
packet time and protocol.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from sensors.community_id import IPPROTO_TCP, IPPROTO_UDP, community_id_v1
from sensors.flows import TRANSPORT_NAMES
from sensors.netevents import MODULE, timestamp_from_epoch
from soc_core.events import stable_event_id

DEEP_DATASET = "edusoc.deep"
MAX_VALUES_PER_RECORD = 64  # distinct name=value pairs kept per connection and protocol
MAX_VALUE_CHARS = 256


@dataclass(frozen=True)
class DeepProtocol:
    """One protocol tshark dissects for us: its display-filter name, the fields kept, the ECS ones."""

    name: str
    fields: tuple[str, ...]
    ecs: dict[str, str] = field(default_factory=dict)  # tshark field -> ECS field (first value wins)
    # tshark field -> (field naming the command, commands whose argument is a secret)
    secret: dict[str, tuple[str, frozenset[str]]] = field(default_factory=dict)
    # tshark field -> (field naming the command, the commands whose argument the ECS mapping takes)
    ecs_when: dict[str, tuple[str, frozenset[str]]] = field(default_factory=dict)


PROTOCOLS: tuple[DeepProtocol, ...] = (
    DeepProtocol("dhcp", ("dhcp.option.dhcp", "dhcp.option.hostname", "dhcp.hw.mac_addr", "dhcp.ip.your",
                          "dhcp.option.requested_ip_address", "dhcp.option.vendor_class_id", "dhcp.option.domain_name"),
                 {"dhcp.option.hostname": "host.hostname"}),
    DeepProtocol("ftp", ("ftp.request.command", "ftp.request.arg", "ftp.response.code"),
                 {"ftp.request.arg": "user.name"},
                 {"ftp.request.arg": ("ftp.request.command", frozenset({"PASS", "ACCT"}))},
                 {"ftp.request.arg": ("ftp.request.command", frozenset({"USER"}))}),
    DeepProtocol("smtp", ("smtp.req.command", "smtp.req.parameter", "smtp.response.code", "imf.from", "imf.to",
                          "imf.subject"),
                 {},
                 {"smtp.req.parameter": ("smtp.req.command", frozenset({"AUTH"}))}),
    DeepProtocol("pop", ("pop.request.command", "pop.request.parameter", "pop.response.indicator"),
                 {"pop.request.parameter": "user.name"},
                 {"pop.request.parameter": ("pop.request.command", frozenset({"PASS", "APOP", "AUTH"}))},
                 {"pop.request.parameter": ("pop.request.command", frozenset({"USER"}))}),
    DeepProtocol("smb2", ("smb2.cmd", "smb2.tree", "smb2.filename", "ntlmssp.auth.username", "ntlmssp.auth.domain"),
                 {"ntlmssp.auth.username": "user.name", "smb2.filename": "file.name"}),
    DeepProtocol("smb", ("smb.cmd", "smb.path", "smb.file", "ntlmssp.auth.username", "ntlmssp.auth.domain"),
                 {"ntlmssp.auth.username": "user.name", "smb.file": "file.name"}),
    DeepProtocol("kerberos", ("kerberos.msg_type", "kerberos.CNameString", "kerberos.realm", "kerberos.SNameString",
                              "kerberos.error_code"),
                 {"kerberos.CNameString": "user.name"}),
    DeepProtocol("ldap", ("ldap.protocolOp", "ldap.name", "ldap.baseObject", "ldap.resultCode"), {}),
    DeepProtocol("rdp", ("rdp.rt_cookie", "rdp.name", "rdp.client.name"), {}),
    DeepProtocol("mysql", ("mysql.user", "mysql.schema", "mysql.command", "mysql.query"), {"mysql.user": "user.name"}),
    DeepProtocol("pgsql", ("pgsql.parameter_name", "pgsql.parameter_value", "pgsql.query"), {}),
    DeepProtocol("snmp", ("snmp.community", "snmp.name", "snmp.value.octets"), {}),
    DeepProtocol("ntp", ("ntp.flags.mode", "ntp.stratum", "ntp.priv.reqcode"), {}),
    DeepProtocol("sip", ("sip.Method", "sip.Status-Code", "sip.from.user", "sip.to.user", "sip.User-Agent"), {}),
    DeepProtocol("quic", ("quic.version", "tls.handshake.extensions_server_name", "tls.handshake.extensions_alpn_str"),
                 {"tls.handshake.extensions_server_name": "tls.client.server_name"}),
    DeepProtocol("vnc", ("vnc.server_proto_ver", "vnc.client_proto_ver", "vnc.auth_result"), {}),
    DeepProtocol("telnet", ("telnet.data",), {}),
    DeepProtocol("tftp", ("tftp.opcode", "tftp.source_file", "tftp.destination_file"), {}),
)
_TUPLE_FIELDS = ("frame.time_epoch", "frame.protocols", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "ip.proto",
                 "ipv6.nxt", "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport")


class DeepError(RuntimeError):
    """tshark is missing or could not read the file at all."""


@dataclass
class DeepStats:
    packets: int = 0  # packets tshark reported for the selected protocols
    records: int = 0  # events emitted
    skipped: int = 0  # tshark lines that were not a packet we could place (no IP tuple)
    tshark_error: str = ""  # what tshark said when it ended with an error (partial output is kept)


@dataclass
class _Record:
    protocol: DeepProtocol
    transport: int
    src: str
    sport: int
    dst: str
    dport: int
    first: float
    last: float
    packets: int = 0
    values: dict[str, None] = field(default_factory=dict)  # name=value pairs in order of first sight
    ecs: dict[str, str] = field(default_factory=dict)


@cache
def _dissectors(tshark: str) -> tuple[frozenset[str], frozenset[str]]:
    """(field names, protocol names) this tshark knows (``tshark -G fields``)."""
    listing = subprocess.run([tshark, "-G", "fields"], capture_output=True, text=True, check=False).stdout
    fields: set[str] = set()
    protocols: set[str] = set()
    for line in listing.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3:
            (fields if parts[0] == "F" else protocols if parts[0] == "P" else set()).add(parts[2])
    return frozenset(fields), frozenset(protocols)


def _values(layers: dict[str, Any], tshark_field: str) -> list[str]:
    raw = layers.get(tshark_field.replace(".", "_").replace("-", "_"))
    if raw is None:
        return []
    return [str(v) for v in raw] if isinstance(raw, list) else [str(raw)]


def _first(layers: dict[str, Any], *names: str) -> str | None:
    for name in names:
        found = _values(layers, name)
        if found:
            return found[0]
    return None


class DeepDissector:
    """Runs tshark over one capture file and folds its packets into per-connection protocol records."""

    def __init__(self, protocols: tuple[DeepProtocol, ...] = PROTOCOLS, tshark: str | None = None) -> None:
        self.protocols = {p.name: p for p in protocols}
        self.tshark = tshark or shutil.which("tshark")
        self.stats = DeepStats()

    def command(self, path: Path) -> list[str]:
        if self.tshark is None:
            raise DeepError("tshark not found: the deep mode runs Wireshark's dissectors (apt-get install tshark)")
        known_fields, known_protocols = _dissectors(self.tshark)
        wanted = {f for p in self.protocols.values() for f in p.fields} | {
            s[0] for p in self.protocols.values() for s in p.secret.values()}
        # Field names change between Wireshark versions; asking for one this tshark lacks is fatal to it.
        fields = list(_TUPLE_FIELDS) + sorted(wanted & known_fields)
        protocols = [name for name in self.protocols if name in known_protocols]
        command = [self.tshark, "-n", "-r", str(path), "-T", "ek", "-Y", " || ".join(protocols)]
        for name in fields:
            command += ["-e", name]
        return command

    def events(self, path: str | Path) -> Iterator[dict[str, Any]]:
        """The edusoc.deep events of one capture file, in the order of their first packet."""
        path = Path(path)
        if not path.is_file():
            raise DeepError(f"{path}: no such file")
        process = subprocess.Popen(self.command(path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        records: dict[tuple[str, int, str, int, str, int], _Record] = {}
        assert process.stdout is not None
        for line in process.stdout:
            if not line.startswith(b'{"timestamp"'):
                continue  # the ek index lines
            self._packet(json.loads(line).get("layers", {}), records)
        error = process.stderr.read().decode("utf-8", "replace").strip() if process.stderr else ""
        if process.wait() != 0:
            if not records:
                raise DeepError(f"tshark could not read {path}: {error or f'exit {process.returncode}'}")
            self.stats.tshark_error = error or f"exit {process.returncode}"
        for record in sorted(records.values(), key=lambda r: r.first):
            self.stats.records += 1
            yield deep_event(record)

    def _packet(self, layers: dict[str, Any], records: dict[tuple[str, int, str, int, str, int], _Record]) -> None:
        stack = (_first(layers, "frame.protocols") or "").split(":")
        protocol = next((self.protocols[name] for name in reversed(stack) if name in self.protocols), None)
        src, dst = _first(layers, "ip.src", "ipv6.src"), _first(layers, "ip.dst", "ipv6.dst")
        when = _first(layers, "frame.time_epoch")
        if protocol is None or src is None or dst is None or when is None:
            self.stats.skipped += 1
            return
        self.stats.packets += 1
        transport = IPPROTO_TCP if "tcp" in stack else IPPROTO_UDP if "udp" in stack else int(
            _first(layers, "ip.proto", "ipv6.nxt") or 0)
        port = "tcp" if transport == IPPROTO_TCP else "udp"
        sport, dport = int(_first(layers, f"{port}.srcport") or 0), int(_first(layers, f"{port}.dstport") or 0)
        ts = float(when)
        key = (protocol.name, transport, *((src, sport, dst, dport) if (src, sport) <= (dst, dport)
                                           else (dst, dport, src, sport)))
        record = records.get(key)  # type: ignore[arg-type]
        if record is None:
            # The server is the end on the lower port (the protocol's well-known one): a server that
            # talks first (FTP, SMTP banners) is still the destination, as in the flow events.
            if sport < dport:
                src, sport, dst, dport = dst, dport, src, sport
            record = records[key] = _Record(protocol, transport, src, sport, dst, dport, ts, ts)  # type: ignore[index]
        record.packets += 1
        record.last = max(record.last, ts)
        hidden = {name for name, (command, secrets) in protocol.secret.items() if _said(layers, command, secrets)}
        for name in protocol.fields:
            if name in hidden:
                continue
            for value in _values(layers, name):
                value = value[:MAX_VALUE_CHARS]
                if len(record.values) < MAX_VALUES_PER_RECORD:
                    record.values.setdefault(f"{name}={value}", None)
                ecs = protocol.ecs.get(name)
                condition = protocol.ecs_when.get(name)
                if ecs and ecs not in record.ecs and value and (condition is None or _said(layers, *condition)):
                    record.ecs[ecs] = value


def _said(layers: dict[str, Any], command_field: str, commands: frozenset[str]) -> bool:
    """The packet's command (e.g. ftp.request.command) is one of ``commands``."""
    return any(value.upper() in commands for value in _values(layers, command_field))


def deep_event(record: _Record) -> dict[str, Any]:
    """The edusoc.deep event of one connection's packets of one protocol."""
    ts = timestamp_from_epoch(record.first)
    community_id = community_id_v1(record.src, record.dst, record.transport, record.sport, record.dport)
    name = record.protocol.name
    event: dict[str, Any] = {
        "@timestamp": ts,
        "event.id": stable_event_id(DEEP_DATASET, community_id, ts, name),
        "event.kind": "event",
        "event.category": ["network"],
        "event.type": ["protocol"],
        "event.dataset": DEEP_DATASET,
        "event.module": MODULE,
        "event.start": ts,
        "event.end": timestamp_from_epoch(record.last),
        "source.ip": record.src,
        "destination.ip": record.dst,
        "network.transport": TRANSPORT_NAMES.get(record.transport, str(record.transport)),
        "network.protocol": name,
        "network.community_id": community_id,
        "network.packets": record.packets,
        "deep.fields": list(record.values),
    }
    if record.transport in (IPPROTO_TCP, IPPROTO_UDP):
        event["source.port"], event["destination.port"] = record.sport, record.dport
    event.update(record.ecs)
    details = ", ".join(list(record.values)[:4])
    event["message"] = f"{name} {record.src}:{record.sport} -> {record.dst}:{record.dport}: {details}".rstrip(": ")
    return event


def deep_events(path: str | Path) -> Iterator[dict[str, Any]]:
    """edusoc.deep events of a capture file through tshark (see module docstring)."""
    yield from DeepDissector().events(path)
