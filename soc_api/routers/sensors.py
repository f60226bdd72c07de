"""/api/v1/sensors: the sensor registry (register, revoke, rotate a token), each sensor's health and
monitoring coverage per unit — scoped by the org tree. Registering, rotating and revoking is for
system admins, and for duty officers and school admins within their subtree (a school admin installs
the school's sensor); regulators read."""
from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy.orm import Session

from inventory.coverage import SensorHealth, sensor_health, unit_coverage
from soc_api.auth import Context, CurrentPrincipal, DbSession, Principal, require
from soc_api.schemas.sensors import CoverageOut, SensorCreate, SensorOut, SensorRegistered, SensorToken, UnitCoverageOut
from soc_core.models import Sensor, Unit
from soc_core.permissions import Action
from soc_core.repositories import OrgError, register_sensor, rotate_sensor_token
from soc_core.sensor_registry import revoke_sensor

router = APIRouter(prefix="/api/v1/sensors", tags=["sensors"])


def _window(context: Context) -> timedelta:
    return timedelta(minutes=context.settings.compliance.heartbeat_window_minutes)


def _interval(context: Context) -> timedelta:
    return timedelta(seconds=context.settings.compliance.sensor_heartbeat_seconds)


def _scope(principal: Principal) -> Unit | None:
    return None if principal.is_global else principal.user.unit


def _health_of(session: Session, context: Context, principal: Principal, sensor: Sensor) -> SensorOut:
    health = {h.sensor_id: h for h in sensor_health(session, context.clock.now(), _window(context), sensor.unit, _interval(context))}
    return _out(health[sensor.id], sensor.unit.name)


def _out(health: SensorHealth, unit_name: str) -> SensorOut:
    return SensorOut(unit_name=unit_name, **health.__dict__)


def _managed_sensor(session: Session, principal: Principal, sensor_id: int) -> Sensor:
    sensor = session.get(Sensor, sensor_id)
    if sensor is None or not principal.can_see(sensor.unit):
        raise HTTPException(404, f"sensor {sensor_id} not found")
    return sensor


@router.get("", response_model=list[SensorOut], summary="Sensors in your scope with their last heartbeat and counters", **require(Action.VIEW))
def list_sensors(principal: CurrentPrincipal, context: Context, session: DbSession) -> list[SensorOut]:
    names = {u.id: u.name for u in session.query(Unit)}
    return [_out(h, names[h.unit_id])
            for h in sensor_health(session, context.clock.now(), _window(context), _scope(principal), _interval(context))]


@router.post("", response_model=SensorRegistered, status_code=201, summary="Register a sensor; its token is shown once", **require(Action.MANAGE_SENSORS))
def create_sensor(body: SensorCreate, principal: CurrentPrincipal, context: Context, session: DbSession) -> SensorRegistered:
    unit = session.get(Unit, body.unit_id)
    if unit is None or not principal.can_see(unit):
        raise HTTPException(404, f"unit {body.unit_id} not found")
    try:
        registered = register_sensor(session, context.clock, body.name, unit, actor=principal.user.username)
    except OrgError as exc:
        raise HTTPException(409, str(exc)) from exc
    session.commit()
    return SensorRegistered(sensor=_health_of(session, context, principal, registered.sensor), token=registered.token)


@router.post("/{sensor_id}/revoke", response_model=SensorOut, summary="Revoke a sensor: its token stops working at once", **require(Action.MANAGE_SENSORS))
def revoke(sensor_id: int, principal: CurrentPrincipal, context: Context, session: DbSession) -> SensorOut:
    sensor = _managed_sensor(session, principal, sensor_id)
    try:
        revoke_sensor(session, context.clock, sensor, principal.user.username)
    except OrgError as exc:
        raise HTTPException(409, str(exc)) from exc
    session.commit()
    return _health_of(session, context, principal, sensor)


@router.post("/{sensor_id}/token", response_model=SensorToken, summary="Give a sensor a new token (the old one stops working)", **require(Action.MANAGE_SENSORS))
def rotate_token(sensor_id: int, principal: CurrentPrincipal, context: Context, session: DbSession) -> SensorToken:
    sensor = _managed_sensor(session, principal, sensor_id)
    if sensor.revoked_at is not None:
        raise HTTPException(409, f"sensor {sensor.name!r} is revoked")
    token = rotate_sensor_token(session, context.clock, sensor, principal.user.username)
    session.commit()
    return SensorToken(token=token)


@router.get("/coverage", response_model=CoverageOut, summary="Monitoring coverage per unit: covered when a sensor sent a heartbeat within the window", **require(Action.VIEW))
def coverage(
    principal: CurrentPrincipal, context: Context, session: DbSession,
    kind: Annotated[Literal["school", "county", "city", "province"], Query()] = "school",
) -> CoverageOut:
    units = unit_coverage(session, context.clock.now(), _window(context), _scope(principal), (kind,))
    covered = sum(u.covered for u in units)
    return CoverageOut(
        window_minutes=context.settings.compliance.heartbeat_window_minutes, units_total=len(units),
        units_covered=covered, units=[UnitCoverageOut(**{**u.__dict__, "covered": u.covered}) for u in units],
    )
