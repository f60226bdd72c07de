"""Agreement with Zeek: run the sensor on Zeek's test traces and compare with the logs Zeek wrote.

``../shared/corpora/zeek_btest/`` pairs traces with Zeek's own baseline logs (PAIRS.tsv).
Per protocol, each Zeek record is looked up by its connection tuple and compared on the
values that matter:

- conn: same tuple (proto, orig h/p, resp h/p; ICMP type/code as ports) and same conn_state;
- dns: same tuple and transaction id, same query name and type;
- http: same tuple, same method, host and URI (status, user agent and body lengths are
  reported as separate field agreements);
- ssl: same tuple, same SNI (version and cipher reported separately);
- ssh: same tuple, same client and server banners;
- x509: the server (host) certificates of x509.log, found by their SHA-256 fingerprint among
  the TLS records' ``tls.server.hash.sha256``, with the same subject and issuer (serial,
  validity and SAN DNS names reported as separate field agreements).

Records of one tuple are matched as multisets, so port reuse and pipelining count right.
"""
from __future__ import annotations

import csv
import ipaddress
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sensors.pcap import read_pcap
from soc_core.events import parse_timestamp

PROTOCOL_LOGS = {"conn": "conn.log", "dns": "dns.log", "http": "http.log", "ssl": "ssl.log", "ssh": "ssh.log",
                 "x509": "x509.log"}
_TLS_VERSIONS = {("tls", "1.0"): "TLSv10", ("tls", "1.1"): "TLSv11", ("tls", "1.2"): "TLSv12",
                 ("tls", "1.3"): "TLSv13", ("ssl", "3.0"): "SSLv3", ("ssl", "2.0"): "SSLv2"}


def read_zeek_log(path: Path) -> list[dict[str, str]]:
    """Records of a Zeek ASCII log (TSV with a #fields header); unset values are ''."""
    fields: list[str] = []
    records = []
    for line in path.read_text("utf-8", "replace").splitlines():
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
        elif line.startswith("#") or not line.strip() or not fields:
            continue
        else:
            values = line.split("\t")
            records.append({k: ("" if v in ("-", "(empty)") else v) for k, v in zip(fields, values)})
    return records


def zeek_escape(text: str) -> str:
    """A value escaped as Zeek writes it in ASCII logs (non-printable bytes as \\xHH)."""
    out = []
    for byte in text.encode("utf-8", "surrogateescape"):
        out.append(chr(byte) if 0x20 <= byte < 0x7F and byte != 0x5C else f"\\x{byte:02x}")
    return "".join(out)


def _unescape_zeek(value: str) -> str:
    return value.replace("\\x5c", "\\")


Key = tuple[str, ...]


def _zeek_key(record: dict[str, str], proto: str | None = None) -> Key:
    base = (record["id.orig_h"], record["id.orig_p"], record["id.resp_h"], record["id.resp_p"])
    return ((proto or record.get("proto", "")).replace("ipv6-icmp", "icmp"), *base)


def _event_key(event: dict[str, Any], proto: str | None = None) -> Key:
    sport = event.get("source.port", event.get("icmp.type", 0))
    dport = event.get("destination.port", event.get("icmp.code", 0))
    transport = proto or str(event.get("network.transport", "")).replace("ipv6-icmp", "icmp")
    return (transport, event["source.ip"], str(sport), event["destination.ip"], str(dport))


def _ours(events: list[dict[str, Any]], protocol: str) -> dict[Key, list[tuple[str, ...]]]:
    found: dict[Key, list[tuple[str, ...]]] = defaultdict(list)
    for event in events:
        dataset = event["event.dataset"]
        if protocol == "conn" and dataset == "edusoc.flow":
            found[_event_key(event)].append((event["network.connection.state"],))
        elif protocol == "dns" and dataset == "edusoc.dns":
            key = _event_key(event) + (str(event["dns.id"]),)
            found[key].append((zeek_escape(event.get("dns.question.name", "")).lower(),
                               event.get("dns.question.type", "") or ""))
        elif protocol == "http" and dataset == "edusoc.http" and "http.request.method" in event:
            found[_event_key(event, "tcp")].append((
                zeek_escape(event["http.request.method"]), zeek_escape(event.get("url.domain", "")),
                zeek_escape(event.get("url.original", "")),
                str(event.get("http.response.status_code", "")), zeek_escape(event.get("user_agent.original", "")),
                str(event.get("http.request.body.bytes", 0)), str(event.get("http.response.body.bytes", 0)),
            ))
        elif protocol == "ssl" and dataset == "edusoc.tls":
            version = _TLS_VERSIONS.get((event.get("tls.version_protocol", ""), event.get("tls.version", "")),
                                        event.get("tls.version", ""))
            found[_event_key(event, "tcp")].append((event.get("tls.client.server_name", ""), version,
                                                   event.get("tls.cipher", "")))
        elif protocol == "ssh" and dataset == "edusoc.ssh":
            found[_event_key(event, "tcp")].append((zeek_escape(event.get("ssh.client", "")),
                                                   zeek_escape(event.get("ssh.server", ""))))
        elif protocol == "x509" and dataset == "edusoc.tls" and "tls.server.hash.sha256" in event:
            dns_names = [n for n in event.get("tls.server.x509.alternative_names", []) if not _is_address(n)]
            found[("x509", event["tls.server.hash.sha256"].lower())].append((
                event["tls.server.x509.subject.distinguished_name"], event["tls.server.x509.issuer.distinguished_name"],
                event["tls.server.x509.serial_number"], _epoch(event["tls.server.x509.not_before"]),
                _epoch(event["tls.server.x509.not_after"]), ",".join(dns_names)))
    return found


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _epoch(timestamp: str) -> str:
    """An event timestamp as Zeek writes a time: seconds since the epoch, six decimals."""
    return f"{parse_timestamp(timestamp).timestamp():.6f}"


def _theirs(records: list[dict[str, str]], protocol: str) -> dict[Key, list[tuple[str, ...]]]:
    found: dict[Key, list[tuple[str, ...]]] = defaultdict(list)
    for r in records:
        if protocol == "conn":
            found[_zeek_key(r)].append((r["conn_state"],))
        elif protocol == "dns":
            found[_zeek_key(r) + (r.get("trans_id", ""),)].append(
                (_unescape_zeek(r.get("query", "")).lower(), r.get("qtype_name", "")))
        elif protocol == "http":
            if not r.get("method"):
                continue  # a response without a request: not a request Zeek found
            found[_zeek_key(r, "tcp")].append((
                r["method"], r.get("host", ""), r.get("uri", ""),
                "" if r.get("status_code") == "0" else r.get("status_code", ""),  # 0: no status line (HTTP/0.9)
                r.get("user_agent", ""),
                r.get("request_body_len", "0") or "0", r.get("response_body_len", "0") or "0"))
        elif protocol == "ssl":
            found[_zeek_key(r, "tcp")].append((r.get("server_name", ""), r.get("version", ""), r.get("cipher", "")))
        elif protocol == "ssh":
            found[_zeek_key(r, "tcp")].append((r.get("client", ""), r.get("server", "")))
        elif protocol == "x509" and r.get("host_cert") == "T":  # the server's own certificate, not its CAs
            found[("x509", r["fingerprint"])].append((
                r["certificate.subject"], r["certificate.issuer"], r["certificate.serial"],
                r["certificate.not_valid_before"], r["certificate.not_valid_after"], r.get("san.dns", "")))
    return found


# Which value columns decide "the same record" per protocol; the rest are field agreements.
_PRIMARY = {"conn": 1, "dns": 1, "http": 3, "ssl": 1, "ssh": 2, "x509": 2}
_FIELD_NAMES = {
    "conn": ("conn_state",), "dns": ("query", "qtype_name"),
    "http": ("method", "host", "uri", "status_code", "user_agent", "request_body_len", "response_body_len"),
    "ssl": ("server_name", "version", "cipher"), "ssh": ("client", "server"),
    "x509": ("subject", "issuer", "serial", "not_valid_before", "not_valid_after", "san.dns"),
}


@dataclass
class ProtocolAgreement:
    protocol: str
    zeek: int = 0  # records in Zeek's logs
    tuple_found: int = 0  # of those, a record of ours with the same connection tuple
    same: int = 0  # ... and the same primary values
    fields: Counter[str] = field(default_factory=Counter)  # per field: same value among tuple-matched
    mismatches: list[str] = field(default_factory=list)

    @property
    def agreement(self) -> float:
        return self.same / self.zeek if self.zeek else 1.0

    def merge(self, other: ProtocolAgreement) -> None:
        self.zeek += other.zeek
        self.tuple_found += other.tuple_found
        self.same += other.same
        self.fields.update(other.fields)
        self.mismatches.extend(other.mismatches)


def compare(protocol: str, zeek_records: list[dict[str, str]], events: list[dict[str, Any]],
            where: str = "") -> ProtocolAgreement:
    """How many of Zeek's records of one protocol the events reproduce."""
    result = ProtocolAgreement(protocol)
    ours = _ours(events, protocol)
    primary = _PRIMARY[protocol]
    for key, values in _theirs(zeek_records, protocol).items():
        mine = list(ours.get(key, []))
        for value in values:
            result.zeek += 1
            if not mine:
                result.mismatches.append(f"{where} {protocol} {key}: Zeek {value}, sensor: none")
                continue
            result.tuple_found += 1
            match = next((m for m in mine if m[:primary] == value[:primary]), None)
            if match is not None:
                result.same += 1
            else:
                match = mine[0]
                result.mismatches.append(f"{where} {protocol} {key}: Zeek {value}, sensor {match}")
            mine.remove(match)
            for name, theirs_value, my_value in zip(_FIELD_NAMES[protocol], value, match):
                result.fields[name] += theirs_value == my_value
    return result


@dataclass
class ConformanceReport:
    protocols: dict[str, ProtocolAgreement]
    traces: int
    skipped: list[str]

    def lines(self) -> Iterable[str]:
        yield f"Zeek conformance over {self.traces} traces"
        for name, result in self.protocols.items():
            fields = ", ".join(f"{f} {result.fields[f] / result.tuple_found:.1%}" for f in _FIELD_NAMES[name]
                               if result.tuple_found)
            yield (f"  {name:5} {result.same}/{result.zeek} = {result.agreement:.2%} same "
                   f"(tuple found {result.tuple_found}; fields: {fields})")


def run_conformance(corpus: Path) -> ConformanceReport:
    """Compare the sensor with every (trace, conn/dns/http/ssl/ssh log) pair of PAIRS.tsv."""
    protocols = {name: ProtocolAgreement(name) for name in PROTOCOL_LOGS}
    traces, skipped = 0, []
    with (corpus / "PAIRS.tsv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    for row in rows:
        baselines = corpus / "baselines" / row["test"]
        logs = {p: baselines / f for p, f in PROTOCOL_LOGS.items() if (baselines / f).is_file()}
        trace_names = row["traces"].split(",")
        if not logs:
            continue
        if len(trace_names) != 1:
            skipped.append(f"{row['test']}: {len(trace_names)} traces for one log")
            continue
        trace = corpus / "traces" / trace_names[0]
        events, _ = read_pcap(trace, max_flows=1_000_000, idle_timeout=3600.0)
        traces += 1
        for protocol, log in logs.items():
            protocols[protocol].merge(compare(protocol, read_zeek_log(log), events, row["test"]))
    return ConformanceReport(protocols, traces, skipped)
