"""The sensor registry: revoke a sensor, record its heartbeats. (Registering and rotating a token
are in soc_core.repositories.)"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.orm import Session

from soc_core.audit import record_audit
from soc_core.clock import Clock, to_db
from soc_core.models import Sensor
from soc_core.models_sensors import SensorStatus
from soc_core.repositories import OrgError


def revoke_sensor(session: Session, clock: Clock, sensor: Sensor, actor: str) -> None:
    """The sensor's token stops working at once; the sensor and its history stay."""
    if sensor.revoked_at is not None:
        raise OrgError(f"sensor {sensor.name!r} is revoked already")
    sensor.revoked_at = to_db(clock.now())
    record_audit(session, clock, actor, "sensor.revoke", "sensor", sensor.id, sensor.unit_id, name=sensor.name)


def record_heartbeat(
    session: Session, clock: Clock, sensor: Sensor, sensor_time: datetime, version: str, counters: Mapping[str, int],
) -> SensorStatus:
    """Keep the latest heartbeat of a sensor; it is also a sign of life (``Sensor.last_seen_at``)."""
    now = to_db(clock.now())
    status = session.get(SensorStatus, sensor.id)
    if status is None:
        status = SensorStatus(sensor_id=sensor.id, heartbeats=0)
        session.add(status)
    status.last_heartbeat_at = now
    status.sensor_time = to_db(sensor_time)
    status.version = version
    status.counters = dict(counters)
    status.heartbeats += 1
    sensor.last_seen_at = now
    return status
