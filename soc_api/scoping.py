"""Shared route helpers: the unit a request names, inside the caller's scope (404 outside it)."""
from __future__ import annotations

from fastapi import HTTPException
from sqlalchemy.orm import Session

from soc_api.auth import DbSession, Principal
from soc_core.models import Unit
from soc_core.permissions import Action


def visible_unit(session: DbSession, principal: Principal, unit_id: int) -> Unit:
    unit = session.get(Unit, unit_id)
    if unit is None or not principal.can_see(unit):
        raise HTTPException(404, f"unit {unit_id} not found")
    return unit


# Roles that file inventory; drill organizers and regulators do not.
def scoped_unit(session: Session, principal: Principal, unit_id: int | None) -> Unit:
    """The unit asked for (default: the principal's own), or 404 when outside their scope."""
    unit = principal.user.unit if unit_id is None else session.get(Unit, unit_id)
    if unit is None or not principal.can_see(unit):
        raise HTTPException(404, f"unit {unit_id} not found")
    return unit


def filing_unit(session: Session, principal: Principal, unit_id: int | None) -> Unit:
    """The unit whose inventory the principal files (default: their own); 403/404 per the table and their scope."""
    unit = scoped_unit(session, principal, unit_id)
    principal.authorize(Action.FILE_INVENTORY, unit)
    return unit
