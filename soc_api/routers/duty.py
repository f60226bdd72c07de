"""/api/v1/duty: who is on duty, the roster, handovers."""
from __future__ import annotations

from fastapi import APIRouter, HTTPException
from sqlalchemy import select

from duty.models import DutyShift
from duty.roster import add_shift, write_handover
from soc_api.auth import Context, CurrentPrincipal, DbSession, require
from soc_api.duty_views import duty_board, shift_out
from soc_api.schemas.duty import DutyBoard, HandoverIn, HandoverOut, ShiftIn, ShiftOut
from soc_api.scoping import visible_unit
from soc_core.audit import record_audit
from soc_core.clock import as_utc
from soc_core.models import Unit, User
from soc_core.permissions import Action

router = APIRouter(prefix="/api/v1/duty", tags=["duty"])


@router.get("", response_model=DutyBoard, summary="Who is on duty now, the roster ahead, MTTA/MTTR, overdue by unit, handovers", **require(Action.VIEW))
def get_duty(principal: CurrentPrincipal, context: Context, session: DbSession) -> DutyBoard:
    return duty_board(session, principal, context.clock)


@router.post("/shifts", response_model=ShiftOut, status_code=201, summary="Put someone on the roster", **require(Action.MANAGE_ROSTER))
def post_shift(body: ShiftIn, principal: CurrentPrincipal, context: Context, session: DbSession) -> ShiftOut:
    unit = visible_unit(session, principal, body.unit_id)
    user = session.scalar(select(User).where(User.username == body.username))
    if user is None or not principal.can_see(user.unit):
        raise HTTPException(404, f"user {body.username} not found")
    shift = add_shift(session, context.clock, principal.user.username, unit, body.team, user, body.starts_at, body.ends_at, body.note)
    session.commit()
    return shift_out(session, shift)


@router.delete("/shifts/{shift_id}", status_code=204, summary="Take a shift off the roster", **require(Action.MANAGE_ROSTER))
def delete_shift(shift_id: int, principal: CurrentPrincipal, context: Context, session: DbSession) -> None:
    shift = session.get(DutyShift, shift_id)
    if shift is None or not principal.can_see(session.get(Unit, shift.unit_id)):  # type: ignore[arg-type]
        raise HTTPException(404, f"shift {shift_id} not found")
    record_audit(session, context.clock, principal.user.username, "duty.shift_remove", "duty_shift", shift.id, shift.unit_id)
    session.delete(shift)
    session.commit()


@router.post("/handovers", response_model=HandoverOut, status_code=201, summary="Write a handover note at shift change", **require(Action.MANAGE_ROSTER))
def post_handover(body: HandoverIn, principal: CurrentPrincipal, context: Context, session: DbSession) -> HandoverOut:
    unit = visible_unit(session, principal, body.unit_id)
    note = write_handover(session, context.clock, principal.user.username, unit, body.team, body.text, body.to_user)
    session.commit()
    return HandoverOut(id=note.id, unit_id=note.unit_id, team=note.team, at=as_utc(note.at), from_user=note.from_user,
                       to_user=note.to_user, text=note.text, open_incident_ids=list(note.open_incident_ids))


