"""The 检测规则 page of the Chinese-first UI; the page itself talks to /api/v1/rules (list, switch, dry run)."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from soc_api.auth import DbSession, require_page
from soc_api.ui.common import UiPrincipal, templates
from soc_core.models import Unit
from soc_core.permissions import Action

router = APIRouter(include_in_schema=False)


@router.get("/rules", response_class=HTMLResponse, **require_page(Action.VIEW))
def rules_page(request: Request, principal: UiPrincipal, session: DbSession) -> Response:
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    units = session.scalars(
        select(Unit).where(Unit.id.in_(principal.visible_units()), Unit.code.is_not(None)).order_by(Unit.path)
    )
    return templates.TemplateResponse(request, "rules.html", {
        "principal": principal,
        "units": [{"id": unit.id, "code": unit.code, "name": unit.name} for unit in units],
        "can_switch": principal.may(Action.SWITCH_RULE),
    })
