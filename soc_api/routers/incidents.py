"""/api/v1/incidents: list, detail and manual registration, scoped by the org tree."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from playbooks import Grade, IncidentError, Source, open_incident
from soc_api.auth import Context, CurrentPrincipal, DbSession, WritingPrincipal
from soc_api.incident_views import incident_detail, incident_out, scoped_incident, scoped_incidents
from soc_api.schemas import IncidentCreate, IncidentDetail, IncidentPage
from soc_core.models import Unit

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])


@router.get("", response_model=IncidentPage, summary="Incidents in your scope, soonest deadline first")
def list_incidents(
    principal: CurrentPrincipal, context: Context, session: DbSession,
    status: Annotated[str | None, Query(description="new, acknowledged, ...")] = None,
    grade: Annotated[Grade | None, Query()] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> IncidentPage:
    total, rows = scoped_incidents(session, principal, status, grade.value if grade else None, offset, limit)
    return IncidentPage(total=total, items=[incident_out(i, context.clock) for i in rows])


@router.get("/{incident_id}", response_model=IncidentDetail, summary="One incident with its alerts")
def get_incident(incident_id: int, principal: CurrentPrincipal, context: Context, session: DbSession) -> IncidentDetail:
    incident = scoped_incident(session, principal, incident_id)
    if incident is None:
        raise HTTPException(404, f"incident {incident_id} not found")
    return incident_detail(incident, context.clock)


@router.post("", response_model=IncidentDetail, status_code=201, summary="Register an incident by hand")
def create_incident(body: IncidentCreate, principal: WritingPrincipal, context: Context, session: DbSession) -> IncidentDetail:
    unit = session.get(Unit, body.unit_id)
    if unit is None or not principal.can_see(unit):
        raise HTTPException(404, f"unit {body.unit_id} not found")
    try:
        incident = open_incident(
            session, context.clock, context.settings.incidents, principal.user.username, body.title, unit,
            Grade(body.grade), Source(body.source), body.description, principal.user.id,
        )
    except IncidentError as exc:
        raise HTTPException(422, str(exc)) from exc
    session.commit()
    return incident_detail(incident, context.clock)
