"""The console's login: a JSON password step that sets the HttpOnly session cookie, who is logged in, logout.

The bearer-token flow (``POST /api/v1/auth/token``) stays for scripts; a browser keeps its session in a
cookie the page's scripts cannot read.
"""
from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from soc_api.auth import SESSION_COOKIE, Context, CurrentPrincipal, DbSession, Principal
from soc_core.audit import record_audit
from soc_core.org import Role
from soc_core.repositories import authenticate_user, issue_login_token, revoke_login_token

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class SessionLogin(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=256)


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


class LoginRefused(BaseModel):
    message_zh: str
    message: str


def session_user(principal: Principal) -> SessionUser:
    user = principal.user
    return SessionUser(
        username=user.username, display_name=user.display_name or user.username, role=principal.role.value,
        role_label=principal.role.label,
        unit=SessionUnit(id=user.unit.id, code=user.unit.code, name=user.unit.name, kind=user.unit.kind),
    )


@router.post("/session", response_model=SessionUser, summary="Log in with username and password; sets the session cookie",
             responses={401: {"model": LoginRefused}})
def open_session(body: SessionLogin, context: Context, session: DbSession) -> Response:
    user = authenticate_user(session, body.username, body.password)
    if user is None:
        record_audit(session, context.clock, body.username[:64], "auth.failed", "user", body.username[:64])
        session.commit()
        refused = LoginRefused(message_zh="用户名或密码错误", message="wrong username or password")
        return JSONResponse(refused.model_dump(), status_code=401)
    lifetime = timedelta(hours=context.settings.api.session_hours)
    token = issue_login_token(session, context.clock, user, lifetime)
    session.commit()
    response = JSONResponse(session_user(Principal(user, Role(user.role), user.unit.path)).model_dump())
    response.set_cookie(SESSION_COOKIE, token, max_age=int(lifetime.total_seconds()), httponly=True, samesite="strict",
                        secure=context.settings.api.cookie_secure)
    return response


@router.get("/session", response_model=SessionUser, summary="Who is logged in (401 when nobody)")
def current_session(principal: CurrentPrincipal) -> SessionUser:
    return session_user(principal)


@router.delete("/session", status_code=204, summary="Log out: revoke the session and clear its cookie")
def close_session(request: Request, context: Context, session: DbSession) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        revoke_login_token(session, context.clock, token)
        session.commit()
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE)
    return response

