"""/api/v1/users: administering users (system admins): create, disable/enable, unlock, reset password or
second factor, list and end a user's sessions. Every change is audited; a disabled user's tokens stop at once."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response
from sqlalchemy import select

from soc_api.account_views import session_out
from soc_api.auth import Context, CurrentPrincipal, DbSession, Principal, require
from soc_api.schemas.auth import SessionOut
from soc_api.schemas.users import PasswordResetIn, UserIn, UserOut
from soc_core.accounts import end_session, end_sessions, live_sessions, policy_from, set_active, set_password
from soc_core.audit import record_audit
from soc_core.clock import as_utc, as_utc_or_none
from soc_core.errors import Location, Refusal
from soc_core.login import unlock
from soc_core.mfa import is_enrolled, reset_mfa
from soc_core.models import LoginToken, Unit, User
from soc_core.models_accounts import LoginThrottle
from soc_core.org import Role
from soc_core.permissions import Action
from soc_core.repositories import OrgError, create_user

router = APIRouter(prefix="/api/v1/users", tags=["users"])
UserId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _user(session: DbSession, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise HTTPException(404, f"用户 {user_id} 不存在 / user not found")
    return user


def user_out(session: DbSession, context: Context, user: User) -> UserOut:
    throttle = session.get(LoginThrottle, f"user:{user.username}")
    locked = as_utc(throttle.locked_until) if throttle is not None and throttle.locked_until is not None else None
    return UserOut(id=user.id, username=user.username, display_name=user.display_name, role=user.role,
                   role_label=Role(user.role).label, unit_id=user.unit_id, active=user.active,
                   locked_until=locked if locked is not None and locked > context.clock.now() else None,
                   mfa_enrolled=is_enrolled(session, user), mfa_exempt=user.mfa_exempt, created_at=as_utc(user.created_at),
                   password_changed_at=as_utc_or_none(user.password_changed_at))


@router.get("", response_model=list[UserOut], summary="Users, optionally of one unit or matching a name (system admins)", **require(Action.ADMINISTER_USERS))
def list_users(principal: CurrentPrincipal, context: Context, session: DbSession,
               unit_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
               q: Annotated[str | None, Query(max_length=64, description="part of the user or display name")] = None) -> list[UserOut]:
    query = select(User).order_by(User.id)
    if unit_id is not None:
        query = query.where(User.unit_id == unit_id)
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(User.username.like(pattern, escape="\\") | User.display_name.like(pattern, escape="\\"))
    return [user_out(session, context, user) for user in session.scalars(query.limit(1000))]


@router.post("", response_model=UserOut, status_code=201, responses={422: {"description": "name or password refused"}},
             summary="Create a user (password policy applies; the user enrols a second factor at first login)", **require(Action.ADMINISTER_USERS))
def add_user(body: UserIn, principal: CurrentPrincipal, context: Context, session: DbSession) -> UserOut:
    unit = session.get(Unit, body.unit_id)
    if unit is None:
        raise Refusal(f"单位 {body.unit_id} 不存在 / unit {body.unit_id} not found", location=Location(field="unit_id"))
    try:
        user = create_user(session, context.clock, body.username, body.password, body.role, unit, body.display_name,
                           actor=principal.user.username, policy=policy_from(context.settings.auth))
    except OrgError as exc:
        session.rollback()
        raise Refusal(str(exc)) from exc
    session.commit()
    return user_out(session, context, user)


@router.get("/{user_id}", response_model=UserOut, summary="One user", **require(Action.ADMINISTER_USERS))
def get_user(user_id: UserId, principal: CurrentPrincipal, context: Context, session: DbSession) -> UserOut:
    return user_out(session, context, _user(session, user_id))


def _set_active(user_id: int, active: bool, principal: Principal, context: Context, session: DbSession) -> UserOut:
    user = _user(session, user_id)
    set_active(session, context.clock, user, active, principal.user.username)
    session.commit()
    return user_out(session, context, user)


@router.post("/{user_id}/disable", response_model=UserOut, summary="Disable a user: every session of theirs ends at once", **require(Action.ADMINISTER_USERS))
def disable_user(user_id: UserId, principal: CurrentPrincipal, context: Context, session: DbSession) -> UserOut:
    return _set_active(user_id, False, principal, context, session)


@router.post("/{user_id}/enable", response_model=UserOut, summary="Enable a user again (lifts a lockout too)", **require(Action.ADMINISTER_USERS))
def enable_user(user_id: UserId, principal: CurrentPrincipal, context: Context, session: DbSession) -> UserOut:
    return _set_active(user_id, True, principal, context, session)


@router.post("/{user_id}/unlock", response_model=UserOut, summary="Lift a lockout after failed logins", **require(Action.ADMINISTER_USERS))
def unlock_user(user_id: UserId, principal: CurrentPrincipal, context: Context, session: DbSession) -> UserOut:
    user = _user(session, user_id)
    unlock(session, context.clock, user, principal.user.username)
    session.commit()
    return user_out(session, context, user)


@router.put("/{user_id}/password", status_code=204, responses={422: {"description": "policy or history refused"}},
            summary="Reset a user's password (policy applies); their sessions end", **require(Action.ADMINISTER_USERS))
def reset_password(user_id: UserId, body: PasswordResetIn, principal: CurrentPrincipal, context: Context,
                   session: DbSession) -> Response:
    user = _user(session, user_id)
    set_password(session, context.clock, user, body.new_password, principal.user.username, policy_from(context.settings.auth))
    session.commit()
    return Response(status_code=204)


@router.post("/{user_id}/mfa/reset", response_model=UserOut, summary="Forget a user's authenticator (lost phone): they enrol again", **require(Action.ADMINISTER_USERS))
def reset_second_factor(user_id: UserId, principal: CurrentPrincipal, context: Context, session: DbSession) -> UserOut:
    user = _user(session, user_id)
    reset_mfa(session, context.clock, user, principal.user.username)
    end_sessions(session, context.clock, user)
    session.commit()
    return user_out(session, context, user)


@router.get("/{user_id}/sessions", response_model=list[SessionOut], summary="A user's live sessions", **require(Action.ADMINISTER_USERS))
def user_sessions(user_id: UserId, principal: CurrentPrincipal, context: Context, session: DbSession) -> list[SessionOut]:
    return [session_out(login, principal.session_id) for login in live_sessions(session, context.clock, _user(session, user_id))]


@router.delete("/{user_id}/sessions", status_code=204, summary="End every session of a user", **require(Action.ADMINISTER_USERS))
def end_user_sessions(user_id: UserId, principal: CurrentPrincipal, context: Context, session: DbSession) -> Response:
    user = _user(session, user_id)
    ended = end_sessions(session, context.clock, user)
    record_audit(session, context.clock, principal.user.username, "auth.sessions_end", "user", user.id, user.unit_id, ended=ended)
    session.commit()
    return Response(status_code=204)


@router.delete("/{user_id}/sessions/{session_id}", status_code=204, summary="End one session of a user", **require(Action.ADMINISTER_USERS))
def end_user_session(user_id: UserId, session_id: Annotated[int, Path(ge=1, le=2**63 - 1)], principal: CurrentPrincipal,
                     context: Context, session: DbSession) -> Response:
    login = session.get(LoginToken, session_id)
    if login is None or login.user_id != user_id:
        raise HTTPException(404, f"会话 {session_id} 不存在 / session not found")
    end_session(session, context.clock, login, principal.user.username)
    session.commit()
    return Response(status_code=204)
