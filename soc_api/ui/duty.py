"""The duty, notice and zero-report pages of the Chinese-first UI; forms run the same functions as the API."""
from __future__ import annotations

from datetime import date

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from starlette.datastructures import UploadFile as StarletteUploadFile

from duty.roster import add_shift, write_handover
from incidents import IncidentError, commands
from playbooks.deadlines import complete_task
from soc_api.auth import Context, DbSession, require_page
from soc_api.duty_views import (
    duty_board, notice_detail, notice_out, scoped_notice, scoped_notices, scoped_periods, zero_report_board,
)
from soc_api.incident_views import scoped_incident
from soc_api.ui.common import UiPrincipal, back_to, beijing_local, logged_in, render_page, templates, units_in_scope
from soc_core.errors import PermissionDenied
from soc_core.models import Unit, User
from soc_core.permissions import Action
from zero_reports.models import KeyPeriod
from zero_reports.service import beijing_today

router = APIRouter(include_in_schema=False)
# the zero-report page's forms
ZERO_REPORT_FORMS = {
    "declare": Action.DECLARE_KEY_PERIOD,
    "submit": Action.SUBMIT_ZERO_REPORT,
}
# a notice page's forms: the notified unit answers, the issuer reviews and summons
NOTICE_FORMS = {
    "acknowledge": Action.ANSWER_NOTICE,
    "rectify": Action.ANSWER_NOTICE,
    "close": Action.ISSUE_NOTICE,
    "return": Action.ISSUE_NOTICE,
    "summons": Action.ISSUE_NOTICE,
}
# the duty page's forms
DUTY_FORMS = {
    "shift": Action.MANAGE_ROSTER,
    "handover": Action.MANAGE_ROSTER,
}


@router.get("/duty", response_class=HTMLResponse, **require_page(Action.VIEW))
def duty_page(request: Request, principal: UiPrincipal, context: Context, session: DbSession) -> Response:
    if principal is None:
        return back_to("/login")
    users = session.scalars(select(User).join(Unit, User.unit_id == Unit.id).where(Unit.id.in_(principal.visible_units())).order_by(User.username))
    return render_page(request, "duty.html", principal, board=duty_board(session, principal, context.clock), units=units_in_scope(session, principal),
                 users=list(users))


@router.post("/duty/{action}", **require_page(DUTY_FORMS))
async def duty_action(action: str, request: Request, principal: UiPrincipal, context: Context, session: DbSession) -> Response:
    principal = logged_in(principal)
    form = await request.form()
    text = lambda name: str(form.get(name) or "")  # noqa: E731
    try:
        unit = session.get(Unit, int(text("unit_id") or principal.user.unit_id))
        if unit is None or not principal.can_see(unit):
            raise IncidentError("choose a unit in your scope")
        if action == "shift":
            user = session.scalar(select(User).where(User.username == text("username")))
            if user is None or not principal.can_see(user.unit):
                raise IncidentError("choose a user in your scope")
            add_shift(session, context.clock, principal.user.username, unit, text("team"), user, beijing_local(text("starts_at")),
                      beijing_local(text("ends_at")), text("note"))
        elif action == "handover":
            write_handover(session, context.clock, principal.user.username, unit, text("team"), text("text"), text("to_user"))
        else:
            raise HTTPException(404)
    except (IncidentError, ValueError) as exc:
        session.rollback()
        return back_to("/duty", exc)
    session.commit()
    return back_to("/duty")


@router.get("/notices", response_class=HTMLResponse, **require_page(Action.VIEW))
def notices_page(request: Request, principal: UiPrincipal, context: Context, session: DbSession) -> Response:
    if principal is None:
        return back_to("/login")
    below = [u for u in units_in_scope(session, principal) if u.id != principal.user.unit_id]
    return render_page(request, "notices.html", principal, notices=[notice_out(session, n, context.clock) for n in scoped_notices(session, principal)],
                 targets=below)


@router.post("/notices", **require_page(Action.ISSUE_NOTICE))
async def issue_notice(request: Request, principal: UiPrincipal, context: Context, session: DbSession) -> Response:
    principal = logged_in(principal)
    form = await request.form()
    text = lambda name: str(form.get(name) or "")  # noqa: E731
    try:
        target = session.get(Unit, int(text("target_unit_id") or 0))
        if target is None or not principal.can_see(target):
            raise IncidentError("choose a unit in your scope")
        notice = context.notice_service.issue(session, principal.user.username, principal.user.unit, target, text("kind"), text("title"),
                                              text("description"), text("assets"), text("required_actions"),
                                              beijing_local(text("due_at")) if text("due_at") else None)
    except (IncidentError, ValueError) as exc:
        session.rollback()
        return back_to("/notices", exc)
    session.commit()
    return back_to(f"/notices/{notice.id}")


@router.get("/notices/{notice_id}", response_class=HTMLResponse, **require_page(Action.VIEW))
def notice_page(notice_id: int, request: Request, principal: UiPrincipal, context: Context, session: DbSession) -> Response:
    if principal is None:
        return back_to("/login")
    notice = scoped_notice(session, principal, notice_id)
    if notice is None:
        return templates.TemplateResponse(request, "not_found.html", {"principal": principal}, status_code=404)
    issuer_side = principal.can_see(session.get(Unit, notice.issuer_unit_id))  # type: ignore[arg-type]
    return render_page(request, "notice.html", principal, notice=notice_detail(session, notice, context.clock), issuer_side=issuer_side)


@router.post("/notices/{notice_id}/{action}", **require_page(NOTICE_FORMS))
async def notice_action(notice_id: int, action: str, request: Request, principal: UiPrincipal, context: Context, session: DbSession) -> Response:
    principal = logged_in(principal)
    notice = scoped_notice(session, principal, notice_id)
    if notice is None:
        raise HTTPException(404)
    form = await request.form()
    text = lambda name: str(form.get(name) or "")  # noqa: E731
    service, actor = context.notice_service, principal.user.username
    issuer_side = principal.can_see(session.get(Unit, notice.issuer_unit_id))  # type: ignore[arg-type]
    try:
        if action == "acknowledge":
            service.acknowledge(session, notice, actor)
        elif action == "rectify":
            files = [(f.filename or "", f.content_type or "", f.file) for f in form.getlist("files")
                     if isinstance(f, StarletteUploadFile) and f.filename]
            service.submit(session, notice, actor, text("measures"), text("result"), text("responsible"), files)
        elif action in ("close", "return") and issuer_side:
            service.review(session, notice, actor, action == "close", text("comment"))
        elif action == "summons" and issuer_side:
            service.record_summons(session, actor, session.get(Unit, notice.target_unit_id), text("head"), text("reason"),  # type: ignore[arg-type]
                                   beijing_local(text("held_at")), text("commitments"), None, notice)
        else:
            raise HTTPException(403, "not allowed for your unit")
    except (IncidentError, ValueError) as exc:
        session.rollback()
        return back_to(f"/notices/{notice_id}", exc)
    session.commit()
    return back_to(f"/notices/{notice_id}")


@router.get("/zero-reports", response_class=HTMLResponse, **require_page(Action.VIEW))
def zero_reports_page(request: Request, principal: UiPrincipal, context: Context, session: DbSession) -> Response:
    if principal is None:
        return back_to("/login")
    periods = scoped_periods(session, principal)
    chosen = request.query_params.get("period_id")
    period = next((p for p in periods if str(p.id) == chosen), None) or next((p for p in periods if p.active), None)
    day = date.fromisoformat(request.query_params["date"]) if request.query_params.get("date") else beijing_today(context.clock)
    board = zero_report_board(session, principal, context.zero_report_service, period, day) if period else None
    can_declare = principal.may(Action.DECLARE_KEY_PERIOD) and principal.user.unit.kind != "school"
    return render_page(request, "zero_reports.html", principal, periods=periods, period=period, board=board, day=day,
                 units=[u for u in units_in_scope(session, principal) if u.kind == "school"], can_declare=can_declare)


@router.post("/zero-reports/{action}", **require_page(ZERO_REPORT_FORMS))
async def zero_report_action(action: str, request: Request, principal: UiPrincipal, context: Context, session: DbSession) -> Response:
    if principal is None:
        return back_to("/login")
    form = await request.form()
    text = lambda name: str(form.get(name) or "")  # noqa: E731
    service = context.zero_report_service
    period: KeyPeriod | None
    try:
        if action == "declare":
            if principal.user.unit.kind == "school":
                raise PermissionDenied("重要时段由主管部门或上级值班中心宣布", "key periods are declared by regulators and bureau duty staff, not schools")
            units = [session.get(Unit, int(str(v))) for v in form.getlist("unit_ids")]
            if not units or any(u is None or not principal.can_see(u) for u in units):
                raise IncidentError("choose the units that must report")
            period = service.declare(session, principal.user.username, principal.user.unit, text("name"), date.fromisoformat(text("starts_on")),
                                     date.fromisoformat(text("ends_on")), int(text("deadline_hour")), units)  # type: ignore[arg-type]
            session.commit()
            return back_to(f"/zero-reports?period_id={period.id}")
        principal = logged_in(principal)
        period = next((p for p in scoped_periods(session, principal) if str(p.id) == text("period_id")), None)
        unit = session.get(Unit, int(text("unit_id") or 0))
        if period is None or unit is None or not principal.can_see(unit):
            raise IncidentError("choose a key period and a unit in your scope")
        has_incident = text("has_incident") == "yes"
        ids = [int(part) for part in text("incident_ids").replace("，", ",").split(",") if part.strip().isdigit()]
        service.submit(session, principal.user.username, period, unit, has_incident, ids, text("summary"), text("systems_down"), text("on_duty"))
    except (IncidentError, ValueError) as exc:
        session.rollback()
        return back_to("/zero-reports", exc)
    session.commit()
    return back_to(f"/zero-reports?period_id={period.id}")


@router.post("/incidents/{incident_id}/reports/new", **require_page(Action.WORK_INCIDENT))
@router.post("/incidents/{incident_id}/report-fields/save", **require_page(Action.WORK_INCIDENT))
@router.post("/incidents/{incident_id}/tasks/{task_id}/done", **require_page(Action.WORK_INCIDENT))
async def incident_report_action(incident_id: int, request: Request, principal: UiPrincipal, context: Context, session: DbSession,
                                 task_id: int | None = None) -> Response:
    """The incident page's report and task forms (the workflow forms are in ui.py)."""
    principal = logged_in(principal)
    incident = scoped_incident(session, principal, incident_id)
    if incident is None:
        raise HTTPException(404)
    form = await request.form()
    text = lambda name: str(form.get(name) or "")  # noqa: E731
    actor = principal.user.username
    try:
        if request.url.path.endswith("/reports/new"):
            context.report_service.generate(session, incident, text("kind"), actor)
        elif request.url.path.endswith("/report-fields/save"):
            fields = {k: text(k) for k in form if k != "operator_type"}
            commands.set_report_fields(principal.desk(context, session), incident, fields, text("operator_type") or None)
        else:
            complete_task(session, context.clock, incident, task_id or 0, actor)
    except (IncidentError, ValueError) as exc:
        session.rollback()
        return back_to(f"/incidents/{incident_id}", exc)
    session.commit()
    return back_to(f"/incidents/{incident_id}")
