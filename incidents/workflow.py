"""The incident workflow: new → acknowledged → investigating → contained → resolved → closed.

Every step records who and when on the incident, a timeline line and an audit entry, in the
caller's transaction. Comments, evidence files, linked events, manual merge and split live here too.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from incidents.folding import IncidentError, OnOpen, add_timeline
from incidents.deadlines import discovered_at, plan_handle_by
from incidents.grading import Grade, more_severe
from incidents.models import EventLink, EvidenceFile
from incidents.states import REOPENABLE, STATUS_LABELS, WORKFLOW, IncidentStatus
from soc_core.audit import record_audit
from soc_core.clock import Clock, as_utc, to_db
from soc_core.config import IncidentSettings
from soc_core.event_store import EventStore, EventStoreError
from soc_core.models import Alert as AlertRecord
from soc_core.models import Incident, Unit

STATUSES = tuple(status.value for status in WORKFLOW)


def change_status(session: Session, clock: Clock, incident: Incident, to: str, actor: str, note: str = "") -> None:
    """Move forward through the workflow (steps may be skipped), close only once resolved, or reopen.

    Reopening (resolved/closed → investigating) keeps the first acknowledgement and clears the
    resolution stamps, so MTTR measures the final resolution.
    """
    current = incident.status
    if to not in STATUSES:
        raise IncidentError(f"unknown status {to!r}; expected one of {', '.join(STATUSES)}")
    if current == IncidentStatus.MERGED:
        raise IncidentError(f"incident {incident.id} was merged into #{incident.merged_into_id}; work on that one")
    reopening = current in REOPENABLE and to == IncidentStatus.INVESTIGATING
    if not reopening:
        if STATUSES.index(to) <= STATUSES.index(current):
            raise IncidentError(f"cannot go from {current} back to {to}")
        if to == "closed" and current != "resolved":
            raise IncidentError("an incident is closed only after it is resolved")
    now = to_db(clock.now())
    if incident.acknowledged_at is None and to != "new":
        incident.acknowledged_at, incident.acknowledged_by = now, actor
    if to == "resolved":
        incident.resolved_at = now
    if to == "closed":
        incident.closed_at = now
    if reopening:
        incident.resolved_at = incident.closed_at = None
    incident.status = IncidentStatus(to).value
    text = f"{STATUS_LABELS[current]} → {STATUS_LABELS[to]}" + (f"：{note}" if note else "")
    add_timeline(session, clock, incident, actor, "status", text, old=current, new=to)
    record_audit(session, clock, actor, "incident.status", "incident", incident.id, incident.unit_id, old=current, new=to, note=note)


def add_comment(session: Session, clock: Clock, incident: Incident, actor: str, text: str) -> None:
    text = text.strip()
    if not text:
        raise IncidentError("a comment must not be empty")
    add_timeline(session, clock, incident, actor, "comment", text)
    record_audit(session, clock, actor, "incident.comment", "incident", incident.id, incident.unit_id)


def set_grade(session: Session, clock: Clock, policy: IncidentSettings, incident: Incident, grade: Grade, actor: str, reason: str) -> None:
    """Regrade by hand (up or down); the deadline is recomputed from creation and the reason kept as basis."""
    if not reason.strip():
        raise IncidentError("regrading needs a reason")
    old = incident.grade
    incident.grade = grade.value
    incident.grade_basis = f"人工定级 {grade.label}({grade.value})，{actor}：{reason.strip()}"
    plan_handle_by(incident, policy)
    add_timeline(session, clock, incident, actor, "grade", incident.grade_basis, old=old, new=grade.value)
    record_audit(session, clock, actor, "incident.grade", "incident", incident.id, incident.unit_id, old=old, new=grade.value, reason=reason)


class EvidenceTooLarge(IncidentError):
    pass


_UNSAFE = re.compile(r"[^\w.\-\u4e00-\u9fff]+")


def evidence_path(evidence_dir: Path, sha256: str) -> Path:
    return evidence_dir / sha256[:2] / sha256


def store_file(stream: BinaryIO, evidence_dir: Path, max_bytes: int) -> tuple[str, int]:
    """Store a stream by its SHA-256 under ``evidence_dir`` (same content kept once); refuse it past ``max_bytes``."""
    evidence_dir.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    with tempfile.NamedTemporaryFile(dir=evidence_dir, delete=False) as spool:
        try:
            while chunk := stream.read(1 << 16):
                size += len(chunk)
                if size > max_bytes:
                    raise EvidenceTooLarge(f"evidence file larger than the limit of {max_bytes} bytes")
                digest.update(chunk)
                spool.write(chunk)
        except BaseException:
            spool.close()
            os.unlink(spool.name)
            raise
    sha256 = digest.hexdigest()
    target = evidence_path(evidence_dir, sha256)
    target.parent.mkdir(exist_ok=True)
    if target.exists():
        os.unlink(spool.name)
    else:
        os.replace(spool.name, target)
    return sha256, size


def safe_filename(filename: str) -> str:
    return _UNSAFE.sub("_", os.path.basename(filename or "")).strip("._")[:200] or "evidence"


def attach_evidence(
    session: Session, clock: Clock, incident: Incident, actor: str, filename: str, content_type: str,
    stream: BinaryIO, evidence_dir: Path, max_bytes: int,
) -> EvidenceFile:
    """Attach a file to the incident, stored by its SHA-256 (see ``store_file``)."""
    name = safe_filename(filename)
    sha256, size = store_file(stream, evidence_dir, max_bytes)
    evidence = EvidenceFile(incident_id=incident.id, filename=name, content_type=content_type[:128] or "application/octet-stream",
                            size=size, sha256=sha256, uploaded_by=actor, uploaded_at=to_db(clock.now()))
    session.add(evidence)
    session.flush()
    add_timeline(session, clock, incident, actor, "evidence", f"上传证据 {name}（{size} 字节，SHA-256 {sha256[:16]}…）",
                 evidence_id=evidence.id, sha256=sha256, size=size)
    record_audit(session, clock, actor, "incident.evidence", "incident", incident.id, incident.unit_id, sha256=sha256, filename=name)
    return evidence


def stored_event_within(session: Session, event_store: EventStore | None, event_id: str, scope_path: str) -> dict[str, Any] | None:
    """The stored event ``event_id`` when its unit (``organization.id``) lies in the subtree ``scope_path``
    ("" = everywhere); None when it is missing, unreadable or another unit's — the caller cannot tell which."""
    if event_store is None:
        return None
    try:
        event = event_store.get(event_id)
    except EventStoreError:
        return None
    if event is None:
        return None
    if not scope_path:
        return event
    unit_ref = str(event.get("organization.id") or "")
    unit = session.get(Unit, int(unit_ref)) if unit_ref.isdigit() and len(unit_ref) < 19 else None
    return event if unit is not None and unit.path.startswith(scope_path) else None


def link_event(session: Session, clock: Clock, incident: Incident, actor: str, event_id: str, note: str = "",
               event_store: EventStore | None = None, scope_path: str = "") -> EventLink:
    """Link a stored event to the incident; with an event store, only an event of a unit in the actor's
    subtree ``scope_path`` ("" = everywhere) — another school's event id is refused like a missing one."""
    event_id = event_id.strip()
    if not event_id or len(event_id) > 128:
        raise IncidentError("an event id is 1 to 128 characters")
    if event_store is not None and stored_event_within(session, event_store, event_id, scope_path) is None:
        raise IncidentError(f"事件 {event_id} 不存在或不在您的管辖范围内 / event not found in your part of the org tree")
    existing = session.scalar(select(EventLink).where(EventLink.incident_id == incident.id, EventLink.event_id == event_id))
    if existing is not None:
        return existing
    link = EventLink(incident_id=incident.id, event_id=event_id, note=note, added_by=actor, added_at=to_db(clock.now()))
    session.add(link)
    add_timeline(session, clock, incident, actor, "link", f"关联事件日志 {event_id}" + (f"：{note}" if note else ""), event_id=event_id)
    record_audit(session, clock, actor, "incident.link_event", "incident", incident.id, incident.unit_id, event_id=event_id)
    return link


def merge_incidents(session: Session, clock: Clock, policy: IncidentSettings, target: Incident, others: Iterable[Incident],
                    actor: str) -> Incident:
    """Fold ``others`` into ``target``: their alerts move, the grade is the most severe, the discovery the earliest
    (so the deadline, re-derived from it, is never later than either one's)."""
    for other in others:
        if other.id == target.id:
            raise IncidentError("an incident cannot be merged into itself")
        if other.status == IncidentStatus.MERGED:
            raise IncidentError(f"incident {other.id} was merged already")
        if other.unit_id != target.unit_id:
            # Cross-unit merges would move an incident out of a school admin's sight.
            raise IncidentError("only incidents of the same unit can be merged")
        moved = 0
        for alert in session.scalars(select(AlertRecord).where(AlertRecord.incident_id == other.id)):
            alert.incident_id = target.id
            moved += 1
        target.alert_count += other.alert_count
        other.alert_count = 0
        target.first_seen_at = min(target.first_seen_at, other.first_seen_at)
        target.last_seen_at = max(target.last_seen_at, other.last_seen_at)
        grade = more_severe(Grade(target.grade), Grade(other.grade))
        if grade.value != target.grade:
            target.grade, target.grade_basis = grade.value, f"合并自 #{other.id}：{other.grade_basis}"
        target.created_at = min(target.created_at, other.created_at)
        plan_handle_by(target, policy)
        other.status, other.merged_into_id = IncidentStatus.MERGED.value, target.id
        add_timeline(session, clock, target, actor, "merge", f"合并事件 #{other.id}（{moved} 条告警）", merged=other.id)
        add_timeline(session, clock, other, actor, "merge", f"已合并到事件 #{target.id}", into=target.id)
        record_audit(session, clock, actor, "incident.merge", "incident", target.id, target.unit_id, merged=other.id, alerts=moved)
    session.flush()
    return target


def split_incident(
    session: Session, clock: Clock, policy: IncidentSettings, incident: Incident, alert_ids: Iterable[str], actor: str,
    title: str | None = None, on_open: OnOpen | None = None,
) -> Incident:
    """Move the given alerts of ``incident`` into a new incident of the same unit, rule and grade."""
    ids = set(alert_ids)
    alerts = list(session.scalars(select(AlertRecord).where(AlertRecord.incident_id == incident.id, AlertRecord.id.in_(ids))))
    if not alerts or len(alerts) != len(ids):
        raise IncidentError("every alert to split off must belong to the incident")
    if len(alerts) == incident.alert_count:
        raise IncidentError("splitting off every alert leaves an empty incident; regrade or retitle instead")
    new = Incident(
        title=(title or f"{incident.title}（拆分）")[:300], title_en=None if title else incident.title_en, unit_id=incident.unit_id, grade=incident.grade,
        grade_basis=f"拆分自 #{incident.id}：{incident.grade_basis}", category=incident.category, source=incident.source,
        status="new", rule_id=incident.rule_id, group_key=None, key_entity=incident.key_entity, unit_count=incident.unit_count,
        alert_count=len(alerts), first_seen_at=min(a.timestamp for a in alerts), last_seen_at=max(a.timestamp for a in alerts),
        created_at=to_db(_discovery_of_split(clock, incident, alerts)), operator_type=incident.operator_type, report_fields={},
        drill_id=incident.drill_id,  # a drill incident split stays a drill one
    )
    plan_handle_by(new, policy)
    session.add(new)
    session.flush()
    for alert in alerts:
        alert.incident_id = new.id
    incident.alert_count -= len(alerts)
    remaining = session.scalars(select(AlertRecord.timestamp).where(AlertRecord.incident_id == incident.id)).all()
    incident.first_seen_at, incident.last_seen_at = min(remaining), max(remaining)
    add_timeline(session, clock, incident, actor, "split", f"拆分出事件 #{new.id}（{len(alerts)} 条告警）", new=new.id)
    add_timeline(session, clock, new, actor, "split", f"由事件 #{incident.id} 拆分而来（{len(alerts)} 条告警）", parent=incident.id)
    record_audit(session, clock, actor, "incident.split", "incident", incident.id, incident.unit_id, new=new.id, alerts=len(alerts))
    if on_open is not None:
        on_open(session, new)
    return new


def _discovery_of_split(clock: Clock, parent: Incident, alerts: list[AlertRecord]) -> datetime:
    """When the split-off alerts were discovered: with the parent, or at the first of them when it came later (never
    after now). A split is bookkeeping; its clocks keep running from discovery (DOMAIN.md §1.5)."""
    first_alert = min(as_utc(a.timestamp) for a in alerts)
    return min(clock.now(), max(discovered_at(parent), first_alert))
