"""/api/v1/incidents: list, detail, manual registration and the workflow actions, scoped by the org tree."""
from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, HTTPException, Query, UploadFile
from fastapi.responses import FileResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from incidents import EvidenceTooLarge, Grade, IncidentError, Source, add_suppression, commands, deactivate_suppression, evidence_path
from incidents.models import EvidenceFile
from incidents.states import IncidentStatus
from playbooks.deadlines import complete_task
from reports.incident_reports import find_cjk_font, to_docx, to_pdf
from reports.models import IncidentReport
from soc_api.auth import Context, CurrentPrincipal, DbSession, Principal, require
from soc_api.context import ApiContext
from soc_api.incident_queue import CursorError, QueueFilter, Sort, queue_page
from soc_api.incident_views import (
    incident_detail, incident_out, report_out, scoped_incident, scoped_suppression, scoped_suppressions, suppression_out,
)
from soc_api.schemas.incidents import (
    CommentIn, EventLinkIn, GradeIn, IncidentCreate, IncidentDetail, IncidentPage, MergeIn, RegradeDecisionIn, RegradeRequestIn, SplitIn,
    StatusChange,
)
from soc_api.schemas.reports import ReportFieldsIn, ReportIn, ReportOut
from soc_api.schemas.suppressions import SuppressionIn, SuppressionOut
from soc_core.audit import record_audit
from soc_core.models import Incident, Unit
from soc_core.permissions import Action

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])
suppressions = APIRouter(prefix="/api/v1/suppressions", tags=["incidents"])
T = TypeVar("T")


def _incident(session: Session, principal: Principal, incident_id: int) -> Incident:
    incident = scoped_incident(session, principal, incident_id)
    if incident is None:
        raise HTTPException(404, f"incident {incident_id} not found")
    return incident


def _act(session: Session, context: ApiContext, action: Callable[[], T]) -> T:
    """Run a workflow action and commit; a refusal propagates (422 from soc_api.errors) and nothing is written."""
    try:
        result = action()
    except EvidenceTooLarge as exc:
        session.rollback()
        raise HTTPException(413, str(exc)) from exc
    session.commit()
    return result


def _detail(session: Session, context: ApiContext, principal: Principal, incident: Incident) -> IncidentDetail:
    return incident_detail(incident, context.clock, session, context.event_store, principal.event_scope)


@router.get("", response_model=IncidentPage, summary="Incidents in your scope: filters, text search, sort, keyset paging",
            **require(Action.VIEW))
def list_incidents(
    principal: CurrentPrincipal, context: Context, session: DbSession,
    status: Annotated[list[IncidentStatus] | None, Query(description="repeat for several")] = None,
    open_only: Annotated[bool, Query(alias="open", description="only open work (not resolved, closed or merged)")] = False,
    grade: Annotated[list[Grade] | None, Query(description="I..IV; repeat for several")] = None,
    unit_id: Annotated[int | None, Query(description="this unit and every unit below it")] = None,
    source: Annotated[Source | None, Query()] = None,
    rule_id: Annotated[str | None, Query(max_length=128)] = None,
    overdue: Annotated[bool | None, Query(description="true: only those past their deadline; false: only those not")] = None,
    q: Annotated[str | None, Query(max_length=200, description="part of the title (Chinese or English) or the key entity, any case")] = None,
    sort: Annotated[Sort, Query(description="deadline (soonest first), newest, last_seen (latest alert first)")] = "deadline",
    after: Annotated[str | None, Query(max_length=200, description="the next_cursor of the previous page")] = None,
    offset: Annotated[int, Query(ge=0, description="deprecated: use `after`")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> IncidentPage:
    unit_path = None
    if unit_id is not None:
        unit = session.get(Unit, unit_id)
        if unit is None or not principal.can_see(unit):
            raise HTTPException(404, f"unit {unit_id} not found")
        unit_path = unit.path
    wanted = QueueFilter(statuses=tuple(s.value for s in status or ()), open_only=open_only, grades=tuple(g.value for g in grade or ()),
                         unit_path=unit_path, source=source.value if source else None, rule_id=rule_id, overdue=overdue,
                         text=q.strip() if q and q.strip() else None)
    try:
        page = queue_page(session, principal, wanted, sort=sort, after=after, offset=offset, limit=limit)
    except CursorError as error:
        raise HTTPException(422, str(error)) from None
    return IncidentPage(total=page.total, items=[incident_out(i, context.clock) for i in page.incidents],
                        next_cursor=page.next_cursor, escalated_ids=sorted(page.escalated))


@router.get("/{incident_id}", response_model=IncidentDetail, summary="One incident with its alerts, timeline, evidence and linked events", **require(Action.VIEW))
def get_incident(incident_id: int, principal: CurrentPrincipal, context: Context, session: DbSession) -> IncidentDetail:
    return _detail(session, context, principal, _incident(session, principal, incident_id))


@router.post("", response_model=IncidentDetail, status_code=201, summary="Register an incident by hand", **require(Action.WORK_INCIDENT))
def create_incident(body: IncidentCreate, principal: CurrentPrincipal, context: Context, session: DbSession) -> IncidentDetail:
    unit = session.get(Unit, body.unit_id)
    if unit is None or not principal.can_see(unit):
        raise HTTPException(404, f"unit {body.unit_id} not found")
    incident = _act(session, context, lambda: commands.open_incident(
        principal.desk(context, session), body.title, unit, body.grade, body.source, body.description, principal.user.id,
        title_en=body.title_en))
    return _detail(session, context, principal, incident)


@router.post("/{incident_id}/status", response_model=IncidentDetail, summary="Move the incident along its workflow", **require(Action.WORK_INCIDENT))
def post_status(incident_id: int, body: StatusChange, principal: CurrentPrincipal, context: Context, session: DbSession) -> IncidentDetail:
    incident = _incident(session, principal, incident_id)
    _act(session, context, lambda: commands.change_status(principal.desk(context, session), incident, body.status, body.note,
                                                          body.override_reason))
    return _detail(session, context, principal, incident)


@router.post("/{incident_id}/comments", response_model=IncidentDetail, status_code=201, summary="Add a comment to the timeline", **require(Action.WORK_INCIDENT))
def post_comment(incident_id: int, body: CommentIn, principal: CurrentPrincipal, context: Context, session: DbSession) -> IncidentDetail:
    incident = _incident(session, principal, incident_id)
    _act(session, context, lambda: commands.comment(principal.desk(context, session), incident, body.text))
    return _detail(session, context, principal, incident)


@router.post("/{incident_id}/evidence", response_model=IncidentDetail, status_code=201,
             summary="Attach an evidence file (stored by SHA-256, size-limited)", **require(Action.WORK_INCIDENT))
def post_evidence(incident_id: int, file: UploadFile, principal: CurrentPrincipal, context: Context, session: DbSession) -> IncidentDetail:
    incident = _incident(session, principal, incident_id)
    _act(session, context, lambda: commands.attach_evidence(
        principal.desk(context, session), incident, file.filename or "", file.content_type or "", file.file,
        context.settings.data_path / "evidence"))
    return _detail(session, context, principal, incident)


@router.get("/{incident_id}/evidence/{evidence_id}", summary="Download an evidence file", **require(Action.VIEW))
def get_evidence(incident_id: int, evidence_id: int, principal: CurrentPrincipal, context: Context, session: DbSession) -> FileResponse:
    incident = _incident(session, principal, incident_id)
    evidence = session.get(EvidenceFile, evidence_id)
    if evidence is None or evidence.incident_id != incident.id:
        raise HTTPException(404, f"evidence {evidence_id} not found")
    record_audit(session, context.clock, principal.user.username, "incident.evidence_download", "incident", incident.id,
                 incident.unit_id, evidence_id=evidence_id)
    session.commit()
    return FileResponse(evidence_path(context.settings.data_path / "evidence", evidence.sha256),
                        media_type=evidence.content_type, filename=evidence.filename)


@router.post("/{incident_id}/events", response_model=IncidentDetail, status_code=201, summary="Link an event (by id) to the incident", **require(Action.WORK_INCIDENT))
def post_event_link(incident_id: int, body: EventLinkIn, principal: CurrentPrincipal, context: Context, session: DbSession) -> IncidentDetail:
    incident = _incident(session, principal, incident_id)
    _act(session, context, lambda: commands.link_event(principal.desk(context, session), incident, body.event_id, body.note,
                                                        context.event_store))
    return _detail(session, context, principal, incident)


@router.post("/{incident_id}/merge", response_model=IncidentDetail, summary="Merge other incidents of the same unit into this one", **require(Action.WORK_INCIDENT))
def post_merge(incident_id: int, body: MergeIn, principal: CurrentPrincipal, context: Context, session: DbSession) -> IncidentDetail:
    target = _incident(session, principal, incident_id)
    others = [_incident(session, principal, other) for other in body.incident_ids]
    _act(session, context, lambda: commands.merge(principal.desk(context, session), target, others))
    return _detail(session, context, principal, target)


@router.post("/{incident_id}/split", response_model=IncidentDetail, status_code=201, summary="Split alerts off into a new incident", **require(Action.WORK_INCIDENT))
def post_split(incident_id: int, body: SplitIn, principal: CurrentPrincipal, context: Context, session: DbSession) -> IncidentDetail:
    incident = _incident(session, principal, incident_id)
    new = _act(session, context, lambda: commands.split(principal.desk(context, session), incident, body.alert_ids, body.title))
    return _detail(session, context, principal, new)


@router.post("/{incident_id}/grade", response_model=IncidentDetail, summary="Regrade by hand, with a reason", **require(Action.REGRADE))
def post_grade(incident_id: int, body: GradeIn, principal: CurrentPrincipal, context: Context, session: DbSession) -> IncidentDetail:
    incident = _incident(session, principal, incident_id)
    _act(session, context, lambda: commands.regrade(principal.desk(context, session), incident, body.grade, body.reason))
    return _detail(session, context, principal, incident)


@router.post("/{incident_id}/regrade-requests", response_model=IncidentDetail, status_code=201,
             summary="Ask the duty centre for another grade, with a reason (schools)", **require(Action.REQUEST_REGRADE))
def post_regrade_request(incident_id: int, body: RegradeRequestIn, principal: CurrentPrincipal, context: Context,
                         session: DbSession) -> IncidentDetail:
    incident = _incident(session, principal, incident_id)
    _act(session, context, lambda: commands.request_regrade(principal.desk(context, session), incident, body.grade, body.reason))
    return _detail(session, context, principal, incident)


@router.post("/{incident_id}/regrade-requests/{request_id}/decision", response_model=IncidentDetail,
             summary="Accept (regrade) or decline a school's regrade request (duty centre)", **require(Action.REGRADE))
def post_regrade_decision(incident_id: int, request_id: int, body: RegradeDecisionIn, principal: CurrentPrincipal, context: Context,
                          session: DbSession) -> IncidentDetail:
    incident = _incident(session, principal, incident_id)
    _act(session, context, lambda: commands.decide_regrade(principal.desk(context, session), incident, request_id, body.accept, body.note))
    return _detail(session, context, principal, incident)


@suppressions.get("", response_model=list[SuppressionOut], summary="Suppression rules of the units in your scope", **require(Action.VIEW))
def list_suppressions(principal: CurrentPrincipal, session: DbSession) -> list[SuppressionOut]:
    return [suppression_out(r, session, principal) for r in scoped_suppressions(session, principal)]


@suppressions.post("", response_model=SuppressionOut, status_code=201, summary="Suppress known-noise alerts (rule and/or entity)", **require(Action.SUPPRESS_ALERTS))
def create_suppression(body: SuppressionIn, principal: CurrentPrincipal, context: Context, session: DbSession) -> SuppressionOut:
    unit = session.get(Unit, body.unit_id)
    if unit is None or not principal.can_see(unit):
        raise HTTPException(404, f"unit {body.unit_id} not found")
    rule = _act(session, context, lambda: add_suppression(session, context.clock, unit, principal.user.username, body.reason,
                                                          body.rule_id, body.entity, body.expires_at))
    return suppression_out(rule, session)


@suppressions.delete("/{rule_id}", response_model=SuppressionOut, summary="Deactivate a suppression rule", **require(Action.SUPPRESS_ALERTS))
def delete_suppression(rule_id: int, principal: CurrentPrincipal, context: Context, session: DbSession) -> SuppressionOut:
    rule = scoped_suppression(session, principal, rule_id)
    if rule is None:
        raise HTTPException(404, f"suppression rule {rule_id} not found")
    _act(session, context, lambda: deactivate_suppression(session, context.clock, rule, principal.user.username))
    return suppression_out(rule, session)


# -- reports upward (初报 / 续报 / 终报) ------------------------------------------------------------
@router.patch("/{incident_id}/report-fields", response_model=IncidentDetail,
              summary="Keep the report items on the incident (impact, cause, leads, …) and the operator type", **require(Action.WORK_INCIDENT))
def patch_report_fields(incident_id: int, body: ReportFieldsIn, principal: CurrentPrincipal, context: Context, session: DbSession) -> IncidentDetail:
    incident = _incident(session, principal, incident_id)
    _act(session, context, lambda: commands.set_report_fields(principal.desk(context, session), incident, body.fields, body.operator_type))
    return _detail(session, context, principal, incident)


@router.get("/{incident_id}/reports", response_model=list[ReportOut], summary="Reports made for the incident, every version", **require(Action.VIEW))
def list_reports(incident_id: int, principal: CurrentPrincipal, session: DbSession) -> list[ReportOut]:
    incident = _incident(session, principal, incident_id)
    return [report_out(r) for r in session.scalars(select(IncidentReport).where(IncidentReport.incident_id == incident.id).order_by(IncidentReport.seq))]


@router.post("/{incident_id}/reports", response_model=ReportOut, status_code=201, summary="Generate a first, follow-up or final report", **require(Action.WORK_INCIDENT))
def post_report(incident_id: int, body: ReportIn, principal: CurrentPrincipal, context: Context, session: DbSession) -> ReportOut:
    incident = _incident(session, principal, incident_id)
    report = _act(session, context, lambda: context.report_service.generate(session, incident, body.kind, principal.user.username))
    return report_out(report)


@router.get("/{incident_id}/reports/{report_id}/{fmt}", summary="Export a report as DOCX or PDF", **require(Action.VIEW))
def export_report(incident_id: int, report_id: int, fmt: str, principal: CurrentPrincipal, context: Context, session: DbSession) -> Response:
    incident = _incident(session, principal, incident_id)
    report = session.get(IncidentReport, report_id)
    if report is None or report.incident_id != incident.id or fmt not in ("docx", "pdf"):
        raise HTTPException(404, f"report {report_id} as {fmt} not found")
    name = f"incident-{incident.id}-{report.kind}-{report.seq}.{fmt}"
    if fmt == "docx":
        content, media = to_docx(report, incident), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    else:
        try:
            content, media = to_pdf(report, incident, find_cjk_font(context.settings.incidents.report_font)), "application/pdf"
        except IncidentError as exc:
            raise HTTPException(503, str(exc)) from exc
    return Response(content, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.post("/{incident_id}/tasks/{task_id}/done", response_model=IncidentDetail, summary="Mark a playbook task done", **require(Action.WORK_INCIDENT))
def post_task_done(incident_id: int, task_id: int, principal: CurrentPrincipal, context: Context, session: DbSession) -> IncidentDetail:
    incident = _incident(session, principal, incident_id)
    _act(session, context, lambda: complete_task(session, context.clock, incident, task_id, principal.user.username))
    return _detail(session, context, principal, incident)
