"""Shared route helpers: the unit a request names (inside the caller's scope), who may do what
(until soc_core.permissions holds the one table), and how a refused command becomes an HTTP error."""
from __future__ import annotations

from fastapi import HTTPException
from sqlalchemy.orm import Session

from incidents import IncidentError
from soc_api.auth import DbSession, Principal
from soc_core.models import Unit
from soc_core.org import Role


def visible_unit(session: DbSession, principal: Principal, unit_id: int) -> Unit:
    unit = session.get(Unit, unit_id)
    if unit is None or not principal.can_see(unit):
        raise HTTPException(404, f"unit {unit_id} not found")
    return unit


def refused(exc: IncidentError) -> HTTPException:
    return HTTPException(422, str(exc))


# Roles that file inventory; drill organizers and regulators do not.
INVENTORY_WRITERS = (Role.SYSTEM_ADMIN, Role.SCHOOL_ADMIN, Role.DUTY_OFFICER)


def scoped_unit(session: Session, principal: Principal, unit_id: int | None) -> Unit:
    """The unit asked for (default: the principal's own), or 404 when outside their scope."""
    unit = principal.user.unit if unit_id is None else session.get(Unit, unit_id)
    if unit is None or not principal.can_see(unit):
        raise HTTPException(404, f"unit {unit_id} not found")
    return unit


def filing_unit(session: Session, principal: Principal, unit_id: int | None) -> Unit:
    if principal.role not in INVENTORY_WRITERS:
        raise HTTPException(403, f"role {principal.role.value} does not file inventory")
    return scoped_unit(session, principal, unit_id)


def can_see_jobs(principal: Principal) -> bool:
    return principal.role is Role.SYSTEM_ADMIN


SENSOR_MANAGERS = (Role.SYSTEM_ADMIN, Role.DUTY_OFFICER, Role.SCHOOL_ADMIN)


def can_manage_sensors(principal: Principal) -> bool:
    return principal.role in SENSOR_MANAGERS


RULE_SWITCHERS = (Role.SYSTEM_ADMIN, Role.DUTY_OFFICER, Role.SCHOOL_ADMIN)
