"""nginx/apache "combined" access-log lines to edusoc.web events.

    reader = WeblogReader("access.log", log_format="nginx")
    for event in reader:
        ...
    reader.stats.errors          # [LineError(line=17, reason="...")]

Both servers write the same combined format; they differ only in escaping (nginx writes
``\\xHH``, apache ``\\"``), and both escapes are undone before decoding. Bytes are UTF-8,
else GB18030 (GBK-era Chinese clients), else UTF-8 with replacement characters.
"""
from __future__ import annotations

import hashlib
import ipaddress
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

from sensors.http_files import url_extension
from soc_core.events import format_timestamp, stable_event_id

DATASET = "edusoc.web"
MODULE = "weblog"
LogFormat = Literal["nginx", "apache"]
LOG_FORMATS: tuple[str, ...] = ("nginx", "apache")
MAX_KEPT_ERRORS = 1000

_QUOTED = rb'"((?:[^"\\]|\\.)*)"'
_COMBINED = re.compile(
    rb"^(\S+) (\S+) (\S+) \[([^\]]+)\] " + _QUOTED + rb" (\d{3}|-) (\d+|-)(?: " + _QUOTED + rb" " + _QUOTED + rb")?"
)
_ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{2}|.)")
_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_TIME = re.compile(r"^(\d{2})/([A-Z][a-z]{2})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$")


class LogLineError(ValueError):
    """One line is not a combined access-log line; ``reason`` says what was expected."""


@dataclass(frozen=True, slots=True)
class LineError:
    line: int  # 1-based line number in the file
    reason: str


@dataclass
class WeblogStats:
    path: str = ""
    lines: int = 0
    blank: int = 0
    events: int = 0
    rejected: int = 0  # lines that did not parse (first MAX_KEPT_ERRORS kept in ``errors``)
    errors: list[LineError] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "lines": self.lines, "blank": self.blank, "events": self.events,
            "rejected": self.rejected, "errors": [{"line": e.line, "reason": e.reason} for e in self.errors],
        }


def decode_text(raw: bytes) -> str:
    """UTF-8, else GB18030, else UTF-8 with U+FFFD for what cannot be decoded. Never raises."""
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", "replace")


def _unescape(value: bytes) -> str:
    if b"\\" not in value:
        return decode_text(value)

    def replace(match: re.Match[bytes]) -> bytes:
        escaped = match.group(1)
        return bytes([int(escaped[1:], 16)]) if len(escaped) == 3 and escaped[:1] == b"x" else escaped

    return decode_text(_ESCAPE.sub(replace, value))


def parse_log_time(value: str) -> datetime:
    """``02/Nov/2026:09:01:02 +0800`` to an aware datetime; raises LogLineError."""
    match = _TIME.match(value)
    if not match or match.group(2) not in _MONTHS:
        raise LogLineError(f"time {value!r} is not dd/Mon/yyyy:HH:MM:SS +zzzz")
    day, month, year, hour, minute, second, sign, off_h, off_m = match.groups()
    offset = timedelta(hours=int(off_h), minutes=int(off_m)) * (-1 if sign == "-" else 1)
    try:
        return datetime(int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second),
                        tzinfo=timezone(offset))
    except ValueError as exc:
        raise LogLineError(f"time {value!r}: {exc}") from None


def parse_line(raw: bytes | str, *, occurrence: int = 0) -> dict[str, Any]:
    """One combined-format line to an edusoc.web event; raises LogLineError with the reason.

    ``occurrence`` counts earlier identical lines in the same file, so repeated lines keep
    distinct yet stable ids.
    """
    line = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else raw
    line = line.rstrip(b"\r\n")
    match = _COMBINED.match(line)
    if match is None:
        raise LogLineError(_explain_mismatch(line))
    client, _ident, user, when, request, status, size, referrer, agent = match.groups()
    timestamp = format_timestamp(parse_log_time(decode_text(when)))
    original = decode_text(line)
    digest = hashlib.sha256(line).hexdigest()
    event: dict[str, Any] = {
        "@timestamp": timestamp,
        "event.id": stable_event_id(DATASET, digest, occurrence),
        "event.kind": "event",
        "event.category": ["web"],
        "event.type": ["access"],
        "event.dataset": DATASET,
        "event.module": MODULE,
        "event.original": original,
        "message": original,
        "source.ip": _client_ip(client),
    }
    if status != b"-":
        event["http.response.status_code"] = int(status)
        event["event.outcome"] = "failure" if int(status) >= 400 else "success"
    if size != b"-":
        event["http.response.body.bytes"] = int(size)
    if user != b"-":
        event["user.name"] = _unescape(user)
    _add_request(event, _unescape(request))
    if referrer is not None and referrer != b"-":
        event["http.request.referrer"] = _unescape(referrer)
    if agent is not None and agent != b"-":
        event["user_agent.original"] = _unescape(agent)
    return event


def _client_ip(value: bytes) -> str:
    text = decode_text(value)
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise LogLineError(f"client address {text!r} is not an IP address") from None


def _add_request(event: dict[str, Any], request: str) -> None:
    # A request line that is not "METHOD target HTTP/x" (TLS bytes sent to port 80, scanners)
    # is still an access worth keeping; it stays visible in event.original.
    # nginx logs the target as the client sent it, so attack payloads can carry literal
    # spaces ("GET /s.php?kw=' or 1=1-- HTTP/1.1"): the target is everything in between.
    parts = request.split(" ")
    if len(parts) >= 3 and parts[-1].startswith("HTTP/"):
        method, target, version = parts[0], " ".join(parts[1:-1]), parts[-1]
        event["http.version"] = version[5:]
    elif len(parts) == 2:
        method, target = parts
    else:
        return
    event["http.request.method"] = method
    event["url.original"] = target
    path, _, query = target.partition("?")
    event["url.path"] = path
    if query:
        event["url.query"] = query


def _explain_mismatch(line: bytes) -> str:
    if not line.strip():
        return "blank line"
    fields = line.split(b" ", 4)
    if len(fields) < 4 or not fields[3].startswith(b"["):
        return "expected 'client ident user [time]' at the start of a combined access-log line"
    if b'"' not in line:
        return 'expected a quoted request line ("GET /path HTTP/1.1")'
    return "expected status and size after the request line (nginx/apache combined format)"


class WeblogReader:
    """Iterate the events of one access log; ``stats`` is complete once iteration ends."""

    def __init__(self, source: str | Path | Iterable[bytes], *, log_format: LogFormat = "nginx") -> None:
        if log_format not in LOG_FORMATS:
            raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")
        self.log_format = log_format
        self._source = source
        self.stats = WeblogStats(path=str(source) if isinstance(source, (str, Path)) else "<lines>")

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if isinstance(self._source, (str, Path)):
            with Path(self._source).open("rb") as stream:
                yield from self._parse(stream)
        else:
            yield from self._parse(self._source)

    def _parse(self, lines: Iterable[bytes]) -> Iterator[dict[str, Any]]:
        stats = self.stats
        seen: Counter[bytes] = Counter()
        for number, raw in enumerate(lines, 1):
            stats.lines += 1
            line = raw.rstrip(b"\r\n")
            if not line.strip():
                stats.blank += 1
                continue
            try:
                event = parse_line(line, occurrence=seen[line])
            except LogLineError as exc:
                stats.rejected += 1
                if len(stats.errors) < MAX_KEPT_ERRORS:
                    stats.errors.append(LineError(number, str(exc)))
                continue
            seen[line] += 1
            stats.events += 1
            yield event


def read_access_log(path: str | Path, log_format: LogFormat = "nginx") -> tuple[list[dict[str, Any]], WeblogStats]:
    """All events of an access log and the stats of reading it."""
    reader = WeblogReader(path, log_format=log_format)
    events = list(reader)
    return events, reader.stats
