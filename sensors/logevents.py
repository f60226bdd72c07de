"""Log lines to edusoc events: syslog (with sshd/auth and iptables parsers), Suricata EVE JSON, generic JSON.

    syslog_event(message, raw)       # edusoc.auth for sshd/sudo, edusoc.firewall for iptables, else edusoc.syslog
    eve_event(record, raw)           # edusoc.suricata: alerts as event.kind=alert, dns/http/tls/ssh/flow mapped to ECS
    json_event(record, raw)          # edusoc.json: known ECS keys kept, the rest in message

Each builder takes the raw bytes too: the event id is derived from them (and where they were
read), so a line re-sent after a crash gets the same id and the collector keeps one copy.
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from datetime import datetime, timezone
from typing import Any

from soc_core.events import FIELDS, EventError, _check_value, format_timestamp, parse_timestamp, stable_event_id
from sensors.syslog import SyslogMessage
from sensors.weblog import decode_text

MODULE = "logs"
SYSLOG_DATASET, AUTH_DATASET, FIREWALL_DATASET = "edusoc.syslog", "edusoc.auth", "edusoc.firewall"
SURICATA_DATASET, JSON_DATASET = "edusoc.suricata", "edusoc.json"

_SSH_ACCEPTED = re.compile(r"^Accepted (\S+) for (.+?) from (\S+) port (\d+)")
_SSH_FAILED = re.compile(r"^Failed (\S+) for (invalid user )?(.+?) from (\S+) port (\d+)")
_SSH_INVALID = re.compile(r"^Invalid user (.*?) from (\S+)(?: port (\d+))?")
_SSH_MAX_TRIES = re.compile(r"^error: maximum authentication attempts exceeded for (invalid user )?(.+?) from (\S+) port (\d+)")
_SSH_CLOSED = re.compile(r"^(?:Connection closed|Disconnected) by (?:(?:authenticating|invalid) user (.+?) )?(\S+) port (\d+)")
_PAM_FAILURE = re.compile(r"authentication failure;.*?rhost=(\S*)(?:\s+user=(\S+))?")
_SUDO = re.compile(r"^\s*(\S+) : .*?COMMAND=(.*)$")
_KERNEL_TIME = re.compile(r"^\s*\[\s*\d+\.\d+\]")  # dmesg's seconds since boot
_KV = re.compile(r"\b([A-Z]{2,6})=(\S*)")
_DENY_WORDS = ("DROP", "BLOCK", "REJECT", "DENY", "DENIED")
_ALLOW_WORDS = ("ACCEPT", "ALLOW", "PERMIT")
_EVE_SEVERITY = {1: 4, 2: 3, 3: 2, 4: 1}  # Suricata 1 (high) .. 4 to edusoc 1 (info) .. 5 (critical)


def _raw_id(dataset: str, raw: bytes, where: object) -> str:
    return stable_event_id(dataset, hashlib.sha256(raw).hexdigest(), where)


def _ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.strip("[]")))
    except ValueError:
        return None


def _base(dataset: str, timestamp: datetime, raw: bytes, where: object, original: str) -> dict[str, Any]:
    return {
        "@timestamp": format_timestamp(timestamp),
        "event.id": _raw_id(dataset, raw, where),
        "event.kind": "event",
        "event.dataset": dataset,
        "event.module": MODULE,
        "event.original": original,
        "message": original,
    }


def auth_fields(app: str | None, text: str) -> dict[str, Any] | None:
    """sshd/sudo lines (auth.log, secure) to ECS authentication fields; None when not one of those."""
    if app == "sudo":
        match = _SUDO.match(text)
        if match is None:
            return None
        return {"event.category": ["authentication"], "event.type": ["start"], "event.action": "sudo",
                "user.name": match.group(1), "event.outcome": "failure" if "NOT in sudoers" in text else "success"}
    if app not in ("sshd", "sshd-session"):
        return None
    fields: dict[str, Any] = {"event.category": ["authentication"], "event.type": ["start"]}
    if match := _SSH_ACCEPTED.match(text):
        method, user, ip, port = match.groups()
        fields.update({"event.action": "ssh_login", "event.outcome": "success", "user.name": user})
    elif match := _SSH_FAILED.match(text):
        method, invalid, user, ip, port = match.groups()
        fields.update({"event.action": "ssh_login", "event.outcome": "failure", "user.name": user})
        if invalid:
            fields["event.reason"] = "invalid user"
    elif match := _SSH_MAX_TRIES.match(text):
        invalid, user, ip, port = match.groups()
        fields.update({"event.action": "ssh_login", "event.outcome": "failure", "user.name": user,
                       "event.reason": "maximum authentication attempts exceeded"})
    elif match := _SSH_INVALID.match(text):
        user, ip, port = match.groups()
        fields.update({"event.action": "ssh_invalid_user", "event.outcome": "failure", "user.name": user})
    elif match := _SSH_CLOSED.match(text):
        user, ip, port = match.groups()
        fields.update({"event.action": "ssh_disconnect", "event.type": ["end"]})
        if user:
            fields["user.name"] = user
    elif match := _PAM_FAILURE.search(text):
        ip, user = match.group(1), match.group(2)
        port = None
        fields.update({"event.action": "ssh_login", "event.outcome": "failure"})
        if user:
            fields["user.name"] = user
    else:
        return None
    if (address := _ip(ip)) is not None:
        fields["source.ip"] = address
        if port:
            fields["source.port"] = int(port)
    return fields


def firewall_fields(text: str) -> dict[str, Any] | None:
    """A netfilter (iptables/nftables LOG target) kernel line to ECS network fields; None otherwise."""
    if "IN=" not in text or "SRC=" not in text:
        return None
    values = dict(_KV.findall(text))
    prefix = _KERNEL_TIME.sub("", text[: text.index("IN=")]).strip().upper()
    source, destination = _ip(values.get("SRC")), _ip(values.get("DST"))
    if source is None or destination is None:
        return None
    action = ("deny" if any(w in prefix for w in _DENY_WORDS) else
              "allow" if any(w in prefix for w in _ALLOW_WORDS) else "log")
    fields: dict[str, Any] = {
        "event.category": ["network"],
        "event.type": ["connection"] + (["denied"] if action == "deny" else ["allowed"] if action == "allow" else []),
        "event.action": action, "source.ip": source, "destination.ip": destination,
    }
    if proto := values.get("PROTO"):
        fields["network.transport"] = proto.lower()
    for key, name in (("SPT", "source.port"), ("DPT", "destination.port"), ("TYPE", "icmp.type"),
                      ("CODE", "icmp.code"), ("LEN", "network.bytes")):
        if values.get(key, "").isdigit() and int(values[key]) <= 65535:
            fields[name] = int(values[key])
    if values.get("IN"):
        fields["observer.ingress.interface.name"] = values["IN"]
    if values.get("OUT"):
        fields["observer.egress.interface.name"] = values["OUT"]
    if prefix:
        fields["rule.name"] = prefix.strip("[]: ")[:128] or None
    return fields


def syslog_event(message: SyslogMessage, raw: bytes, *, received: datetime, where: object = "",
                 sender: str | None = None) -> dict[str, Any]:
    """The event of one syslog message: auth, firewall or plain syslog."""
    text = message.message
    original = decode_text(raw)
    if auth := auth_fields(message.app_name, text):
        dataset, extra = AUTH_DATASET, auth
    elif message.app_name in (None, "kernel") and (firewall := firewall_fields(text)):
        dataset, extra = FIREWALL_DATASET, firewall
    else:
        dataset, extra = SYSLOG_DATASET, {"event.category": ["host"], "event.type": ["info"]}
    event = _base(dataset, message.timestamp or received, raw, where, original)
    event["message"] = text
    event.update({k: v for k, v in extra.items() if v is not None})
    event["log.syslog.priority"] = message.priority
    event["log.syslog.facility.name"] = message.facility
    event["log.syslog.severity.name"] = message.severity
    hostname = message.hostname or sender
    if hostname:
        event["host.hostname"] = hostname
    if message.app_name:
        event["process.name"] = message.app_name
    if message.procid and message.procid.isdigit():
        event["process.pid"] = int(message.procid)
    if sender:
        event["log.source.address"] = sender
    return event


def _get(record: dict[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _timestamp(value: Any, fallback: datetime) -> datetime:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    if isinstance(value, str):
        try:
            return parse_timestamp(re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", value))
        except ValueError:
            pass
    return fallback


def eve_event(record: dict[str, Any], raw: bytes, *, received: datetime, where: object = "") -> dict[str, Any]:
    """One Suricata EVE JSON record to an edusoc.suricata event (alerts become event.kind=alert)."""
    kind = str(record.get("event_type", "unknown"))
    event = _base(SURICATA_DATASET, _timestamp(record.get("timestamp"), received), raw, where, decode_text(raw))
    event["event.action"] = kind
    event["event.category"] = ["network"]
    event["event.type"] = ["info"]
    mapping = {"src_ip": "source.ip", "dest_ip": "destination.ip", "src_port": "source.port",
               "dest_port": "destination.port", "community_id": "network.community_id"}
    for key, name in mapping.items():
        event[name] = record.get(key)
    if isinstance(record.get("proto"), str):
        event["network.transport"] = record["proto"].lower()
    if isinstance(record.get("app_proto"), str) and record["app_proto"] not in ("failed", "unknown"):
        event["network.protocol"] = record["app_proto"].lower()
    summary = kind
    if kind == "alert":
        event["event.kind"] = "alert"
        event["event.category"] = ["intrusion_detection", "network"]
        signature_id = _get(record, "alert.signature_id")
        event["rule.id"] = str(signature_id) if signature_id is not None else None
        event["rule.name"] = _get(record, "alert.signature")
        event["rule.category"] = _get(record, "alert.category")
        severity = _get(record, "alert.severity")
        event["event.severity"] = _EVE_SEVERITY.get(severity, 2) if isinstance(severity, int) else None
        event["event.action"] = _get(record, "alert.action") or "alert"
        summary = f"alert {event['rule.id'] or '?'}: {event['rule.name'] or ''}"
    elif kind == "dns":
        dns_value = record.get("dns")
        dns: dict[str, Any] = dns_value if isinstance(dns_value, dict) else {}
        queries_value = dns.get("queries")
        queries: list[Any] = queries_value if isinstance(queries_value, list) else []
        first: dict[str, Any] = queries[0] if queries and isinstance(queries[0], dict) else dns
        event["event.type"] = ["protocol"]
        event["dns.id"] = dns.get("id")
        event["dns.question.name"] = first.get("rrname")
        event["dns.question.type"] = first.get("rrtype")
        event["dns.response_code"] = dns.get("rcode")
        event["dns.type"] = "answer" if dns.get("type") in ("answer", "response") or "rcode" in dns else "query"
        summary = f"dns {event['dns.question.name']}"
    elif kind == "http":
        event["event.type"] = ["protocol"]
        for path, name in (("http.hostname", "url.domain"), ("http.url", "url.original"),
                           ("http.http_method", "http.request.method"), ("http.http_user_agent", "user_agent.original"),
                           ("http.http_refer", "http.request.referrer"), ("http.status", "http.response.status_code"),
                           ("http.length", "http.response.body.bytes"), ("http.http_content_type", "http.response.mime_type")):
            event[name] = _get(record, path)
        summary = f"http {event['http.request.method']} {event['url.domain']}{event['url.original']}"
    elif kind == "tls":
        event["event.type"] = ["protocol"]
        event["tls.client.server_name"] = _get(record, "tls.sni")
        version = _get(record, "tls.version")
        if isinstance(version, str) and " " in version:
            protocol, _, number = version.partition(" ")
            event["tls.version_protocol"], event["tls.version"] = protocol.lower(), number
        event["tls.client.ja3"] = _get(record, "tls.ja3.hash")
        event["tls.client.ja4"] = _get(record, "tls.ja4")
        summary = f"tls {event['tls.client.server_name']}"
    elif kind == "ssh":
        event["event.type"] = ["protocol"]
        for side in ("client", "server"):
            proto, software = _get(record, f"ssh.{side}.proto_version"), _get(record, f"ssh.{side}.software_version")
            if proto or software:
                event[f"ssh.{side}"] = f"SSH-{proto or '?'}-{software or ''}"
    elif kind == "flow":
        event["event.type"] = ["connection"]
        for path, name in (("flow.pkts_toserver", "source.packets"), ("flow.pkts_toclient", "destination.packets"),
                           ("flow.bytes_toserver", "source.bytes"), ("flow.bytes_toclient", "destination.bytes")):
            event[name] = _get(record, path)
    event["message"] = summary
    return _keep_valid(event)


def _keep_valid(event: dict[str, Any]) -> dict[str, Any]:
    """Drop unset values and values of the wrong type (a device's odd field never costs the event)."""
    kept: dict[str, Any] = {}
    for name, value in event.items():
        if value is None or value == "":
            continue
        spec = FIELDS.get(name)
        if spec is None:
            continue
        try:
            kept[name] = _check_value(name, spec, value)
        except EventError:
            continue
    return kept


def _flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


_TIME_KEYS = ("@timestamp", "timestamp", "time", "ts", "datetime", "date")


def json_event(record: dict[str, Any], raw: bytes, *, received: datetime, where: object = "") -> dict[str, Any]:
    """A JSON log line: its ECS-named keys are kept (when their values fit), everything stays in event.original."""
    flat = _flatten(record)
    when = next((flat[k] for k in _TIME_KEYS if k in flat), None)
    original = decode_text(raw)
    event = _base(JSON_DATASET, _timestamp(when, received), raw, where, original)
    event["event.category"] = ["host"]
    event["event.type"] = ["info"]
    protected = set(event)
    for name, value in flat.items():
        if name in FIELDS and name not in protected and name not in ("@timestamp", "event.ingested"):
            event[name] = value
    text = flat.get("message") or flat.get("msg")
    event["message"] = text if isinstance(text, str) else original[:512]
    return _keep_valid(event)


def parse_json_line(raw: bytes) -> dict[str, Any]:
    """A JSON object from one line; raises ValueError for anything else."""
    value = json.loads(decode_text(raw))
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    return value
