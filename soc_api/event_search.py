"""Event search for duty staff, shared by the API and the UI: request parameters → a scoped EventQuery.

Scope: a principal sees only events whose ``organization.id`` lies in their subtree of the org
tree; asking for a unit outside it, or an incident outside it, is "not found", never a leak.
Pivot: ``incident_id`` narrows to the incident's unit and its time span (with a margin on both
sides); with ``alert_events`` it narrows to the very events behind the incident's alerts.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from soc_api.auth import Principal
from soc_api.incident_views import scoped_incident
from soc_core.date_ranges import DateRangeError, check_range
from soc_core.clock import as_utc
from soc_core.event_store import EventQuery, EventStore, EventStoreError, check_sort_field
from soc_core.events import FIELDS, parse_timestamp
from soc_core.models import Unit
from soc_core.permissions import within
from soc_core.repositories import units_within

# [I] Events around an incident: its first and last alert, widened by this much on both sides
# so the flows that led to the first alert and followed the last one are in view.
PIVOT_MARGIN = timedelta(minutes=30)
# Histogram intervals offered, finest first; the finest that gives at most MAX_BUCKETS is used.
INTERVALS = (60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400)
MAX_BUCKETS = 60


class SearchError(ValueError):
    """A search request that cannot be answered as asked; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class SearchRequest:
    start: datetime | None = None
    end: datetime | None = None
    text: str | None = None
    sort: str = "@timestamp"
    descending: bool = True
    offset: int = 0
    limit: int = 50
    unit_id: int | None = None
    incident_id: int | None = None
    alert_events: bool = False
    filters: Mapping[str, str | int] | None = None


def field_filters(params: Mapping[str, str], reserved: frozenset[str]) -> dict[str, str | int]:
    """Every query parameter named like a schema field is an exact filter; anything else unknown is an error."""
    filters: dict[str, str | int] = {}
    for name, value in params.items():
        if name in reserved or value == "":
            continue
        spec = FIELDS.get(name)
        if spec is None:
            raise SearchError(422, f"unknown parameter {name!r}: neither a search option nor a field of the event schema")
        if spec.type in ("port", "long"):
            try:
                number = int(value)
            except ValueError:
                raise SearchError(422, f"{name}: expected an integer, got {value!r}") from None
            if not -(2**63) <= number < 2**63:
                raise SearchError(422, f"{name}：整数超出范围 / integer out of range (signed 64-bit)")
            filters[name] = number
        else:
            filters[name] = value
    return filters


def scoped_query(session: Session, principal: Principal, request: SearchRequest) -> EventQuery:
    """The EventQuery a principal may run for ``request``; raises SearchError (404/422) otherwise."""
    try:
        check_sort_field(request.sort)
    except EventStoreError as exc:
        raise SearchError(422, str(exc)) from exc
    start, end = request.start, request.end
    if start and end and start >= end:
        raise SearchError(422, "start must be before end")
    try:
        check_range(start, end)
    except DateRangeError as exc:
        raise SearchError(422, str(exc)) from None
    unit_ids: list[str] | None = None if principal.is_global else _visible(session, principal)
    event_ids: list[str] | None = None
    if request.unit_id is not None:
        unit = session.get(Unit, request.unit_id)
        if unit is None or not principal.can_see(unit):
            raise SearchError(404, f"unit {request.unit_id} not found")
        unit_ids = [str(i) for i in session.scalars(select(Unit.id).where(within(Unit.path, unit)))]
    if request.incident_id is not None:
        incident = scoped_incident(session, principal, request.incident_id)
        if incident is None:
            raise SearchError(404, f"incident {request.incident_id} not found")
        subtree = {str(i) for i in session.scalars(select(Unit.id).where(within(Unit.path, incident.unit)))}
        unit_ids = sorted(subtree if unit_ids is None else subtree & set(unit_ids))
        if request.alert_events:
            event_ids = sorted({str(e) for a in incident.alerts for e in (a.summary or {}).get("event_ids", [a.event_id]) if e})
        else:
            start = start or as_utc(incident.first_seen_at) - PIVOT_MARGIN
            end = end or as_utc(incident.last_seen_at) + PIVOT_MARGIN
    return EventQuery(
        start=start, end=end, filters=dict(request.filters or {}), unit_ids=unit_ids, event_ids=event_ids,
        text=request.text or None, sort=request.sort, descending=request.descending,
        offset=request.offset, limit=request.limit,
    )


def _visible(session: Session, principal: Principal) -> list[str]:
    return [str(unit.id) for unit in session.scalars(units_within(principal.user.unit))]


def histogram_interval(store: EventStore, query: EventQuery) -> timedelta:
    """A histogram interval giving at most MAX_BUCKETS buckets over the query's time span
    (the span of the matching events themselves when the query leaves it open)."""
    start, end = query.start, query.end
    if start is None or end is None:
        oldest = store.search(replace(query, sort="@timestamp", descending=False, offset=0, limit=1)).events
        newest = store.search(replace(query, sort="@timestamp", descending=True, offset=0, limit=1)).events
        if not oldest:
            return timedelta(seconds=INTERVALS[0])
        start = start or parse_timestamp(oldest[0]["@timestamp"])
        end = end or parse_timestamp(newest[0]["@timestamp"])
    span = max((end - start).total_seconds(), 1)
    for seconds in INTERVALS:
        if span / seconds <= MAX_BUCKETS:
            return timedelta(seconds=seconds)
    return timedelta(seconds=INTERVALS[-1])


def parse_time(value: str | None, naive_zone: tzinfo = timezone.utc) -> datetime | None:
    """An ISO 8601 time; one without a zone is in ``naive_zone`` (UTC for the API, Beijing for the UI form)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SearchError(422, f"{value!r} is not an ISO 8601 date and time") from None
    return parsed.astimezone(timezone.utc) if parsed.tzinfo else parsed.replace(tzinfo=naive_zone).astimezone(timezone.utc)
