"""Alerts become incidents: grouped by rule and unit within a window, graded, given a deadline."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from detection_rules import Alert
from playbooks.grading import Grade, Source, grade_alert, handle_by, more_severe
from soc_core.audit import record_audit
from soc_core.clock import Clock, as_utc, to_db
from soc_core.config import IncidentSettings
from soc_core.events import parse_timestamp
from soc_core.models import Alert as AlertRecord
from soc_core.models import Incident, Unit

OPEN_STATUSES = ("new", "acknowledged", "investigating", "contained")


class IncidentError(ValueError):
    """An incident cannot be created or changed as asked; the message says why."""


def fold_alerts(session: Session, clock: Clock, policy: IncidentSettings, alerts: Sequence[Alert]) -> list[Incident]:
    """Record alerts and fold each into an open incident of the same rule and unit, or open one.

    Idempotent by alert id: an alert seen before is skipped, so a resent batch changes nothing.
    Returns the incidents touched.
    """
    touched: dict[int, Incident] = {}
    window = timedelta(minutes=policy.group_window_minutes)
    for alert in alerts:
        if alert.unit_id is None or session.get(AlertRecord, alert.id) is not None:
            continue
        unit_id = int(alert.unit_id)
        seen_at = parse_timestamp(alert.timestamp)
        incident = _open_incident_for(session, alert.rule_id, unit_id, seen_at, window)
        decision = grade_alert(alert.level, policy)
        if incident is None:
            incident = _open_detected_incident(session, clock, policy, alert, unit_id, seen_at, decision.grade, decision.basis)
        else:
            _fold_into(incident, policy, seen_at, decision.grade, decision.basis)
        session.add(AlertRecord(
            id=alert.id, rule_id=alert.rule_id, rule_title=alert.rule_title, level=alert.level,
            event_id=alert.event_ids[-1] if alert.event_ids else "", unit_id=unit_id, timestamp=to_db(seen_at),
            summary=_alert_summary(alert),
            incident_id=incident.id,
        ))
        incident.alert_count += 1
        session.flush()
        touched[incident.id] = incident
    return list(touched.values())


def open_incident(
    session: Session, clock: Clock, policy: IncidentSettings, actor: str, title: str, unit: Unit,
    grade: Grade, source: Source, description: str = "", created_by_id: int | None = None,
) -> Incident:
    """Register an incident by hand: notified by a higher authority, self-reported, or detected."""
    title = title.strip()
    if not title:
        raise IncidentError("title must not be empty")
    now = clock.now()
    incident = Incident(
        title=title, unit_id=unit.id, grade=grade.value, source=source.value, status="new",
        grade_basis=f"人工定级 {grade.label}({grade.value}) / graded by {actor}",
        alert_count=0, first_seen_at=to_db(now), last_seen_at=to_db(now), created_at=to_db(now),
        handle_by=to_db(handle_by(now, grade, source, policy)), created_by_id=created_by_id, description=description,
    )
    session.add(incident)
    session.flush()
    record_audit(session, clock, actor, "incident.create", "incident", incident.id, unit.id,
                 grade=grade.value, source=source.value, title=title)
    return incident


def _open_incident_for(session: Session, rule_id: str, unit_id: int, seen_at: datetime, window: timedelta) -> Incident | None:
    candidate = session.scalar(
        select(Incident)
        .where(Incident.group_key == _group_key(rule_id, unit_id), Incident.status.in_(OPEN_STATUSES))
        .order_by(Incident.last_seen_at.desc())
        .limit(1)
    )
    if candidate is None or as_utc(candidate.last_seen_at) < seen_at - window:
        return None
    return candidate


def _open_detected_incident(
    session: Session, clock: Clock, policy: IncidentSettings, alert: Alert, unit_id: int,
    seen_at: datetime, grade: Grade, basis: str,
) -> Incident:
    now = clock.now()
    incident = Incident(
        title=alert.rule_title, unit_id=unit_id, grade=grade.value, grade_basis=basis, source=Source.DETECTED.value,
        status="new", rule_id=alert.rule_id, group_key=_group_key(alert.rule_id, unit_id), alert_count=0,
        first_seen_at=to_db(seen_at), last_seen_at=to_db(seen_at), created_at=to_db(now),
        handle_by=to_db(handle_by(now, grade, Source.DETECTED, policy)),
    )
    session.add(incident)
    session.flush()
    record_audit(session, clock, "system", "incident.create", "incident", incident.id, unit_id,
                 grade=grade.value, source="detected", rule_id=alert.rule_id)
    return incident


def _fold_into(incident: Incident, policy: IncidentSettings, seen_at: datetime, grade: Grade, basis: str) -> None:
    incident.first_seen_at = to_db(min(as_utc(incident.first_seen_at), seen_at))
    incident.last_seen_at = to_db(max(as_utc(incident.last_seen_at), seen_at))
    current = Grade(incident.grade)
    upgraded = more_severe(current, grade)
    if upgraded is not current:
        # A more severe alert raises the grade and can only bring the deadline forward.
        incident.grade = upgraded.value
        incident.grade_basis = basis
        sooner = handle_by(as_utc(incident.created_at), upgraded, Source(incident.source), policy)
        incident.handle_by = to_db(min(as_utc(incident.handle_by), sooner))


def _group_key(rule_id: str, unit_id: int) -> str:
    return f"{rule_id}|{unit_id}"


def _alert_summary(alert: Alert) -> dict[str, object]:
    as_json = alert.to_dict()
    return {**as_json["summary"], "matches": as_json["matches"], "event_ids": as_json["event_ids"]}


@dataclass(frozen=True)
class TimeLeft:
    seconds: int
    overdue: bool


def time_left(incident: Incident, clock: Clock) -> TimeLeft:
    remaining = int((as_utc(incident.handle_by) - clock.now()).total_seconds())
    return TimeLeft(seconds=remaining, overdue=remaining < 0)
