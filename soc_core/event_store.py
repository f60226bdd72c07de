"""The EventStore interface. Implementations live in collectors/ (SQLite, Elasticsearch);
readers above (the API) receive one by injection and never import collectors.

Both implementations partition events by UTC day of ``@timestamp`` (a table per day in SQLite,
an index per day in Elasticsearch), so retention drops whole days and an ``event.id`` is unique
within its day (ids are derived from the observation, its time included).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from soc_core.events import FIELDS

# Field types one may sort on and count by (a free-text or object field is neither).
SORTABLE_TYPES = frozenset({"keyword", "ip", "port", "long", "float", "date"})
COUNTABLE_TYPES = frozenset({"keyword", "keywords", "ip", "port", "long"})


@dataclass(frozen=True)
class WriteResult:
    written: int      # events new to the store
    duplicates: int   # events whose id was stored already (a retried batch)


@dataclass(frozen=True)
class EventQuery:
    start: datetime | None = None  # inclusive
    end: datetime | None = None    # exclusive
    # Exact matches on schema fields, e.g. {"source.ip": "10.1.2.3"}; on a list field
    # (``tags``, ``event.category``) an event matches when any element equals the value.
    filters: dict[str, str | int] = field(default_factory=dict)
    # Restrict to these units (organization.id); None means every unit.
    unit_ids: Sequence[str] | None = None
    # Restrict to these event ids (e.g. the events behind an incident's alerts); None means any.
    event_ids: Sequence[str] | None = None
    text: str | None = None  # case-insensitive substring of message or url.original
    sort: str = "@timestamp"  # ties are broken by @timestamp, then event.id, in the same direction
    descending: bool = True
    offset: int = 0
    limit: int = 50


@dataclass(frozen=True)
class EventPage:
    total: int
    events: list[dict[str, Any]]


@dataclass(frozen=True)
class TermCount:
    value: str | int
    count: int  # events carrying the value


@dataclass(frozen=True)
class TimeBucket:
    start: datetime  # UTC; buckets are aligned to the Unix epoch
    count: int


class EventStoreError(RuntimeError):
    """The store cannot be reached or refused a write; the message says which and why.

    Raised as such it means an outage (retrying later may succeed); a refusal for the events'
    content is the subclass ``EventsRefused``."""


@dataclass(frozen=True)
class RefusedEvent:
    position: int  # 0-based, in the sequence given to ``write``
    reason: str


class EventsRefused(EventStoreError):
    """The store refused events for their content: not an outage, retrying the same events never helps.

    ``refused`` names them when the store can tell which (the rest were written: ``written``);
    ``None`` means it cannot, nothing of the call was written, and the caller splits the batch to find them."""

    def __init__(self, message: str, refused: Sequence[RefusedEvent] | None, written: WriteResult) -> None:
        super().__init__(message)
        self.refused = list(refused) if refused is not None else None
        self.written = written


def check_sort_field(name: str) -> str:
    spec = FIELDS.get(name)
    if spec is None or spec.type not in SORTABLE_TYPES:
        raise EventStoreError(f"cannot sort on {name!r}: sortable fields are the schema's "
                              f"{', '.join(sorted(SORTABLE_TYPES))} fields")
    return spec.type


def check_count_field(name: str) -> str:
    spec = FIELDS.get(name)
    if spec is None or spec.type not in COUNTABLE_TYPES:
        raise EventStoreError(f"cannot count by {name!r}: countable fields are the schema's "
                              f"{', '.join(sorted(COUNTABLE_TYPES))} fields")
    return spec.type


def check_interval(interval: timedelta) -> int:
    """A histogram interval in whole seconds (at least one)."""
    seconds = interval.total_seconds()
    if seconds < 1 or seconds != int(seconds):
        raise EventStoreError(f"histogram interval must be a whole number of seconds, at least 1, got {seconds}")
    return int(seconds)


class EventStore(Protocol):
    def write(self, events: Sequence[dict[str, Any]]) -> WriteResult:
        """Store events durably, idempotent by ``event.id``; return only after they are durable.
        Raises ``EventsRefused`` for events the store cannot hold, ``EventStoreError`` when it is down."""
        ...

    def get(self, event_id: str) -> dict[str, Any] | None: ...

    def search(self, query: EventQuery) -> EventPage: ...

    def count_by(self, query: EventQuery, field: str, size: int = 10) -> list[TermCount]:
        """The ``size`` most frequent values of ``field`` among events matching ``query``
        (most frequent first, ties by value); sort and paging of ``query`` are ignored."""
        ...

    def histogram(self, query: EventQuery, interval: timedelta) -> list[TimeBucket]:
        """Events matching ``query`` per ``interval`` (epoch-aligned, UTC), non-empty buckets, oldest first."""
        ...

    def count(self) -> int: ...

    def days(self) -> list[date]:
        """The UTC days that hold events (one partition each), oldest first."""
        ...

    def drop_days_before(self, day: date) -> list[date]:
        """Delete every whole day partition older than ``day``; return the days deleted."""
        ...

    def close(self) -> None: ...
