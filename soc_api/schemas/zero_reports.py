"""Schemas of /api/v1/zero-reports."""
from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class KeyPeriodIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    starts_on: date
    ends_on: date
    deadline_hour: int = Field(ge=0, le=23, description="Beijing hour of the daily deadline")
    unit_ids: list[int] = Field(min_length=1)


class KeyPeriodOut(BaseModel):
    id: int
    name: str
    declared_by: str
    starts_on: date
    ends_on: date
    deadline_hour: int
    active: bool
    unit_ids: list[int]


class ZeroReportIn(BaseModel):
    period_id: int
    unit_id: int
    has_incident: bool = False
    incident_ids: list[int] = []
    summary: str = Field(default="", max_length=20000)
    systems_down: str = Field(default="", max_length=5000)
    on_duty: str = Field(default="", max_length=200)


class ZeroReportOut(BaseModel):
    id: int
    period_id: int
    unit_id: int
    report_date: date
    has_incident: bool
    incident_ids: list[int]
    summary: str
    systems_down: str
    on_duty: str
    submitted_by: str
    submitted_at: datetime
    late: bool


class ZeroReportStatus(BaseModel):
    unit_id: int
    unit_name: str
    reported: bool
    missing: bool = Field(description="the deadline passed without a report")
    report: ZeroReportOut | None


class ZeroReportBoard(BaseModel):
    period: KeyPeriodOut
    date: date
    deadline: datetime
    reported: int
    not_reported: int
    units: list[ZeroReportStatus]
