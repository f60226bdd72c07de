"""Who is asking, and what they may see: bearer tokens and UI session cookies, scoped by the org tree."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from soc_api.context import ApiContext
from soc_core.models import Unit, User
from soc_core.org import Role
from soc_core.login import live_session

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

    def visible_units(self) -> Select[tuple[int]]:
        query = select(Unit.id)
        return query if self.is_global else query.where(Unit.path.startswith(self.scope_path))

    def can_see(self, unit: Unit) -> bool:
        return self.is_global or unit.path.startswith(self.scope_path)


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
        raise HTTPException(401, "未登录或会话已过期，请重新登录 / not authenticated: log in or send a valid bearer token",
                            headers={"WWW-Authenticate": "Bearer"})
    user = login.user
    role = Role(user.role)
    # A red-team account is an outsider: it sees no unit of the org tree (its drill routes check membership instead).
    return Principal(user=user, role=role, scope_path=NO_UNITS if role is Role.RED_TEAM else user.unit.path, session_id=login.id)


def writing_principal(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.role.can_write:
        raise HTTPException(403, f"role {principal.role.value} is read-only")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
WritingPrincipal = Annotated[Principal, Depends(writing_principal)]
DbSession = Annotated[Session, Depends(get_session)]
Context = Annotated[ApiContext, Depends(get_context)]
