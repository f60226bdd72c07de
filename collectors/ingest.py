"""The ingest path: a sensor's batch → validated events → detection → alerts and events stored.

Order matters for "nothing lost, nothing duplicated": alerts go to the sink first (the sink
is idempotent by alert id), then events and alert records to the EventStore (idempotent by
event id), and only then is the batch acknowledged. A crash anywhere before the ack makes the
sensor resend the batch, which reproduces the same ids.
"""
from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from collectors.disk_queue import DiskQueue
from detection_rules import Alert, DetectionEngine
from inventory.address_book import AddressBook
from soc_core.clock import Clock
from soc_core.config import IngestSettings
from soc_core.drill_scope import DRILL_FIELD, DrillScopes
from soc_core.event_store import EventStore, EventStoreError, WriteResult
from soc_core.events import EventError, format_timestamp, validate_event

AlertSink = Callable[[Sequence[Alert]], None]
log = logging.getLogger("edusoc.collector")


@dataclass(frozen=True)
class EventOrigin:
    """Who sent a batch: the authenticated sensor and the unit it belongs to."""

    sensor_id: str
    sensor_name: str
    unit_id: str
    unit_name: str
    # The unit's path in the org tree: enrichment may attribute an event to a unit below it, never elsewhere.
    unit_path: str = ""


@dataclass(frozen=True)
class Rejection:
    line: int  # 1-based line of the batch
    reason: str


@dataclass
class BatchResult:
    accepted: int = 0
    duplicates: int = 0
    alerts: int = 0
    queued: int = 0  # of the accepted, how many wait in the disk queue for the store
    rejected: list[Rejection] = field(default_factory=list)


class StoreUnavailable(RuntimeError):
    """The store is down and nothing can hold the batch: the sensor must keep it and retry later."""

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class BatchError(ValueError):
    """The batch as a whole cannot be read; nothing of it was stored."""

    def __init__(self, status_code: int, reason: str) -> None:
        super().__init__(reason)
        self.status_code = status_code
        self.reason = reason


@dataclass
class IngestCounters:
    batches: int = 0
    batches_refused: int = 0
    events_accepted: int = 0
    events_duplicate: int = 0
    events_rejected: int = 0
    events_queued: int = 0
    batches_refused_queue_full: int = 0
    alerts: int = 0


class IngestService:
    def __init__(
        self, store: EventStore, engine: DetectionEngine, alert_sink: AlertSink, limits: IngestSettings, clock: Clock,
    ) -> None:
        self.store = store
        self.engine = engine
        self.alert_sink = alert_sink
        self.limits = limits
        self.clock = clock
        self.counters = IngestCounters()
        # Replaced whole when the inventory changes (see edusoc.runtime); None = no enrichment.
        self.address_book: AddressBook | None = None
        # Replaced whole when an exercise changes; None = no exercise can tag events.
        self.drill_scopes: DrillScopes | None = None
        # Where batches wait while the store is down; None = answer 503 at once instead.
        self.queue: DiskQueue | None = None
        self._queue_full = False  # the last batch offered to the queue did not fit
        # Correlation state in the engine is order-dependent: one batch at a time through detection
        # (and the alert sink); store writes run outside it, concurrently with the next batch.
        self._lock = threading.Lock()
        self._counter_lock = threading.Lock()  # batches finish concurrently

    def ingest(self, origin: EventOrigin, body: bytes, gzipped: bool) -> BatchResult:
        """Process one batch; raises BatchError when the body itself is unusable."""
        try:
            lines = self._lines(body, gzipped)
        except BatchError:
            with self._counter_lock:
                self.counters.batches_refused += 1
            raise
        result = BatchResult()
        events = self._validated(origin, lines, result)
        with self._lock:
            alerts = self.engine.process_many(events)
            if alerts:
                self.alert_sink(alerts)
        # Outside the lock: one batch is written (SQLite and the Elasticsearch client release the
        # GIL while they work) while the next one is parsed, validated and run through detection.
        if alerts:
            self._durable([_alert_event(alert, origin) for alert in alerts])
        if events:
            written, queued = self._durable(events)
            result.accepted = written.written + queued
            result.duplicates += written.duplicates
            result.queued = queued
        result.alerts = len(alerts)
        self._count(result)
        return result

    def _durable(self, events: list[dict[str, Any]]) -> tuple[WriteResult, int]:
        """Write to the store, or — when it is down and a queue is configured — to the disk queue.
        Returns what the store wrote and how many events were queued instead."""
        queue = self.queue
        # While the queue holds batches the store is known to be down: don't wait on it per batch.
        if queue is None or not queue.state().batches:
            try:
                return self.store.write(events), 0
            except EventStoreError as exc:
                if queue is None:
                    raise StoreUnavailable(str(exc), self.limits.queue_retry_after_seconds) from exc
                log.warning("event store refused a batch, queueing it on disk: %s", exc)
        if not queue.put(events):
            with self._counter_lock:
                self.counters.batches_refused_queue_full += 1
            self._queue_full = True
            log.error("ALARM: collector disk queue full (%d bytes): batches are refused with 503", queue.max_bytes)
            raise StoreUnavailable(f"the event store is down and the disk queue is full ({queue.max_bytes} bytes)",
                                   self.limits.queue_retry_after_seconds)
        with self._counter_lock:
            self.counters.events_queued += len(events)
        self._queue_full = False
        self._alarm_if_filling()
        return WriteResult(0, 0), len(events)

    def drain(self) -> str:
        """Move queued batches to the store, oldest first, until the queue is empty or the store fails."""
        queue = self.queue
        moved = 0
        while queue is not None and (batch := queue.oldest()) is not None:
            path, events = batch
            try:
                self.store.write(events)
            except EventStoreError as exc:
                return f"{moved} batch(es) moved to the store; store still refuses: {exc}" if moved else ""
            queue.remove(path)
            self._queue_full = False
            moved += 1
        return f"{moved} queued batch(es) moved to the store" if moved else ""

    def queue_metrics(self) -> dict[str, object]:
        if self.queue is None:
            return {"configured": False}
        state = self.queue.state()
        return {"configured": True, "batches": state.batches, "bytes": state.bytes, "max_bytes": state.max_bytes,
                "fill": round(state.fill, 4), "full": self._queue_full,
                "alarm": self._queue_full or state.fill >= self.limits.queue_alarm_fill}

    def _alarm_if_filling(self) -> None:
        state = self.queue.state() if self.queue else None
        if state is not None and state.fill >= self.limits.queue_alarm_fill:
            log.error("ALARM: collector disk queue %.0f%% full (%d batches, %d of %d bytes): the event store is down",
                      100 * state.fill, state.batches, state.bytes, state.max_bytes)

    def _lines(self, body: bytes, gzipped: bool) -> list[bytes]:
        if len(body) > self.limits.max_batch_bytes:
            raise BatchError(413, f"batch of {len(body)} bytes exceeds the limit of {self.limits.max_batch_bytes}")
        if gzipped:
            body = _gunzip(body, self.limits.max_decompressed_bytes)
        lines = [line for line in body.split(b"\n") if line.strip()]
        if len(lines) > self.limits.max_batch_events:
            raise BatchError(413, f"batch of {len(lines)} events exceeds the limit of {self.limits.max_batch_events}")
        return lines

    def _validated(self, origin: EventOrigin, lines: list[bytes], result: BatchResult) -> list[dict[str, Any]]:
        ingested = format_timestamp(self.clock.now())
        events: list[dict[str, Any]] = []
        seen: set[str] = set()
        book, drills = self.address_book, self.drill_scopes
        for number, line in enumerate(lines, start=1):
            try:
                event = _parse_line(line, self.limits.max_event_bytes)
            except EventError as exc:
                result.rejected.append(Rejection(number, exc.reason))
                continue
            if event["event.id"] in seen:  # the same event twice in one batch: keep one
                result.duplicates += 1
                continue
            seen.add(event["event.id"])
            # The unit is the authenticated sensor's, whatever the sensor claims.
            event["organization.id"] = origin.unit_id
            event["organization.name"] = origin.unit_name
            event["observer.id"] = origin.sensor_id
            event["observer.name"] = origin.sensor_name
            event["event.ingested"] = ingested
            if book is not None:
                _enrich(event, origin, book)
            if drills is not None:
                drills.tag(event)  # after enrichment: the exercise's scope is checked on the event's final unit
            else:
                event.pop(DRILL_FIELD, None)
            events.append(event)
        return events

    def _count(self, result: BatchResult) -> None:
        with self._counter_lock:
            self.counters.batches += 1
            self.counters.events_accepted += result.accepted
            self.counters.events_duplicate += result.duplicates
            self.counters.events_rejected += len(result.rejected)
            self.counters.alerts += result.alerts


def _gunzip(body: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits=31)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise BatchError(400, f"body is not valid gzip: {exc}") from exc
    if len(data) > limit or inflater.unconsumed_tail:
        raise BatchError(413, f"batch decompresses to more than {limit} bytes")
    if not inflater.eof:
        raise BatchError(400, "gzip body is truncated")
    return data


def _parse_line(line: bytes, max_bytes: int) -> dict[str, Any]:
    if len(line) > max_bytes:
        raise EventError(f"event of {len(line)} bytes exceeds the limit of {max_bytes}")
    try:
        # orjson: ~4x json.loads, and it refuses what the stores could not write back (invalid
        # UTF-8, lone surrogates, NaN); integers past 64 bits arrive as floats and fail validation.
        raw = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise EventError(f"not valid JSON: {exc}") from None
    if isinstance(raw, dict) and raw.get("event.kind") == "alert":
        raise EventError("event.kind: sensors may not send alerts")
    return validate_event(raw)


_ENRICHED = tuple(f"{side}.{name}" for side in ("source", "destination") for name in ("unit.id", "unit.name", "asset.name"))


def _enrich(event: dict[str, Any], origin: EventOrigin, book: AddressBook) -> None:
    """Owning unit and asset of each address from the inventory. The event moves to the unit that
    owns its destination (else its source) when that unit lies below the sensor's own unit: a
    county's sensor attributes a school's traffic to the school."""
    for name in _ENRICHED:  # the collector's to set, whatever the sensor claims
        event.pop(name, None)
    owner = None
    for side in ("destination", "source"):
        ip = event.get(f"{side}.ip")
        ref = book.lookup(ip) if ip else None
        if ref is None:
            continue
        event[f"{side}.unit.id"] = str(ref.unit_id)
        event[f"{side}.unit.name"] = ref.unit_name
        if ref.asset:
            event[f"{side}.asset.name"] = ref.asset
        if owner is None and origin.unit_path and ref.unit_path.startswith(origin.unit_path):
            owner = ref
    if owner is not None:
        event["organization.id"] = str(owner.unit_id)
        event["organization.name"] = owner.unit_name


def _alert_event(alert: Alert, origin: EventOrigin) -> dict[str, Any]:
    event = dict(alert.to_event())
    event["organization.id"] = origin.unit_id
    event["organization.name"] = origin.unit_name
    return event
