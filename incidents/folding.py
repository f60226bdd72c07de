"""Alerts become incidents: grouped by rule, unit and key entity within a window, graded, given a deadline."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from detection_rules import Alert
from incidents.deadlines import plan_handle_by
from incidents.grading import Grade, GradingInputs, Source, category_for, grade_incident, more_severe
from incidents.models import SuppressionRule, TimelineEntry
from incidents.states import OPEN
from inventory.asset_facts import AssetFacts, AssetLookup
from soc_core.audit import record_audit
from soc_core.clock import Clock, as_utc, to_db
from soc_core.config import IncidentSettings
from soc_core.errors import Refusal
from soc_core.events import parse_timestamp
from soc_core.models import Incident, Unit
from soc_core.models import Alert as AlertRecord

OPEN_STATUSES = tuple(sorted(OPEN))  # for SQL ``in_``


class IncidentError(Refusal, ValueError):
    """A casework action refused, nothing changed; the message says why (``"中文 / English"`` or either alone)."""


# Called with each incident opened, in the same transaction (playbooks hook their deadlines here).
OnOpen = Callable[[Session, Incident], None]


def add_timeline(session: Session, clock: Clock, incident: Incident, actor: str, kind: str, text: str, **detail: object) -> None:
    session.add(TimelineEntry(incident_id=incident.id, at=to_db(clock.now()), actor=actor, kind=kind, text=text, detail=detail))


def key_entity(alert: Alert, policy: IncidentSettings) -> str:
    """The value that separates incidents of one rule and unit (e.g. the scanning address)."""
    field = policy.group_entity_by_rule.get(alert.rule_id, policy.group_entity_field)
    value = alert.summary.get(field) if field else None
    return "" if value is None else str(value)[:256]


def fold_alerts(
    session: Session, clock: Clock, policy: IncidentSettings, alerts: Sequence[Alert],
    assets: AssetLookup | None = None, on_open: OnOpen | None = None,
) -> list[Incident]:
    """Record alerts and fold each into an open incident of the same rule, unit and key entity, or open one.

    Idempotent by alert id: an alert seen before is skipped, so a resent batch changes nothing.
    An alert matching an active suppression rule is recorded but folded into nothing.
    Returns the incidents touched.
    """
    touched: dict[int, Incident] = {}
    window = timedelta(minutes=policy.group_window_minutes)
    for alert in alerts:
        if alert.unit_id is None or session.get(AlertRecord, alert.id) is not None:
            continue
        unit_id = int(alert.unit_id)
        seen_at = parse_timestamp(alert.timestamp)
        entity = key_entity(alert, policy)
        record = AlertRecord(
            id=alert.id, rule_id=alert.rule_id, rule_title=alert.rule_title, rule_title_zh=alert.rule_title_zh, level=alert.level,
            event_id=alert.event_ids[-1] if alert.event_ids else "", unit_id=unit_id, timestamp=to_db(seen_at),
            summary=_alert_summary(alert),
        )
        if _suppressed(session, clock, unit_id, alert.rule_id, entity):
            session.add(record)
            session.flush()
            continue
        facts = (assets(unit_id, alert) if assets else None) or AssetFacts()
        drill = _drill_of(alert)
        incident = _open_incident_for(session, group_key(alert.rule_id, unit_id, entity, drill), seen_at, window)
        is_new = incident is None
        if incident is None:
            decision = grade_incident(GradingInputs(alert.level, facts.mlps_level, facts.is_cii, 1), policy)
            incident = _open_detected_incident(session, clock, policy, alert, unit_id, entity, seen_at, decision.grade, decision.basis,
                                               drill)
            if facts.is_cii:
                incident.operator_type = "cii"  # the 1-hour reporting path (DOMAIN.md §1.2, §4)
        else:
            incident.first_seen_at = to_db(min(as_utc(incident.first_seen_at), seen_at))
            incident.last_seen_at = to_db(max(as_utc(incident.last_seen_at), seen_at))
        record.incident_id = incident.id
        session.add(record)
        incident.alert_count += 1
        session.flush()
        units = _spread(session, incident)
        decision = grade_incident(GradingInputs(alert.level, facts.mlps_level, facts.is_cii, units), policy)
        for member in _spread_group(session, incident) if units > 1 else [incident]:
            member.unit_count = units
            raise_grade(session, clock, policy, member, decision.grade, decision.basis)
            touched[member.id] = member
        if is_new and on_open is not None:
            on_open(session, incident)
        touched[incident.id] = incident
    return list(touched.values())


def raise_grade(session: Session, clock: Clock, policy: IncidentSettings, incident: Incident, grade: Grade, basis: str) -> bool:
    """Raise the grade when ``grade`` is more severe; the deadline can only come forward. True if raised."""
    current = Grade(incident.grade)
    upgraded = more_severe(current, grade)
    if upgraded is current:
        return False
    incident.grade = upgraded.value
    incident.grade_basis = basis
    plan_handle_by(incident, policy)  # the planner re-applies a playbook's own hours
    add_timeline(session, clock, incident, "system", "grade", f"定级提升为 {upgraded.label}({upgraded.value})：{basis}",
                 old=current.value, new=upgraded.value)
    record_audit(session, clock, "system", "incident.grade", "incident", incident.id, incident.unit_id,
                 old=current.value, new=upgraded.value, basis=basis)
    return True


def open_incident(
    session: Session, clock: Clock, policy: IncidentSettings, actor: str, title: str, unit: Unit,
    grade: Grade, source: Source, description: str = "", created_by_id: int | None = None,
    category: str = "network_attack", on_open: OnOpen | None = None, title_en: str | None = None,
) -> Incident:
    """Register an incident by hand: notified by a higher authority, self-reported, or detected."""
    title = title.strip()
    if not title:
        raise IncidentError("title must not be empty")
    now = clock.now()
    incident = Incident(
        title=title, title_en=(title_en or "").strip() or None, unit_id=unit.id, grade=grade.value, source=source.value,
        status="new", category=category,
        grade_basis=f"人工定级 {grade.label}({grade.value}) / graded by {actor}",
        alert_count=0, first_seen_at=to_db(now), last_seen_at=to_db(now), created_at=to_db(now),
        created_by_id=created_by_id, description=description,
        key_entity="", unit_count=1, operator_type="other", report_fields={},
    )
    plan_handle_by(incident, policy)
    session.add(incident)
    session.flush()
    add_timeline(session, clock, incident, actor, "status", f"登记事件（{source.label}）", status="new")
    record_audit(session, clock, actor, "incident.create", "incident", incident.id, unit.id,
                 grade=grade.value, source=source.value, title=title)
    if on_open is not None:
        on_open(session, incident)
    return incident


def group_key(rule_id: str, unit_id: int, entity: str = "", drill_id: int | None = None) -> str:
    """Alerts fold together by rule, unit and key entity; an exercise's alerts never fold into a real incident."""
    return f"{rule_id}|{unit_id}|{entity}" + (f"|drill:{drill_id}" if drill_id is not None else "")


def _drill_of(alert: Alert) -> int | None:
    """The exercise an alert's traffic belongs to (the collector tagged the event with drill.id)."""
    value = alert.summary.get("drill.id")
    return int(str(value)) if value is not None and str(value).isdigit() else None


def _open_incident_for(session: Session, key: str, seen_at: datetime, window: timedelta) -> Incident | None:
    candidate = session.scalar(
        select(Incident)
        .where(Incident.group_key == key, Incident.status.in_(OPEN_STATUSES))
        .order_by(Incident.last_seen_at.desc())
        .limit(1)
    )
    if candidate is None or as_utc(candidate.last_seen_at) < seen_at - window:
        return None
    return candidate


def _spread_query(incident: Incident):  # type: ignore[no-untyped-def]
    # A drill incident spreads only within its exercise, a real one only among real ones.
    drill = Incident.drill_id.is_(None) if incident.drill_id is None else Incident.drill_id == incident.drill_id
    return (Incident.rule_id == incident.rule_id, Incident.key_entity == incident.key_entity,
            Incident.status.in_(OPEN_STATUSES), drill)


def _spread(session: Session, incident: Incident) -> int:
    """How many units the same rule and key entity is open at (1 when there is no entity to compare)."""
    if not incident.key_entity or incident.rule_id is None:
        return 1
    return session.scalar(select(func.count(func.distinct(Incident.unit_id))).where(*_spread_query(incident))) or 1


def _spread_group(session: Session, incident: Incident) -> list[Incident]:
    if not incident.key_entity or incident.rule_id is None:
        return [incident]
    return list(session.scalars(select(Incident).where(*_spread_query(incident))))


def _suppressed(session: Session, clock: Clock, unit_id: int, rule_id: str, entity: str) -> bool:
    unit = session.get(Unit, unit_id)
    if unit is None:
        return False
    now = to_db(clock.now())
    ancestors = [int(part) for part in unit.path.strip("/").split("/") if part]
    rule = session.scalar(
        select(SuppressionRule).where(
            SuppressionRule.active.is_(True),
            SuppressionRule.unit_id.in_(ancestors),
            or_(SuppressionRule.rule_id.is_(None), SuppressionRule.rule_id == rule_id),
            or_(SuppressionRule.entity.is_(None), SuppressionRule.entity == entity),
            or_(SuppressionRule.expires_at.is_(None), SuppressionRule.expires_at > now),
        ).limit(1)
    )
    if rule is None:
        return False
    rule.hits += 1
    rule.last_hit_at = now
    return True


def _open_detected_incident(
    session: Session, clock: Clock, policy: IncidentSettings, alert: Alert, unit_id: int, entity: str,
    seen_at: datetime, grade: Grade, basis: str, drill_id: int | None = None,
) -> Incident:
    now = clock.now()
    title, title_en = incident_titles(alert, entity)
    if drill_id is not None:
        title, title_en = f"【演练】{title}"[:300], f"[drill] {title_en}"[:300]
    incident = Incident(
        title=title, title_en=title_en, unit_id=unit_id, grade=grade.value, grade_basis=basis, source=Source.DETECTED.value,
        status="new", rule_id=alert.rule_id, group_key=group_key(alert.rule_id, unit_id, entity, drill_id), alert_count=0,
        drill_id=drill_id,
        category=category_for(alert.tags, policy), key_entity=entity, unit_count=1,
        first_seen_at=to_db(seen_at), last_seen_at=to_db(seen_at), created_at=to_db(now),
        operator_type="other", report_fields={},
    )
    plan_handle_by(incident, policy)
    session.add(incident)
    session.flush()
    add_timeline(session, clock, incident, "system", "status", f"规则 {alert.rule_title_zh or alert.rule_title} 告警，创建事件；定级：{basis}",
                 status="new", rule_id=alert.rule_id)
    record_audit(session, clock, "system", "incident.create", "incident", incident.id, unit_id,
                 grade=grade.value, source="detected", rule_id=alert.rule_id, key_entity=entity, drill_id=drill_id)
    return incident


def incident_titles(alert: Alert, entity: str = "") -> tuple[str, str]:
    """(title, title_en) of an incident opened by ``alert``: the rule's Chinese name first, its English title second."""
    suffix = f"（{entity}）" if entity else ""
    english = f"{alert.rule_title}{suffix}"[:300]
    return (f"{alert.rule_title_zh}{suffix}"[:300] if alert.rule_title_zh else english), english


def _alert_summary(alert: Alert) -> dict[str, object]:
    as_json = alert.to_dict()
    summary = as_json["summary"]
    assert isinstance(summary, dict), "an alert's summary is a field -> value mapping"
    return {**summary, "matches": as_json["matches"], "event_ids": as_json["event_ids"]}


@dataclass(frozen=True)
class TimeLeft:
    seconds: int
    overdue: bool


def time_left(incident: Incident, clock: Clock) -> TimeLeft:
    remaining = int((as_utc(incident.handle_by) - clock.now()).total_seconds())
    return TimeLeft(seconds=remaining, overdue=remaining < 0)


def add_suppression(
    session: Session, clock: Clock, unit: Unit, actor: str, reason: str, rule_id: str | None = None,
    entity: str | None = None, expires_at: datetime | None = None,
) -> SuppressionRule:
    """Suppress alerts of ``rule_id`` (any if None) about ``entity`` (any if None) in ``unit``'s subtree."""
    if not reason.strip():
        raise IncidentError("a suppression rule needs a reason (it hides alerts from the duty staff)")
    if rule_id is None and entity is None:
        raise IncidentError("a suppression rule names a rule, an entity or both; suppressing everything is refused")
    rule = SuppressionRule(unit_id=unit.id, rule_id=rule_id or None, entity=entity or None, reason=reason.strip(),
                           created_by=actor, created_at=to_db(clock.now()),
                           expires_at=to_db(expires_at) if expires_at else None, active=True, hits=0)
    session.add(rule)
    session.flush()
    record_audit(session, clock, actor, "suppression.create", "suppression_rule", rule.id, unit.id,
                 rule_id=rule_id, entity=entity, reason=reason)
    return rule


def deactivate_suppression(session: Session, clock: Clock, rule: SuppressionRule, actor: str) -> SuppressionRule:
    """Switch a suppression rule off (kept on record with its hits); matching alerts open incidents again."""
    if not rule.active:
        raise IncidentError(f"suppression rule {rule.id} is already off")
    rule.active = False
    record_audit(session, clock, actor, "suppression.deactivate", "suppression_rule", rule.id, rule.unit_id, hits=rule.hits)
    return rule
