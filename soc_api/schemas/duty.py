"""Schemas of /api/v1/duty."""
from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class ShiftIn(BaseModel):
    unit_id: int
    team: str = Field(min_length=1, max_length=64)
    username: str
    starts_at: datetime
    ends_at: datetime
    note: str = Field(default="", max_length=2000)


class ShiftOut(BaseModel):
    id: int
    unit_id: int
    unit_name: str
    team: str
    username: str
    display_name: str
    starts_at: datetime
    ends_at: datetime
    note: str


class HandoverIn(BaseModel):
    unit_id: int
    team: str = Field(default="值班组", max_length=64)
    to_user: str = Field(default="", max_length=64)
    text: str = Field(min_length=1, max_length=20000)


class HandoverOut(BaseModel):
    id: int
    unit_id: int
    team: str
    at: datetime
    from_user: str
    to_user: str
    text: str
    open_incident_ids: list[int]


class ResponseTimesOut(BaseModel):
    since: datetime
    incidents: int
    acknowledged: int
    resolved: int
    mtta_seconds: float | None = Field(description="mean time to acknowledge")
    mttr_seconds: float | None = Field(description="mean time to resolve")
    unacknowledged: int
    overdue: int


class DutyBoard(BaseModel):
    now: datetime
    on_duty: list[ShiftOut]
    upcoming: list[ShiftOut]
    response_times: ResponseTimesOut
    overdue_by_unit: dict[str, int] = Field(description="unit name -> incidents whose deadline was breached")
    unacknowledged_incident_ids: list[int]
    handovers: list[HandoverOut]


