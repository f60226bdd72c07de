"""Schemas of /api/v1/compliance and findings."""
from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class FindingNotice(BaseModel):
    due_at: datetime | None = Field(default=None, description="rectification due date; default: the notice service's")
    required_actions: str = Field(default="", max_length=5000)
