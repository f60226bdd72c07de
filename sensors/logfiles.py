"""Log lines of any supported format to events, and log files read once or tailed.

    parser = LineParser("syslog", clock)        # syslog | auth | iptables | eve | json | nginx | apache
    event = parser.parse(line, where=(inode, offset))   # raises LineRejected with the reason
    tailer = FileTailer(path, offsets)          # survives rotation, copytruncate and restarts
    for line, where in tailer.poll(): ...
    tailer.commit()                             # persist: after a restart, reading resumes here

Lines longer than ``max_line`` (default 1 MiB) are skipped and counted, never fatal.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from soc_core.clock import Clock
from sensors.logevents import eve_event, json_event, parse_json_line, syslog_event
from sensors.syslog import SyslogError, parse_syslog
from sensors.weblog import LogLineError, parse_line

LOG_FORMATS = ("syslog", "auth", "iptables", "eve", "json", "nginx", "apache")
MAX_LINE = 1024 * 1024
_MAX_REASONS = 20


class LineRejected(ValueError):
    """One line is not in the expected format; the message says what was expected."""


@dataclass
class LogStats:
    """What reading a log source saw; every line is an event, rejected, or oversize."""

    source: str = ""
    lines: int = 0
    events: int = 0
    rejected: int = 0
    oversize: int = 0  # lines longer than the limit, skipped
    reasons: Counter[str] = field(default_factory=Counter)
    rotations: int = 0
    truncations: int = 0
    # The first rejected lines, as "<source>:<line>: <reason>", so an operator can find them.
    examples: list[str] = field(default_factory=list)

    def reject(self, reason: str, line: object = None) -> None:
        """Count one line not understood; ``line`` says where (a line number, or "byte N" when tailing)."""
        self.rejected += 1
        if reason in self.reasons or len(self.reasons) < _MAX_REASONS:
            self.reasons[reason] += 1
        if len(self.examples) < _MAX_REASONS:
            self.examples.append(f"{self.source}:{line if line is not None else '?'}: {reason}")

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "reasons": dict(self.reasons)}


class LineParser:
    """Parses lines of one format into events; times without a year or zone are read against ``clock``."""

    def __init__(self, log_format: str, clock: Clock) -> None:
        if log_format not in LOG_FORMATS:
            raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")
        self.log_format = log_format
        self.clock = clock

    def parse(self, line: bytes, where: object = "", sender: str | None = None) -> dict[str, Any]:
        """The event of one line; LineRejected for a line it cannot read, never another error: one stray
        line must not stop a log source (issue 14)."""
        try:
            return self._parse(line, where, sender)
        except LineRejected:
            raise
        except Exception as exc:  # noqa: BLE001 - a parser bug on odd input: this line is lost, not the source
            raise LineRejected(f"{self.log_format} parser failed on this line: {type(exc).__name__}: {exc}"[:300]) from exc

    def _parse(self, line: bytes, where: object, sender: str | None) -> dict[str, Any]:
        received = self.clock.now()
        fmt = self.log_format
        if fmt in ("syslog", "auth", "iptables"):
            try:
                message = parse_syslog(line, received=received)
            except SyslogError as exc:
                raise LineRejected(str(exc)) from None
            return syslog_event(message, line, received=received, where=where, sender=sender)
        if fmt in ("eve", "json"):
            try:
                record = parse_json_line(line)
            except ValueError as exc:
                raise LineRejected(f"not a JSON object: {str(exc)[:80]}") from None
            if fmt == "eve":
                if "event_type" not in record:
                    raise LineRejected("a Suricata EVE record has an event_type")
                return eve_event(record, line, received=received, where=where)
            return json_event(record, line, received=received, where=where)
        try:
            return parse_line(line, occurrence=hash_where(where))
        except LogLineError as exc:
            raise LineRejected(str(exc)) from None


def hash_where(where: object) -> int:
    """A stable integer for where a line was read, used where an occurrence count was expected."""
    return int.from_bytes(hashlib.blake2b(repr(where).encode(), digest_size=6).digest(), "big")


class LineSplitter:
    """Bytes in, complete lines out with the offset each starts at; an over-long line is counted
    and skipped up to its end without being held in memory."""

    def __init__(self, stats: LogStats, max_line: int = MAX_LINE, offset: int = 0) -> None:
        self.stats, self.max_line = stats, max_line
        self.pending = bytearray()
        self.skipping = False
        self.offset = offset  # offset of the next byte fed
        self.line_start = offset  # offset of the line being assembled: where to resume after a restart

    def feed(self, data: bytes) -> list[tuple[bytes, int]]:
        out: list[tuple[bytes, int]] = []
        pos, size, max_line = 0, len(data), self.max_line
        while pos < size:
            newline = data.find(b"\n", pos)
            if newline < 0:
                if not self.skipping:
                    self.pending += data[pos:]
                    if len(self.pending) > max_line:
                        self.stats.oversize += 1
                        self.skipping = True
                        self.pending.clear()
                self.offset += size - pos
                break
            if self.skipping:
                self.skipping = False  # the over-long line ends here; it was counted when it got too long
            else:
                line = bytes(self.pending) + data[pos:newline] if self.pending else data[pos:newline]
                self.pending.clear()
                line = line.rstrip(b"\r")
                if len(line) > max_line:
                    self.stats.oversize += 1
                elif line.strip():
                    out.append((line, self.line_start))
            self.offset += newline + 1 - pos
            pos = newline + 1
            self.line_start = self.offset
        return out

    def rest(self) -> bytes | None:
        """The unterminated last line, when the source has ended."""
        line = bytes(self.pending).rstrip(b"\r")
        return line if line.strip() and not self.skipping else None


@dataclass
class _Position:
    device: int
    inode: int
    offset: int
    head: str  # sha256 of the file's first bytes: an inode reused by another file is not "the same file"


class OffsetStore:
    """Persisted read positions of tailed files (one JSON file, replaced atomically)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            raw = json.loads(path.read_text("utf-8"))
        except (FileNotFoundError, ValueError):
            raw = {}
        self._positions = {k: _Position(**v) for k, v in raw.items() if isinstance(v, dict)}

    def get(self, name: str) -> _Position | None:
        return self._positions.get(name)

    def set(self, name: str, position: _Position) -> None:
        self._positions[name] = position

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({k: v.__dict__ for k, v in self._positions.items()}), "utf-8")
        os.replace(tmp, self.path)


_HEAD_BYTES = 256


def _head(handle: Any, offset: int) -> str:
    """Digest of the bytes before ``offset`` (at most the first 256): they never change while the file is the same."""
    here = handle.tell()
    handle.seek(0)
    digest = hashlib.sha256(handle.read(min(_HEAD_BYTES, offset))).hexdigest()
    handle.seek(here)
    return digest


class FileTailer:
    """Follows one log file by name, like ``tail -F``, resuming where the last run committed.

    Rotation by rename (logrotate's default) is noticed when the name points to a new inode: the
    old file is read to its end first, then the new one from its start. A file cut shorter in
    place (copytruncate) is read again from its start. After a restart, a file rotated while the
    sensor was down is found by inode next to the original name and finished first.
    """

    def __init__(self, path: str | Path, offsets: OffsetStore, *, max_line: int = MAX_LINE,
                 read_block: int = 1024 * 1024) -> None:
        self.path = Path(path)
        self.offsets = offsets
        self.max_line = max_line
        self.read_block = read_block
        self.stats = LogStats(source=str(self.path))
        self._handle: Any = None
        self._inode = (0, 0)
        self._lines = LineSplitter(self.stats, max_line)
        self._seen_head = b""  # the file's first bytes as read, to notice it being rewritten in place
        self._resume = offsets.get(str(self.path))

    def poll(self) -> list[tuple[bytes, tuple[int, int]]]:
        """New complete lines since the last poll, each with (inode, offset) of where it starts."""
        lines: list[tuple[bytes, tuple[int, int]]] = []
        if self._handle is None:
            if self._resume is not None:
                self._finish_rotated_while_down(lines)
            if not self._open():
                return lines
        self._read(lines)
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            return lines  # rotated away, new file not created yet: keep reading the old one
        if (current.st_dev, current.st_ino) != self._inode:
            self._read(lines)  # the rest written to the old file before the switch
            self.stats.rotations += 1
            self._close()
            if self._open(fresh=True):
                self._read(lines)
        elif current.st_size < self._lines.offset or self._rewritten():
            self.stats.truncations += 1
            self._handle.seek(0)
            self._lines = LineSplitter(self.stats, self.max_line)
            self._seen_head = b""
            self._read(lines)
        return lines

    def _rewritten(self) -> bool:
        """copytruncate followed by new writes can leave the file as long as before: compare its start."""
        seen = self._seen_head
        if not seen:
            return False
        here = self._handle.tell()
        self._handle.seek(0)
        now = self._handle.read(len(seen))
        self._handle.seek(here)
        return now != seen

    def commit(self) -> None:
        """Persist the position after the last line returned by poll()."""
        if self._handle is not None:
            self.offsets.set(str(self.path), _Position(*self._inode, self._lines.line_start,
                                                         _head(self._handle, self._lines.line_start)))
            self.offsets.save()

    def close(self) -> None:
        self._close()

    def _open(self, fresh: bool = False) -> bool:
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            return False
        info = os.fstat(handle.fileno())
        self._handle, self._inode = handle, (info.st_dev, info.st_ino)
        self._lines = LineSplitter(self.stats, self.max_line)
        self._seen_head = b""
        resume, self._resume = self._resume, None
        if not fresh and resume is not None and (resume.device, resume.inode) == self._inode \
                and resume.offset <= info.st_size and resume.head == _head(handle, resume.offset):
            self._lines = LineSplitter(self.stats, self.max_line, resume.offset)
            self._seen_head = handle.read(min(_HEAD_BYTES, resume.offset))
            handle.seek(resume.offset)
        return True

    def _finish_rotated_while_down(self, lines: list[tuple[bytes, tuple[int, int]]]) -> None:
        resume = self._resume
        assert resume is not None
        try:
            current = os.stat(self.path)
            if (current.st_dev, current.st_ino) == (resume.device, resume.inode):
                return  # not rotated: _open resumes in place
        except FileNotFoundError:
            pass
        for candidate in sorted(self.path.parent.glob(self.path.name + "*")):
            if candidate == self.path:
                continue
            info = candidate.stat()
            if (info.st_dev, info.st_ino) == (resume.device, resume.inode):
                with candidate.open("rb") as old:
                    if resume.head != _head(old, resume.offset) or resume.offset > info.st_size:
                        break
                    old.seek(resume.offset)
                    self._handle, self._inode = old, (resume.device, resume.inode)
                    self._lines = LineSplitter(self.stats, self.max_line, resume.offset)
                    self._read(lines)
                    self._handle = None
                self.stats.rotations += 1
                break
        self._resume = None

    def _read(self, lines: list[tuple[bytes, tuple[int, int]]]) -> None:
        handle = self._handle
        while True:
            data = handle.read(self.read_block)
            if not data:
                return
            if len(self._seen_head) < _HEAD_BYTES and self._lines.offset == len(self._seen_head):
                self._seen_head += data[:_HEAD_BYTES - len(self._seen_head)]
            for line, offset in self._lines.feed(data):
                self.stats.lines += 1
                lines.append((line, (self._inode[1], offset)))

    def _close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class LogFileReader:
    """Read a whole log file once into events (``edusoc sensor logs``); ``stats`` complete at the end."""

    def __init__(self, path: str | Path, log_format: str, clock: Clock, *, max_line: int = MAX_LINE) -> None:
        self.path = Path(path)
        self.parser = LineParser(log_format, clock)
        self.max_line = max_line
        self.stats = LogStats(source=str(path))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        splitter = LineSplitter(self.stats, self.max_line)
        with self.path.open("rb") as handle:
            while data := handle.read(1024 * 1024):
                for line, offset in splitter.feed(data):
                    event = self._parse(line, offset)
                    if event is not None:
                        yield event
        rest = splitter.rest()
        if rest is not None:
            event = self._parse(rest, splitter.line_start)
            if event is not None:
                yield event

    def _parse(self, line: bytes, offset: int) -> dict[str, Any] | None:
        self.stats.lines += 1
        try:
            event = self.parser.parse(line, where=offset)
        except LineRejected as exc:
            self.stats.reject(str(exc), self.stats.lines + self.stats.oversize)
            return None
        self.stats.events += 1
        return event
