"""/api/v1/zero-reports: key periods (重要时段) and daily zero-reports (零报告)."""
from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from soc_api.auth import Context, CurrentPrincipal, DbSession, Principal, require
from soc_api.duty_views import period_out, report_out, scoped_periods, zero_report_board
from soc_api.schemas.zero_reports import KeyPeriodIn, KeyPeriodOut, ZeroReportBoard, ZeroReportIn, ZeroReportOut
from soc_api.scoping import visible_unit
from soc_core.errors import PermissionDenied
from soc_core.permissions import Action
from zero_reports.models import KeyPeriod
from zero_reports.service import beijing_today

router = APIRouter(prefix="/api/v1/zero-reports", tags=["zero-reports"])


def _period(session: DbSession, principal: Principal, period_id: int) -> KeyPeriod:
    period = next((p for p in scoped_periods(session, principal) if p.id == period_id), None)
    if period is None:
        raise HTTPException(404, f"key period {period_id} not found")
    return period


@router.get("/periods", response_model=list[KeyPeriodOut], summary="Key periods (重要时段) in your scope", **require(Action.VIEW))
def list_periods(principal: CurrentPrincipal, session: DbSession) -> list[KeyPeriodOut]:
    return [period_out(session, p) for p in scoped_periods(session, principal)]


@router.post("/periods", response_model=KeyPeriodOut, status_code=201,
                   summary="Declare a key period: the units that report daily and the deadline hour", **require(Action.DECLARE_KEY_PERIOD))
def post_period(body: KeyPeriodIn, principal: CurrentPrincipal, context: Context, session: DbSession) -> KeyPeriodOut:
    # Declaring a key period is the one write regulators make (the issue: "a regulator declares a key period").
    if principal.user.unit.kind == "school":
        raise PermissionDenied("重要时段由主管部门或上级值班中心宣布", "key periods are declared by regulators and bureau duty staff, not schools")
    units = [visible_unit(session, principal, unit_id) for unit_id in body.unit_ids]
    period = context.zero_report_service.declare(session, principal.user.username, principal.user.unit, body.name,
                                                 body.starts_on, body.ends_on, body.deadline_hour, units)
    session.commit()
    return period_out(session, period)


@router.get("", response_model=ZeroReportBoard, summary="Who has and has not reported on a day (default today, Beijing)", **require(Action.VIEW))
def get_board(principal: CurrentPrincipal, context: Context, session: DbSession,
              period_id: Annotated[int, Query()], day: Annotated[date | None, Query(alias="date")] = None) -> ZeroReportBoard:
    period = _period(session, principal, period_id)
    return zero_report_board(session, principal, context.zero_report_service, period, day or beijing_today(context.clock))


@router.post("", response_model=ZeroReportOut, status_code=201, summary="Submit today's report (零报告, or the incidents)", **require(Action.SUBMIT_ZERO_REPORT))
def post_report(body: ZeroReportIn, principal: CurrentPrincipal, context: Context, session: DbSession) -> ZeroReportOut:
    period = _period(session, principal, body.period_id)
    unit = visible_unit(session, principal, body.unit_id)
    report = context.zero_report_service.submit(session, principal.user.username, period, unit, body.has_incident,
                                                body.incident_ids, body.summary, body.systems_down, body.on_duty)
    session.commit()
    return report_out(report)
