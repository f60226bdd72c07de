"""Schemas of /api/v1/suppressions."""
from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class SuppressionIn(BaseModel):
    unit_id: int
    rule_id: str | None = Field(default=None, max_length=128)
    entity: str | None = Field(default=None, max_length=256)
    reason: str = Field(min_length=1, max_length=2000)
    expires_at: datetime | None = None


class SuppressionOut(BaseModel):
    id: int
    unit_id: int
    rule_id: str | None
    entity: str | None
    reason: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    active: bool
    hits: int
    unit_name: str = ""
    last_hit_at: datetime | None = None
    inherited: bool = Field(default=False, description="set by a unit above yours: it applies to your units, read-only")
