"""The collector's disk queue: validated events waiting for a store that is down.

A batch the store cannot take is written here — one NDJSON file per batch, fsynced, renamed into
place, directory fsynced — and only then acknowledged to the sensor. A drainer writes the oldest
batches to the store (idempotent by event id) and deletes each file once the store took it, so a
crash anywhere leaves at worst a batch written twice, never one lost. Bounded: when ``max_bytes``
would be exceeded, ``put`` refuses and the collector answers 503 + Retry-After, so the sensors keep
the rest in their own spools.
"""
from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SUFFIX = ".ndjson"


@dataclass(frozen=True)
class QueueState:
    batches: int
    bytes: int
    max_bytes: int

    @property
    def fill(self) -> float:
        return self.bytes / self.max_bytes if self.max_bytes else 0.0


@dataclass(frozen=True)
class UnreadableLine:
    line: int  # 1-based; 0 = the whole file
    text: str
    reason: str


@dataclass(frozen=True)
class QueuedBatch:
    path: Path
    events: list[tuple[int, dict[str, Any]]]  # (line, event)
    unreadable: list[UnreadableLine]


class DiskQueue:
    def __init__(self, path: Path, max_bytes: int) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        for leftover in path.glob("*.tmp"):  # a put interrupted before its rename: never acknowledged
            leftover.unlink()
        self._files = sorted(path.glob(f"*{_SUFFIX}"))
        self._bytes = sum(f.stat().st_size for f in self._files)
        self._next = int(self._files[-1].stem) + 1 if self._files else 1

    def state(self) -> QueueState:
        with self._lock:
            return QueueState(len(self._files), self._bytes, self.max_bytes)

    def put(self, events: Sequence[dict[str, Any]]) -> bool:
        """Durably append one batch; False (nothing written) when it would exceed ``max_bytes``."""
        data = "".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n" for e in events).encode()
        with self._lock:
            if self._bytes + len(data) > self.max_bytes:
                return False
            final = self.path / f"{self._next:012d}{_SUFFIX}"
            self._next += 1
            temporary = final.with_suffix(".tmp")
            with open(temporary, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, final)
            _fsync_dir(self.path)
            self._files.append(final)
            self._bytes += len(data)
        return True

    def oldest(self) -> QueuedBatch | None:
        """The oldest batch, its lines read one by one: a line that is not a JSON object (a file
        written by an older version, a disk error) is handed back as such, never raised, so one
        poisoned file cannot stop the drain behind it."""
        with self._lock:
            if not self._files:
                return None
            oldest = self._files[0]
        events: list[tuple[int, dict[str, Any]]] = []
        unreadable: list[UnreadableLine] = []
        try:
            data = oldest.read_bytes()
        except OSError as exc:
            return QueuedBatch(oldest, [], [UnreadableLine(0, "", f"cannot read {oldest.name}: {exc}")])
        for number, line in enumerate(data.split(b"\n"), start=1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except ValueError as exc:  # UnicodeDecodeError is a ValueError too
                unreadable.append(UnreadableLine(number, line.decode("utf-8", "replace"), f"not a JSON line: {exc}"))
                continue
            if not isinstance(event, dict):
                unreadable.append(UnreadableLine(number, line.decode("utf-8", "replace"), "not a JSON object"))
                continue
            events.append((number, event))
        return QueuedBatch(oldest, events, unreadable)

    def remove(self, batch: Path) -> None:
        with self._lock:
            size = batch.stat().st_size
            batch.unlink()
            _fsync_dir(self.path)
            self._files.remove(batch)
            self._bytes -= size


def _fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
