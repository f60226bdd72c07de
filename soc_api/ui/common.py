"""What every UI page shares: the templates and their filters, the logged-in principal, redirects and form helpers."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from soc_api.auth import Context, DbSession, Principal, current_principal
from soc_core.clock import SHANGHAI, to_shanghai
from soc_core.events import parse_timestamp
from soc_core.models import Unit
from soc_core.org import Role

templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))
templates.env.filters["shanghai"] = lambda instant: to_shanghai(instant).strftime("%Y-%m-%d %H:%M:%S")
templates.env.filters["role_label"] = lambda role: Role(role).label
templates.env.filters["event_time"] = lambda value: to_shanghai(parse_timestamp(value)).strftime("%Y-%m-%d %H:%M:%S")


def ui_principal(request: Request, context: Context, session: DbSession) -> Principal | None:
    try:
        return current_principal(request, context, session)
    except HTTPException:
        return None


UiPrincipal = Annotated[Principal | None, Depends(ui_principal)]


def to_login() -> RedirectResponse:
    return RedirectResponse("/login", status_code=303)


def render_page(request: Request, name: str, principal: Principal, **values: Any) -> Response:
    return templates.TemplateResponse(request, name, {"principal": principal, "error": request.query_params.get("error"), **values})


def back_to(path: str, error: Exception | None = None) -> RedirectResponse:
    return RedirectResponse(f"{path}?error={quote(str(error))}" if error else path, status_code=303)


def beijing_local(value: str) -> datetime:
    """A datetime-local form value, entered in Beijing time."""
    return datetime.fromisoformat(value).replace(tzinfo=SHANGHAI)


def units_in_scope(session: DbSession, principal: Principal) -> list[Unit]:
    return list(session.scalars(select(Unit).where(Unit.id.in_(principal.visible_units())).order_by(Unit.path)))


def logged_in(principal: Principal | None) -> Principal:
    """The form's user; what they may do was checked by the route's ``require_page``."""
    if principal is None:
        raise HTTPException(401, "not logged in")
    return principal
