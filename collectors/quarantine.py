"""The collector's quarantine: events the store refused for their content, kept for an operator.

A store refusal for content (an event no day partition can hold, a value the mapping refuses) is
not an outage: retrying never helps, and queueing the batch would block every later one behind it
(issue 14). The collector stores the rest of the batch and keeps each refused event here — one JSON
file per event, fsynced, renamed into place — with the reason, the sensor and unit that sent it and
where it came from (an ingest batch, a disk-queue file). ``edusoc ingest quarantine list|retry|drop``
and ``/api/v1/ingest/quarantine`` show, replay and delete them.

Bounded by ``max_events``: past it an event is not kept here (counted in ``overflowed``); a sensor's
batch still reports it to the sensor as rejected, so nothing is dropped without someone being told.
"""
from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from soc_core.event_store import EventsRefused, EventStore
from soc_core.events import EventError, validate_event


_SUFFIX = ".json"
_ENTRY_ID = re.compile(r"^\d{12}$")


@dataclass(frozen=True)
class QuarantinedEvent:
    id: str  # twelve digits, in arrival order
    quarantined_at: str  # ISO 8601 UTC
    reason: str
    origin: str  # "ingest" (a sensor's batch) or "queue <file> line <n>" (a disk-queue entry)
    sensor_id: str | None
    unit_id: str | None
    event: dict[str, Any] | None  # the event as offered to the store
    raw: str | None = None  # a queue line that was not even a JSON object, as text
    attempts: int = 1  # store writes tried, the first included


class QuarantineFull(RuntimeError):
    """The quarantine holds ``max_events`` entries already."""


class Quarantine:
    def __init__(self, path: Path, max_events: int) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_events = max_events
        self.overflowed = 0  # events that did not fit since the process started
        self._lock = threading.Lock()
        for leftover in path.glob("*.tmp"):  # a put cut short by a crash
            leftover.unlink()
        names = sorted(f.stem for f in path.glob(f"*{_SUFFIX}") if _ENTRY_ID.match(f.stem))
        self._count = len(names)
        self._next = int(names[-1]) + 1 if names else 1

    def count(self) -> int:
        with self._lock:
            return self._count

    def put(self, entry: QuarantinedEvent) -> QuarantinedEvent:
        """Keep ``entry`` under a new id (its own ``id`` is ignored); QuarantineFull when at the bound."""
        with self._lock:
            if self._count >= self.max_events:
                self.overflowed += 1
                raise QuarantineFull(f"the ingest quarantine holds {self._count} events (its limit)")
            stored = QuarantinedEvent(**{**asdict(entry), "id": f"{self._next:012d}"})
            self._next += 1
            self._write(stored)
            self._count += 1
        return stored

    def update(self, entry: QuarantinedEvent) -> None:
        """Rewrite an entry in place (a retry that was refused again: new reason, one more attempt)."""
        with self._lock:
            self._write(entry)

    def get(self, entry_id: str) -> QuarantinedEvent | None:
        if not _ENTRY_ID.match(entry_id):
            return None
        try:
            data = (self.path / f"{entry_id}{_SUFFIX}").read_bytes()
        except FileNotFoundError:
            return None
        return QuarantinedEvent(**json.loads(data))

    def entries(self, offset: int = 0, limit: int = 50, unit_ids: set[str] | None = None) -> tuple[int, list[QuarantinedEvent]]:
        """Entries oldest first (those of ``unit_ids`` only, when given): the total and one page."""
        names = sorted(f.stem for f in self.path.glob(f"*{_SUFFIX}") if _ENTRY_ID.match(f.stem))
        if unit_ids is None:
            page = [e for name in names[offset:offset + limit] if (e := self.get(name)) is not None]
            return len(names), page
        matching = [e for name in names if (e := self.get(name)) is not None and e.unit_id in unit_ids]
        return len(matching), matching[offset:offset + limit]

    def remove(self, entry_id: str) -> bool:
        if not _ENTRY_ID.match(entry_id):
            return False
        with self._lock:
            try:
                (self.path / f"{entry_id}{_SUFFIX}").unlink()
            except FileNotFoundError:
                return False
            _fsync_dir(self.path)
            self._count -= 1
        return True

    def _write(self, entry: QuarantinedEvent) -> None:
        final = self.path / f"{entry.id}{_SUFFIX}"
        temporary = final.with_suffix(".tmp")
        with open(temporary, "wb") as handle:
            # The standard library's json, not orjson: a refused event may hold what orjson will not
            # write (an integer past 64 bits, a lone surrogate); ASCII escapes keep every one readable.
            handle.write(json.dumps(asdict(entry), default=repr).encode())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, final)
        _fsync_dir(self.path)


def retry(quarantine: Quarantine, store: EventStore, entry_id: str) -> QuarantinedEvent | None:
    """Validate and write one quarantined event again. None when the store took it (or held it
    already) and the entry is gone; the updated entry (new reason, one more attempt) when it is
    refused again. KeyError for an unknown id; EventStoreError when the store is down."""
    entry = quarantine.get(entry_id)
    if entry is None:
        raise KeyError(entry_id)
    try:
        event = validate_event(entry.event if entry.event is not None else json.loads(entry.raw or ""))
        store.write([event])
    except EventError as exc:
        reason = exc.reason
    except ValueError as exc:  # a raw line that is no JSON
        reason = f"not valid JSON: {exc}"
    except EventsRefused as exc:
        reason = exc.refused[0].reason if exc.refused else str(exc)
    else:
        quarantine.remove(entry_id)
        return None
    again = QuarantinedEvent(**{**asdict(entry), "reason": reason, "attempts": entry.attempts + 1})
    quarantine.update(again)
    return again


def _fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
