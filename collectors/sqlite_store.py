"""The embedded EventStore: one SQLite file in WAL mode, idempotent by event id."""
from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from soc_core.event_store import EventPage, EventQuery, EventStoreError, WriteResult
from soc_core.events import FIELDS, format_timestamp

# Fields users filter on most get real columns and indexes; the rest are read from JSON.
_COLUMNS = {
    "@timestamp": "ts",
    "organization.id": "unit_id",
    "event.dataset": "dataset",
    "event.kind": "kind",
    "source.ip": "source_ip",
    "destination.ip": "destination_ip",
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    ts TEXT NOT NULL,
    unit_id TEXT,
    dataset TEXT NOT NULL,
    kind TEXT NOT NULL,
    source_ip TEXT,
    destination_ip TEXT,
    body TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ix_events_ts ON events (ts);
CREATE INDEX IF NOT EXISTS ix_events_unit_ts ON events (unit_id, ts);
CREATE INDEX IF NOT EXISTS ix_events_dataset_ts ON events (dataset, ts);
CREATE INDEX IF NOT EXISTS ix_events_source_ip ON events (source_ip);
CREATE INDEX IF NOT EXISTS ix_events_destination_ip ON events (destination_ip);
"""


class SqliteEventStore:
    """EventStore on one SQLite file. Safe to share across threads (one connection, one lock)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, timeout=30, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a batch acknowledged to a sensor survives a power cut.
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise EventStoreError(f"cannot open event store {path}: {exc}") from exc

    def write(self, events: Sequence[dict[str, Any]]) -> WriteResult:
        rows = [
            (
                e["event.id"], e["@timestamp"], e.get("organization.id"), e["event.dataset"], e["event.kind"],
                e.get("source.ip"), e.get("destination.ip"), json.dumps(e, ensure_ascii=False, separators=(",", ":")),
            )
            for e in events
        ]
        with self._lock:
            try:
                before = self._db.total_changes
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany("INSERT OR IGNORE INTO events VALUES (?,?,?,?,?,?,?,?)", rows)
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise EventStoreError(f"event store {self.path}: write failed: {exc}") from exc
            written = self._db.total_changes - before
        return WriteResult(written=written, duplicates=len(rows) - written)

    def get(self, event_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT body FROM events WHERE id = ?", (event_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def search(self, query: EventQuery) -> EventPage:
        where, params = _where(query)
        order = "DESC" if query.descending else "ASC"
        with self._lock:
            total = self._db.execute(f"SELECT count(*) FROM events {where}", params).fetchone()[0]
            rows = self._db.execute(
                f"SELECT body FROM events {where} ORDER BY ts {order}, id {order} LIMIT ? OFFSET ?",
                [*params, query.limit, query.offset],
            ).fetchall()
        return EventPage(total=total, events=[json.loads(r[0]) for r in rows])

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM events").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _where(query: EventQuery) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if query.start is not None:
        clauses.append("ts >= ?")
        params.append(format_timestamp(query.start))
    if query.end is not None:
        clauses.append("ts < ?")
        params.append(format_timestamp(query.end))
    if query.unit_ids is not None:
        clauses.append(f"unit_id IN ({','.join('?' * len(query.unit_ids))})" if query.unit_ids else "0")
        params.extend(query.unit_ids)
    for name, value in query.filters.items():
        if name not in FIELDS:
            raise EventStoreError(f"cannot filter on {name!r}: not a field of the event schema")
        column = _COLUMNS.get(name)
        if column:
            clauses.append(f"{column} = ?")
        else:
            clauses.append("json_extract(body, ?) = ?")
            params.append(f'$."{name}"')
        params.append(value)
    if query.text:
        clauses.append(
            "(json_extract(body, '$.message') LIKE ? ESCAPE '\\' OR json_extract(body, '$.\"url.original\"') LIKE ? ESCAPE '\\')"
        )
        # The user's text is literal: % and _ in it are not wildcards.
        escaped = query.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        params.extend([pattern, pattern])
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params
