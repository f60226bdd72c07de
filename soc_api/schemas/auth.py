"""Schemas of /api/v1/auth: the two login steps, enrolment, who I am, my sessions and password."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class UnitRef(BaseModel):
    id: int
    name: str
    kind: str = Field(description="province, city, county or school")
    code: str | None = None


class ActionOut(BaseModel):
    action: str = Field(description="the name routes declare (x-edusoc-action), e.g. work_incident")
    label: str = Field(description="Chinese name first, English second")


class LoginOut(BaseModel):
    status: Literal["ok", "mfa_required", "mfa_enrolment_required"] = Field(
        description="ok: access_token is the bearer token; otherwise send mfa_token to /auth/mfa (or enrol first)")
    access_token: str | None = None
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds until access_token (or mfa_token) expires")
    mfa_token: str | None = None


class MfaIn(BaseModel):
    mfa_token: str = Field(min_length=1, max_length=128)
    code: str = Field(min_length=1, max_length=32, description="the 6-digit TOTP code, or a recovery code")


class EnrolmentIn(BaseModel):
    mfa_token: str = Field(min_length=1, max_length=128)


class EnrolmentOut(BaseModel):
    secret: str = Field(description="base32 secret, to type into an authenticator app by hand")
    otpauth_uri: str = Field(description="otpauth:// URI: show it as a QR code")


class EnrolledOut(LoginOut):
    recovery_codes: list[str] = Field(description="one-time recovery codes, shown this once only")


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str]


class MeOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    role_label: str = Field(description="the role's Chinese name")
    unit_id: int
    unit: UnitRef
    unit_path: list[str] = Field(description="unit names from the top of the org tree down to the user's own unit")
    actions: list[ActionOut] = Field(description="every action the permission table grants the user's role (soc_core.permissions)")
    mfa_enrolled: bool
    recovery_codes_left: int
    password_changed_at: datetime | None


class PasswordChangeIn(BaseModel):
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


class SessionOut(BaseModel):
    id: int
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime
    address: str
    user_agent: str
    current: bool = Field(description="the session this request came with")
