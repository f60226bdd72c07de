"""/api/v1/auth: logging in (password, then TOTP), enrolment, the caller's own sessions and password.

Login is two steps for every user who needs a second factor (auth.require_mfa):
1. ``POST /api/v1/auth/token`` (OAuth2 password form) → ``status: mfa_required`` (or ``mfa_enrolment_required``)
   with a short-lived ``mfa_token``;
2. ``POST /api/v1/auth/mfa`` with that token and a TOTP (or recovery) code → the bearer ``access_token``.
A user without a second factor yet enrols with the same ``mfa_token`` (``/mfa/enrolment``, then ``/confirm``).
Failures of either step count toward the lockout (423 with Retry-After); hashing beyond capacity answers 503.
"""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy import select

from soc_api.account_views import session_out
from soc_api.auth import Context, CurrentPrincipal, DbSession, SESSION_COOKIE, require
from soc_api.schemas.auth import (
    ActionOut, EnrolledOut, EnrolmentIn, EnrolmentOut, LoginOut, MeOut, MfaIn, PasswordChangeIn, RecoveryCodesOut, SessionOut, UnitRef,
)
from soc_core.accounts import AccountError, end_session, live_sessions, policy_from, set_password
from soc_core.clock import as_utc_or_none, to_db
from soc_core.errors import Refusal
from soc_core.login import (
    LoginRefused, MFA_CHALLENGE, PasswordAccepted, challenge_token, check_not_locked, open_session, password_step, record_failure,
)
from soc_core.mfa import (
    MfaError, confirm_enrolment, is_enrolled, regenerate_recovery_codes, remaining_recovery_codes, start_enrolment, verify_second_factor,
)
from soc_core.models import LoginToken, Unit
from soc_core.permissions import Action, actions_of
from soc_core.security import HashingBusy, verify_password

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

_REFUSALS: dict[int | str, dict[str, Any]] = {401: {"description": "wrong credentials (用户名或口令错误)"},
             423: {"description": "locked after too many failures (已锁定); Retry-After says for how long"},
             503: {"description": "too many logins at once; retry shortly"}}


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


def refusal(exc: LoginRefused) -> JSONResponse:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    if exc.status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    return JSONResponse({"detail": exc.body()}, status_code=exc.status, headers=headers)


def busy() -> JSONResponse:
    return JSONResponse({"detail": Refusal("登录繁忙，请稍后重试 / too many logins at once, retry shortly").body()},
                        status_code=503, headers={"Retry-After": "2"})


def login_out(accepted: PasswordAccepted) -> LoginOut:
    if accepted.kind == MFA_CHALLENGE:
        return LoginOut(status="mfa_required" if accepted.enrolled else "mfa_enrolment_required",
                        mfa_token=accepted.token, expires_in=accepted.expires_in)
    return LoginOut(status="ok", access_token=accepted.token, expires_in=accepted.expires_in)


@router.post("/token", response_model=LoginOut, responses=_REFUSALS,
             summary="Step 1: username and password → a bearer token, or an mfa_token for step 2", **require(Action.SIGN_IN))
def login_for_token(form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request, context: Context,
                    session: DbSession) -> LoginOut | JSONResponse:
    try:
        accepted = password_step(session, context.clock, context.settings.auth, context.settings.api.session_hours,
                                 form.username, form.password, client_address(request), request.headers.get("user-agent", ""))
    except LoginRefused as exc:
        return refusal(exc)
    except HashingBusy:
        return busy()
    return login_out(accepted)


def _challenge(session: DbSession, context: Context, token: str, request: Request) -> LoginToken:
    login = challenge_token(session, context.clock, token)
    if login is None:
        raise LoginRefused(401, "登录步骤已过期，请重新输入口令 / the login step expired: start again with the password")
    check_not_locked(session, context.clock, login.user.username, client_address(request))
    return login


@router.post("/mfa", response_model=LoginOut, responses=_REFUSALS, summary="Step 2: the mfa_token and a TOTP or recovery code → a bearer token", **require(Action.SIGN_IN))
def login_second_factor(body: MfaIn, request: Request, context: Context, session: DbSession) -> LoginOut | JSONResponse:
    try:
        login = _challenge(session, context, body.mfa_token, request)
        user = login.user
        if not verify_second_factor(session, context.clock, user, body.code):
            record_failure(session, context.clock, context.settings.auth, user.username, client_address(request), "mfa")
            raise LoginRefused(401, "动态口令错误或已使用 / wrong or reused code")
        login.revoked_at = to_db(context.clock.now())  # the challenge is spent
        accepted = open_session(session, context.clock, context.settings.api.session_hours, user, client_address(request),
                                request.headers.get("user-agent", ""))
    except LoginRefused as exc:
        return refusal(exc)
    return login_out(accepted)


@router.post("/mfa/enrolment", response_model=EnrolmentOut, responses=_REFUSALS,
             summary="Enrol a TOTP authenticator during login (after step 1 answered mfa_enrolment_required)", **require(Action.SIGN_IN))
def enrol(body: EnrolmentIn, request: Request, context: Context, session: DbSession) -> EnrolmentOut | JSONResponse:
    try:
        login = _challenge(session, context, body.mfa_token, request)
        enrolment = start_enrolment(session, context.clock, login.user, context.settings.auth.mfa_issuer)
    except LoginRefused as exc:
        return refusal(exc)
    session.commit()
    return EnrolmentOut(secret=enrolment.secret, otpauth_uri=enrolment.otpauth_uri)


@router.post("/mfa/enrolment/confirm", response_model=EnrolledOut, responses=_REFUSALS,
             summary="Confirm the enrolment with a code: answers the bearer token and one-time recovery codes", **require(Action.SIGN_IN))
def confirm(body: MfaIn, request: Request, context: Context, session: DbSession) -> EnrolledOut | JSONResponse:
    try:
        login = _challenge(session, context, body.mfa_token, request)
        user = login.user
        try:
            codes = confirm_enrolment(session, context.clock, user, body.code)
        except MfaError as exc:
            session.rollback()
            record_failure(session, context.clock, context.settings.auth, user.username, client_address(request), "mfa_enrol")
            raise LoginRefused(401, str(exc)) from exc
        login.revoked_at = to_db(context.clock.now())
        accepted = open_session(session, context.clock, context.settings.api.session_hours, user, client_address(request),
                                request.headers.get("user-agent", ""))
    except LoginRefused as exc:
        return refusal(exc)
    return EnrolledOut(**login_out(accepted).model_dump(), recovery_codes=codes)


@router.post("/mfa/recovery-codes", response_model=RecoveryCodesOut, summary="New one-time recovery codes (the old ones stop working)", **require(Action.MANAGE_OWN_ACCOUNT))
def new_recovery_codes(principal: CurrentPrincipal, context: Context, session: DbSession) -> RecoveryCodesOut:
    codes = regenerate_recovery_codes(session, context.clock, principal.user)
    session.commit()
    return RecoveryCodesOut(recovery_codes=codes)


@router.get("/me", response_model=MeOut, summary="Who I am: role, unit and its path, second factor, and every action I may take", **require(Action.MANAGE_OWN_ACCOUNT))
def me(principal: CurrentPrincipal, session: DbSession) -> MeOut:
    user, unit = principal.user, principal.user.unit
    ids = [int(part) for part in unit.path.strip("/").split("/") if part]
    names = {u.id: u.name for u in session.scalars(select(Unit).where(Unit.id.in_(ids)))}
    return MeOut(id=user.id, username=user.username, display_name=user.display_name, role=user.role, role_label=principal.role.label,
                 unit_id=user.unit_id, unit=UnitRef(id=unit.id, name=unit.name, kind=unit.kind, code=unit.code),
                 unit_path=[names[i] for i in ids if i in names],
                 actions=[ActionOut(action=a.value, label=a.label) for a in actions_of(principal.role)],
                 mfa_enrolled=is_enrolled(session, user), recovery_codes_left=remaining_recovery_codes(session, user),
                 password_changed_at=as_utc_or_none(user.password_changed_at))


@router.get("/sessions", response_model=list[SessionOut], summary="My live sessions (tokens and console logins)", **require(Action.MANAGE_OWN_ACCOUNT))
def my_sessions(principal: CurrentPrincipal, context: Context, session: DbSession) -> list[SessionOut]:
    return [session_out(login, principal.session_id) for login in live_sessions(session, context.clock, principal.user)]


@router.delete("/sessions/{session_id}", status_code=204, summary="End one of my sessions", **require(Action.MANAGE_OWN_ACCOUNT))
def end_my_session(session_id: Annotated[int, Path(ge=1, le=2**63 - 1)], principal: CurrentPrincipal, context: Context,
                   session: DbSession) -> Response:
    login = session.get(LoginToken, session_id)
    if login is None or login.user_id != principal.user.id:
        raise HTTPException(404, f"会话 {session_id} 不存在 / session {session_id} not found")
    end_session(session, context.clock, login, principal.user.username)
    session.commit()
    return Response(status_code=204)


@router.post("/logout", status_code=204, summary="End the session this request came with", **require(Action.MANAGE_OWN_ACCOUNT))
def logout(principal: CurrentPrincipal, context: Context, session: DbSession) -> Response:
    login = session.get(LoginToken, principal.session_id) if principal.session_id else None
    if login is not None:
        end_session(session, context.clock, login, principal.user.username)
        session.commit()
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.post("/password", status_code=204, responses={422: {"description": "policy or history refused (口令不符合要求)"}},
             summary="Change my password (policy and history checked); my other sessions end", **require(Action.MANAGE_OWN_ACCOUNT))
def change_password(body: PasswordChangeIn, request: Request, principal: CurrentPrincipal, context: Context,
                    session: DbSession) -> Response:
    user = principal.user
    try:
        current_ok = verify_password(user.password_hash, body.current_password)
    except HashingBusy:
        return busy()
    if not current_ok:
        record_failure(session, context.clock, context.settings.auth, user.username, client_address(request), "password_change")
        raise AccountError("当前密码错误 / the current password is wrong")
    set_password(session, context.clock, user, body.new_password, user.username, policy_from(context.settings.auth),
                 keep_session_id=principal.session_id)
    session.commit()
    return Response(status_code=204)
