"""Who is asking, and what they may see: bearer tokens and UI session cookies, scoped by the org tree."""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from incidents.commands import Desk, Who
from soc_api.context import ApiContext
from soc_core.errors import PermissionDenied
from soc_core.login import live_session
from soc_core.models import Unit, User
from soc_core.org import Role
from soc_core.permissions import ACTION_KEY, Action, authorize, may, within
from soc_core.repositories import sensor_for_token

SESSION_COOKIE = "edusoc_session"
NO_UNITS = "-"  # a scope path no unit's path starts with (paths start with "/")


def get_context(request: Request) -> ApiContext:
    return request.app.state.context


def get_session(context: Annotated[ApiContext, Depends(get_context)]) -> Iterator[Session]:
    with context.sessions() as session:
        yield session


@dataclass(frozen=True)
class Principal:
    """The authenticated user with the subtree of the org tree they may see."""

    user: User
    role: Role
    scope_path: str
    session_id: int | None = None  # the login session (token) this request came with

    @property
    def is_global(self) -> bool:
        return self.role is Role.SYSTEM_ADMIN

    @property
    def event_scope(self) -> str:
        """The org-tree path prefix of the events this principal may read ("" = all)."""
        return "" if self.is_global else self.scope_path

    def visible_units(self) -> Select[int]:
        query = select(Unit.id)
        return query if self.is_global else query.where(within(Unit.path, self.scope_path))

    def can_see(self, unit: Unit) -> bool:
        return self.is_global or within(unit, self.scope_path)

    def may(self, action: Action | str, unit: Unit | None = None) -> bool:
        """The permission table's answer for this user (templates ask ``principal.may('work_incident')``)."""
        return may(self, Action(action), unit)

    def authorize(self, action: Action, unit: Unit | None = None) -> None:
        authorize(self, action, unit)

    @property
    def who(self) -> Who:
        return Who(self.user.username, self.role, self.scope_path)

    def desk(self, context: ApiContext, session: Session) -> Desk:
        """What an incident command runs with for this user (``incidents.commands``)."""
        return Desk(session, context.clock, context.settings.incidents, self.who, context.planner)


def _token_from(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.cookies.get(SESSION_COOKIE)


def current_principal(
    request: Request,
    context: Annotated[ApiContext, Depends(get_context)],
    session: Annotated[Session, Depends(get_session)],
) -> Principal:
    token = _token_from(request)
    login = live_session(session, context.clock, token, context.settings.auth.session_idle_minutes) if token else None
    if login is None:
        if token and sensor_for_token(session, token) is not None:
            raise PermissionDenied("探针令牌只能上送事件", "a sensor token may only send events (/api/v1/ingest)")
        raise HTTPException(401, "未登录或会话已过期，请重新登录 / not authenticated: log in or send a valid bearer token",
                            headers={"WWW-Authenticate": "Bearer"})
    user = login.user
    role = Role(user.role)
    # A red-team account is an outsider: it sees no unit of the org tree (its drill routes check membership instead).
    return Principal(user=user, role=role, scope_path=NO_UNITS if role is Role.RED_TEAM else user.unit.path, session_id=login.id)


def require(action: Action) -> dict[str, Any]:
    """Keyword arguments of a route that needs ``action``: the dependency that answers 401 (who are you?) and
    403 (the permission table says no), and the declaration ``x-edusoc-action`` that tests read."""
    def check(principal: Annotated[Principal, Depends(current_principal)]) -> None:
        authorize(principal, action)

    if action is Action.SIGN_IN:
        return {"openapi_extra": {ACTION_KEY: action.value}}
    return {"dependencies": [Depends(check)], "openapi_extra": {ACTION_KEY: action.value}}


def require_page(action: Action | Mapping[str, Action], param: str = "action") -> dict[str, Any]:
    """``require`` for the Jinja pages: an anonymous visitor passes through (the page sends them to /login); a
    logged-in user without the grant gets 403. ``action`` may map the path parameter ``param`` to actions."""
    def check(request: Request, context: Annotated[ApiContext, Depends(get_context)],
              session: Annotated[Session, Depends(get_session)]) -> None:
        wanted = action if isinstance(action, Action) else action.get(str(request.path_params.get(param, "")))
        if wanted is None or wanted is Action.SIGN_IN:
            return  # an unknown form action: the page answers 404
        try:
            principal = current_principal(request, context, session)
        except HTTPException:
            return
        authorize(principal, wanted)

    declared: str | dict[str, str] = action.value if isinstance(action, Action) else {k: v.value for k, v in action.items()}
    return {"dependencies": [Depends(check)], "openapi_extra": {ACTION_KEY: declared}}


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
DbSession = Annotated[Session, Depends(get_session)]
Context = Annotated[ApiContext, Depends(get_context)]
