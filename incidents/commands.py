"""One command per thing a user does to an incident; every entrance (REST, web forms, CLI, jobs) calls these.

Each command checks the permission table (``soc_core.permissions.authorize``), changes the incident through the
workflow functions, writes the audit entry in the caller's transaction and re-plans every clock it touches
(``Planner``: the playbook's escalation steps and tasks, the report deadlines). The caller commits.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from incidents import workflow
from incidents.folding import IncidentError, OnOpen, add_timeline
from incidents.folding import open_incident as _register
from incidents.grading import MAJOR_GRADES, Grade, Source
from incidents.models import EventLink, EvidenceFile, TimelineEntry
from incidents.states import REPORT_FIELDS, IncidentStatus, OperatorType
from soc_core.audit import record_audit
from soc_core.clock import Clock, to_db
from soc_core.config import IncidentSettings
from soc_core.event_store import EventStore
from soc_core.models import Incident, Unit
from soc_core.org import Role
from soc_core.permissions import Action, authorize


class Planner(Protocol):
    """Re-plans an incident's clocks after a change (idempotent) and names its playbook tasks not yet done."""

    def plan(self, session: Session, incident: Incident) -> None: ...

    def open_tasks(self, session: Session, incident: Incident) -> list[str]: ...


@dataclass(frozen=True)
class Who:
    """Who acts: the name written to the timeline and audit log, the role and the subtree they act in."""

    name: str
    role: Role
    scope_path: str


SYSTEM = Who("system", Role.SYSTEM_ADMIN, "/")


@dataclass(frozen=True)
class Desk:
    """What a command runs with: the open transaction, the clock, the incident policy, who acts, the planner."""

    session: Session
    clock: Clock
    policy: IncidentSettings
    who: Who
    planner: Planner | None = None

    def replan(self, incident: Incident) -> None:
        if self.planner is not None:
            self.planner.plan(self.session, incident)

    def on_open(self) -> OnOpen | None:
        return self.planner.plan if self.planner is not None else None


def _unit(desk: Desk, incident: Incident) -> Unit:
    return incident.unit or desk.session.get(Unit, incident.unit_id)  # type: ignore[return-value]


def _work(desk: Desk, incident: Incident) -> None:
    authorize(desk.who, Action.WORK_INCIDENT, _unit(desk, incident))


def open_incident(desk: Desk, title: str, unit: Unit, grade: Grade, source: Source, description: str = "",
                  created_by_id: int | None = None, category: str = "network_attack", title_en: str | None = None) -> Incident:
    """Register an incident by hand (notified, self-reported or detected); its clocks start at once."""
    authorize(desk.who, Action.WORK_INCIDENT, unit)
    return _register(desk.session, desk.clock, desk.policy, desk.who.name, title, unit, grade, source, description,
                     created_by_id, category, on_open=desk.on_open(), title_en=title_en)


def change_status(desk: Desk, incident: Incident, to: IncidentStatus | str, note: str = "", override_reason: str = "") -> None:
    """Move the incident along its workflow; closing goes through ``close``. Every status change re-plans the clocks
    (the 终报 clock starts at closure; resolving ends the escalations)."""
    try:
        target = IncidentStatus(to)
    except ValueError:
        raise IncidentError(f"未知状态 {to!r}", f"unknown status {to!r}") from None
    if target is IncidentStatus.CLOSED:
        close(desk, incident, note, override_reason)
        return
    _work(desk, incident)
    workflow.change_status(desk.session, desk.clock, incident, target.value, desk.who.name, note)
    desk.replan(incident)


def acknowledge(desk: Desk, incident: Incident, note: str = "") -> None:
    change_status(desk, incident, IncidentStatus.ACKNOWLEDGED, note)


def close(desk: Desk, incident: Incident, note: str = "", override_reason: str = "") -> None:
    """Close a resolved incident. A 重大 or worse one is the duty centre's to close, and only with its playbook tasks
    done — or with an override whose reason is audited and shown on the timeline. Starts the 终报 clock."""
    _work(desk, incident)
    unit = _unit(desk, incident)
    if incident.status != IncidentStatus.RESOLVED:
        raise IncidentError("事件处置完毕（已处置）后才能关闭", "an incident is closed only after it is resolved")
    if incident.grade in MAJOR_GRADES:
        authorize(desk.who, Action.CLOSE_MAJOR_INCIDENT, unit)
        undone = desk.planner.open_tasks(desk.session, incident) if desk.planner is not None else []
        if undone:
            reason = override_reason.strip()
            if not reason:
                raise IncidentError(f"预案任务未完成（{'、'.join(undone)}），强制关闭须说明理由",
                                    f"playbook tasks not done ({len(undone)}); closing anyway needs a reason")
            authorize(desk.who, Action.OVERRIDE_CLOSE, unit)
            add_timeline(desk.session, desk.clock, incident, desk.who.name, "override",
                         f"强制关闭（未完成任务：{'、'.join(undone)}）：{reason}", tasks=undone, reason=reason)
            record_audit(desk.session, desk.clock, desk.who.name, "incident.close_override", "incident", incident.id,
                         incident.unit_id, tasks=undone, reason=reason)
    workflow.change_status(desk.session, desk.clock, incident, IncidentStatus.CLOSED.value, desk.who.name, note)
    desk.replan(incident)


def regrade(desk: Desk, incident: Incident, grade: Grade, reason: str) -> None:
    """The duty centre regrades (up or down) with a reason; the deadlines are re-derived from discovery."""
    authorize(desk.who, Action.REGRADE, _unit(desk, incident))
    workflow.set_grade(desk.session, desk.clock, desk.policy, incident, grade, desk.who.name, reason)
    desk.replan(incident)


REQUEST = "regrade_request"
DECISION = "regrade_decision"


def request_regrade(desk: Desk, incident: Incident, grade: Grade, reason: str) -> TimelineEntry:
    """A school asks the duty centre for another grade, with a reason; nothing changes until the duty officer decides."""
    authorize(desk.who, Action.REQUEST_REGRADE, _unit(desk, incident))
    reason = reason.strip()
    if not reason:
        raise IncidentError("申请改级须说明理由", "a regrade request needs a reason")
    if grade.value == incident.grade:
        raise IncidentError(f"事件已是{grade.label}级", f"the incident is graded {grade.value} already")
    entry = TimelineEntry(incident_id=incident.id, at=to_db(desk.clock.now()), actor=desk.who.name, kind=REQUEST,
                          text=f"申请改级为 {grade.label}({grade.value})：{reason}",
                          detail={"grade": grade.value, "reason": reason, "state": "pending"})
    desk.session.add(entry)
    desk.session.flush()
    record_audit(desk.session, desk.clock, desk.who.name, "incident.regrade_request", "incident", incident.id, incident.unit_id,
                 request=entry.id, grade=grade.value, reason=reason)
    return entry


def pending_regrade_requests(session: Session, incident: Incident) -> list[TimelineEntry]:
    rows = session.scalars(select(TimelineEntry).where(TimelineEntry.incident_id == incident.id, TimelineEntry.kind == REQUEST)
                           .order_by(TimelineEntry.id))
    return [row for row in rows if row.detail.get("state") == "pending"]


def decide_regrade(desk: Desk, incident: Incident, request_id: int, accept: bool, note: str = "") -> None:
    """The duty officer accepts (the incident is regraded, the request's reason kept) or declines a school's request."""
    authorize(desk.who, Action.REGRADE, _unit(desk, incident))
    request = desk.session.get(TimelineEntry, request_id)
    if request is None or request.incident_id != incident.id or request.kind != REQUEST:
        raise IncidentError(f"没有改级申请 {request_id}", f"no regrade request {request_id} on incident {incident.id}")
    if request.detail.get("state") != "pending":
        raise IncidentError("该改级申请已处理", "the regrade request was decided already")
    request.detail = {**request.detail, "state": "accepted" if accept else "declined", "decided_by": desk.who.name}
    grade = Grade(request.detail["grade"])
    verdict = "同意" if accept else "驳回"
    add_timeline(desk.session, desk.clock, incident, desk.who.name, DECISION,
                 f"{verdict}改级申请（{grade.label}）" + (f"：{note.strip()}" if note.strip() else ""), request=request_id, accepted=accept)
    record_audit(desk.session, desk.clock, desk.who.name, "incident.regrade_decision", "incident", incident.id, incident.unit_id,
                 request=request_id, accepted=accept, note=note)
    if accept:
        regrade(desk, incident, grade, f"同意 {request.actor} 的改级申请：{request.detail['reason']}")


def merge(desk: Desk, target: Incident, others: Iterable[Incident]) -> Incident:
    """Fold ``others`` into ``target``; the target's clocks re-planned from the earliest discovery."""
    others = list(others)
    for incident in [target, *others]:
        _work(desk, incident)
    workflow.merge_incidents(desk.session, desk.clock, desk.policy, target, others, desk.who.name)
    desk.replan(target)
    return target


def split(desk: Desk, incident: Incident, alert_ids: Iterable[str], title: str | None = None) -> Incident:
    """Move alerts into a new incident that keeps their discovery time; its clocks start from there."""
    _work(desk, incident)
    return workflow.split_incident(desk.session, desk.clock, desk.policy, incident, alert_ids, desk.who.name, title,
                                   on_open=desk.on_open())


def comment(desk: Desk, incident: Incident, text: str) -> None:
    _work(desk, incident)
    workflow.add_comment(desk.session, desk.clock, incident, desk.who.name, text)


def link_event(desk: Desk, incident: Incident, event_id: str, note: str = "", event_store: EventStore | None = None) -> EventLink:
    """Link a stored event; with an event store, only one of a unit in the actor's subtree."""
    _work(desk, incident)
    scope = "" if desk.who.role is Role.SYSTEM_ADMIN else desk.who.scope_path
    return workflow.link_event(desk.session, desk.clock, incident, desk.who.name, event_id, note, event_store, scope)


def attach_evidence(desk: Desk, incident: Incident, filename: str, content_type: str, stream: BinaryIO, evidence_dir: Path) -> EvidenceFile:
    _work(desk, incident)
    return workflow.attach_evidence(desk.session, desk.clock, incident, desk.who.name, filename, content_type, stream, evidence_dir,
                                    desk.policy.evidence_max_bytes)


def set_report_fields(desk: Desk, incident: Incident, fields: Mapping[str, str], operator_type: OperatorType | str | None = None) -> None:
    """Keep the report items on the incident; the operator type moves the first-report deadline (re-planned)."""
    _work(desk, incident)
    unknown = sorted(set(fields) - set(REPORT_FIELDS))
    if unknown:
        raise IncidentError(f"未知的报告字段 {unknown}", f"unknown report fields {unknown}; expected some of {', '.join(REPORT_FIELDS)}")
    operator = None
    if operator_type:
        try:
            operator = OperatorType(operator_type)
        except ValueError:
            raise IncidentError(f"未知的运营者类型 {operator_type!r}", f"unknown operator type {operator_type!r}") from None
        incident.operator_type = operator.value
    incident.report_fields = {**(incident.report_fields or {}), **{k: str(v) for k, v in fields.items()}}
    record_audit(desk.session, desk.clock, desk.who.name, "incident.report_fields", "incident", incident.id, incident.unit_id,
                 fields=sorted(fields), operator_type=operator.value if operator else None)
    desk.replan(incident)
