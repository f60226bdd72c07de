"""Account security: login throttling, TOTP enrolments, recovery codes, password history."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from soc_core.models import Base


class LoginThrottle(Base):
    """Failed logins of one account name ("user:NAME") or one source address ("addr:IP") within the window."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_start: Mapped[datetime]
    locked_until: Mapped[datetime | None]


class MfaEnrolment(Base):
    """A user's TOTP secret (RFC 6238); confirmed once the user proved a code from it."""

    __tablename__ = "mfa_enrolments"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    # The shared secret must be readable to check codes (it cannot be hashed); the case store is the vault.
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    last_step: Mapped[int] = mapped_column(default=0)  # the last time step used: a code is good once


class RecoveryCode(Base):
    """A one-time recovery code; only its hash is stored."""

    __tablename__ = "mfa_recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None]


class PasswordHistory(Base):
    """A user's earlier password hashes, so a change cannot reuse one of the last N."""

    __tablename__ = "password_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    changed_at: Mapped[datetime]
