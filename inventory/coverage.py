"""Monitoring coverage, raw figures per unit: a unit is covered when one of its sensors (not
revoked) sent a heartbeat within the window. The education plans ask for 100 % of schools
(DESIGN.md); the window is a setting (``compliance.heartbeat_window_minutes``)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from soc_core.clock import as_utc
from soc_core.models import Sensor, Unit
from soc_core.models_sensors import SensorStatus
from soc_core.org import UnitKind
from soc_core.permissions import within


ONLINE, STALE, OFFLINE, REVOKED = "online", "stale", "offline", "revoked"
MISSED_BEATS_ONLINE = 2  # one heartbeat lost on the way does not make a sensor stale


@dataclass(frozen=True)
class SensorHealth:
    sensor_id: int
    name: str
    unit_id: int
    revoked: bool
    reporting: bool                    # heartbeat within the window
    last_heartbeat_at: datetime | None  # UTC
    last_seen_at: datetime | None       # last heartbeat or batch, UTC
    clock_skew_seconds: float | None   # sensor clock minus collector clock at the last heartbeat
    version: str
    counters: dict[str, Any]
    events_accepted: int
    events_rejected: int
    status: str = ONLINE  # online | stale (late, still reporting) | offline (beyond the window, or never) | revoked


@dataclass(frozen=True)
class UnitCoverage:
    unit_id: int
    unit_name: str
    unit_kind: str
    sensors: int    # not revoked
    reporting: int  # of those, with a heartbeat within the window
    last_heartbeat_at: datetime | None

    @property
    def covered(self) -> bool:
        return self.reporting > 0


def health_of(sensor: Sensor, status: SensorStatus | None, now: datetime, window: timedelta,
              interval: timedelta | None = None) -> SensorHealth:
    """One sensor's health at ``now``: reporting when not revoked and its last heartbeat is within ``window``;
    online while that heartbeat is at most two ``interval``s old (default: whenever reporting)."""
    beat = as_utc(status.last_heartbeat_at) if status else None
    reporting = sensor.revoked_at is None and beat is not None and now - beat <= window
    if sensor.revoked_at is not None:
        state = REVOKED
    elif not reporting:
        state = OFFLINE
    else:
        state = ONLINE if interval is None or now - beat <= MISSED_BEATS_ONLINE * interval else STALE  # type: ignore[operator]
    return SensorHealth(
        sensor_id=sensor.id, name=sensor.name, unit_id=sensor.unit_id, revoked=sensor.revoked_at is not None,
        reporting=reporting, status=state,
        last_heartbeat_at=beat, last_seen_at=as_utc(sensor.last_seen_at) if sensor.last_seen_at else None,
        clock_skew_seconds=(status.sensor_time - status.last_heartbeat_at).total_seconds() if status else None,
        version=status.version if status else "", counters=dict(status.counters) if status else {},
        events_accepted=sensor.events_accepted or 0, events_rejected=sensor.events_rejected or 0,
    )


def sensor_health(session: Session, now: datetime, window: timedelta, scope: Unit | None = None,
                  interval: timedelta | None = None) -> list[SensorHealth]:
    """Every sensor (revoked ones too) in ``scope``'s subtree (everywhere when None), by unit then name."""
    query = (select(Sensor, SensorStatus).join(Unit, Sensor.unit_id == Unit.id)
             .outerjoin(SensorStatus, SensorStatus.sensor_id == Sensor.id).order_by(Unit.path, Sensor.name))
    if scope is not None:
        query = query.where(within(Unit.path, scope))
    return [health_of(sensor, status, now, window, interval) for sensor, status in session.execute(query)]


def unit_coverage(
    session: Session, now: datetime, window: timedelta, scope: Unit | None = None,
    kinds: tuple[str, ...] = (UnitKind.SCHOOL.value,),
) -> list[UnitCoverage]:
    """Coverage of every unit of ``kinds`` (schools by default) in ``scope``'s subtree, by path."""
    units = select(Unit).where(Unit.kind.in_(kinds)).order_by(Unit.path)
    if scope is not None:
        units = units.where(within(Unit.path, scope))
    by_unit: dict[int, list[SensorHealth]] = {}
    for sensor in sensor_health(session, now, window, scope):
        if not sensor.revoked:
            by_unit.setdefault(sensor.unit_id, []).append(sensor)
    coverage = []
    for unit in session.scalars(units):
        sensors = by_unit.get(unit.id, [])
        beats = [s.last_heartbeat_at for s in sensors if s.last_heartbeat_at is not None]
        coverage.append(UnitCoverage(unit.id, unit.name, unit.kind, len(sensors), sum(s.reporting for s in sensors),
                                     max(beats) if beats else None))
    return coverage
