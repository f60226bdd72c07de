"""/api/v1/duty, /api/v1/notices, /api/v1/zero-reports: 7×24 duty, notices (通报/整改/约谈) and zero-reports."""
from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Query, UploadFile
from sqlalchemy import select

from playbooks import IncidentError
from playbooks.duty import add_shift, write_handover
from playbooks.zero_reports import beijing_today
from soc_api.auth import Context, CurrentPrincipal, DbSession, Principal, WritingPrincipal
from soc_api.duty_views import (
    duty_board, notice_detail, notice_out, period_out, report_out, scoped_notice, scoped_notices, scoped_periods, shift_out,
    summons_out, zero_report_board,
)
from soc_api.schemas_duty import (
    DutyBoard, HandoverIn, HandoverOut, KeyPeriodIn, KeyPeriodOut, NoticeDetail, NoticeIn, NoticeOut, ReviewIn, ShiftIn,
    ShiftOut, SummonsIn, SummonsOut, ZeroReportBoard, ZeroReportIn, ZeroReportOut,
)
from soc_core.audit import record_audit
from soc_core.clock import as_utc
from soc_core.models import Unit, User
from soc_core.models_duty import DutyShift, KeyPeriod, Notice, Summons
from soc_core.org import Role

duty = APIRouter(prefix="/api/v1/duty", tags=["duty"])
notices = APIRouter(prefix="/api/v1/notices", tags=["notices"])
zero_reports = APIRouter(prefix="/api/v1/zero-reports", tags=["zero-reports"])


def visible_unit(session: DbSession, principal: Principal, unit_id: int) -> Unit:
    unit = session.get(Unit, unit_id)
    if unit is None or not principal.can_see(unit):
        raise HTTPException(404, f"unit {unit_id} not found")
    return unit


def refused(exc: IncidentError) -> HTTPException:
    return HTTPException(422, str(exc))


# -- duty -------------------------------------------------------------------------------------
@duty.get("", response_model=DutyBoard, summary="Who is on duty now, the roster ahead, MTTA/MTTR, overdue by unit, handovers")
def get_duty(principal: CurrentPrincipal, context: Context, session: DbSession) -> DutyBoard:
    return duty_board(session, principal, context.clock)


@duty.post("/shifts", response_model=ShiftOut, status_code=201, summary="Put someone on the roster")
def post_shift(body: ShiftIn, principal: WritingPrincipal, context: Context, session: DbSession) -> ShiftOut:
    unit = visible_unit(session, principal, body.unit_id)
    user = session.scalar(select(User).where(User.username == body.username))
    if user is None or not principal.can_see(user.unit):
        raise HTTPException(404, f"user {body.username} not found")
    try:
        shift = add_shift(session, context.clock, principal.user.username, unit, body.team, user, body.starts_at, body.ends_at, body.note)
    except IncidentError as exc:
        raise refused(exc) from exc
    session.commit()
    return shift_out(session, shift)


@duty.delete("/shifts/{shift_id}", status_code=204, summary="Take a shift off the roster")
def delete_shift(shift_id: int, principal: WritingPrincipal, context: Context, session: DbSession) -> None:
    shift = session.get(DutyShift, shift_id)
    if shift is None or not principal.can_see(session.get(Unit, shift.unit_id)):  # type: ignore[arg-type]
        raise HTTPException(404, f"shift {shift_id} not found")
    record_audit(session, context.clock, principal.user.username, "duty.shift_remove", "duty_shift", shift.id, shift.unit_id)
    session.delete(shift)
    session.commit()


@duty.post("/handovers", response_model=HandoverOut, status_code=201, summary="Write a handover note at shift change")
def post_handover(body: HandoverIn, principal: WritingPrincipal, context: Context, session: DbSession) -> HandoverOut:
    unit = visible_unit(session, principal, body.unit_id)
    try:
        note = write_handover(session, context.clock, principal.user.username, unit, body.team, body.text, body.to_user)
    except IncidentError as exc:
        raise refused(exc) from exc
    session.commit()
    return HandoverOut(id=note.id, unit_id=note.unit_id, team=note.team, at=as_utc(note.at), from_user=note.from_user,
                       to_user=note.to_user, text=note.text, open_incident_ids=list(note.open_incident_ids))


# -- notices ----------------------------------------------------------------------------------
def _notice(session: DbSession, principal: Principal, notice_id: int) -> Notice:
    notice = scoped_notice(session, principal, notice_id)
    if notice is None:
        raise HTTPException(404, f"notice {notice_id} not found")
    return notice


def _issuer_side(session: DbSession, principal: Principal, notice: Notice) -> None:
    if not principal.can_see(session.get(Unit, notice.issuer_unit_id)):  # type: ignore[arg-type]
        raise HTTPException(403, "only the issuing unit reviews a notice")


@notices.get("", response_model=list[NoticeOut], summary="Notices issued by or to units in your scope")
def list_notices(principal: CurrentPrincipal, context: Context, session: DbSession) -> list[NoticeOut]:
    return [notice_out(session, n, context.clock) for n in scoped_notices(session, principal)]


@notices.post("", response_model=NoticeDetail, status_code=201, summary="Issue a notice (通报) to a unit below yours")
def post_notice(body: NoticeIn, principal: WritingPrincipal, context: Context, session: DbSession) -> NoticeDetail:
    target = visible_unit(session, principal, body.target_unit_id)
    try:
        notice = context.notice_service.issue(session, principal.user.username, principal.user.unit, target, body.kind, body.title,
                                              body.description, body.assets, body.required_actions, body.due_at, body.incident_id)
    except IncidentError as exc:
        raise refused(exc) from exc
    session.commit()
    return notice_detail(session, notice, context.clock)


@notices.get("/summons", response_model=list[SummonsOut], summary="Summons talks (约谈) recorded for units in your scope")
def list_summons(principal: CurrentPrincipal, session: DbSession) -> list[SummonsOut]:
    return [summons_out(s) for s in session.scalars(select(Summons).where(Summons.unit_id.in_(principal.visible_units()))
                                                    .order_by(Summons.held_at.desc()))]


@notices.get("/{notice_id}", response_model=NoticeDetail, summary="A notice with its history and rectifications")
def get_notice(notice_id: int, principal: CurrentPrincipal, context: Context, session: DbSession) -> NoticeDetail:
    return notice_detail(session, _notice(session, principal, notice_id), context.clock)


@notices.post("/{notice_id}/acknowledge", response_model=NoticeDetail, summary="Sign for the notice (签收)")
def post_acknowledge(notice_id: int, principal: WritingPrincipal, context: Context, session: DbSession) -> NoticeDetail:
    notice = _notice(session, principal, notice_id)
    try:
        context.notice_service.acknowledge(session, notice, principal.user.username)
    except IncidentError as exc:
        raise refused(exc) from exc
    session.commit()
    return notice_detail(session, notice, context.clock)


@notices.post("/{notice_id}/rectifications", response_model=NoticeDetail, status_code=201,
              summary="Submit the rectification (整改) report with evidence files")
def post_rectification(
    notice_id: int, principal: WritingPrincipal, context: Context, session: DbSession,
    measures: Annotated[str, Form(max_length=20000)], result: Annotated[str, Form(max_length=20000)] = "",
    responsible: Annotated[str, Form(max_length=100)] = "", files: list[UploadFile] | None = None,
) -> NoticeDetail:
    notice = _notice(session, principal, notice_id)
    if not principal.can_see(session.get(Unit, notice.target_unit_id)):  # type: ignore[arg-type]
        raise HTTPException(403, "only the notified unit (or units above it) answers a notice")
    try:
        context.notice_service.submit(session, notice, principal.user.username, measures, result, responsible,
                                      [(f.filename or "", f.content_type or "", f.file) for f in files or []])
    except IncidentError as exc:
        session.rollback()
        raise HTTPException(413 if "larger than" in str(exc) else 422, str(exc)) from exc
    session.commit()
    return notice_detail(session, notice, context.clock)


@notices.post("/{notice_id}/review", response_model=NoticeDetail, summary="Review the rectification: close (销号) or send back")
def post_review(notice_id: int, body: ReviewIn, principal: WritingPrincipal, context: Context, session: DbSession) -> NoticeDetail:
    notice = _notice(session, principal, notice_id)
    _issuer_side(session, principal, notice)
    try:
        context.notice_service.review(session, notice, principal.user.username, body.accept, body.comment)
    except IncidentError as exc:
        session.rollback()
        raise refused(exc) from exc
    session.commit()
    return notice_detail(session, notice, context.clock)


@notices.post("/{notice_id}/summons", response_model=SummonsOut, status_code=201, summary="Record a summons talk (约谈) about the notice")
def post_summons(notice_id: int, body: SummonsIn, principal: WritingPrincipal, context: Context, session: DbSession) -> SummonsOut:
    notice = _notice(session, principal, notice_id)
    _issuer_side(session, principal, notice)
    try:
        summons = context.notice_service.record_summons(session, principal.user.username, session.get(Unit, notice.target_unit_id),
                                                        body.head, body.reason, body.held_at, body.commitments, body.follow_up_due, notice)
    except IncidentError as exc:
        raise refused(exc) from exc
    session.commit()
    return summons_out(summons)


# -- zero-reports -----------------------------------------------------------------------------
def _period(session: DbSession, principal: Principal, period_id: int) -> KeyPeriod:
    period = next((p for p in scoped_periods(session, principal) if p.id == period_id), None)
    if period is None:
        raise HTTPException(404, f"key period {period_id} not found")
    return period


@zero_reports.get("/periods", response_model=list[KeyPeriodOut], summary="Key periods (重要时段) in your scope")
def list_periods(principal: CurrentPrincipal, session: DbSession) -> list[KeyPeriodOut]:
    return [period_out(session, p) for p in scoped_periods(session, principal)]


@zero_reports.post("/periods", response_model=KeyPeriodOut, status_code=201,
                   summary="Declare a key period: the units that report daily and the deadline hour")
def post_period(body: KeyPeriodIn, principal: CurrentPrincipal, context: Context, session: DbSession) -> KeyPeriodOut:
    # Declaring a key period is the one write regulators make (the issue: "a regulator declares a key period").
    if principal.role not in (Role.REGULATOR, Role.SYSTEM_ADMIN, Role.DUTY_OFFICER) or principal.user.unit.kind == "school":
        raise HTTPException(403, "key periods are declared by regulators and bureau duty staff")
    units = [visible_unit(session, principal, unit_id) for unit_id in body.unit_ids]
    try:
        period = context.zero_report_service.declare(session, principal.user.username, principal.user.unit, body.name,
                                                     body.starts_on, body.ends_on, body.deadline_hour, units)
    except IncidentError as exc:
        raise refused(exc) from exc
    session.commit()
    return period_out(session, period)


@zero_reports.get("", response_model=ZeroReportBoard, summary="Who has and has not reported on a day (default today, Beijing)")
def get_board(principal: CurrentPrincipal, context: Context, session: DbSession,
              period_id: Annotated[int, Query()], day: Annotated[date | None, Query(alias="date")] = None) -> ZeroReportBoard:
    period = _period(session, principal, period_id)
    return zero_report_board(session, principal, context.zero_report_service, period, day or beijing_today(context.clock))


@zero_reports.post("", response_model=ZeroReportOut, status_code=201, summary="Submit today's report (零报告, or the incidents)")
def post_report(body: ZeroReportIn, principal: WritingPrincipal, context: Context, session: DbSession) -> ZeroReportOut:
    period = _period(session, principal, body.period_id)
    unit = visible_unit(session, principal, body.unit_id)
    try:
        report = context.zero_report_service.submit(session, principal.user.username, period, unit, body.has_incident,
                                                    body.incident_ids, body.summary, body.systems_down, body.on_duty)
    except IncidentError as exc:
        raise refused(exc) from exc
    session.commit()
    return report_out(report)
