"""Schemas of /api/v1/incidents."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from incidents.grading import Grade, Source
from incidents.states import IncidentStatus, OperatorType
from soc_api.schemas.reports import ReportOut


class AlertOut(BaseModel):
    id: str
    rule_id: str
    rule_title: str = Field(description="the rule's Chinese name when it has one, else its title")
    rule_title_en: str = Field(description="the rule's (English) Sigma title")
    level: str
    event_id: str
    timestamp: datetime
    summary: dict[str, Any]


class IncidentOut(BaseModel):
    id: int
    title: str = Field(description="Chinese first: a detected incident carries its rule's Chinese name (title_zh)")
    title_en: str | None = Field(default=None, description="English title (the Sigma rule's title) when there is one")
    unit_id: int
    unit_name: str
    grade: Grade
    grade_label: str = Field(description="特别重大 / 重大 / 较大 / 一般")
    grade_basis: str
    category: str
    source: Source
    status: IncidentStatus
    rule_id: str | None
    alert_count: int
    first_seen_at: datetime
    last_seen_at: datetime
    created_at: datetime
    handle_by: datetime = Field(description="handling deadline, ISO 8601 UTC")
    seconds_left: int = Field(description="seconds until handle_by; negative when overdue")
    overdue: bool
    category_label: str = ""
    status_label: str = ""
    key_entity: str = ""
    unit_count: int = 1
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    overdue_at: datetime | None = Field(default=None, description="when the deadline job marked the breach")
    merged_into_id: int | None = None
    playbook: str | None = None
    drill_id: int | None = Field(default=None, description="演练: the exercise whose traffic raised it (no reporting deadlines, "
                                 "not in compliance figures)")


class TimelineOut(BaseModel):
    at: datetime
    actor: str
    kind: str
    text: str


class RegradeRequestOut(BaseModel):
    id: int
    grade: Grade
    reason: str
    requested_by: str
    requested_at: datetime
    state: Literal["pending", "accepted", "declined"]


class EvidenceOut(BaseModel):
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime


class LinkedEventOut(BaseModel):
    event_id: str
    note: str
    added_by: str
    event: dict[str, Any] | None = Field(description="the event from the EventStore, when it is still there")


class TaskOut(BaseModel):
    id: int
    name: str
    owner_role: str
    due_at: datetime
    done_at: datetime | None
    done_by: str | None
    escalated_at: datetime | None = Field(default=None, description="when the task, past due and not done, escalated")
    escalated_to: str | None = Field(default=None, description="the unit it escalated to")


class IncidentDetail(IncidentOut):
    description: str
    alerts: list[AlertOut]
    timeline: list[TimelineOut] = []
    evidence: list[EvidenceOut] = []
    linked_events: list[LinkedEventOut] = []
    tasks: list[TaskOut] = []
    regrade_requests: list[RegradeRequestOut] = Field(default=[], description="schools' requests for another grade, oldest first")
    reports: list[ReportOut] = []
    report_fields: dict[str, Any] = {}
    operator_type: OperatorType = OperatorType.OTHER


class StatusChange(BaseModel):
    status: Literal["acknowledged", "investigating", "contained", "resolved", "closed"]
    note: str = Field(default="", max_length=5000)
    override_reason: str = Field(default="", max_length=2000,
                                 description="closing a 重大 or worse incident with playbook tasks undone: why (audited, shown)")


class CommentIn(BaseModel):
    text: str = Field(min_length=1, max_length=20000)


class EventLinkIn(BaseModel):
    event_id: str = Field(min_length=1, max_length=128)
    note: str = Field(default="", max_length=2000)


class MergeIn(BaseModel):
    incident_ids: list[int] = Field(min_length=1, max_length=100, description="incidents to fold into this one")


class SplitIn(BaseModel):
    alert_ids: list[str] = Field(min_length=1, max_length=10000)
    title: str | None = Field(default=None, max_length=300)


class GradeIn(BaseModel):
    grade: Grade
    reason: str = Field(min_length=1, max_length=2000)


class RegradeRequestIn(BaseModel):
    grade: Grade = Field(description="the grade the school asks for")
    reason: str = Field(min_length=1, max_length=2000)


class RegradeDecisionIn(BaseModel):
    accept: bool
    note: str = Field(default="", max_length=2000)


class IncidentPage(BaseModel):
    total: int = Field(description="incidents matching the filters, on every page")
    items: list[IncidentOut]
    next_cursor: str | None = Field(default=None, description="pass as `after` for the next page; null on the last page")
    escalated_ids: list[int] = Field(default=[], description="incidents of this page that have escalated up the tree")


class IncidentCreate(BaseModel):
    title: str = Field(min_length=1, max_length=300, description="Chinese title, shown first")
    title_en: str | None = Field(default=None, max_length=300, description="optional English title, shown second")
    unit_id: int
    grade: Grade
    source: Source = Source.SELF_REPORTED
    description: str = Field(default="", max_length=20000)


