"""Account commands: passwords (policy, history), disabling and enabling users, listing and ending sessions.

Each command audits in the caller's transaction; the caller commits.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from soc_core.audit import record_audit
from soc_core.clock import Clock, to_db
from soc_core.config import AuthSettings
from soc_core.errors import Refusal
from soc_core.login import SESSION, clear_failures
from soc_core.models import LoginToken, User
from soc_core.models_accounts import PasswordHistory
from soc_core.passwords import PasswordPolicy, password_problems
from soc_core.security import hash_password, verify_password


class AccountError(Refusal, ValueError):
    """An account change refused; the message is Chinese first and says what to do (422 through the API)."""


def policy_from(settings: AuthSettings) -> PasswordPolicy:
    return PasswordPolicy(settings.password_min_length, settings.password_min_classes, settings.password_history)


def check_password(policy: PasswordPolicy, password: str, username: str) -> None:
    problems = password_problems(policy, password, username)
    if problems:
        raise AccountError("；".join(problems))


def set_password(session: Session, clock: Clock, user: User, new_password: str, actor: str, policy: PasswordPolicy,
                 keep_session_id: int | None = None) -> None:
    """Change (actor is the user) or reset (actor is an admin) a password: policy and history checked, every
    other session of the user ended."""
    check_password(policy, new_password, user.username)
    earlier = [user.password_hash, *session.scalars(select(PasswordHistory.password_hash).where(
        PasswordHistory.user_id == user.id).order_by(PasswordHistory.id.desc()).limit(max(policy.history - 1, 0)))]
    if policy.history and any(verify_password(old, new_password) for old in earlier[:policy.history]):
        raise AccountError(f"不得与最近 {policy.history} 次口令相同 / must differ from the last {policy.history} passwords")
    session.add(PasswordHistory(user_id=user.id, password_hash=user.password_hash, changed_at=to_db(clock.now())))
    user.password_hash = hash_password(new_password)
    user.password_changed_at = to_db(clock.now())
    ended = end_sessions(session, clock, user, except_id=keep_session_id)
    action = "user.password_change" if actor == user.username else "user.password_reset"
    record_audit(session, clock, actor, action, "user", user.id, user.unit_id, sessions_ended=ended)


def set_active(session: Session, clock: Clock, user: User, active: bool, actor: str) -> None:
    """Disable (every session ends at once) or enable (its lockout is lifted) a user."""
    if user.username == actor and not active:
        raise AccountError("不能停用自己的账户 / you cannot disable your own account")
    user.active = active
    ended = 0
    if active:
        clear_failures(session, user.username)
    else:
        ended = end_sessions(session, clock, user)
    record_audit(session, clock, actor, "user.enable" if active else "user.disable", "user", user.id, user.unit_id,
                 sessions_ended=ended)


def live_sessions(session: Session, clock: Clock, user: User) -> list[LoginToken]:
    now = to_db(clock.now())
    return list(session.scalars(select(LoginToken).where(
        LoginToken.user_id == user.id, LoginToken.kind == SESSION, LoginToken.revoked_at.is_(None),
        LoginToken.expires_at > now).order_by(LoginToken.id.desc())))


def end_session(session: Session, clock: Clock, login: LoginToken, actor: str) -> None:
    if login.revoked_at is None:
        login.revoked_at = to_db(clock.now())
        record_audit(session, clock, actor, "auth.session_end", "user", login.user_id, login.user.unit_id, session_id=login.id)


def end_sessions(session: Session, clock: Clock, user: User, except_id: int | None = None) -> int:
    ended = 0
    for login in session.scalars(select(LoginToken).where(LoginToken.user_id == user.id, LoginToken.revoked_at.is_(None))):
        if login.id != except_id:
            login.revoked_at = to_db(clock.now())
            ended += 1
    return ended
