"""7×24 duty: the shift roster per team, who is on duty now, handover notes, MTTA and MTTR."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from duty.models import DutyShift, HandoverNote
from incidents.folding import IncidentError, OPEN_STATUSES
from soc_core.audit import record_audit
from soc_core.clock import Clock, as_utc, to_db
from soc_core.models import Incident, Unit, User
from soc_core.org import Role
from soc_core.permissions import Action, granted, within


def add_shift(session: Session, clock: Clock, actor: str, unit: Unit, team: str, user: User,
              starts_at: datetime, ends_at: datetime, note: str = "") -> DutyShift:
    team = team.strip()
    if not team:
        raise IncidentError("a shift belongs to a named team (e.g. 市局值班组)")
    if as_utc(ends_at) <= as_utc(starts_at):
        raise IncidentError("a shift ends after it starts")
    if as_utc(ends_at) - as_utc(starts_at) > timedelta(hours=24):
        raise IncidentError("a shift lasts at most 24 hours")
    if not granted(Role(user.role), Action.BE_ROSTERED):
        raise IncidentError(f"{Role(user.role).label}不能排入值班表", f"a {Role(user.role).value} cannot be put on the duty roster")
    if not within(user.unit, unit):
        raise IncidentError(f"{user.username} does not belong to {unit.name} or a unit below it")
    overlapping = session.scalar(select(DutyShift).where(
        DutyShift.user_id == user.id, DutyShift.starts_at < to_db(ends_at), DutyShift.ends_at > to_db(starts_at)))
    if overlapping is not None:
        raise IncidentError(f"{user.username} is already on shift {overlapping.id} then")
    shift = DutyShift(unit_id=unit.id, team=team, user_id=user.id, starts_at=to_db(starts_at), ends_at=to_db(ends_at),
                      note=note, created_by=actor, created_at=to_db(clock.now()))
    session.add(shift)
    session.flush()
    record_audit(session, clock, actor, "duty.shift_add", "duty_shift", shift.id, unit.id, user=user.username, team=team)
    return shift


def on_duty_at(session: Session, unit_ids: Any, instant: datetime) -> list[DutyShift]:
    """Shifts covering ``instant`` in the given units, earliest start first."""
    at = to_db(instant)
    return list(session.scalars(select(DutyShift).where(
        DutyShift.unit_id.in_(unit_ids), DutyShift.starts_at <= at, DutyShift.ends_at > at).order_by(DutyShift.starts_at)))


def write_handover(session: Session, clock: Clock, actor: str, unit: Unit, team: str, text: str, to_user: str = "") -> HandoverNote:
    """A handover note; it records which incidents of the unit's subtree were still open at that moment."""
    if not text.strip():
        raise IncidentError("a handover note must say something")
    open_ids = list(session.scalars(select(Incident.id).join(Unit, Incident.unit_id == Unit.id).where(
        within(Unit.path, unit), Incident.status.in_(OPEN_STATUSES)).order_by(Incident.handle_by)))
    note = HandoverNote(unit_id=unit.id, team=team.strip() or "值班组", at=to_db(clock.now()), from_user=actor, to_user=to_user,
                        text=text.strip(), open_incident_ids=open_ids)
    session.add(note)
    session.flush()
    record_audit(session, clock, actor, "duty.handover", "duty_handover", note.id, unit.id, to_user=to_user, open_incidents=len(open_ids))
    return note


@dataclass(frozen=True)
class ResponseTimes:
    incidents: int
    acknowledged: int
    resolved: int
    mtta_seconds: float | None  # mean time from creation to acknowledgement
    mttr_seconds: float | None  # mean time from creation to resolution
    unacknowledged: int
    overdue: int


def response_times(session: Session, unit_ids: Any, since: datetime) -> ResponseTimes:
    """MTTA and MTTR over incidents created since ``since`` in the given units."""
    rows = session.execute(select(Incident.created_at, Incident.acknowledged_at, Incident.resolved_at, Incident.status,
                                  Incident.overdue_at).where(Incident.unit_id.in_(unit_ids), Incident.created_at >= to_db(since),
                                                             Incident.status != "merged")).all()
    ack = [(a - c).total_seconds() for c, a, _, _, _ in rows if a is not None]
    res = [(r - c).total_seconds() for c, _, r, _, _ in rows if r is not None]
    return ResponseTimes(
        incidents=len(rows), acknowledged=len(ack), resolved=len(res),
        mtta_seconds=sum(ack) / len(ack) if ack else None, mttr_seconds=sum(res) / len(res) if res else None,
        unacknowledged=sum(1 for row in rows if row[3] == "new"), overdue=sum(1 for row in rows if row[4] is not None),
    )
