"""/api/v1/audit: the audit log for the console's viewer (who did what, when), and its hash-chain check.

System admins see every entry; everyone else the entries of units in their subtree. Verifying the chain
is for system admins.
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import func, select

from soc_api.auth import CurrentPrincipal, DbSession, require
from soc_api.schemas.audit import AuditEntryOut, AuditPage, ChainBreakOut, ChainOut
from soc_core.audit import verify_chain
from soc_core.clock import as_utc, to_db
from soc_core.models import AuditEntry
from soc_core.permissions import Action

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("", response_model=AuditPage, summary="Audit entries, newest first, filtered by who, what, which and when", **require(Action.READ_AUDIT))
def list_audit(principal: CurrentPrincipal, session: DbSession,
               actor: Annotated[str | None, Query(max_length=64)] = None,
               action: Annotated[str | None, Query(max_length=64, description="exact action, or a prefix ending in '.', e.g. auth.")] = None,
               target_type: Annotated[str | None, Query(max_length=32)] = None,
               target_id: Annotated[str | None, Query(max_length=64)] = None,
               unit_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
               start: Annotated[datetime | None, Query(description="from this instant (ISO 8601)")] = None,
               end: Annotated[datetime | None, Query(description="before this instant (ISO 8601)")] = None,
               offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
               limit: Annotated[int, Query(ge=1, le=500)] = 100) -> AuditPage:
    query = select(AuditEntry)
    if not principal.is_global:
        query = query.where(AuditEntry.unit_id.in_(principal.visible_units()))
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if action:
        query = query.where(AuditEntry.action.startswith(action, autoescape=True) if action.endswith(".") else AuditEntry.action == action)
    if target_type:
        query = query.where(AuditEntry.target_type == target_type)
    if target_id:
        query = query.where(AuditEntry.target_id == target_id)
    if unit_id is not None:
        query = query.where(AuditEntry.unit_id == unit_id)
    try:
        if start is not None:
            query = query.where(AuditEntry.at >= to_db(start))
        if end is not None:
            query = query.where(AuditEntry.at < to_db(end))
    except (OverflowError, ValueError) as exc:
        raise HTTPException(422, f"时间超出范围 / time out of range: {exc}") from exc
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(AuditEntry.id.desc()).offset(offset).limit(limit))
    return AuditPage(total=total, entries=[AuditEntryOut(id=e.id, at=as_utc(e.at), actor=e.actor, action=e.action,
                                                         target_type=e.target_type, target_id=e.target_id, unit_id=e.unit_id,
                                                         detail=e.detail or {}, hash=e.hash) for e in rows])


@router.get("/verify", response_model=ChainOut, summary="Recompute the audit hash chain; names each entry that was edited or removed", **require(Action.VERIFY_AUDIT))
def verify_audit(principal: CurrentPrincipal, session: DbSession) -> ChainOut:
    report = verify_chain(session)
    return ChainOut(ok=report.ok, checked=report.checked, unchained=report.unchained, first_id=report.first_id,
                    last_id=report.last_id, breaks=[ChainBreakOut(entry_id=b.entry_id, reason=b.reason) for b in report.breaks])
