"""The EventStore interface. Implementations live in collectors/ (SQLite, Elasticsearch);
readers above (the API) receive one by injection and never import collectors."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class WriteResult:
    written: int      # events new to the store
    duplicates: int   # events whose id was stored already (a retried batch)


@dataclass(frozen=True)
class EventQuery:
    start: datetime | None = None
    end: datetime | None = None
    # Exact matches on schema fields, e.g. {"source.ip": "10.1.2.3"}.
    filters: dict[str, str | int] = field(default_factory=dict)
    # Restrict to these units (organization.id); None means every unit.
    unit_ids: Sequence[str] | None = None
    text: str | None = None  # free text over message and url.original
    descending: bool = True
    offset: int = 0
    limit: int = 50


@dataclass(frozen=True)
class EventPage:
    total: int
    events: list[dict[str, Any]]


class EventStoreError(RuntimeError):
    """The store cannot be reached or refused a write; the message says which and why."""


class EventStore(Protocol):
    def write(self, events: Sequence[dict[str, Any]]) -> WriteResult:
        """Store events durably, idempotent by ``event.id``; return only after they are durable."""
        ...

    def get(self, event_id: str) -> dict[str, Any] | None: ...

    def search(self, query: EventQuery) -> EventPage: ...

    def count(self) -> int: ...

    def close(self) -> None: ...
