"""Schemas of /api/v1/auth."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds until the token expires")


class UnitRef(BaseModel):
    id: int
    name: str
    kind: str = Field(description="province, city, county or school")
    code: str | None = None


class ActionOut(BaseModel):
    action: str = Field(description="the name routes declare (x-edusoc-action), e.g. work_incident")
    label: str = Field(description="Chinese name first, English second")

