"""The Chinese-first web UI: login, the live incident queue, an incident's page."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from soc_api.auth import SESSION_COOKIE, Context, DbSession, Principal, current_principal
from soc_api.incident_views import incident_detail, incident_out, scoped_incident, scoped_incidents
from soc_core.audit import record_audit
from soc_core.clock import to_shanghai
from soc_core.org import Role
from soc_core.repositories import authenticate_user, issue_login_token, revoke_login_token

templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))
templates.env.filters["shanghai"] = lambda instant: to_shanghai(instant).strftime("%Y-%m-%d %H:%M:%S")
templates.env.filters["role_label"] = lambda role: Role(role).label
router = APIRouter(include_in_schema=False)


def ui_principal(request: Request, context: Context, session: DbSession) -> Principal | None:
    try:
        return current_principal(request, context, session)
    except HTTPException:
        return None


UiPrincipal = Annotated[Principal | None, Depends(ui_principal)]


def _to_login() -> RedirectResponse:
    return RedirectResponse("/login", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    return templates.TemplateResponse(request, "login.html", {"error": None})


@router.post("/login")
def login(
    request: Request, context: Context, session: DbSession,
    username: Annotated[str, Form()], password: Annotated[str, Form()],
) -> Response:
    user = authenticate_user(session, username, password)
    if user is None:
        record_audit(session, context.clock, username[:64], "auth.failed", "user", username[:64])
        session.commit()
        return templates.TemplateResponse(request, "login.html", {"error": "用户名或密码错误 / Wrong username or password"}, status_code=401)
    lifetime = timedelta(hours=context.settings.api.session_hours)
    token = issue_login_token(session, context.clock, user, lifetime)
    session.commit()
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        SESSION_COOKIE, token, max_age=int(lifetime.total_seconds()), httponly=True,
        samesite="strict", secure=context.settings.api.cookie_secure,
    )
    return response


@router.post("/logout")
def logout(request: Request, context: Context, session: DbSession) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        revoke_login_token(session, context.clock, token)
        session.commit()
    response = _to_login()
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/", response_class=HTMLResponse)
def incident_queue(request: Request, principal: UiPrincipal, context: Context, session: DbSession) -> Response:
    if principal is None:
        return _to_login()
    total, rows = scoped_incidents(session, principal, limit=200)
    incidents = [incident_out(i, context.clock) for i in rows]
    return templates.TemplateResponse(request, "incidents.html", {"principal": principal, "incidents": incidents, "total": total})


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
def incident_page(incident_id: int, request: Request, principal: UiPrincipal, context: Context, session: DbSession) -> Response:
    if principal is None:
        return _to_login()
    incident = scoped_incident(session, principal, incident_id)
    if incident is None:
        return templates.TemplateResponse(request, "not_found.html", {"principal": principal}, status_code=404)
    return templates.TemplateResponse(request, "incident.html", {"principal": principal, "incident": incident_detail(incident, context.clock)})
