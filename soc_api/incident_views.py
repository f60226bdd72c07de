"""Reading incidents within a principal's scope, shaped for the API and the UI."""
from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, joinedload


from incidents import CATEGORY_LABELS, GRADE_LABELS, STATUS_LABELS, time_left
from incidents.commands import REQUEST as REGRADE_REQUEST
from incidents.grading import Grade, Source
from incidents.models import EventLink, EvidenceFile, SuppressionRule, TimelineEntry
from incidents.workflow import stored_event_within
from incidents.states import FINISHED, IncidentStatus, OperatorType
from playbooks.deadlines import TASK
from playbooks.models import EscalationStep, PlaybookTask
from reports.incident_reports import KIND_LABELS
from reports.models import IncidentReport
from soc_api.auth import Principal
from soc_api.schemas.incidents import (
    AlertOut, EvidenceOut, IncidentDetail, IncidentOut, LinkedEventOut, RegradeRequestOut, TaskOut, TimelineOut,
)
from soc_api.schemas.reports import ReportOut
from soc_api.schemas.suppressions import SuppressionOut
from soc_core.clock import Clock, as_utc, as_utc_or_none
from soc_core.event_store import EventStore
from soc_core.models import Incident, Unit


def scoped_incidents(session: Session, principal: Principal, status: IncidentStatus | None = None, grade: Grade | None = None,
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


def merge_candidates(session: Session, incident: Incident, limit: int = 50) -> list[Incident]:
    """Other incidents of the same unit that could be merged into ``incident`` (not merged or closed), newest first."""
    return list(session.scalars(select(Incident).options(joinedload(Incident.unit)).where(
        Incident.unit_id == incident.unit_id, Incident.id != incident.id, Incident.status.not_in(("merged", "closed")))
        .order_by(Incident.id.desc()).limit(limit)))


def scoped_incident(session: Session, principal: Principal, incident_id: int) -> Incident | None:
    """The incident, or None when it does not exist *or* lies outside the principal's scope."""
    incident = session.get(Incident, incident_id)
    if incident is None or not principal.can_see(incident.unit):
        return None
    return incident


def incident_out(incident: Incident, clock: Clock) -> IncidentOut:
    left = time_left(incident, clock)
    return IncidentOut(
        id=incident.id, title=incident.title, title_en=incident.title_en, unit_id=incident.unit_id, unit_name=incident.unit.name,
        grade=Grade(incident.grade), grade_label=GRADE_LABELS[incident.grade], grade_basis=incident.grade_basis,
        category=incident.category, source=Source(incident.source), status=IncidentStatus(incident.status), rule_id=incident.rule_id,
        alert_count=incident.alert_count, first_seen_at=as_utc(incident.first_seen_at),
        last_seen_at=as_utc(incident.last_seen_at), created_at=as_utc(incident.created_at),
        handle_by=as_utc(incident.handle_by), seconds_left=left.seconds,
        overdue=incident.overdue_at is not None or (left.overdue and incident.status not in FINISHED),
        category_label=CATEGORY_LABELS.get(incident.category, incident.category),
        status_label=STATUS_LABELS.get(incident.status, incident.status), key_entity=incident.key_entity,
        unit_count=incident.unit_count, acknowledged_at=as_utc_or_none(incident.acknowledged_at), acknowledged_by=incident.acknowledged_by,
        resolved_at=as_utc_or_none(incident.resolved_at), closed_at=as_utc_or_none(incident.closed_at), overdue_at=as_utc_or_none(incident.overdue_at),
        merged_into_id=incident.merged_into_id, playbook=incident.playbook, drill_id=incident.drill_id,
    )


def incident_detail(incident: Incident, clock: Clock, session: Session | None = None,
                    event_store: EventStore | None = None, event_scope: str = "") -> IncidentDetail:
    """The incident with its parts; linked events are read only within ``event_scope`` (the caller's subtree)."""
    timeline: list[TimelineOut] = []
    evidence: list[EvidenceOut] = []
    linked: list[LinkedEventOut] = []
    tasks: list[TaskOut] = []
    reports: list[ReportOut] = []
    requests: list[RegradeRequestOut] = []
    if session is not None:
        fired = {step.step: step for step in session.scalars(select(EscalationStep).where(
            EscalationStep.incident_id == incident.id, EscalationStep.kind == TASK, EscalationStep.fired_at.is_not(None)))}
        tasks = [TaskOut(id=t.id, name=t.name, owner_role=t.owner_role, due_at=as_utc(t.due_at), done_at=as_utc_or_none(t.done_at), done_by=t.done_by,
                         escalated_at=as_utc_or_none(fired[t.position].fired_at) if t.position in fired else None,
                         escalated_to=_unit_name(session, fired[t.position].target_unit_id) if t.position in fired else None)
                 for t in session.scalars(select(PlaybookTask).where(PlaybookTask.incident_id == incident.id).order_by(PlaybookTask.position))]
        reports = [report_out(r) for r in session.scalars(
            select(IncidentReport).where(IncidentReport.incident_id == incident.id).order_by(IncidentReport.seq))]
        entries = list(session.scalars(
            select(TimelineEntry).where(TimelineEntry.incident_id == incident.id).order_by(TimelineEntry.at, TimelineEntry.id)))
        timeline = [TimelineOut(at=as_utc(t.at), actor=t.actor, kind=t.kind, text=t.text) for t in entries]
        requests = [RegradeRequestOut(id=t.id, grade=t.detail["grade"], reason=t.detail["reason"], requested_by=t.actor,
                                      requested_at=as_utc(t.at), state=t.detail["state"]) for t in entries if t.kind == REGRADE_REQUEST]
        evidence = [EvidenceOut(id=e.id, filename=e.filename, content_type=e.content_type, size=e.size, sha256=e.sha256,
                                uploaded_by=e.uploaded_by, uploaded_at=as_utc(e.uploaded_at)) for e in session.scalars(
            select(EvidenceFile).where(EvidenceFile.incident_id == incident.id).order_by(EvidenceFile.id))]
        linked = [LinkedEventOut(event_id=link.event_id, note=link.note, added_by=link.added_by,
                                 event=stored_event_within(session, event_store, link.event_id, event_scope)) for link in session.scalars(
            select(EventLink).where(EventLink.incident_id == incident.id).order_by(EventLink.id))]
    return IncidentDetail(
        timeline=timeline, regrade_requests=requests, evidence=evidence, linked_events=linked, tasks=tasks, reports=reports,
        report_fields=dict(incident.report_fields or {}), operator_type=OperatorType(incident.operator_type),
        **incident_out(incident, clock).model_dump(),
        description=incident.description,
        alerts=[
            AlertOut(id=a.id, rule_id=a.rule_id, rule_title=a.rule_title_zh or a.rule_title, rule_title_en=a.rule_title, level=a.level, event_id=a.event_id,
                     timestamp=as_utc(a.timestamp), summary=a.summary)
            for a in incident.alerts[:200]
        ],
    )


def _unit_name(session: Session, unit_id: int | None) -> str | None:
    unit = session.get(Unit, unit_id) if unit_id else None
    return unit.name if unit else None


def report_out(report: IncidentReport) -> ReportOut:
    return ReportOut(id=report.id, kind=report.kind, kind_label=KIND_LABELS[report.kind], seq=report.seq, fields=report.fields,
                     due_at=as_utc_or_none(report.due_at), late=report.late, created_by=report.created_by, created_at=as_utc(report.created_at))


def scoped_suppressions(session: Session, principal: Principal) -> list[SuppressionRule]:
    """Suppression rules of the units in the principal's scope and of the units above it (they apply here too,
    read-only: see ``inherited``), active ones first, newest first."""
    above = [int(part) for part in principal.scope_path.strip("/").split("/") if part]
    return list(session.scalars(select(SuppressionRule).where(or_(SuppressionRule.unit_id.in_(principal.visible_units()),
                                                                  SuppressionRule.unit_id.in_(above)))
                                .order_by(SuppressionRule.active.desc(), SuppressionRule.id.desc())))


def scoped_suppression(session: Session, principal: Principal, rule_id: int) -> SuppressionRule | None:
    rule = session.get(SuppressionRule, rule_id)
    unit = session.get(Unit, rule.unit_id) if rule is not None else None
    return rule if unit is not None and principal.can_see(unit) else None


def suppression_out(rule: SuppressionRule, session: Session | None = None, principal: Principal | None = None) -> SuppressionOut:
    unit = session.get(Unit, rule.unit_id) if session is not None else None
    inherited = unit is not None and principal is not None and not principal.can_see(unit)
    return SuppressionOut(id=rule.id, unit_id=rule.unit_id, rule_id=rule.rule_id, entity=rule.entity, reason=rule.reason,
                          created_by=rule.created_by, created_at=as_utc(rule.created_at), expires_at=as_utc_or_none(rule.expires_at),
                          active=rule.active, hits=rule.hits, unit_name=unit.name if unit else "", last_hit_at=as_utc_or_none(rule.last_hit_at),
                          inherited=inherited)
