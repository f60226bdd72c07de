"""/api/v1/events: search, one event, counts by field and over time — scoped by the org tree.

Any query parameter named like a schema field is an exact filter: ``?source.ip=10.1.2.3&destination.port=22``.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request

from soc_api.auth import Context, CurrentPrincipal, DbSession, require
from soc_api.event_search import SearchError, SearchRequest, field_filters, histogram_interval, scoped_query
from soc_api.schemas.events import EventPageOut, HistogramOut, TermBucketOut, TermsOut, TimeBucketOut
from soc_core.event_store import EventQuery, EventStore, EventStoreError, TermCount, TimeBucket, check_count_field
from soc_core.permissions import Action

router = APIRouter(prefix="/api/v1/events", tags=["events"])

_RESERVED = frozenset({"start", "end", "q", "sort", "order", "offset", "limit", "unit_id", "incident_id",
                       "alert_events", "field", "size", "interval"})

Start = Annotated[datetime | None, Query(description="inclusive, ISO 8601 (no zone = UTC)")]
End = Annotated[datetime | None, Query(description="exclusive, ISO 8601 (no zone = UTC)")]
Text = Annotated[str | None, Query(alias="q", max_length=200, description="substring of message or url.original, any case")]
UnitId = Annotated[int | None, Query(description="only this unit and the units below it")]
IncidentId = Annotated[int | None, Query(description="pivot: the incident's unit and time span (±30 min)")]
AlertEvents = Annotated[bool, Query(description="with incident_id: exactly the events behind its alerts")]


def _store(context: Any) -> EventStore:
    if context.event_store is None:
        raise HTTPException(503, "no event store is configured in this process")
    return context.event_store


def _query(request: Request, session: DbSession, principal: CurrentPrincipal, search: SearchRequest) -> EventQuery:
    try:
        filters = field_filters(request.query_params, _RESERVED)
        return scoped_query(session, principal, replace(search, filters=filters))
    except SearchError as exc:
        raise HTTPException(exc.status, exc.reason) from exc


def _run(what: str, call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except EventStoreError as exc:
        raise HTTPException(503, f"event store unavailable ({what}): {exc}") from exc


@router.get("", response_model=EventPageOut, summary="Search events in your scope", **require(Action.VIEW))
def search_events(
    request: Request, principal: CurrentPrincipal, context: Context, session: DbSession,
    start: Start = None, end: End = None, q: Text = None,
    sort: Annotated[str, Query(description="a keyword, number or date field")] = "@timestamp",
    order: Annotated[Literal["asc", "desc"], Query()] = "desc",
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    unit_id: UnitId = None, incident_id: IncidentId = None, alert_events: AlertEvents = False,
) -> EventPageOut:
    query = _query(request, session, principal, SearchRequest(
        start=start, end=end, text=q, sort=sort, descending=order == "desc", offset=offset, limit=limit,
        unit_id=unit_id, incident_id=incident_id, alert_events=alert_events))
    page = _run("search", _store(context).search, query)
    return EventPageOut(total=page.total, offset=offset, limit=limit, items=page.events)


@router.get("/aggregations/terms", response_model=TermsOut, summary="Counts by field: the most frequent values", **require(Action.VIEW))
def count_events_by(
    request: Request, principal: CurrentPrincipal, context: Context, session: DbSession,
    field: Annotated[str, Query(description="e.g. source.ip, destination.port, event.dataset, rule.name")],
    size: Annotated[int, Query(ge=1, le=100)] = 10,
    start: Start = None, end: End = None, q: Text = None,
    unit_id: UnitId = None, incident_id: IncidentId = None, alert_events: AlertEvents = False,
) -> TermsOut:
    try:
        check_count_field(field)
    except EventStoreError as exc:
        raise HTTPException(422, str(exc)) from exc
    query = _query(request, session, principal, SearchRequest(
        start=start, end=end, text=q, unit_id=unit_id, incident_id=incident_id, alert_events=alert_events))
    buckets: list[TermCount] = _run("counts by field", _store(context).count_by, query, field, size)
    return TermsOut(field=field, buckets=[TermBucketOut(value=b.value, count=b.count) for b in buckets])


@router.get("/aggregations/histogram", response_model=HistogramOut, summary="Event counts over time", **require(Action.VIEW))
def events_over_time(
    request: Request, principal: CurrentPrincipal, context: Context, session: DbSession,
    interval: Annotated[int | None, Query(ge=1, le=31 * 86400, description="seconds; default: at most 60 buckets")] = None,
    start: Start = None, end: End = None, q: Text = None,
    unit_id: UnitId = None, incident_id: IncidentId = None, alert_events: AlertEvents = False,
) -> HistogramOut:
    query = _query(request, session, principal, SearchRequest(
        start=start, end=end, text=q, unit_id=unit_id, incident_id=incident_id, alert_events=alert_events))
    store = _store(context)
    step = timedelta(seconds=interval) if interval else _run("histogram", histogram_interval, store, query)
    buckets: list[TimeBucket] = _run("histogram", store.histogram, query, step)
    return HistogramOut(interval=int(step.total_seconds()),
                        buckets=[TimeBucketOut(start=b.start, count=b.count) for b in buckets])


@router.get("/{event_id}", summary="One event by id, if it lies in your scope", **require(Action.VIEW))
def get_event(
    request: Request, event_id: str, principal: CurrentPrincipal, context: Context, session: DbSession,
) -> dict[str, Any]:
    query = replace(_query(request, session, principal, SearchRequest(limit=1)), event_ids=[event_id])
    page = _run("get", _store(context).search, query)
    if not page.events:
        raise HTTPException(404, f"event {event_id} not found")
    return page.events[0]
