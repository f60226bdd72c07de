"""Syslog messages: RFC 5424 and RFC 3164 parsing, and the framing of syslog over TCP (RFC 6587).

    parse_syslog(b"<34>1 2026-11-23T05:00:00+08:00 fw1 sshd 812 - - Failed password ...", received=now)
    framer = StreamFramer(max_message=64 * 1024)
    for message in framer.feed(chunk): ...   # octet-counting ("123 <34>...") or newline framing

Devices in Chinese networks often log local time without a zone and GBK text; RFC 3164
timestamps (no year, no zone) are read in ``local_tz`` and given the year that puts them
closest before the receive time, and text is UTF-8, else GB18030, else UTF-8 with U+FFFD.
A message without a PRI part is kept (RFC 3164 4.3.3 says to treat it as priority 13).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo

from sensors.weblog import decode_text

FACILITIES = ("kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp",
              "ntp", "security", "console", "solaris-cron", "local0", "local1", "local2", "local3", "local4",
              "local5", "local6", "local7")
SEVERITIES = ("emergency", "alert", "critical", "error", "warning", "notice", "informational", "debug")
DEFAULT_PRIORITY = 13  # user.notice, RFC 3164 4.3.3
CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")

_PRI = re.compile(rb"^<(\d{1,3})>")
_RFC5424 = re.compile(rb"^1 (\S+) (\S+) (\S+) (\S+) (\S+) ")
_RFC3164_TIME = re.compile(rb"^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?:\.\d+)? ")
_ISO_TIME = re.compile(rb"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?) ")
_TAG = re.compile(r"^([A-Za-z0-9_./-]{1,48})(?:\[(\d{1,10})\])?: ?")
_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                                       "Dec"), 1)}


class SyslogError(ValueError):
    """Bytes that are no syslog message at all (empty, binary garbage)."""


@dataclass(frozen=True, slots=True)
class SyslogMessage:
    priority: int
    timestamp: datetime | None  # None when the header carries no usable time
    hostname: str | None
    app_name: str | None
    procid: str | None
    msgid: str | None
    structured_data: str | None
    message: str
    format: str  # rfc5424, rfc3164, or bare (no header beyond PRI)

    @property
    def facility(self) -> str:
        return FACILITIES[self.priority >> 3] if self.priority >> 3 < len(FACILITIES) else str(self.priority >> 3)

    @property
    def severity(self) -> str:
        return SEVERITIES[self.priority & 7]


def _looks_binary(raw: bytes) -> bool:
    controls = sum(1 for b in raw[:512] if b < 0x20 and b not in (0x09, 0x0A, 0x0D, 0x1B))
    return controls * 10 > min(len(raw), 512) * 3  # more than 30 % control bytes


def _nil(value: bytes) -> str | None:
    return None if value == b"-" else decode_text(value)


def _iso(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed


def _structured_data(rest: bytes) -> tuple[str | None, bytes]:
    """Split RFC 5424 STRUCTURED-DATA ('-' or [id k="v" ...]...) from the message that follows."""
    if rest.startswith(b"-"):
        return None, rest[2:] if rest[1:2] == b" " else rest[1:]
    i, depth, quoted = 0, 0, False
    while i < len(rest):
        byte = rest[i]
        if quoted:
            if byte == 0x5C:  # backslash escapes the next byte
                i += 1
            elif byte == 0x22:
                quoted = False
        elif byte == 0x22:
            quoted = True
        elif byte == 0x5B:
            depth += 1
        elif byte == 0x5D:
            depth -= 1
            if depth == 0 and rest[i + 1:i + 2] != b"[":
                return decode_text(rest[:i + 1]), rest[i + 2:]
        i += 1
    return decode_text(rest), b""


def parse_syslog(raw: bytes, *, received: datetime, local_tz: tzinfo = CHINA_TZ) -> SyslogMessage:
    """One syslog message (without framing) to its parts; raises SyslogError for non-messages."""
    raw = raw.rstrip(b"\r\n\x00")
    if not raw.strip():
        raise SyslogError("empty message")
    if _looks_binary(raw):
        raise SyslogError("binary data, not a syslog message")
    match = _PRI.match(raw)
    priority = DEFAULT_PRIORITY
    if match and int(match.group(1)) <= 191:
        priority = int(match.group(1))
        raw = raw[match.end():]
    header = _RFC5424.match(raw)
    if header:
        when, host, app, proc, msgid = header.groups()
        sd, rest = _structured_data(raw[header.end():])
        if rest.startswith(b"\xef\xbb\xbf"):
            rest = rest[3:]  # BOM: the message is UTF-8 (RFC 5424 6.4)
        return SyslogMessage(priority, _iso(decode_text(when)) if when != b"-" else None, _nil(host), _nil(app),
                             _nil(proc), _nil(msgid), sd, decode_text(rest), "rfc5424")
    timestamp = None
    old = _RFC3164_TIME.match(raw)
    if old and old.group(1).decode() in _MONTHS:
        month, day, hour, minute, second = old.group(1).decode(), *map(int, old.groups()[1:])
        timestamp = _with_year(month, day, hour, minute, second, received, local_tz)
        raw = raw[old.end():]
    else:
        iso = _ISO_TIME.match(raw)
        if iso:
            timestamp = _iso(decode_text(iso.group(1)))
            if timestamp is not None and timestamp.tzinfo is None:
                timestamp = timestamp.replace(tzinfo=local_tz)
            raw = raw[iso.end():]
    if timestamp is None:
        app, proc, message = _tag(decode_text(raw))
        return SyslogMessage(priority, None, None, app, proc, None, None, message, "bare")
    first, _, rest = raw.partition(b" ")
    if first.endswith(b":"):  # "sshd[12]: ..." right after the time: the sender left out its host name
        app, proc, message = _tag(decode_text(raw))
        return SyslogMessage(priority, timestamp, None, app, proc, None, None, message, "rfc3164")
    app, proc, message = _tag(decode_text(rest))
    return SyslogMessage(priority, timestamp, decode_text(first) or None, app, proc, None, None, message, "rfc3164")


def _tag(text: str) -> tuple[str | None, str | None, str]:
    match = _TAG.match(text)
    if match is None:
        return None, None, text
    return match.group(1), match.group(2), text[match.end():]


def _with_year(month: str, day: int, hour: int, minute: int, second: int, received: datetime,
               local_tz: tzinfo) -> datetime | None:
    """An RFC 3164 time has no year: take the one that puts it at most a day after receipt."""
    local_received = received.astimezone(local_tz)
    for year in (local_received.year, local_received.year - 1, local_received.year + 1):
        try:
            candidate = datetime(year, _MONTHS[month], day, hour, minute, second, tzinfo=local_tz)
        except ValueError:
            continue
        if candidate <= local_received + timedelta(days=1):
            return candidate
    return None


@dataclass
class FramingCounters:
    messages: int = 0
    oversize: int = 0  # messages longer than max_message, skipped
    bad_frames: int = 0  # octet counts that are not numbers


class StreamFramer:
    """Syslog over TCP: octet-counting ('LEN SP MSG', RFC 6587 3.4.1) or LF/NUL-terminated lines,
    detected per frame. Messages longer than ``max_message`` are skipped and counted."""

    def __init__(self, max_message: int = 64 * 1024) -> None:
        self.max_message = max_message
        self.buffer = bytearray()
        self.skip = 0  # bytes still to drop of an oversize octet-counted frame
        self.skip_line = False  # dropping an oversize line until its end
        self.counters = FramingCounters()

    def feed(self, data: bytes) -> list[bytes]:
        messages: list[bytes] = []
        if self.skip:
            dropped = min(self.skip, len(data))
            self.skip -= dropped
            data = data[dropped:]
        self.buffer += data
        while self.buffer:
            if self.skip_line:
                end = self._line_end()
                if end < 0:
                    self.buffer.clear()
                    break
                del self.buffer[:end + 1]
                self.skip_line = False
                continue
            first = self.buffer[0]
            if 0x31 <= first <= 0x39:  # a digit 1-9: octet counting
                space = self.buffer.find(b" ", 0, 12)
                if space < 0:
                    if len(self.buffer) >= 12:
                        self.counters.bad_frames += 1
                        self.skip_line = True
                        continue
                    break
                count_text = bytes(self.buffer[:space])
                if not count_text.isdigit():
                    self.counters.bad_frames += 1
                    self.skip_line = True
                    continue
                size = int(count_text)
                if size > self.max_message:
                    self.counters.oversize += 1
                    available = len(self.buffer) - space - 1
                    del self.buffer[:space + 1 + min(size, available)]
                    self.skip = max(0, size - available)
                    continue
                if len(self.buffer) < space + 1 + size:
                    break
                messages.append(bytes(self.buffer[space + 1:space + 1 + size]))
                del self.buffer[:space + 1 + size]
                continue
            end = self._line_end()
            if end < 0:
                if len(self.buffer) > self.max_message:
                    self.counters.oversize += 1
                    self.buffer.clear()
                    self.skip_line = True
                break
            if end > self.max_message:
                self.counters.oversize += 1
            else:
                line = bytes(self.buffer[:end]).rstrip(b"\r")
                if line:
                    messages.append(line)
            del self.buffer[:end + 1]
        self.counters.messages += len(messages)
        return messages

    def flush(self) -> list[bytes]:
        """The connection closed: a last unterminated line is still a message."""
        rest = bytes(self.buffer).strip(b"\r\n\x00")
        self.buffer.clear()
        if rest and not self.skip_line and not self.skip and len(rest) <= self.max_message:
            self.counters.messages += 1
            return [rest]
        return []

    def _line_end(self) -> int:
        newline, nul = self.buffer.find(b"\n"), self.buffer.find(b"\x00")
        if newline < 0:
            return nul
        return newline if nul < 0 else min(newline, nul)
