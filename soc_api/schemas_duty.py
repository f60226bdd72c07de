"""Request and response bodies of the duty, notice and zero-report API."""
from __future__ import annotations

from datetime import date, datetime
from typing import Literal

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


class NoticeIn(BaseModel):
    target_unit_id: int
    kind: Literal["vulnerability", "incident", "hazard", "warning"]
    title: str = Field(min_length=1, max_length=300)
    description: str = Field(default="", max_length=20000)
    assets: str = Field(default="", max_length=5000)
    required_actions: str = Field(default="", max_length=5000)
    due_at: datetime | None = Field(default=None, description="default: now + incidents.handle_hours_notice (60 h)")
    incident_id: int | None = None


class NoticeEntryOut(BaseModel):
    at: datetime
    actor: str
    action: str
    text: str


class EvidenceRef(BaseModel):
    filename: str
    size: int
    sha256: str


class RectificationOut(BaseModel):
    id: int
    measures: str
    result: str
    responsible: str
    submitted_by: str
    submitted_at: datetime
    review: str | None
    review_comment: str
    reviewed_by: str | None
    evidence: list[EvidenceRef]


class NoticeOut(BaseModel):
    id: int
    no: str
    issuer_unit_id: int
    issuer_name: str
    target_unit_id: int
    target_name: str
    kind: str
    kind_label: str
    title: str
    description: str
    assets: str
    required_actions: str
    issued_by: str
    issued_at: datetime
    due_at: datetime
    status: str
    status_label: str
    overdue: bool
    overdue_at: datetime | None
    escalated_to_unit_id: int | None
    closed_at: datetime | None


class NoticeDetail(NoticeOut):
    history: list[NoticeEntryOut]
    rectifications: list[RectificationOut]


class ReviewIn(BaseModel):
    accept: bool
    comment: str = Field(default="", max_length=5000)


class SummonsIn(BaseModel):
    head: str = Field(min_length=1, max_length=100)
    reason: str = Field(min_length=1, max_length=5000)
    held_at: datetime
    commitments: str = Field(default="", max_length=5000)
    follow_up_due: date | None = None


class SummonsOut(BaseModel):
    id: int
    unit_id: int
    notice_id: int | None
    head: str
    reason: str
    held_at: datetime
    commitments: str
    follow_up_due: date | None
    recorded_by: str


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
