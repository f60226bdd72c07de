"""The console's login: the same two steps as ``/auth/token`` + ``/auth/mfa``, answered with the HttpOnly
session cookie instead of a bearer token, who is logged in, and logout.

The bearer-token flow stays for scripts; a browser keeps its session in a cookie its scripts cannot read.
"""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from soc_api.auth import SESSION_COOKIE, Context, CurrentPrincipal, DbSession, Principal, require
from soc_core.clock import to_db
from soc_core.login import (
    MFA_CHALLENGE, LoginRefused, PasswordAccepted, challenge_token, check_not_locked, open_session, password_step, record_failure,
)
from soc_core.mfa import verify_second_factor
from soc_core.org import Role
from soc_core.permissions import Action
from soc_core.repositories import revoke_login_token
from soc_core.security import HashingBusy

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class SessionLogin(BaseModel):
    """Step 1: username and password. Step 2 (when step 1 answered mfa_required): the same with ``mfa_token`` and ``code``."""

    username: str = Field(max_length=64)
    password: str = Field(default="", max_length=256)
    mfa_token: str | None = Field(default=None, max_length=128)
    code: str | None = Field(default=None, max_length=32, description="the 6-digit TOTP code, or a recovery code")


class SessionUnit(BaseModel):
    id: int
    code: str | None
    name: str
    kind: str


class SessionUser(BaseModel):
    """Who is logged in: shown in the console's header; the role decides the menu until /auth/me lists actions."""

    username: str
    display_name: str
    role: str
    role_label: str = Field(description="the role's Chinese name")
    unit: SessionUnit


class SessionAnswer(BaseModel):
    status: Literal["ok", "mfa_required"]
    user: SessionUser | None = Field(default=None, description="with status ok: who is now logged in (the cookie is set)")
    mfa_token: str | None = Field(default=None, description="with mfa_required: send it back with the code")
    expires_in: int | None = None


class LoginRefusal(BaseModel):
    message_zh: str
    message: str


def session_user(principal: Principal) -> SessionUser:
    user = principal.user
    return SessionUser(
        username=user.username, display_name=user.display_name or user.username, role=principal.role.value,
        role_label=principal.role.label,
        unit=SessionUnit(id=user.unit.id, code=user.unit.code, name=user.unit.name, kind=user.unit.kind),
    )


def _refusal(status: int, message: str, retry_after: int | None = None) -> JSONResponse:
    """The login module's "中文 / English" message as the console's two fields."""
    zh, _, en = message.partition(" / ")
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    return JSONResponse(LoginRefusal(message_zh=zh, message=en or zh).model_dump(), status_code=status, headers=headers)


def _second_step(body: SessionLogin, request: Request, context: Context, session: DbSession, address: str) -> PasswordAccepted:
    login = challenge_token(session, context.clock, body.mfa_token or "")
    if login is None:
        raise LoginRefused(401, "登录步骤已过期，请重新输入口令 / the login step expired: start again with the password")
    check_not_locked(session, context.clock, login.user.username, address)
    if not verify_second_factor(session, context.clock, login.user, body.code or ""):
        record_failure(session, context.clock, context.settings.auth, login.user.username, address, "mfa")
        raise LoginRefused(401, "动态口令错误或已使用 / wrong or reused code")
    login.revoked_at = to_db(context.clock.now())  # the challenge is spent
    return open_session(session, context.clock, context.settings.api.session_hours, login.user, address,
                        request.headers.get("user-agent", ""))


@router.post("/session", response_model=SessionAnswer, summary="Console login: password, then the TOTP code when asked; sets the session cookie",
             responses={401: {"model": LoginRefusal}, 423: {"model": LoginRefusal}, 503: {"model": LoginRefusal}},
             **require(Action.SIGN_IN))
def open_console_session(body: SessionLogin, request: Request, context: Context, session: DbSession) -> Response:
    address = request.client.host if request.client else ""
    try:
        if body.mfa_token:
            accepted = _second_step(body, request, context, session, address)
        else:
            accepted = password_step(session, context.clock, context.settings.auth, context.settings.api.session_hours,
                                     body.username, body.password, address, request.headers.get("user-agent", ""))
            if accepted.kind == MFA_CHALLENGE:
                if not accepted.enrolled:
                    return _refusal(401, "请先用 POST /api/v1/auth/mfa/enrolment 绑定动态口令（两步登录） / "
                                         "enrol an authenticator first (POST /api/v1/auth/mfa/enrolment)")
                return JSONResponse(SessionAnswer(status="mfa_required", mfa_token=accepted.token,
                                                  expires_in=accepted.expires_in).model_dump())
    except LoginRefused as exc:
        return _refusal(exc.status, exc.message, exc.retry_after)
    except HashingBusy:
        return _refusal(503, "登录繁忙，请稍后重试 / too many logins at once, retry shortly", 2)
    user = accepted.user
    answer = SessionAnswer(status="ok", user=session_user(Principal(user, Role(user.role), user.unit.path)))
    response = JSONResponse(answer.model_dump())
    response.set_cookie(SESSION_COOKIE, accepted.token, max_age=accepted.expires_in, httponly=True, samesite="strict",
                        secure=context.settings.api.cookie_secure)
    return response


@router.get("/session", response_model=SessionUser, summary="Who is logged in (401 when nobody)", **require(Action.MANAGE_OWN_ACCOUNT))
def current_session(principal: CurrentPrincipal) -> SessionUser:
    return session_user(principal)


@router.delete("/session", status_code=204, summary="Log out: revoke the session and clear its cookie",
               **require(Action.MANAGE_OWN_ACCOUNT))
def close_session(request: Request, context: Context, session: DbSession) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        revoke_login_token(session, context.clock, token)
        session.commit()
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE)
    return response
