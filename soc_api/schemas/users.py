"""Schemas of /api/v1/users."""
from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from soc_core.org import Role


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    role_label: str
    unit_id: int
    active: bool
    locked_until: datetime | None = Field(description="set while failed logins keep the account locked")
    mfa_enrolled: bool
    mfa_exempt: bool = Field(description="demo accounts only: no second factor")
    created_at: datetime
    password_changed_at: datetime | None


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=64, description="letters, digits and . _ - @")
    display_name: str = Field(default="", max_length=100)
    password: str = Field(min_length=1, max_length=256)
    role: Role
    unit_id: int = Field(ge=1, le=2**63 - 1)


class PasswordResetIn(BaseModel):
    new_password: str = Field(min_length=1, max_length=256)
