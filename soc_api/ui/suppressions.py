"""The suppression-rule page of the UI (抑制规则): list, create and switch off known-noise rules, scoped by the org tree."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from incidents import IncidentError, add_suppression, deactivate_suppression
from soc_api.auth import Context, DbSession, require_page
from soc_api.incident_views import scoped_suppression, scoped_suppressions, suppression_out
from soc_api.ui.common import UiPrincipal, back_to, beijing_local, logged_in, render_page, units_in_scope
from soc_core.models import Unit
from soc_core.permissions import Action

router = APIRouter(include_in_schema=False)


def _rule_names(context: Context) -> dict[str, str]:
    """rule id -> its Chinese name first, English title second, for every alerting rule loaded."""
    if context.detection is None:
        return {}
    names: dict[str, str] = {}
    for rule in context.detection.ruleset.rules:
        if getattr(rule, "emits_alerts", True):
            meta = rule.meta
            names[meta.rule_id] = f"{meta.title_zh} / {meta.title}" if meta.title_zh else meta.title
    return names


@router.get("/suppressions", response_class=HTMLResponse, **require_page(Action.VIEW))
def suppressions_page(request: Request, principal: UiPrincipal, context: Context, session: DbSession) -> Response:
    if principal is None:
        return back_to("/login")
    names = _rule_names(context)
    prefill: dict[str, Any] = {k: request.query_params.get(k, "") for k in ("unit_id", "rule_id", "entity")}
    return render_page(request, "suppressions.html", principal, rules=[suppression_out(r, session, principal) for r in scoped_suppressions(session, principal)],
                 rule_names=names, units=units_in_scope(session, principal), prefill=prefill, now=context.clock.now())


@router.post("/suppressions", **require_page(Action.SUPPRESS_ALERTS))
async def create_suppression(request: Request, principal: UiPrincipal, context: Context, session: DbSession) -> Response:
    principal = logged_in(principal)
    form = await request.form()
    text = lambda name: str(form.get(name) or "").strip()  # noqa: E731
    try:
        unit = session.get(Unit, int(text("unit_id") or 0))
        if unit is None or not principal.can_see(unit):
            raise IncidentError("choose a unit in your scope / 请选择本辖区内的单位")
        add_suppression(session, context.clock, unit, principal.user.username, text("reason"), text("rule_id") or None,
                        text("entity") or None, beijing_local(text("expires_at")) if text("expires_at") else None)
    except (IncidentError, ValueError) as exc:
        session.rollback()
        return back_to("/suppressions", exc)
    session.commit()
    return back_to("/suppressions")


@router.post("/suppressions/{rule_id}/disable", **require_page(Action.SUPPRESS_ALERTS))
def disable_suppression(rule_id: int, principal: UiPrincipal, context: Context, session: DbSession) -> Response:
    principal = logged_in(principal)
    rule = scoped_suppression(session, principal, rule_id)
    if rule is None:
        raise HTTPException(404, f"suppression rule {rule_id} not found")
    try:
        deactivate_suppression(session, context.clock, rule, principal.user.username)
    except IncidentError as exc:
        session.rollback()
        return back_to("/suppressions", exc)
    session.commit()
    return back_to("/suppressions")


