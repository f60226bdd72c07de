"""Schemas of /api/v1/sensors and coverage."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class SensorOut(BaseModel):
    sensor_id: int
    name: str
    unit_id: int
    unit_name: str
    revoked: bool
    reporting: bool = Field(description="a heartbeat within compliance.heartbeat_window_minutes")
    status: Literal["online", "stale", "offline", "revoked"] = Field(
        description="online: last heartbeat at most 2 × compliance.sensor_heartbeat_seconds old; stale: older but within "
                    "the window (still reporting); offline: beyond the window or never")
    last_heartbeat_at: datetime | None
    last_seen_at: datetime | None = Field(description="last heartbeat or event batch")
    clock_skew_seconds: float | None = Field(description="sensor clock minus collector clock at the last heartbeat")
    version: str
    counters: dict[str, Any]
    events_accepted: int
    events_rejected: int


class SensorCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[\w.\-]+$")
    unit_id: int


class SensorRegistered(BaseModel):
    sensor: SensorOut
    token: str = Field(description="shown once; only its hash is stored")


class SensorToken(BaseModel):
    token: str = Field(description="shown once; only its hash is stored")


class UnitCoverageOut(BaseModel):
    unit_id: int
    unit_name: str
    unit_kind: str
    sensors: int
    reporting: int
    last_heartbeat_at: datetime | None
    covered: bool


class CoverageOut(BaseModel):
    window_minutes: float
    units_total: int
    units_covered: int
    units: list[UnitCoverageOut]
