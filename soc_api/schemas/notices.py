"""Schemas of /api/v1/notices."""
from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field


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
