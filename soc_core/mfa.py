"""The second factor: TOTP (RFC 6238, pyotp) with one-time recovery codes (hashed at rest).

A code is accepted within ±1 time step (30 s) of the injected clock and only once: the step it used is
remembered, so a code seen over a shoulder cannot be replayed. Recovery codes are 10 random groups,
each good once.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass

import pyotp
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from soc_core.audit import record_audit
from soc_core.clock import Clock, to_db
from soc_core.errors import Refusal
from soc_core.models import User
from soc_core.models_accounts import MfaEnrolment, RecoveryCode
from soc_core.security import hash_token

RECOVERY_CODES = 10
_STEP = 30


class MfaError(Refusal, ValueError):
    """An MFA request that cannot be done as asked; the message is Chinese first (422 through the API)."""


@dataclass(frozen=True)
class Enrolment:
    secret: str  # base32, for typing into an authenticator by hand
    otpauth_uri: str  # the string to show as a QR code


def start_enrolment(session: Session, clock: Clock, user: User, issuer: str) -> Enrolment:
    """A new secret for ``user``; it counts only once confirmed with a code (a confirmed one is replaced then)."""
    secret = pyotp.random_base32()
    enrolment = session.get(MfaEnrolment, user.id)
    if enrolment is not None and enrolment.confirmed_at is not None:
        raise MfaError("已绑定动态口令；如需更换，请由系统管理员重置 / already enrolled: ask a system admin to reset it")
    if enrolment is None:
        enrolment = MfaEnrolment(user_id=user.id, secret=secret, created_at=to_db(clock.now()))
        session.add(enrolment)
    enrolment.secret, enrolment.created_at, enrolment.last_step = secret, to_db(clock.now()), 0
    record_audit(session, clock, user.username, "mfa.enrol_start", "user", user.id, user.unit_id)
    return Enrolment(secret, pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=issuer))


def confirm_enrolment(session: Session, clock: Clock, user: User, code: str) -> list[str]:
    """Prove the secret with a code; returns the new recovery codes (shown once)."""
    enrolment = session.get(MfaEnrolment, user.id)
    if enrolment is None:
        raise MfaError("请先获取动态口令密钥 / start the enrolment first")
    if enrolment.confirmed_at is not None:
        raise MfaError("已绑定动态口令 / already enrolled")
    if not _take_totp(enrolment, clock, code):
        raise MfaError("动态口令错误或已使用 / wrong or reused code")
    enrolment.confirmed_at = to_db(clock.now())
    codes = _new_recovery_codes(session, user)
    record_audit(session, clock, user.username, "mfa.enrolled", "user", user.id, user.unit_id)
    return codes


def verify_second_factor(session: Session, clock: Clock, user: User, code: str) -> bool:
    """True for a fresh TOTP code or an unused recovery code (which is then spent)."""
    enrolment = session.get(MfaEnrolment, user.id)
    if enrolment is None or enrolment.confirmed_at is None:
        return False
    code = code.strip().replace(" ", "")
    if code.isascii() and code.isdigit() and len(code) == 6:
        return _take_totp(enrolment, clock, code)
    recovery = session.scalar(select(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.code_hash == hash_token(code.lower()), RecoveryCode.used_at.is_(None)))
    if recovery is None:
        return False
    recovery.used_at = to_db(clock.now())
    record_audit(session, clock, user.username, "mfa.recovery_code_used", "user", user.id, user.unit_id,
                 left=remaining_recovery_codes(session, user))
    return True


def remaining_recovery_codes(session: Session, user: User) -> int:
    return len(session.scalars(select(RecoveryCode.id).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))).all())


def regenerate_recovery_codes(session: Session, clock: Clock, user: User) -> list[str]:
    if not is_enrolled(session, user):
        raise MfaError("尚未绑定动态口令 / not enrolled")
    codes = _new_recovery_codes(session, user)
    record_audit(session, clock, user.username, "mfa.recovery_codes_renewed", "user", user.id, user.unit_id)
    return codes


def reset_mfa(session: Session, clock: Clock, user: User, actor: str) -> None:
    """Forget a user's TOTP secret and recovery codes (a lost phone); they enrol again at the next login."""
    session.execute(delete(MfaEnrolment).where(MfaEnrolment.user_id == user.id))
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    record_audit(session, clock, actor, "mfa.reset", "user", user.id, user.unit_id)


def is_enrolled(session: Session, user: User) -> bool:
    enrolment = session.get(MfaEnrolment, user.id)
    return enrolment is not None and enrolment.confirmed_at is not None


def current_code(secret: str, clock: Clock) -> str:
    """The code an authenticator shows now (for the demo and tests)."""
    return pyotp.TOTP(secret).at(clock.now())


def _take_totp(enrolment: MfaEnrolment, clock: Clock, code: str) -> bool:
    code = code.strip()
    if not (code.isascii() and code.isdigit() and len(code) == 6):
        return False
    totp = pyotp.TOTP(enrolment.secret)
    now = int(clock.now().timestamp())
    for offset in (0, -1, 1):
        step = now // _STEP + offset
        if step > enrolment.last_step and secrets.compare_digest(totp.at(step * _STEP), code):
            enrolment.last_step = step
            return True
    return False


def _new_recovery_codes(session: Session, user: User) -> list[str]:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [f"{secrets.token_hex(4)}-{secrets.token_hex(4)}" for _ in range(RECOVERY_CODES)]
    session.add_all(RecoveryCode(user_id=user.id, code_hash=hash_token(code), used_at=None) for code in codes)
    return codes
