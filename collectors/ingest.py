"""The ingest path: a sensor's batch → validated events → detection → alerts and events stored.

Order matters for "nothing lost, nothing duplicated": alerts go to the sink first (the sink
is idempotent by alert id), then events and alert records to the EventStore (idempotent by
event id), and only then is the batch acknowledged. A crash anywhere before the ack makes the
sensor resend the batch, which reproduces the same ids.
"""
from __future__ import annotations

import json
import threading
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from detection_rules import Alert, DetectionEngine
from soc_core.address_book import AddressBook
from soc_core.clock import Clock
from soc_core.config import IngestSettings
from soc_core.event_store import EventStore
from soc_core.events import EventError, format_timestamp, validate_event

AlertSink = Callable[[Sequence[Alert]], None]


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
    rejected: list[Rejection] = field(default_factory=list)


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
        # Correlation state in the engine is order-dependent: one batch at a time.
        self._lock = threading.Lock()

    def ingest(self, origin: EventOrigin, body: bytes, gzipped: bool) -> BatchResult:
        """Process one batch; raises BatchError when the body itself is unusable."""
        try:
            lines = self._lines(body, gzipped)
        except BatchError:
            self.counters.batches_refused += 1
            raise
        result = BatchResult()
        events = self._validated(origin, lines, result)
        with self._lock:
            alerts = self.engine.process_many(events)
            if alerts:
                self.alert_sink(alerts)
                self.store.write([_alert_event(alert, origin) for alert in alerts])
            if events:
                written = self.store.write(events)
                result.accepted = written.written
                result.duplicates += written.duplicates
        result.alerts = len(alerts)
        self._count(result)
        return result

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
        book = self.address_book
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
            events.append(event)
        return events

    def _count(self, result: BatchResult) -> None:
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
        raw = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
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
