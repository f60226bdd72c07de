"""What sensors report about themselves: the last heartbeat, the version and the counters.

One row per sensor, replaced at each heartbeat (a heartbeat is telemetry, not a change of state:
it is not written to the audit log; registering and revoking a sensor are).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from soc_core.models import Base, Sensor


class SensorStatus(Base):
    __tablename__ = "sensor_status"

    sensor_id: Mapped[int] = mapped_column(ForeignKey("sensors.id"), primary_key=True)
    last_heartbeat_at: Mapped[datetime]  # collector's clock, naive UTC
    sensor_time: Mapped[datetime]        # the sensor's own clock at that heartbeat, naive UTC
    version: Mapped[str] = mapped_column(String(64), default="")
    # packets, drops, events, spool_bytes, spool_batches, errors, ... as the sensor counts them
    counters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    heartbeats: Mapped[int] = mapped_column(default=0)

    sensor: Mapped[Sensor] = relationship()
