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

from collectors.disk_queue import DiskQueue, QueuedBatch, UnreadableLine
from collectors.quarantine import Quarantine, QuarantinedEvent, QuarantineFull, retry
from detection_rules import Alert, DetectionEngine
from inventory.address_book import AddressBook
from soc_core.clock import Clock
from soc_core.config import IngestSettings
from soc_core.drill_scope import DRILL_FIELD, DrillScopes
from soc_core.event_store import EventsRefused, EventStore, EventStoreError, WriteResult
from soc_core.events import SENSOR_EVENT_ID_MAX, EventError, format_timestamp, owned_event_id, validate_event

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
    quarantined: int = 0  # of the rejected, how many the store refused and the quarantine keeps
    rejected: list[Rejection] = field(default_factory=list)


Refused = tuple[dict[str, Any], str]  # an event the store refused for its content, and why


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
    events_quarantined: int = 0
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
        # Where events the store refuses for their content wait for an operator; None = only reported.
        self.quarantine: Quarantine | None = None
        self._queue_full = False  # the last batch offered to the queue did not fit
        self._queue_moved_at = clock.now()  # the last time the queue was empty or a batch left it
        self._drain_error = ""  # why the last drain stopped, if the store refused
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
        events, line_of = self._validated(origin, lines, result)
        with self._lock:
            alerts = self.engine.process_many(events)
            if alerts:
                self.alert_sink(alerts)
        # Outside the lock: one batch is written (SQLite and the Elasticsearch client release the
        # GIL while they work) while the next one is parsed, validated and run through detection.
        if alerts:
            _, _, refused_alerts = self._durable([_alert_event(alert, origin) for alert in alerts])
            self._quarantine_all(refused_alerts, "ingest (alert)", origin)
        if events:
            written, queued, refused = self._durable(events)
            result.accepted = written.written + queued
            result.duplicates += written.duplicates
            result.queued = queued
            for event, reason, entry in self._quarantine_all(refused, "ingest", origin):
                kept = f"; quarantined as {entry}" if entry else "; not quarantined (quarantine full or off)"
                result.rejected.append(Rejection(line_of[event["event.id"]], f"the event store refused it: {reason}{kept}"))
                result.quarantined += entry is not None
            result.rejected.sort(key=lambda r: r.line)
        result.alerts = len(alerts)
        self._count(result)
        return result

    def _durable(self, events: list[dict[str, Any]]) -> tuple[WriteResult, int, list[Refused]]:
        """Write to the store, or — when it is down and a queue is configured — to the disk queue.
        Returns what the store wrote, how many events were queued instead, and the events the store
        refused for their content (never queued: no retry would help, and they would block the queue)."""
        queue = self.queue
        # While the queue holds batches the store is known to be down: don't wait on it per batch.
        if queue is None or not queue.state().batches:
            try:
                written, refused = self._store(events)
                return written, 0, refused
            except EventStoreError as exc:  # an outage: _store handles every refusal for content
                if queue is None:
                    raise StoreUnavailable(str(exc), self.limits.queue_retry_after_seconds) from exc
                log.warning("event store unavailable, queueing the batch on disk: %s", exc)
        try:
            fits = queue.put(events)
        except RecursionError as exc:  # an event nested past what json writes: the store will refuse it when back
            raise StoreUnavailable("the event store is down and an event of this batch cannot be queued on disk",
                                   self.limits.queue_retry_after_seconds) from exc
        if not fits:
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
        return WriteResult(0, 0), len(events), []

    def _store(self, events: list[dict[str, Any]]) -> tuple[WriteResult, list[Refused]]:
        """Write ``events``, finding those the store refuses for their content: when the store names
        them they are set aside, when it cannot the batch is split in halves until it can (log2(n)
        writes per bad event). Raises EventStoreError only for an outage."""
        try:
            return self.store.write(events), []
        except EventsRefused as exc:
            if exc.refused is not None:
                return exc.written, [(events[r.position], r.reason) for r in exc.refused]
            if len(events) == 1:
                return exc.written, [(events[0], str(exc))]
        middle = len(events) // 2
        first, refused_first = self._store(events[:middle])
        second, refused_second = self._store(events[middle:])
        return (WriteResult(first.written + second.written, first.duplicates + second.duplicates),
                refused_first + refused_second)

    def _quarantine_all(self, refused: list[Refused], where: str,
                        origin: EventOrigin | None) -> list[tuple[dict[str, Any], str, str | None]]:
        """Keep each refused event in the quarantine; (event, reason, quarantine id or None) for each."""
        kept: list[tuple[dict[str, Any], str, str | None]] = []
        for event, reason in refused:
            entry = self._keep(QuarantinedEvent(
                id="", quarantined_at=format_timestamp(self.clock.now()), reason=reason, origin=where,
                sensor_id=origin.sensor_id if origin else _text(event.get("observer.id")),
                unit_id=origin.unit_id if origin else _text(event.get("organization.id")), event=event))
            kept.append((event, reason, entry))
        return kept

    def _keep(self, entry: QuarantinedEvent) -> str | None:
        log.warning("event store refused an event (%s): %s", entry.origin, entry.reason)
        if self.quarantine is None:
            return None
        try:
            try:
                stored = self.quarantine.put(entry)
            except RecursionError:  # nested past what json writes: keep the reason and the id, not the body
                event_id = entry.event.get("event.id") if entry.event else None
                stored = self.quarantine.put(QuarantinedEvent(**{**entry.__dict__, "event": None,
                                                                 "raw": f"event {event_id}: nested too deeply to keep"}))
        except QuarantineFull as exc:
            log.error("ALARM: %s: a refused event is reported, not kept", exc)
            return None
        with self._counter_lock:
            self.counters.events_quarantined += 1
        return stored.id

    def drain(self) -> str:
        """Move queued batches to the store, oldest first, until the queue is empty or the store is down.
        Lines that are no valid event (a file from an older version) and events the store refuses go
        to the quarantine, so no entry can block those behind it."""
        queue = self.queue
        moved = quarantined = 0
        while queue is not None and (batch := queue.oldest()) is not None:
            try:
                written, refused = self._store(self._revalidated(batch))
            except EventStoreError as exc:
                self._drain_error = str(exc)
                done = f"{moved} batch(es) moved to the store; " if moved else ""
                return f"{done}store still down: {exc}" if moved or quarantined else ""
            quarantined += len(self._quarantine_all(refused, f"queue {batch.path.name}", None))
            for line in batch.unreadable:
                self._keep(QuarantinedEvent(
                    id="", quarantined_at=format_timestamp(self.clock.now()), reason=line.reason,
                    origin=f"queue {batch.path.name} line {line.line}", sensor_id=None, unit_id=None,
                    event=None, raw=line.text))
                quarantined += 1
            queue.remove(batch.path)
            self._queue_full = False
            self._queue_moved_at = self.clock.now()
            self._drain_error = ""
            moved += 1
        if queue is not None and not moved:
            self._queue_moved_at = self.clock.now()  # empty: nothing waits
        report = f"{moved} queued batch(es) moved to the store" if moved else ""
        return report + (f", {quarantined} event(s) quarantined" if quarantined else "")

    def _revalidated(self, batch: QueuedBatch) -> list[dict[str, Any]]:
        """The batch's events that still pass validation; the others become unreadable lines (a queue
        file written before the validator and the stores agreed on timestamps, issue 14)."""
        events: list[dict[str, Any]] = []
        for number, raw in batch.events:
            try:
                events.append(validate_event(raw))
            except EventError as exc:
                batch.unreadable.append(UnreadableLine(number, orjson.dumps(raw, default=repr).decode(), exc.reason))
        return events

    # -- the quarantine, for an operator (edusoc ingest quarantine, /api/v1/ingest/quarantine)

    def retry_quarantined(self, entry_id: str) -> QuarantinedEvent | None:
        """Write one quarantined event to the store again (collectors.quarantine.retry)."""
        return retry(self._require_quarantine(), self.store, entry_id)

    def drop_quarantined(self, entry_id: str) -> bool:
        return self._require_quarantine().remove(entry_id)

    def _require_quarantine(self) -> Quarantine:
        if self.quarantine is None:
            raise RuntimeError("this collector keeps no quarantine (ingest.quarantine_max_events = 0)")
        return self.quarantine

    def queue_metrics(self) -> dict[str, object]:
        quarantine = {"quarantined": self.quarantine.count() if self.quarantine else 0,
                      "quarantine_overflowed": self.quarantine.overflowed if self.quarantine else 0}
        if self.queue is None:
            return {"configured": False, **quarantine, "alarm": bool(quarantine["quarantine_overflowed"])}
        state = self.queue.state()
        waiting = (self.clock.now() - self._queue_moved_at).total_seconds() if state.batches else 0.0
        stuck = waiting >= self.limits.queue_stuck_seconds
        return {"configured": True, "batches": state.batches, "bytes": state.bytes, "max_bytes": state.max_bytes,
                "fill": round(state.fill, 4), "full": self._queue_full, "stuck": stuck,
                "seconds_since_progress": round(waiting, 1), "last_error": self._drain_error, **quarantine,
                "alarm": self._queue_full or stuck or state.fill >= self.limits.queue_alarm_fill
                or bool(quarantine["quarantine_overflowed"])}

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

    def _validated(self, origin: EventOrigin, lines: list[bytes],
                   result: BatchResult) -> tuple[list[dict[str, Any]], dict[str, int]]:
        """The batch's valid events and the line each came from (by its stored event.id)."""
        ingested = format_timestamp(self.clock.now())
        events: list[dict[str, Any]] = []
        seen: dict[str, int] = {}
        book, drills = self.address_book, self.drill_scopes
        for number, line in enumerate(lines, start=1):
            try:
                event = _parse_line(line, self.limits.max_event_bytes)
            except EventError as exc:
                result.rejected.append(Rejection(number, exc.reason))
                continue
            # Ids are the sending unit's: another unit's sensor cannot take them first (issue 14).
            event["event.id"] = event_id = owned_event_id(origin.unit_id, event["event.id"])
            if event_id in seen:  # the same event twice in one batch: keep one
                result.duplicates += 1
                continue
            seen[event_id] = number
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
        return events, seen

    def _count(self, result: BatchResult) -> None:
        with self._counter_lock:
            self.counters.batches += 1
            self.counters.events_accepted += result.accepted
            self.counters.events_duplicate += result.duplicates
            self.counters.events_rejected += len(result.rejected)
            self.counters.alerts += result.alerts


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


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
    event = validate_event(raw)
    if len(event["event.id"]) > SENSOR_EVENT_ID_MAX:
        raise EventError(f"event.id: longer than {SENSOR_EVENT_ID_MAX} characters", "event.id")
    return event


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
