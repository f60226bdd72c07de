"""The Chinese-first web UI: login, the live incident queue, an incident's page."""
from __future__ import annotations

from dataclasses import replace
from typing import Annotated
from urllib.parse import urlencode
from urllib.parse import quote

from starlette.datastructures import UploadFile as StarletteUploadFile

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from incidents import Grade, IncidentError, commands
from soc_api.auth import Context, DbSession, SESSION_COOKIE, require_page
from soc_api.event_search import SearchError, SearchRequest, field_filters, histogram_interval, parse_time, scoped_query
from soc_api.incident_views import incident_detail, incident_out, merge_candidates, scoped_incident, scoped_incidents
from soc_api.ui.common import UiPrincipal, templates, to_login
from soc_core.clock import SHANGHAI, to_db
from soc_core.event_store import EventStoreError
from soc_core.login import LoginRefused, MFA_CHALLENGE, challenge_token, open_session, password_step, record_failure
from soc_core.mfa import verify_second_factor
from soc_core.models import Unit
from soc_core.permissions import Action
from soc_core.repositories import revoke_login_token, units_within
from soc_core.security import HashingBusy

router = APIRouter(include_in_schema=False)
# the incident page's forms and the action each needs
INCIDENT_FORMS = {
    "status": Action.WORK_INCIDENT,
    "comment": Action.WORK_INCIDENT,
    "evidence": Action.WORK_INCIDENT,
    "link": Action.WORK_INCIDENT,
    "merge": Action.WORK_INCIDENT,
    "split": Action.WORK_INCIDENT,
    "grade": Action.REGRADE,
    "regrade-request": Action.REQUEST_REGRADE,
    "regrade-decision": Action.REGRADE,
}


@router.get("/login", response_class=HTMLResponse, **require_page(Action.SIGN_IN))
def login_page(request: Request) -> Response:
    return templates.TemplateResponse(request, "login.html", {"error": None})


@router.post("/login", **require_page(Action.SIGN_IN))
def login(
    request: Request, context: Context, session: DbSession,
    username: Annotated[str, Form()], password: Annotated[str, Form()], otp: Annotated[str, Form()] = "",
) -> Response:
    """The server-rendered form logs in in one post: password and, for an enrolled user, the TOTP code."""
    address = request.client.host if request.client else ""
    agent = request.headers.get("user-agent", "")

    def refused(message: str, status: int) -> Response:
        return templates.TemplateResponse(request, "login.html", {"error": message}, status_code=status)

    try:
        accepted = password_step(session, clock := context.clock, context.settings.auth, context.settings.api.session_hours,
                                 username, password, address, agent)
        if accepted.kind == MFA_CHALLENGE:
            challenge = challenge_token(session, clock, accepted.token)
            if challenge is not None:
                challenge.revoked_at = to_db(clock.now())
            if not accepted.enrolled:
                session.commit()
                return refused("请先在控制台绑定动态口令（两步登录） / enrol an authenticator in the console first", 401)
            if not verify_second_factor(session, clock, accepted.user, otp):
                session.commit()
                record_failure(session, clock, context.settings.auth, username, address, "mfa")
                return refused("动态口令错误或已使用 / wrong or reused authenticator code", 401)
            accepted = open_session(session, clock, context.settings.api.session_hours, accepted.user, address, agent)
    except LoginRefused as exc:
        return refused(exc.message, exc.status)
    except HashingBusy:
        return refused("登录繁忙，请稍后重试 / too many logins at once, retry shortly", 503)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        SESSION_COOKIE, accepted.token, max_age=accepted.expires_in, httponly=True,
        samesite="strict", secure=context.settings.api.cookie_secure,
    )
    return response


@router.post("/logout", **require_page(Action.SIGN_IN))
def logout(request: Request, context: Context, session: DbSession) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        revoke_login_token(session, context.clock, token)
        session.commit()
    response = to_login()
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/", response_class=HTMLResponse, **require_page(Action.VIEW))
def incident_queue(request: Request, principal: UiPrincipal, context: Context, session: DbSession) -> Response:
    if principal is None:
        return to_login()
    total, rows = scoped_incidents(session, principal, limit=200)
    incidents = [incident_out(i, context.clock) for i in rows]
    return templates.TemplateResponse(request, "incidents.html", {"principal": principal, "incidents": incidents, "total": total})


@router.get("/incidents/{incident_id}", response_class=HTMLResponse, **require_page(Action.VIEW))
def incident_page(incident_id: int, request: Request, principal: UiPrincipal, context: Context, session: DbSession) -> Response:
    if principal is None:
        return to_login()
    incident = scoped_incident(session, principal, incident_id)
    if incident is None:
        return templates.TemplateResponse(request, "not_found.html", {"principal": principal}, status_code=404)
    return templates.TemplateResponse(request, "incident.html", {
        "principal": principal, "incident": incident_detail(incident, context.clock, session, context.event_store, principal.event_scope),
        "error": request.query_params.get("error"), "merge_candidates": [incident_out(i, context.clock) for i in merge_candidates(session, incident)],
    })


# The facets shown beside the results: field, Chinese label.
EVENT_FACETS = (("event.dataset", "数据类型"), ("source.ip", "源地址"), ("destination.ip", "目的地址"),
                ("destination.port", "目的端口"), ("rule.name", "告警规则"))
_UI_RESERVED = frozenset({"start", "end", "q", "unit_id", "incident_id", "alert_events", "offset", "sort", "order"})
PAGE_SIZE = 50


@router.get("/events", response_class=HTMLResponse, **require_page(Action.VIEW))
def event_search_page(request: Request, principal: UiPrincipal, context: Context, session: DbSession) -> Response:
    """Event search for duty staff; ``?incident_id=N`` pivots from an incident to its events and flows."""
    if principal is None:
        return to_login()
    params = request.query_params
    form = {name: params.get(name, "") for name in ("start", "end", "q", "unit_id", "event.dataset", "event.kind",
                                                    "source.ip", "destination.ip", "destination.port")}
    view: dict[str, object] = {"principal": principal, "form": form, "facets": [], "histogram": [], "page": None,
                               "error": None, "incident": None,
                               "units": list(session.scalars(units_within(principal.user.unit).order_by(Unit.path)))}
    status = 200
    try:
        search = SearchRequest(
            start=parse_time(params.get("start"), SHANGHAI), end=parse_time(params.get("end"), SHANGHAI),
            text=params.get("q") or None, offset=_int(params.get("offset")) or 0, limit=PAGE_SIZE,
            unit_id=_int(params.get("unit_id")), incident_id=_int(params.get("incident_id")),
            alert_events=params.get("alert_events") in ("1", "true"),
            filters=field_filters(params, _UI_RESERVED))
        query = scoped_query(session, principal, search)
        if search.incident_id is not None:
            incident = scoped_incident(session, principal, search.incident_id)
            view["incident"] = incident_out(incident, context.clock) if incident else None
        store = context.event_store
        if store is None:
            raise EventStoreError("no event store is configured in this process")
        view["page"] = store.search(query)
        view["facets"] = [(name, label, store.count_by(query, name, 5)) for name, label in EVENT_FACETS]
        interval = histogram_interval(store, query)
        buckets = store.histogram(query, interval)
        peak = max((b.count for b in buckets), default=1)
        view["histogram"] = [(b.start, b.count, round(100 * b.count / peak)) for b in buckets]
        view["interval"] = int(interval.total_seconds())
        view["offset"] = query.offset
        view["base_query"] = _without(params, "offset")
        view["facet_query"] = _without(params, "offset", *[name for name, _ in EVENT_FACETS])
        view["prev_offset"] = max(query.offset - PAGE_SIZE, 0)
        view["next_offset"] = query.offset + PAGE_SIZE
        view["query"] = replace(query, unit_ids=None)
    except SearchError as exc:
        view["error"], status = exc.reason, exc.status
    except EventStoreError as exc:
        view["error"], status = f"事件库暂不可用 / event store unavailable: {exc}", 503
    return templates.TemplateResponse(request, "events.html", view, status_code=status)


def _int(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise SearchError(422, f"expected a number, got {value!r}") from None


def _without(params, *names: str) -> str:  # type: ignore[no-untyped-def]
    return urlencode([(k, v) for k, v in params.multi_items() if k not in names and v != ""])


@router.post("/incidents/{incident_id}/{action}", **require_page(INCIDENT_FORMS))
async def incident_action(incident_id: int, action: str, request: Request, principal: UiPrincipal, context: Context,
                          session: DbSession) -> Response:
    """The incident page's forms: each runs the same workflow function as the API, then shows the page again."""
    if principal is None:
        return to_login()
    incident = scoped_incident(session, principal, incident_id)
    if incident is None:
        return templates.TemplateResponse(request, "not_found.html", {"principal": principal}, status_code=404)
    form = await request.form()
    desk = principal.desk(context, session)
    text = lambda name: str(form.get(name) or "")  # noqa: E731
    try:
        if action == "status":
            commands.change_status(desk, incident, text("status"), text("note"), text("override_reason"))
        elif action == "comment":
            commands.comment(desk, incident, text("text"))
        elif action == "evidence":
            upload = form.get("file")
            if not isinstance(upload, StarletteUploadFile):
                raise IncidentError("请选择要上传的文件 / choose a file to upload")
            commands.attach_evidence(desk, incident, upload.filename or "", upload.content_type or "", upload.file,
                                     context.settings.data_path / "evidence")
        elif action == "link":
            commands.link_event(desk, incident, text("event_id"), text("note"), context.event_store)
        elif action == "grade":
            commands.regrade(desk, incident, Grade(text("grade")), text("reason"))
        elif action == "regrade-request":
            commands.request_regrade(desk, incident, Grade(text("grade")), text("reason"))
        elif action == "regrade-decision":
            commands.decide_regrade(desk, incident, int(text("request_id") or 0), text("accept") == "yes", text("note"))
        elif action == "merge":
            # ticked candidates (incident_ids, repeated) and/or typed ids ("12,15")
            typed = ",".join(str(v) for v in form.getlist("incident_ids")).replace("，", ",")
            ids = list(dict.fromkeys(int(part) for part in typed.split(",") if part.strip().isdigit()))
            others = [scoped_incident(session, principal, other) for other in ids]
            if not ids or any(other is None for other in others):
                raise IncidentError("选择要合并的事件 / choose incidents in your scope to merge")
            commands.merge(desk, incident, [o for o in others if o is not None])
        elif action == "split":
            alert_ids = [str(v) for v in form.getlist("alert_ids")]
            if not alert_ids:
                raise IncidentError("勾选要拆分的告警 / tick the alerts to split off")
            new = commands.split(desk, incident, alert_ids, text("title").strip() or None)
            session.commit()
            return RedirectResponse(f"/incidents/{new.id}", status_code=303)
        else:
            return templates.TemplateResponse(request, "not_found.html", {"principal": principal}, status_code=404)
    except (IncidentError, ValueError) as exc:
        session.rollback()
        return RedirectResponse(f"/incidents/{incident_id}?error={quote(str(exc))}", status_code=303)
    session.commit()
    return RedirectResponse(f"/incidents/{incident_id}", status_code=303)
