"""Schemas of /api/v1/audit."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target_type: str
    target_id: str
    unit_id: int | None
    detail: dict[str, Any]
    hash: str | None


class AuditPage(BaseModel):
    total: int
    entries: list[AuditEntryOut]


class ChainBreakOut(BaseModel):
    entry_id: int
    reason: str


class ChainOut(BaseModel):
    ok: bool
    checked: int = Field(description="entries whose hash was recomputed")
    unchained: int = Field(description="entries written before the chain was introduced")
    first_id: int | None
    last_id: int | None
    breaks: list[ChainBreakOut] = Field(description="each entry that was edited, or follows a deleted or edited one")
