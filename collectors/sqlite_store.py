"""The embedded EventStore: one SQLite file in WAL mode, a table per UTC day, idempotent by event id.

Layout (per day ``D`` = YYYYMMDD of ``@timestamp`` in UTC)
  * ``events_D``: the event as compact JSON (``body``) plus real columns, each indexed, for the
    fields duty staff filter on most (time, unit, dataset, addresses, destination port, Community
    ID, rule id); any other schema field is read from the JSON body;
  * ``text_D``: an FTS5 index (trigram tokenizer, contentless, no positions) over ``message`` and
    ``url.original``, filled in the same transaction as the rows: one ``INSERT … SELECT`` over the rows
    a batch added (``seq`` above the day's maximum before it). That costs ~5-10 µs per event where a
    per-row ``AFTER INSERT`` trigger (the first layout; dropped when such a file is opened) cost
    ~60 µs: FTS5 is fast fed in bulk, slow fed row by row between B-tree inserts. A free-text
    query of three or more characters narrows rows through it, then the exact case-insensitive
    substring test runs on those rows only.

Retention drops both tables of a day and returns the pages to the file (``auto_vacuum=INCREMENTAL``),
so deleting six months' worth of one day costs one DROP, not a scan.

A batch's rows go in as one JSON array per day that SQLite unpacks itself (``json_each``, one
statement): ``executemany`` releases the GIL around every row and then, while another request's
thread is busy parsing and validating the next batch, waits up to the interpreter's switch interval
to get it back, so the writer starved and two concurrent senders were no faster than one. One
statement releases it once per batch and the write runs on the other core (bench/ingest.py, two
senders: 15.4k -> 17.0k events/s; ~6 % more SQLite CPU per event, so one sender alone is that much slower).

Writes go through one connection (``synchronous=FULL``: a batch acknowledged to a sensor survives a
power cut); reads use a second connection, so searches never wait behind an ingest transaction.
"""
from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

from soc_core.event_store import (
    EventPage, EventQuery, EventsRefused, EventStoreError, RefusedEvent, TermCount, TimeBucket, WriteResult, check_count_field,
    check_interval, check_sort_field,
)
from soc_core.events import EARLIEST_INSTANT, FIELDS, LATEST_INSTANT, format_timestamp

# Fields with a real, indexed column: name in the schema -> column.
_COLUMNS = {
    "@timestamp": "ts",
    "event.id": "id",
    "organization.id": "unit_id",
    "event.dataset": "dataset",
    "event.kind": "kind",
    "source.ip": "source_ip",
    "destination.ip": "destination_ip",
    "destination.port": "destination_port",
    "network.community_id": "community_id",
    "rule.id": "rule_id",
}
_INSERT_FIELDS = tuple(_COLUMNS)
_ID_COLUMN = _INSERT_FIELDS.index("event.id")
_CACHE_KIB = -64 * 1024  # negative: KiB, per connection
_MMAP_BYTES = 256 * 1024 * 1024
_TABLE = re.compile(r"^events_(\d{8})$")
_EARLIEST_DAY, _LATEST_DAY = f"{EARLIEST_INSTANT:%Y%m%d}", f"{LATEST_INSTANT:%Y%m%d}"


def _day_schema(day: str, full_text: bool) -> str:
    t, x = f"events_{day}", f"text_{day}"
    tables = f"""
CREATE TABLE IF NOT EXISTS {t} (
    seq INTEGER PRIMARY KEY,
    ts TEXT NOT NULL, id TEXT NOT NULL UNIQUE, unit_id TEXT, dataset TEXT NOT NULL, kind TEXT NOT NULL,
    source_ip TEXT, destination_ip TEXT, destination_port INTEGER, community_id TEXT, rule_id TEXT,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS {t}_ts ON {t} (ts);
CREATE INDEX IF NOT EXISTS {t}_unit ON {t} (unit_id, ts);
CREATE INDEX IF NOT EXISTS {t}_dataset ON {t} (dataset, ts);
CREATE INDEX IF NOT EXISTS {t}_source_ip ON {t} (source_ip);
CREATE INDEX IF NOT EXISTS {t}_destination_ip ON {t} (destination_ip);
CREATE INDEX IF NOT EXISTS {t}_destination_port ON {t} (destination_port) WHERE destination_port IS NOT NULL;
CREATE INDEX IF NOT EXISTS {t}_community_id ON {t} (community_id) WHERE community_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS {t}_rule_id ON {t} (rule_id) WHERE rule_id IS NOT NULL;
"""
    text = f"""
CREATE VIRTUAL TABLE IF NOT EXISTS {x} USING fts5(message, url, tokenize='trigram', content='', detail=none);
"""
    return tables + text if full_text else tables


def _insert_sql(day: str) -> str:
    """Insert a day's rows from one JSON array of ``[column values..., event]`` arrays (the body is the
    event's JSON text as SQLite writes it back: compact, keys in order)."""
    columns = ", ".join(f"value ->> {i}" for i in range(len(_INSERT_FIELDS)))
    # Only ids the registry gives to this day: an id first stored on another day is a duplicate.
    return (f"INSERT OR IGNORE INTO events_{day} ({', '.join(_COLUMNS.values())}, body)"
            f" SELECT {columns}, value -> {len(_INSERT_FIELDS)} FROM json_each(?1)"
            f" WHERE (SELECT day FROM event_ids WHERE id = value ->> {_ID_COLUMN}) = '{day}'")


# The id registry: which day first stored each event id, so an id is stored once whatever its
# timestamp (issue 14: the same id on two UTC days was stored twice, once per day partition).
_ID_REGISTRY = """
CREATE TABLE IF NOT EXISTS event_ids (id TEXT PRIMARY KEY, day TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS event_ids_day ON event_ids (day);
"""


def _register_ids_sql(day: str) -> str:
    return f"INSERT OR IGNORE INTO event_ids (id, day) SELECT value ->> {_ID_COLUMN}, '{day}' FROM json_each(?)"


def _index_text_sql(day: str) -> str:
    """Index the text of the rows of ``events_D`` above a ``seq`` (those one write just added)."""
    return (f"INSERT INTO text_{day}(rowid, message, url) SELECT seq, json_extract(body, '$.message'),"
            f" json_extract(body, '$.\"url.original\"') FROM events_{day} WHERE seq > ?")


def _day_of(timestamp: object) -> str:
    # Validated events carry "YYYY-MM-DDTHH:MM:SS.ffffffZ" (soc_core.events.format_timestamp), the
    # year within the range both stores hold (soc_core.events.check_instant).
    if isinstance(timestamp, str) and len(timestamp) >= 10 and timestamp[4] == "-" and timestamp[7] == "-":
        day = timestamp[0:4] + timestamp[5:7] + timestamp[8:10]
        if day.isdigit() and _EARLIEST_DAY <= day < _LATEST_DAY:  # digits only: the day names a table
            return day
    raise EventStoreError(f"@timestamp {timestamp!r} is not a normalised ISO 8601 UTC timestamp "
                          f"between {_EARLIEST_DAY[:4]} and {int(_LATEST_DAY[:4]) - 1}")


def _as_date(day: str) -> date:
    return date(int(day[0:4]), int(day[4:6]), int(day[6:8]))


class SqliteEventStore:
    """EventStore on one SQLite file. Safe to share across threads."""

    def __init__(self, path: Path, full_text: bool = True) -> None:
        """``full_text=False`` skips the trigram index for new days (it is ~1/3 of SQLite's write CPU,
        ~1/8 of the whole collector path's; free-text search over those days then scans every row
        of the time range)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.full_text = full_text
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, timeout=30, isolation_level=None)
            # Must precede the first table of a new file; retention then gives pages back.
            self._db.execute("PRAGMA auto_vacuum=INCREMENTAL")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            # A day's indexes outgrow SQLite's default 2 MB page cache within ~50k events: a 64 MiB
            # cache and reads through mmap cut the writer's CPU by ~10-15 % (bench/ingest.py).
            self._db.execute(f"PRAGMA cache_size={_CACHE_KIB}")
            self._db.execute(f"PRAGMA mmap_size={_MMAP_BYTES}")
            tables = {name for (name,) in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            self._days = {m.group(1) for name in tables if (m := _TABLE.match(name))}
            self._text_days = {d for d in self._days if f"text_{d}" in tables}
            # The first layout filled text_D by a per-row trigger; write() now indexes each batch itself.
            for (trigger,) in self._db.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall():
                if _TABLE.match(trigger.removesuffix("_text")):
                    self._db.execute(f"DROP TRIGGER {trigger}")
            self._ensure_id_registry()
            self._adopt_single_table()
            self._reader = sqlite3.connect(path, check_same_thread=False, timeout=30, isolation_level=None)
            self._reader.execute("PRAGMA query_only=ON")
            self._reader.execute(f"PRAGMA cache_size={_CACHE_KIB}")
            self._reader.execute(f"PRAGMA mmap_size={_MMAP_BYTES}")
        except sqlite3.Error as exc:
            raise EventStoreError(f"cannot open event store {path}: {exc}") from exc

    # -- writing

    def write(self, events: Sequence[dict[str, Any]]) -> WriteResult:
        by_day: dict[str, list[list[Any]]] = {}
        refused: list[RefusedEvent] = []
        for position, e in enumerate(events):
            row = [e.get(name) for name in _INSERT_FIELDS]
            try:
                day = _day_of(row[0])
            except EventStoreError as exc:  # no day partition can hold it: this event's fault, not the store's
                refused.append(RefusedEvent(position, str(exc)))
                continue
            row.append(e)
            by_day.setdefault(day, []).append(row)
        if not by_day:
            return self._refuse(refused, WriteResult(0, 0))
        try:
            # One JSON array per day, unpacked by SQLite (_insert_sql): see the module docstring.
            payloads = {day: orjson.dumps(rows).decode() for day, rows in by_day.items()}
        except orjson.JSONEncodeError as exc:
            # Content, not an outage (which the collector would queue for a drainer that can never
            # write it): which event is not said, so nothing is written and the caller splits the batch.
            raise EventsRefused(f"event store {self.path}: an event cannot be stored as JSON: {exc}",
                                None, WriteResult(0, 0)) from exc
        with self._write_lock:
            try:
                for day in by_day.keys() - self._days:
                    self._db.executescript(_day_schema(day, self.full_text))
                    self._days.add(day)
                    if self.full_text:
                        self._text_days.add(day)
                written = 0
                self._db.execute("BEGIN IMMEDIATE")
                for day, payload in payloads.items():
                    last = self._db.execute(f"SELECT coalesce(max(seq), 0) FROM events_{day}").fetchone()[0]
                    self._db.execute(_register_ids_sql(day), (payload,))
                    # rowcount: the rows this statement inserted (an ignored duplicate is 0).
                    added = self._db.execute(_insert_sql(day), (payload,)).rowcount
                    if added and day in self._text_days:
                        self._db.execute(_index_text_sql(day), (last,))
                    written += added
                self._db.execute("COMMIT")
            except (sqlite3.IntegrityError, sqlite3.DataError) as exc:  # a value the schema refuses
                _rollback(self._db)
                raise EventsRefused(f"event store {self.path}: write refused: {exc}", None, WriteResult(0, 0)) from exc
            except sqlite3.Error as exc:  # locked, disk full, I/O error, closed: the store is down
                _rollback(self._db)
                raise EventStoreError(f"event store {self.path}: write failed: {exc}") from exc
        stored = len(events) - len(refused)
        return self._refuse(refused, WriteResult(written=written, duplicates=stored - written))

    @staticmethod
    def _refuse(refused: list[RefusedEvent], written: WriteResult) -> WriteResult:
        if refused:
            shown = "; ".join(f"#{r.position}: {r.reason}" for r in refused[:5])
            raise EventsRefused(f"{len(refused)} event(s) refused ({written.written} written): {shown}", refused, written)
        return written

    def _ensure_id_registry(self) -> None:
        """Create the id registry; a store from before it registers the ids it holds, oldest day first."""
        if self._db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='event_ids'").fetchone():
            return
        self._db.execute("BEGIN IMMEDIATE")
        for statement in _ID_REGISTRY.strip().split(";"):
            if statement.strip():
                self._db.execute(statement)
        for day in sorted(self._days):
            self._db.execute(f"INSERT OR IGNORE INTO event_ids (id, day) SELECT id, '{day}' FROM events_{day}")
        self._db.execute("COMMIT")

    def _adopt_single_table(self) -> None:
        """Move events from the single-table layout of earlier versions into day partitions."""
        if self._db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='events'").fetchone() is None:
            return
        cursor = self._db.execute("SELECT body FROM events")
        while rows := cursor.fetchmany(5000):
            self.write([orjson.loads(body) for (body,) in rows])
        self._db.execute("DROP TABLE events")
        self._db.execute("VACUUM")  # also switches the file to incremental auto-vacuum

    # -- reading

    def get(self, event_id: str) -> dict[str, Any] | None:
        with self._read_lock:
            for day in sorted(self._days, reverse=True):
                row = self._reader.execute(f"SELECT body FROM events_{day} WHERE id = ?", (event_id,)).fetchone()
                if row:
                    return orjson.loads(row[0])
        return None

    def search(self, query: EventQuery) -> EventPage:
        sort_type = check_sort_field(query.sort)
        days = self._days_for(query, newest_first=query.descending)
        order = "DESC" if query.descending else "ASC"
        wheres = [_where(query, day, day in self._text_days) for day in days]
        with self._read_lock:
            counts = [self._reader.execute(f"SELECT count(*) FROM events_{d} AS e {w}", p).fetchone()[0]
                      for d, (w, p) in zip(days, wheres)]
            total = sum(counts)
            if query.sort == "@timestamp":
                bodies = self._page_by_time(days, wheres, counts, order, query.offset, query.limit)
            else:
                bodies = self._page_by_field(days, wheres, query, sort_type, order)
        return EventPage(total=total, events=[orjson.loads(b) for b in bodies])

    def _page_by_time(self, days: list[str], wheres: list[tuple[str, list[Any]]], counts: list[int],
                      order: str, offset: int, limit: int) -> list[str]:
        # Day partitions are already in time order: skip whole days before the offset.
        bodies: list[str] = []
        for day, (where, params), n in zip(days, wheres, counts):
            if len(bodies) >= limit:
                break
            if offset >= n:
                offset -= n
                continue
            rows = self._reader.execute(
                f"SELECT body FROM events_{day} AS e {where} ORDER BY ts {order}, id {order} LIMIT ? OFFSET ?",
                [*params, limit - len(bodies), offset]).fetchall()
            bodies.extend(r[0] for r in rows)
            offset = 0
        return bodies

    def _page_by_field(self, days: list[str], wheres: list[tuple[str, list[Any]]], query: EventQuery,
                       sort_type: str, order: str) -> list[str]:
        if not days:
            return []
        key = _expr(query.sort)
        parts, params = [], []
        for day, (where, p) in zip(days, wheres):
            parts.append(f"SELECT {key} AS k, ts, id, body FROM events_{day} AS e {where}")
            params.extend(p)
        # Events without the field come last either way, as in Elasticsearch.
        sql = (f"SELECT body FROM ({' UNION ALL '.join(parts)}) "
               f"ORDER BY k IS NULL, k {order}, ts {order}, id {order} LIMIT ? OFFSET ?")
        return [r[0] for r in self._reader.execute(sql, [*params, query.limit, query.offset]).fetchall()]

    def count_by(self, query: EventQuery, field: str, size: int = 10) -> list[TermCount]:
        field_type = check_count_field(field)
        days = self._days_for(query)
        if not days or size < 1:
            return []
        parts, params = [], []
        for day in days:
            where, p = _where(query, day, day in self._text_days)
            if field_type == "keywords":
                parts.append(f"SELECT j.value AS v FROM events_{day} AS e, json_each(e.body, ?) AS j {where}")
                params.append(f'$."{field}"')
            else:
                parts.append(f"SELECT {_expr(field)} AS v FROM events_{day} AS e {where}")
            params.extend(p)
        sql = (f"SELECT v, count(*) AS n FROM ({' UNION ALL '.join(parts)}) WHERE v IS NOT NULL "
               "GROUP BY v ORDER BY n DESC, v ASC LIMIT ?")
        with self._read_lock:
            rows = self._reader.execute(sql, [*params, size]).fetchall()
        return [TermCount(v, n) for v, n in rows]

    def histogram(self, query: EventQuery, interval: timedelta) -> list[TimeBucket]:
        seconds = check_interval(interval)
        days = self._days_for(query)
        if not days:
            return []
        parts, params = [], []
        for day in days:
            where, p = _where(query, day, day in self._text_days)
            # substr: whole seconds, truncated (unixepoch would round the fraction).
            parts.append(f"SELECT unixepoch(substr(e.ts, 1, 19)) / {seconds} AS b FROM events_{day} AS e {where}")
            params.extend(p)
        sql = f"SELECT b, count(*) FROM ({' UNION ALL '.join(parts)}) GROUP BY b ORDER BY b"
        with self._read_lock:
            rows = self._reader.execute(sql, params).fetchall()
        return [TimeBucket(datetime.fromtimestamp(b * seconds, tz=timezone.utc), n) for b, n in rows]

    def count(self) -> int:
        with self._read_lock:
            return sum(self._reader.execute(f"SELECT count(*) FROM events_{d}").fetchone()[0] for d in sorted(self._days))

    # -- retention

    def days(self) -> list[date]:
        return [_as_date(d) for d in sorted(self._days)]

    def drop_days_before(self, day: date) -> list[date]:
        cutoff = f"{day:%Y%m%d}"
        with self._write_lock, self._read_lock:
            doomed = sorted(d for d in self._days if d < cutoff)
            try:
                for d in doomed:
                    self._db.executescript(f"BEGIN IMMEDIATE; DROP TABLE events_{d}; DROP TABLE IF EXISTS text_{d};"
                                           f" DELETE FROM event_ids WHERE day = '{d}'; COMMIT;")
                    self._days.discard(d)
                    self._text_days.discard(d)
                if doomed:
                    self._db.execute("PRAGMA incremental_vacuum")
            except sqlite3.Error as exc:
                _rollback(self._db)
                raise EventStoreError(f"event store {self.path}: dropping day partitions failed: {exc}") from exc
        return [_as_date(d) for d in doomed]

    def close(self) -> None:
        with self._write_lock, self._read_lock:
            self._reader.close()
            self._db.close()

    # -- helpers

    def _days_for(self, query: EventQuery, newest_first: bool = False) -> list[str]:
        """The day partitions that can hold events of the query's time range."""
        first = _day_key(query.start) if query.start is not None else None
        # end is exclusive: an end at exactly midnight does not reach into that day.
        last = _day_key(query.end - timedelta(microseconds=1)) if query.end is not None else None
        days = [d for d in sorted(self._days) if (first is None or d >= first) and (last is None or d <= last)]
        return days[::-1] if newest_first else days


def _rollback(db: sqlite3.Connection) -> None:
    try:
        if db.in_transaction:
            db.execute("ROLLBACK")
    except sqlite3.Error:
        pass  # a closed or broken connection has nothing left to roll back


def _day_key(instant: datetime) -> str:
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=timezone.utc)
    return f"{instant.astimezone(timezone.utc):%Y%m%d}"


def _expr(name: str) -> str:
    column = _COLUMNS.get(name)
    return f"e.{column}" if column else f"json_extract(e.body, '$.\"{name}\"')"


def _trigrams(text: str) -> str:
    """An FTS5 query requiring every trigram of ``text`` (the index keeps no positions)."""
    grams = {text[i:i + 3] for i in range(len(text) - 2)}
    return " ".join('"' + g.replace('"', '""') + '"' for g in sorted(grams))


def _in(column: str, values: Iterable[str], params: list[Any]) -> str:
    values = list(values)
    params.extend(values)
    return f"{column} IN ({','.join('?' * len(values))})" if values else "0"


def _where(query: EventQuery, day: str, indexed: bool) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if query.start is not None:
        clauses.append("e.ts >= ?")
        params.append(format_timestamp(query.start))
    if query.end is not None:
        clauses.append("e.ts < ?")
        params.append(format_timestamp(query.end))
    if query.unit_ids is not None:
        clauses.append(_in("e.unit_id", query.unit_ids, params))
    if query.event_ids is not None:
        clauses.append(_in("e.id", query.event_ids, params))
    for name, value in query.filters.items():
        spec = FIELDS.get(name)
        if spec is None:
            raise EventStoreError(f"cannot filter on {name!r}: not a field of the event schema")
        if spec.type == "keywords":
            clauses.append("EXISTS (SELECT 1 FROM json_each(e.body, ?) WHERE value = ?)")
            params.append(f'$."{name}"')
        else:
            clauses.append(f"{_expr(name)} = ?")
        params.append(value)
    if query.text:
        if indexed and len(query.text) >= 3:
            clauses.append(f"e.seq IN (SELECT rowid FROM text_{day} WHERE text_{day} MATCH ?)")
            params.append(_trigrams(query.text))
        clauses.append(
            "(json_extract(e.body, '$.message') LIKE ? ESCAPE '\\' OR json_extract(e.body, '$.\"url.original\"') LIKE ? ESCAPE '\\')"
        )
        # The user's text is literal: % and _ in it are not wildcards.
        escaped = query.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params.extend([f"%{escaped}%"] * 2)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params
