"""Logging in: throttling and lockout, the password step, the TOTP step, sessions and their idle timeout.

GB/T 22239-2019 L3 §8.1.4.1 b (登录失败处理: 限制非法登录次数、登录连接超时自动退出) and c/d (two factors,
one cryptographic). Failures are counted per account name and per source address; at the limit the name
(or address) is locked for ``lockout_minutes`` and even the right password is refused until then. Unknown
names are counted, locked and timed exactly like known ones, so neither the answer nor its time tells
whether a name exists.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from soc_core.audit import record_audit
from soc_core.clock import Clock, as_utc, to_db
from soc_core.config import AuthSettings
from soc_core.errors import Refusal
from soc_core.models import LoginToken, User
from soc_core.models_accounts import LoginThrottle, MfaEnrolment
from soc_core.security import hash_password, hash_token, needs_rehash, new_token, verify_dummy_password, verify_password

SESSION = "session"
MFA_CHALLENGE = "mfa"
# last_used_at is written at most this often, so reading pages does not write the database every time.
_TOUCH_EVERY = timedelta(seconds=60)


class LoginRefused(Refusal):
    """A login step refused; ``status`` is the HTTP status (401 wrong credentials, 423 locked), the message Chinese first.
    The auth routes answer it themselves, to add ``Retry-After`` (locked) or ``WWW-Authenticate`` (401)."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = self.status_code = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class PasswordAccepted:
    """The password step passed: either a session (no second factor needed) or an MFA challenge."""

    user: User
    token: str
    kind: str  # SESSION or MFA_CHALLENGE
    enrolled: bool  # for a challenge: True = answer with a TOTP code, False = enrol first
    expires_in: int


def _user_key(username: str) -> str:
    return f"user:{username[:64]}"


def _address_key(address: str) -> str:
    return f"addr:{address[:64]}"


def _locked_until(session: Session, clock: Clock, key: str) -> datetime | None:
    row = session.get(LoginThrottle, key)
    if row is None or row.locked_until is None or as_utc(row.locked_until) <= clock.now():
        return None
    return as_utc(row.locked_until)


def _minutes_left(clock: Clock, until: datetime) -> int:
    return max(1, int(-(-(until - clock.now()).total_seconds() // 60)))


def check_not_locked(session: Session, clock: Clock, username: str, address: str) -> None:
    """Refuse (423) while the account name or the source address is locked; audited."""
    for key, what in ((_user_key(username), "账户"), (_address_key(address), "来源地址")):
        until = _locked_until(session, clock, key)
        if until is not None:
            minutes = _minutes_left(clock, until)
            record_audit(session, clock, username[:64] or "-", "auth.refused_locked", "user", username[:64] or "-",
                         key=key, address=address, locked_until=until.isoformat())
            session.commit()
            raise LoginRefused(423, f"登录失败次数过多，{what}已锁定，请 {minutes} 分钟后再试 / too many failed logins: "
                               f"{'account' if what == '账户' else 'address'} locked for {minutes} more minute(s)",
                               retry_after=int((until - clock.now()).total_seconds()) + 1)


def record_failure(session: Session, clock: Clock, settings: AuthSettings, username: str, address: str, step: str) -> None:
    """Count one failed login against the name and the address; lock either at its limit. Commits."""
    now = clock.now()
    record_audit(session, clock, username[:64] or "-", "auth.failed", "user", username[:64] or "-", address=address, step=step)
    for key, limit in ((_user_key(username), settings.max_failures), (_address_key(address), settings.address_max_failures)):
        row = session.get(LoginThrottle, key)
        if row is None:
            row = LoginThrottle(key=key, failures=0, window_start=to_db(now))
            session.add(row)
        if as_utc(row.window_start) + timedelta(minutes=settings.failure_window_minutes) <= now:
            row.failures, row.window_start, row.locked_until = 0, to_db(now), None
        row.failures += 1
        if row.failures >= limit and row.locked_until is None:
            row.locked_until = to_db(now + timedelta(minutes=settings.lockout_minutes))
            record_audit(session, clock, "system", "auth.locked", "user", username[:64] or "-", key=key,
                         failures=row.failures, minutes=settings.lockout_minutes, address=address)
    session.commit()


def clear_failures(session: Session, username: str) -> None:
    """A successful login (or an admin unlocking) forgets the name's failures; the address's stay counted."""
    row = session.get(LoginThrottle, _user_key(username))
    if row is not None:
        session.delete(row)


def unlock(session: Session, clock: Clock, user: User, actor: str) -> None:
    clear_failures(session, user.username)
    record_audit(session, clock, actor, "user.unlock", "user", user.id, user.unit_id)


_WRONG = "用户名或密码错误 / wrong username or password"


def password_step(session: Session, clock: Clock, settings: AuthSettings, session_hours: float,
                  username: str, password: str, address: str, user_agent: str = "") -> PasswordAccepted:
    """Check the password; answer a session, or an MFA challenge when the user needs a second factor."""
    check_not_locked(session, clock, username, address)
    user = session.scalar(select(User).where(User.username == username)) if username else None
    if user is None:
        verify_dummy_password(password)
        ok = False
    else:
        ok = verify_password(user.password_hash, password)
    if not ok or user is None or not user.active:
        record_failure(session, clock, settings, username, address, "password")
        raise LoginRefused(401, _WRONG)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    if settings.require_mfa and not user.mfa_exempt or _enrolled(session, user):
        lifetime = timedelta(minutes=settings.mfa_challenge_minutes)
        token = _issue(session, clock, user, lifetime, MFA_CHALLENGE, address, user_agent)
        record_audit(session, clock, user.username, "auth.password_ok", "user", user.id, user.unit_id, address=address)
        session.commit()
        return PasswordAccepted(user, token, MFA_CHALLENGE, _enrolled(session, user), int(lifetime.total_seconds()))
    return open_session(session, clock, session_hours, user, address, user_agent)


def open_session(session: Session, clock: Clock, session_hours: float, user: User, address: str,
                 user_agent: str = "") -> PasswordAccepted:
    """All factors passed: forget the failures and issue a session token. Commits."""
    clear_failures(session, user.username)
    lifetime = timedelta(hours=session_hours)
    token = _issue(session, clock, user, lifetime, SESSION, address, user_agent)
    record_audit(session, clock, user.username, "auth.login", "user", user.id, user.unit_id, address=address)
    session.commit()
    return PasswordAccepted(user, token, SESSION, True, int(lifetime.total_seconds()))


def _enrolled(session: Session, user: User) -> bool:
    enrolment = session.get(MfaEnrolment, user.id)
    return enrolment is not None and enrolment.confirmed_at is not None


def _issue(session: Session, clock: Clock, user: User, lifetime: timedelta, kind: str, address: str, user_agent: str) -> str:
    token = new_token()
    now = to_db(clock.now())
    session.add(LoginToken(token_hash=hash_token(token), user_id=user.id, created_at=now, expires_at=to_db(clock.now() + lifetime),
                           kind=kind, last_used_at=now, address=address[:64], user_agent=user_agent[:200]))
    return token


def challenge_token(session: Session, clock: Clock, token: str) -> LoginToken | None:
    """An unexpired, unused MFA challenge token of an active user."""
    login = session.scalar(select(LoginToken).where(LoginToken.token_hash == hash_token(token), LoginToken.kind == MFA_CHALLENGE))
    if login is None or login.revoked_at is not None or as_utc(login.expires_at) <= clock.now() or not login.user.active:
        return None
    return login


def live_session(session: Session, clock: Clock, token: str, idle_minutes: float) -> LoginToken | None:
    """The live session of a token (its user active); an idle session ends (revoked) here. May write last_used_at."""
    login = session.scalar(select(LoginToken).where(LoginToken.token_hash == hash_token(token)))
    if login is None or login.kind != SESSION or login.revoked_at is not None:
        return None
    now = clock.now()
    if as_utc(login.expires_at) <= now or not login.user.active:
        return None
    last = as_utc(login.last_used_at or login.created_at)
    if idle_minutes and now - last > timedelta(minutes=idle_minutes):
        login.revoked_at = to_db(now)
        record_audit(session, clock, "system", "auth.idle_timeout", "user", login.user_id, login.user.unit_id, session_id=login.id)
        session.commit()
        return None
    if now - last >= _TOUCH_EVERY:
        login.last_used_at = to_db(now)
        session.commit()
    return login
