"""Schemas of /api/v1/rules."""
from __future__ import annotations

from pydantic import BaseModel, Field


class Switch(BaseModel):
    enabled: bool


class DryRunRequest(BaseModel):
    rule: str = Field(description="One or more Sigma rule documents (YAML)")
    events: str = Field(description="Events as a JSON array or NDJSON lines")
    pipeline: str = "ecs"
