"""The event schema: an ECS subset as flat dotted keys, and its validation.

Every event is a ``dict[str, object]`` whose keys are ECS field names (``source.ip``,
``dns.question.name``). The same dict goes to SQLite, to Elasticsearch and through Sigma
rules. ``FIELDS`` documents each field with its type and unit; ``validate_event`` is the
one place a raw dict becomes a trusted event.
"""
from __future__ import annotations

import hashlib
import ipaddress
import re
import socket
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from soc_core.errors import EdusocError, Location

FieldType = Literal["keyword", "text", "ip", "port", "long", "float", "date", "keywords", "objects", "bool"]


@dataclass(frozen=True)
class FieldSpec:
    type: FieldType
    doc: str


FIELDS: dict[str, FieldSpec] = {
    # -- base
    "@timestamp": FieldSpec("date", "When the event happened (flow start, query time, log line time); ISO 8601 UTC."),
    "message": FieldSpec("text", "Human-readable summary or the raw log message."),
    "tags": FieldSpec("keywords", "Free labels, e.g. 'sample', 'replay'."),
    # -- event.*
    "event.id": FieldSpec("keyword", "Stable id: the same observation always gets the same id, so retries never duplicate."),
    "event.kind": FieldSpec("keyword", "'event' for observations, 'alert' for detections."),
    "event.category": FieldSpec("keywords", "ECS categories, e.g. ['network'], ['web']."),
    "event.type": FieldSpec("keywords", "ECS types, e.g. ['connection'], ['access'], ['protocol']."),
    "event.dataset": FieldSpec("keyword", "Record type: edusoc.flow, edusoc.dns, edusoc.http, edusoc.files, "
                               "edusoc.tls, edusoc.ssh (from packets, like Zeek's conn/dns/http/files/ssl/ssh "
                               "logs), edusoc.web (access logs)."),
    "event.module": FieldSpec("keyword", "Producer: 'pcap' or 'weblog'."),
    "event.start": FieldSpec("date", "First packet of a flow; ISO 8601 UTC."),
    "event.end": FieldSpec("date", "Last packet of a flow; ISO 8601 UTC."),
    "event.duration": FieldSpec("long", "event.end - event.start in nanoseconds (ECS unit)."),
    "event.outcome": FieldSpec("keyword", "success / failure / unknown."),
    "event.action": FieldSpec("keyword", "What happened, in the source's words: ssh_login, sudo, deny, allow, alert, dns..."),
    "event.reason": FieldSpec("keyword", "Why it happened, when the source says (e.g. 'invalid user')."),
    "event.original": FieldSpec("text", "The raw log line, as received (decoded to text)."),
    "event.ingested": FieldSpec("date", "When the collector accepted the event; set by the collector."),
    # -- where it was seen
    "observer.id": FieldSpec("keyword", "Sensor id that produced the event."),
    "observer.name": FieldSpec("keyword", "Sensor name."),
    "organization.id": FieldSpec("keyword", "Owning unit (school or bureau) id; set by the collector from the sensor's unit."),
    "organization.name": FieldSpec("keyword", "Owning unit name."),
    # -- enrichment from the asset inventory (edusoc extension; set by the collector, never by sensors)
    "source.unit.id": FieldSpec("keyword", "Unit whose inventoried IP range holds source.ip."),
    "source.unit.name": FieldSpec("keyword", "Name of that unit."),
    "source.asset.name": FieldSpec("keyword", "Inventoried host at source.ip (its host name)."),
    "destination.unit.id": FieldSpec("keyword", "Unit whose inventoried IP range holds destination.ip."),
    "destination.unit.name": FieldSpec("keyword", "Name of that unit."),
    "destination.asset.name": FieldSpec("keyword", "Inventoried host at destination.ip (its host name)."),
    # -- endpoints
    "source.ip": FieldSpec("ip", "Originator address (who sent the first packet / the HTTP client)."),
    "source.port": FieldSpec("port", "Originator port."),
    "source.bytes": FieldSpec("long", "Bytes sent by the originator: IP length of its packets, headers included."),
    "source.packets": FieldSpec("long", "Packets sent by the originator."),
    "destination.ip": FieldSpec("ip", "Responder address."),
    "destination.port": FieldSpec("port", "Responder port."),
    "destination.bytes": FieldSpec("long", "Bytes sent by the responder: IP length of its packets, headers included."),
    "destination.packets": FieldSpec("long", "Packets sent by the responder."),
    # -- network
    "network.transport": FieldSpec("keyword", "tcp, udp, icmp."),
    "network.protocol": FieldSpec("keyword", "Application protocol when known: dns, http, tls, ssh."),
    "network.community_id": FieldSpec("keyword", "Community ID v1 flow hash (links flows across tools, e.g. Zeek)."),
    "network.bytes": FieldSpec("long", "source.bytes + destination.bytes."),
    "network.packets": FieldSpec("long", "source.packets + destination.packets."),
    "network.connection.state": FieldSpec("keyword", "TCP connection state in Zeek's terms: S0, S1, SF, REJ, RSTO, RSTR, OTH..."),
    "icmp.type": FieldSpec("long", "ICMP/ICMPv6 message type of the flow's first message (not in ECS)."),
    "icmp.code": FieldSpec("long", "ICMP/ICMPv6 message code of the flow's first message (not in ECS)."),
    # -- dns
    "dns.id": FieldSpec("long", "DNS transaction id."),
    "dns.type": FieldSpec("keyword", "'query' (no response seen) or 'answer'."),
    "dns.question.name": FieldSpec("keyword", "Queried name, lower-case, no trailing dot."),
    "dns.question.type": FieldSpec("keyword", "Query type mnemonic: A, AAAA, TXT, ..."),
    "dns.response_code": FieldSpec("keyword", "NOERROR, NXDOMAIN, SERVFAIL, ..."),
    "dns.answers": FieldSpec("objects", "Answers: list of {name, type, data, ttl (seconds)}."),
    "dns.resolved_ip": FieldSpec("keywords", "Addresses from A/AAAA answers."),
    # -- web
    "http.request.method": FieldSpec("keyword", "GET, POST, ..."),
    "http.request.referrer": FieldSpec("keyword", "Referer header."),
    "http.request.body.bytes": FieldSpec("long", "Request body length in bytes: decoded length when its "
                                         "Content-Encoding was undone whole, else as transferred (Zeek's "
                                         "request_body_len)."),
    "http.request.body.content": FieldSpec("keyword", "First N KB of the request body (sensor setting carve_kb, "
                                           "default 1024), base64 of the carved bytes (content coding undone when "
                                           "http.request.body.content_decoded) so binary uploads reach YARA intact."),
    "http.response.body.content": FieldSpec("keyword", "First N KB of the response body, base64 of the carved "
                                            "bytes (after chunked decoding; content coding undone when "
                                            "http.response.body.content_decoded)."),
    "http.response.mime_type": FieldSpec("keyword", "Content-Type header of the response."),
    "http.request.content_encoding": FieldSpec("keyword", "Content-Encoding header of the request, lower case "
                                               "(not in ECS)."),
    "http.response.content_encoding": FieldSpec("keyword", "Content-Encoding header of the response, lower case "
                                                "(gzip, deflate, br; not in ECS)."),
    "http.request.body.content_decoded": FieldSpec("bool", "The request's carved content is the decoded body "
                                                   "(its Content-Encoding undone); false: the bytes as sent."),
    "http.response.body.content_decoded": FieldSpec("bool", "The response's carved content is the decoded body "
                                                    "(gzip/deflate/br undone, at most the carve size); false: as sent."),
    "http.request.mime_type": FieldSpec("keyword", "Content-Type header of the request, as sent "
                                        "(multipart/form-data; boundary=...)."),
    "http.request.cookie": FieldSpec("keyword", "Cookie header of the request, as sent (not in ECS; for Sigma "
                                     "and the CRS)."),
    "http.request.body.form": FieldSpec("keywords", "Fields of a form body as 'name=value', decoded: "
                                        "application/x-www-form-urlencoded pairs and the non-file parts of "
                                        "multipart/form-data (at most 256 fields, 4096 characters a value; not "
                                        "in ECS). Sigma: http.request.body.form|contains."),
    "http.request.body.truncated": FieldSpec("bool", "The request body was longer than its carve (sensor "
                                             "setting carve_kb, or the carve budget was spent): "
                                             "http.request.body.content holds only its head."),
    "http.response.body.truncated": FieldSpec("bool", "The response body was longer than its carve."),
    "http.request.body.wire_bytes": FieldSpec("long", "Request body bytes as transferred (after chunked "
                                              "framing, before content decoding; not in ECS)."),
    "http.response.body.wire_bytes": FieldSpec("long", "Response body bytes as transferred (after chunked "
                                               "framing, before gzip/deflate/br decoding; not in ECS)."),
    "http.request.body.files": FieldSpec("long", "Files cut out of this multipart request body as edusoc.files "
                                         "events (YARA scans those, not the raw body; not in ECS)."),
    "http.trans_depth": FieldSpec("long", "Position of the request in its connection, from 1 (Zeek's "
                                  "trans_depth); with network.community_id it links edusoc.files to edusoc.http."),
    "http.response.status_code": FieldSpec("long", "HTTP status."),
    "http.response.body.bytes": FieldSpec("long", "Response body length in bytes: from packets the decoded "
                                          "length when gzip/deflate/br was undone whole, else as transferred "
                                          "(Zeek's response_body_len); from logs the access log's body_bytes_sent."),
    "http.version": FieldSpec("keyword", "1.0, 1.1."),
    "url.original": FieldSpec("keyword", "Request target as sent (path and query, not decoded)."),
    "url.path": FieldSpec("keyword", "Path part of the request target."),
    "url.query": FieldSpec("keyword", "Query string without the '?'."),
    "url.extension": FieldSpec("keyword", "Extension of the path's last segment, lower case, no dot (php, exe)."),
    "url.domain": FieldSpec("keyword", "Host header / virtual host."),
    "user_agent.original": FieldSpec("keyword", "User-Agent header."),
    "user.name": FieldSpec("keyword", "Authenticated user name, when the log has one."),
    # -- tls (edusoc.tls)
    "tls.client.server_name": FieldSpec("keyword", "Server Name Indication the client sent."),
    "tls.version": FieldSpec("keyword", "Version the server chose: 1.0, 1.1, 1.2, 1.3 (3.0 for SSL)."),
    "tls.version_protocol": FieldSpec("keyword", "'tls' or 'ssl'."),
    "tls.cipher": FieldSpec("keyword", "Cipher suite the server chose, IANA name (TLS_AES_128_GCM_SHA256)."),
    "tls.client.ja3": FieldSpec("keyword", "JA3 hash of the ClientHello (md5, hex)."),
    "tls.client.ja4": FieldSpec("keyword", "JA4 fingerprint of the ClientHello (FoxIO JA4 spec; not in ECS)."),
    "tls.established": FieldSpec("bool", "Encrypted application data followed the handshake."),
    "tls.next_protocol": FieldSpec("keyword", "ALPN protocol the server chose, lower case (h2, http/1.1)."),
    "tls.server.ja3s": FieldSpec("keyword", "JA3S hash of the ServerHello (md5, hex)."),
    "tls.server.ja4s": FieldSpec("keyword", "JA4S fingerprint of the ServerHello (FoxIO JA4S spec; not in ECS)."),
    # the server's certificate, read from the clear-text Certificate message (TLS 1.2 and older)
    "tls.server.hash.sha256": FieldSpec("keyword", "SHA-256 of the server certificate's DER, upper-case hex."),
    "tls.server.hash.sha1": FieldSpec("keyword", "SHA-1 of the server certificate's DER, upper-case hex."),
    "tls.server.subject": FieldSpec("keyword", "Subject of the server certificate (RFC 4514: CN=...,O=...,C=...)."),
    "tls.server.issuer": FieldSpec("keyword", "Issuer of the server certificate (RFC 4514)."),
    "tls.server.not_before": FieldSpec("date", "Server certificate valid from; ISO 8601 UTC."),
    "tls.server.not_after": FieldSpec("date", "Server certificate valid until; ISO 8601 UTC."),
    "tls.server.x509.version_number": FieldSpec("keyword", "X.509 version of the server certificate: '3'."),
    "tls.server.x509.serial_number": FieldSpec("keyword", "Serial number, upper-case hex (as Zeek's x509.log)."),
    "tls.server.x509.subject.distinguished_name": FieldSpec("keyword", "Subject DN (RFC 4514)."),
    "tls.server.x509.subject.common_name": FieldSpec("keywords", "Subject CN values."),
    "tls.server.x509.subject.organization": FieldSpec("keywords", "Subject O values."),
    "tls.server.x509.issuer.distinguished_name": FieldSpec("keyword", "Issuer DN (RFC 4514)."),
    "tls.server.x509.issuer.common_name": FieldSpec("keywords", "Issuer CN values."),
    "tls.server.x509.not_before": FieldSpec("date", "Valid from; ISO 8601 UTC."),
    "tls.server.x509.not_after": FieldSpec("date", "Valid until; ISO 8601 UTC."),
    "tls.server.x509.alternative_names": FieldSpec("keywords", "subjectAltName DNS names, then IP addresses."),
    "tls.server.x509.public_key_algorithm": FieldSpec("keyword", "rsa, ecdsa, dsa, ed25519, ed448."),
    "tls.server.x509.public_key_size": FieldSpec("long", "Key size in bits."),
    "tls.server.x509.public_key_curve": FieldSpec("keyword", "Named curve of an EC key (secp256r1, ...)."),
    "tls.server.x509.public_key_exponent": FieldSpec("long", "RSA public exponent."),
    "tls.server.x509.signature_algorithm": FieldSpec("keyword", "Signature algorithm (sha256WithRSAEncryption, ...)."),
    # -- deep dissection through tshark (edusoc.deep; `sensor pcap --deep`)
    "deep.fields": FieldSpec("keywords", "Fields tshark decoded for a protocol the fast path does not cover, as "
                             "'name=value' with tshark's field names (passwords and AUTH arguments left out)."),
    "file.name": FieldSpec("keyword", "Name of a file a protocol transferred or opened (SMB; edusoc.files: the "
                           "multipart filename, else the last segment of the URL path)."),
    # -- files out of HTTP (edusoc.files, like Zeek's files.log; one event per file, linked to its
    #    edusoc.http event by file.http_event_id, or network.community_id + http.trans_depth)
    "file.direction": FieldSpec("keyword", "upload (in a request) or download (in a response); not in ECS."),
    "file.source": FieldSpec("keyword", "multipart (a part of a form upload) or body (the whole HTTP body); "
                             "not in ECS."),
    "file.size": FieldSpec("long", "File size in bytes (decoded; for a truncated file, what was sent)."),
    "file.extension": FieldSpec("keyword", "Extension of file.name, lower case, without the dot."),
    "file.mime_type": FieldSpec("keyword", "MIME type sniffed from the file's first bytes (text/x-php, "
                                "application/x-dosexec, ...)."),
    "file.declared_mime_type": FieldSpec("keyword", "MIME type the sender declared (the part's or the "
                                         "message's Content-Type); not in ECS."),
    "file.hash.sha256": FieldSpec("keyword", "SHA-256 of the whole file, lower-case hex; absent when the file "
                                  "was truncated."),
    "file.hash.md5": FieldSpec("keyword", "MD5 of the whole file, lower-case hex; absent when truncated."),
    "file.truncated": FieldSpec("bool", "The carve stopped before the file ended (no hashes then); not in ECS."),
    "file.content": FieldSpec("keyword", "Base64 of a multipart part's carved content, which YARA scans as a "
                              "file (a whole-body file is in its edusoc.http event's body content); not in ECS."),
    "file.form_field": FieldSpec("keyword", "Form field name of a multipart upload part; not in ECS."),
    "file.http_event_id": FieldSpec("keyword", "event.id of the edusoc.http event the file was carried in; "
                                    "not in ECS."),
    # -- ssh (edusoc.ssh; not in ECS, named after Zeek's ssh.log)
    "ssh.client": FieldSpec("keyword", "Client identification banner, e.g. SSH-2.0-OpenSSH_9.6."),
    "ssh.server": FieldSpec("keyword", "Server identification banner."),
    "ssh.version": FieldSpec("long", "SSH major protocol version: 2 (also for SSH-1.99) or 1."),
    # -- logs (syslog receiver, tailed files)
    "log.syslog.priority": FieldSpec("long", "Syslog PRI (facility * 8 + severity)."),
    "log.syslog.facility.name": FieldSpec("keyword", "Syslog facility: kern, auth, authpriv, local0, ..."),
    "log.syslog.severity.name": FieldSpec("keyword", "Syslog severity: emergency .. debug."),
    "log.source.address": FieldSpec("keyword", "Address the syslog message came from (the sending device)."),
    "log.file.path": FieldSpec("keyword", "File the line was read from."),
    "host.hostname": FieldSpec("keyword", "Host name in the log header (or the sender's address); for "
                               "edusoc.deep DHCP records, the host name the client asked for."),
    "process.name": FieldSpec("keyword", "Program that logged (syslog APP-NAME / tag), e.g. sshd."),
    "process.pid": FieldSpec("long", "Process id from the syslog header."),
    "observer.ingress.interface.name": FieldSpec("keyword", "Firewall interface the packet came in on (iptables IN=)."),
    "observer.egress.interface.name": FieldSpec("keyword", "Firewall interface the packet went out on (iptables OUT=)."),
    "rule.category": FieldSpec("keyword", "Category of the rule (Suricata alert category)."),
    # -- detection (set on alerts)
    "rule.id": FieldSpec("keyword", "Id of the rule that raised the alert."),
    # -- red-blue exercises (攻防演练)
    "drill.id": FieldSpec("keyword", "Exercise (攻防演练) the event belongs to, set by the collector (a sensor's value is "
                          "dropped): its source or destination is a whitelisted red-team address of an exercise whose "
                          "window holds @timestamp and whose scope units hold organization.id. Alerts copy it; their "
                          "incidents are drill incidents (演练) kept out of real deadlines, compliance and escalation."),
    "rule.name": FieldSpec("keyword", "Title of the rule."),
    "event.severity": FieldSpec("long", "Numeric severity: 1 informational .. 5 critical."),
}

REQUIRED_FIELDS = ("@timestamp", "event.id", "event.kind", "event.dataset")
EVENT_KINDS = ("event", "alert")


class EventError(EdusocError, ValueError):
    """One event is invalid; ``field`` names the offending key, if there is one (also as its ``location``)."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason, location=Location(field=field) if field else None)
        self.reason = reason
        self.field = field


# A sensor's id is at most SENSOR_EVENT_ID_MAX characters; the collector stores it as
# "<unit id>:<sensor's id>" (owned_event_id), which must still pass validation (the disk-queue drain
# and quarantine retries validate stored events again).
SENSOR_EVENT_ID_MAX = 128
EVENT_ID_MAX = SENSOR_EVENT_ID_MAX + 24


def owned_event_id(unit_id: str, sensor_event_id: str) -> str:
    """The stored id of an event a sensor of ``unit_id`` sent: ids are unique per sending unit, so a
    sensor of another unit cannot send an id first and have the genuine event refused as a duplicate.
    Unit ids are digits: the first ``:`` separates, so no two (unit, id) pairs share a stored id."""
    return f"{unit_id}:{sensor_event_id}"


def stable_event_id(*parts: object) -> str:
    """A deterministic id from the identifying parts of an observation."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode("utf-8", "surrogatepass"), digest_size=16)
    return digest.hexdigest()


def format_timestamp(instant: datetime) -> str:
    """ISO 8601 UTC with microseconds and a Z, the form every event carries (always a four-digit year:
    strftime's ``%Y`` writes year 36 as ``36``, which no store reads back)."""
    if instant.tzinfo is not None:
        instant = instant.astimezone(timezone.utc).replace(tzinfo=None)
    return instant.isoformat(timespec="microseconds") + "Z"


# One range of instants both stores accept: Elasticsearch keeps event times as ``date_nanos``
# (1970-01-01 .. 2262-04-11), SQLite names a day partition after the year. The validator refuses the
# rest with the field, so a store never sees an event it cannot place (issue 14: a year-999 event
# wedged the whole ingest path). Certificate validity dates are calendar dates (RFC 5280 allows
# years 0001..9999, 99991231235959Z meaning "no expiry"), kept as a plain ``date``.
EARLIEST_INSTANT = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST_INSTANT = datetime(2262, 1, 1, tzinfo=timezone.utc)  # exclusive
CALENDAR_DATE_FIELDS = frozenset({
    "tls.server.not_before", "tls.server.not_after", "tls.server.x509.not_before", "tls.server.x509.not_after",
})
_EARLIEST_TEXT, _LATEST_TEXT = "1970-01-01T", "2262-01-01T"


def check_instant(name: str, instant: datetime) -> datetime:
    """``instant`` if a store can hold it in field ``name``; EventError naming the field otherwise."""
    if name not in CALENDAR_DATE_FIELDS and not EARLIEST_INSTANT <= instant < LATEST_INSTANT:
        raise EventError(f"{name}: {format_timestamp(instant)} is outside the range the event stores hold "
                         f"({EARLIEST_INSTANT.year}-01-01 to {LATEST_INSTANT.year - 1}-12-31 UTC)", name)
    return instant


def timestamp_from_epoch(seconds: float) -> str:
    return format_timestamp(datetime.fromtimestamp(seconds, tz=timezone.utc))


def parse_timestamp(value: str) -> datetime:
    """Parse an ISO 8601 timestamp; naive values are taken as UTC."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


# Addresses repeat across events; parsing one with ipaddress costs ~10 µs, a dict probe ~50 ns,
# and a canonical IPv4 string's round trip through inet_pton/inet_ntop ~0.5 µs.
_IP_CACHE: dict[str, str] = {}
_IP_CACHE_SIZE = 1 << 16
# Elasticsearch's long (and every JSON encoder's int) is signed 64-bit.
_LONG_MAX = (1 << 63) - 1


def _normalise_ip(value: str) -> str:
    """The address in its canonical form (what ``str(ipaddress.ip_address(value))`` gives)."""
    if ":" not in value:
        try:
            # Dotted-quad IPv4 already canonical (no leading zeros): its own round trip.
            if socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, value)) == value:
                return value
        except (OSError, ValueError):
            pass  # not a plain dotted quad: ipaddress decides (and words the error)
    return str(ipaddress.ip_address(value))


def _check_value(name: str, spec: FieldSpec, value: Any) -> Any:
    kind = spec.type
    if kind in ("keyword", "text"):
        if not isinstance(value, str):
            raise EventError(f"{name}: expected a string, got {type(value).__name__}", name)
        return value
    if kind == "ip":
        if not isinstance(value, str):
            raise EventError(f"{name}: expected an IP address string, got {type(value).__name__}", name)
        normalised = _IP_CACHE.get(value)
        if normalised is None:
            try:
                normalised = _normalise_ip(value)
            except ValueError:
                raise EventError(f"{name}: {value!r} is not an IP address", name) from None
            if len(_IP_CACHE) >= _IP_CACHE_SIZE:
                _IP_CACHE.clear()  # crude but bounded; a campus sees a working set far below the size
            _IP_CACHE[value] = normalised
        return normalised
    if kind in ("port", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise EventError(f"{name}: expected an integer, got {type(value).__name__}", name)
        if kind == "port" and not 0 <= value <= 65535:
            raise EventError(f"{name}: port {value} outside 0..65535", name)
        if value > _LONG_MAX or value < -_LONG_MAX - 1:
            raise EventError(f"{name}: {value} does not fit in a signed 64-bit integer", name)
        if kind == "long" and value < 0 and name != "event.duration":
            raise EventError(f"{name}: must not be negative, got {value}", name)
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise EventError(f"{name}: expected a number, got {type(value).__name__}", name)
        return float(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise EventError(f"{name}: expected true or false, got {type(value).__name__}", name)
        return value
    if kind == "date":
        if not isinstance(value, str):
            raise EventError(f"{name}: expected an ISO 8601 timestamp string, got {type(value).__name__}", name)
        try:
            instant = parse_timestamp(value)
        except (ValueError, OverflowError):  # OverflowError: year 1 with a positive offset, year 9999 with a negative one
            raise EventError(f"{name}: {value!r} is not an ISO 8601 timestamp", name) from None
        return format_timestamp(check_instant(name, instant))
    if kind == "keywords":
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise EventError(f"{name}: expected a list of strings", name)
        return value
    if kind == "objects":
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise EventError(f"{name}: expected a list of objects", name)
        return value
    raise AssertionError(f"unhandled field type {kind}")


_KINDS = {name: spec.type for name, spec in FIELDS.items()}
_STRING_KINDS = frozenset({"keyword", "text"})
_CANONICAL = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


def _canonical_timestamp(value: str) -> bool:
    """Already in the form format_timestamp writes (UTC, microseconds, Z) and a real instant."""
    if not _CANONICAL.fullmatch(value):
        return False
    try:
        datetime.fromisoformat(value[:-1])
    except ValueError:
        return False
    return True


def validate_event(raw: object) -> dict[str, Any]:
    """Return a normalised copy of ``raw`` or raise EventError with the first problem found."""
    if not isinstance(raw, dict):
        raise EventError(f"an event must be a JSON object, got {type(raw).__name__}")
    for name in REQUIRED_FIELDS:
        if raw.get(name) in (None, ""):
            raise EventError(f"{name}: required field is missing", name)
    event: dict[str, Any] = {}
    for name, value in raw.items():
        kind = _KINDS.get(name)
        if kind is None:
            raise EventError(f"{name}: not a field of the edusoc event schema", name)
        if value is None:
            continue
        # Fast paths for what sensors send nearly always (the hot loop of ingest); the rest,
        # and every error, go through _check_value.
        value_type = type(value)
        if value_type is str:
            if kind in _STRING_KINDS or (kind == "ip" and _IP_CACHE.get(value) == value) \
                    or (kind == "date" and _canonical_timestamp(value)
                        and (_EARLIEST_TEXT <= value < _LATEST_TEXT or name in CALENDAR_DATE_FIELDS)):
                event[name] = value
                continue
        elif value_type is int:
            if (kind == "long" and 0 <= value <= _LONG_MAX) or (kind == "port" and 0 <= value <= 65535):
                event[name] = value
                continue
        elif value_type is list and kind == "keywords":
            for item in value:
                if type(item) is not str:
                    break
            else:
                event[name] = value
                continue
        event[name] = _check_value(name, FIELDS[name], value)
    if event["event.kind"] not in EVENT_KINDS:
        raise EventError(f"event.kind: must be one of {', '.join(EVENT_KINDS)}, got {event['event.kind']!r}", "event.kind")
    if len(event["event.id"]) > EVENT_ID_MAX:
        raise EventError(f"event.id: longer than {EVENT_ID_MAX} characters", "event.id")
    return event
