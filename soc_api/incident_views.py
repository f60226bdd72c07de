"""Reading incidents within a principal's scope, shaped for the API and the UI."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from playbooks import GRADE_LABELS, time_left
from soc_api.auth import Principal
from soc_api.schemas import AlertOut, IncidentDetail, IncidentOut
from soc_core.clock import Clock, as_utc
from soc_core.models import Incident


def scoped_incidents(session: Session, principal: Principal, status: str | None = None, grade: str | None = None,
                     offset: int = 0, limit: int = 50) -> tuple[int, list[Incident]]:
    query = select(Incident).where(Incident.unit_id.in_(principal.visible_units()))
    if status:
        query = query.where(Incident.status == status)
    if grade:
        query = query.where(Incident.grade == grade)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.options(joinedload(Incident.unit)).order_by(Incident.handle_by.asc(), Incident.id.asc()).offset(offset).limit(limit)
    ).all()
    return total, list(rows)


def scoped_incident(session: Session, principal: Principal, incident_id: int) -> Incident | None:
    """The incident, or None when it does not exist *or* lies outside the principal's scope."""
    incident = session.get(Incident, incident_id)
    if incident is None or not principal.can_see(incident.unit):
        return None
    return incident


def incident_out(incident: Incident, clock: Clock) -> IncidentOut:
    left = time_left(incident, clock)
    return IncidentOut(
        id=incident.id, title=incident.title, unit_id=incident.unit_id, unit_name=incident.unit.name,
        grade=incident.grade, grade_label=GRADE_LABELS[incident.grade], grade_basis=incident.grade_basis,
        category=incident.category, source=incident.source, status=incident.status, rule_id=incident.rule_id,
        alert_count=incident.alert_count, first_seen_at=as_utc(incident.first_seen_at),
        last_seen_at=as_utc(incident.last_seen_at), created_at=as_utc(incident.created_at),
        handle_by=as_utc(incident.handle_by), seconds_left=left.seconds, overdue=left.overdue,
    )


def incident_detail(incident: Incident, clock: Clock) -> IncidentDetail:
    return IncidentDetail(
        **incident_out(incident, clock).model_dump(),
        description=incident.description,
        alerts=[
            AlertOut(id=a.id, rule_id=a.rule_id, rule_title=a.rule_title, level=a.level, event_id=a.event_id,
                     timestamp=as_utc(a.timestamp), summary=a.summary)
            for a in incident.alerts[:200]
        ],
    )
