"""Schemas of an incident's reports (初报/续报/终报)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from incidents.states import OperatorType


class ReportOut(BaseModel):
    id: int
    kind: str
    kind_label: str
    seq: int
    fields: dict[str, Any]
    due_at: datetime | None
    late: bool
    created_by: str
    created_at: datetime


class ReportFieldsIn(BaseModel):
    operator_type: OperatorType | None = Field(default=None, description="decides the first-report deadline (1/2/4 h)")
    fields: dict[str, str] = Field(default_factory=dict, description="system, location, impact, measures, trend, cause, leads, ...")


class ReportIn(BaseModel):
    kind: Literal["initial", "followup", "final"]
