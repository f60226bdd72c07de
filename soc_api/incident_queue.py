"""The incident queue for thousands of incidents: filters, text search, sort and keyset paging.

A page is "the next ``limit`` incidents after this one" in the chosen order, so a page costs the same deep
in the queue as at its top and nothing is skipped or repeated while new incidents arrive. The cursor is
opaque to clients: the last row's sort value and id.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session, joinedload

from playbooks.models import EscalationStep
from soc_api.auth import Principal
from soc_core.models import Incident, Unit
from soc_core.permissions import within

Sort = Literal["deadline", "newest", "last_seen"]
# Open work: what the queue shows unless asked for closed or merged ones too.
OPEN_STATUSES = ("new", "acknowledged", "investigating", "contained")
_COLUMNS = {"deadline": Incident.handle_by, "newest": Incident.created_at, "last_seen": Incident.last_seen_at}
_DESCENDING = {"newest", "last_seen"}


class CursorError(ValueError):
    """A cursor this API did not hand out (or one for another sort)."""


@dataclass(frozen=True)
class QueueFilter:
    """What a user asks the queue for; every field is optional and they combine with AND."""

    statuses: tuple[str, ...] = ()
    open_only: bool = False
    grades: tuple[str, ...] = ()
    unit_path: str | None = None  # a unit and every unit below it (the caller checks the unit is in scope)
    source: str | None = None
    rule_id: str | None = None
    overdue: bool | None = None
    text: str | None = None  # part of the title (either language) or the key entity, any case


def _where(query: Select[Incident], wanted: QueueFilter) -> Select[Incident]:
    if wanted.statuses:
        query = query.where(Incident.status.in_(wanted.statuses))
    if wanted.open_only:
        query = query.where(Incident.status.in_(OPEN_STATUSES))
    if wanted.grades:
        query = query.where(Incident.grade.in_(wanted.grades))
    if wanted.unit_path is not None:
        query = query.where(Incident.unit_id.in_(select(Unit.id).where(within(Unit.path, wanted.unit_path))))
    if wanted.source:
        query = query.where(Incident.source == wanted.source)
    if wanted.rule_id:
        query = query.where(Incident.rule_id == wanted.rule_id)
    if wanted.overdue is not None:
        query = query.where(Incident.overdue_at.is_not(None) if wanted.overdue else Incident.overdue_at.is_(None))
    if wanted.text:
        literal = wanted.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{literal}%"
        query = query.where(or_(Incident.title.ilike(pattern, escape="\\"), Incident.title_en.ilike(pattern, escape="\\"),
                                Incident.key_entity.ilike(pattern, escape="\\")))
    return query


def encode_cursor(sort: Sort, incident: Incident) -> str:
    value: datetime = getattr(incident, _COLUMNS[sort].key)
    return base64.urlsafe_b64encode(json.dumps([sort, value.isoformat(), incident.id]).encode()).decode()


def _after(sort: Sort, cursor: str) -> ColumnElement[bool]:
    try:
        cursor_sort, value, last_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        at = datetime.fromisoformat(value)
        last_id = int(last_id)
        if not 0 <= last_id < 2**63 or at.tzinfo is not None:
            raise ValueError("out of range")
    except (ValueError, TypeError) as error:
        raise CursorError(f"not a cursor of this queue: {cursor[:40]!r}") from error
    if cursor_sort != sort:
        raise CursorError(f"the cursor belongs to sort {cursor_sort!r}, not {sort!r}")
    column = _COLUMNS[sort]
    if sort in _DESCENDING:
        return or_(column < at, and_(column == at, Incident.id < last_id))
    return or_(column > at, and_(column == at, Incident.id > last_id))


@dataclass(frozen=True)
class QueuePage:
    total: int
    incidents: list[Incident]
    next_cursor: str | None
    escalated: set[int]


def queue_page(session: Session, principal: Principal, wanted: QueueFilter, *, sort: Sort = "deadline",
               after: str | None = None, offset: int = 0, limit: int = 50) -> QueuePage:
    """One page of the principal's incidents matching ``wanted``; ``total`` counts every match.

    ``offset`` is kept for old clients; ``after`` (a cursor) is what deep pages should use.
    """
    query = _where(select(Incident).where(Incident.unit_id.in_(principal.visible_units())), wanted)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    column = _COLUMNS[sort]
    order = (column.desc(), Incident.id.desc()) if sort in _DESCENDING else (column.asc(), Incident.id.asc())
    if after:
        query = query.where(_after(sort, after))
    elif offset:
        query = query.offset(offset)
    rows = list(session.scalars(query.options(joinedload(Incident.unit)).order_by(*order).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    escalated = set(session.scalars(select(EscalationStep.incident_id).where(
        EscalationStep.incident_id.in_([i.id for i in rows]), EscalationStep.fired_at.is_not(None)).distinct())) if rows else set()
    return QueuePage(total, rows, encode_cursor(sort, rows[-1]) if more else None, escalated)
