"""Schemas of /api/v1/health."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    time: datetime
    case_store: str
    event_store: dict[str, Any]
    components: dict[str, dict[str, Any]]
