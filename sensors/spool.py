"""A bounded on-disk queue of encoded batches, so nothing is lost while the collector is away.

Every batch is written here before it is sent and removed only once the collector answered
200: delivery is at-least-once (a crash between the answer and the removal resends the batch;
the collector drops it by event id). When the spool would exceed ``max_bytes`` the oldest
batches are dropped and counted — a sensor must never fill its disk.
"""
from __future__ import annotations

import builtins
import os
from dataclasses import dataclass
from pathlib import Path

_SUFFIX = ".ndjson.gz"


@dataclass
class SpoolCounters:
    written: int = 0
    removed: int = 0
    dropped_batches: int = 0  # oldest batches given up on because the spool was full
    dropped_bytes: int = 0


class DiskSpool:
    """Batches as files named by sequence number; oldest first."""

    def __init__(self, directory: str | Path, max_bytes: int) -> None:
        self.dir = Path(directory)  # created by the first put: a run that never needs the spool leaves no trace
        self.max_bytes = max_bytes
        self.counters = SpoolCounters()
        for stale in self.dir.glob("*.tmp"):
            stale.unlink()  # a write cut short by a crash
        self._files = sorted(self.dir.glob("*" + _SUFFIX))
        self._bytes = sum(p.stat().st_size for p in self._files)
        self._next = int(self._files[-1].name.split(".")[0]) + 1 if self._files else 1

    @property
    def batches(self) -> int:
        return len(self._files)

    @property
    def bytes(self) -> int:
        return self._bytes

    def put(self, body: builtins.bytes) -> Path:
        """Store one encoded batch durably; drop the oldest batches if it would not fit."""
        while self._files and self._bytes + len(body) > self.max_bytes:
            oldest = self._files.pop(0)
            size = oldest.stat().st_size
            oldest.unlink()
            self._bytes -= size
            self.counters.dropped_batches += 1
            self.counters.dropped_bytes += size
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"{self._next:012d}{_SUFFIX}"
        self._next += 1
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        self._files.append(path)
        self._bytes += len(body)
        self.counters.written += 1
        return path

    def oldest(self) -> tuple[Path, builtins.bytes] | None:
        while self._files:
            path = self._files[0]
            try:
                return path, path.read_bytes()
            except FileNotFoundError:  # removed behind our back: forget it
                self._files.pop(0)
        return None

    def remove(self, path: Path) -> None:
        if self._files and self._files[0] == path:
            self._files.pop(0)
        elif path in self._files:
            self._files.remove(path)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return
        self._bytes -= size
        self.counters.removed += 1
