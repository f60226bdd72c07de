"""/api/v1/ingest/quarantine: the events the store refused for their content, for system admins and
duty officers (their subtree's units): list, retry, drop. Mounted by the composition root because
it joins the API's principals to the collector's quarantine."""
from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from collectors.ingest import IngestService
from collectors.quarantine import Quarantine, QuarantinedEvent
from collectors.quarantine_actions import drop_quarantined, retry_quarantined
from soc_api.auth import Context, CurrentPrincipal, DbSession, Principal, require
from soc_core.permissions import Action
from soc_core.event_store import EventStoreError
from soc_core.models import Unit



def build_quarantine_router(ingest: IngestService) -> APIRouter:
    router = APIRouter(prefix="/api/v1/ingest/quarantine", tags=["ingest"])

    def quarantine() -> Quarantine:
        if ingest.quarantine is None:
            raise HTTPException(404, "本采集器未启用隔离区（ingest.quarantine_max_events = 0）")
        return ingest.quarantine

    @router.get("", **require(Action.TEND_INGEST_QUARANTINE), summary="Events the store refused for their content (system admins; duty officers: their units)")
    def list_quarantine(principal: CurrentPrincipal, session: DbSession,
                        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
                        limit: Annotated[int, Query(ge=1, le=500)] = 50) -> Response:
        units = _visible_units(session, principal)
        total, entries = quarantine().entries(offset, limit, units)
        return _json({"total": total, "entries": [asdict(e) for e in entries]})

    @router.post("/{entry_id}/retry", **require(Action.TEND_INGEST_QUARANTINE), summary="Write a quarantined event to the store again; audited")
    async def retry_entry(entry_id: str, principal: CurrentPrincipal, context: Context, session: DbSession) -> Response:
        entry = _visible_entry(session, principal, quarantine(), entry_id)
        try:
            again = await run_in_threadpool(retry_quarantined, session, context.clock, principal.user.username,
                                            quarantine(), ingest.store, entry.id)
        except EventStoreError as exc:
            raise HTTPException(503, f"事件库不可用，请稍后重试：{exc}") from exc
        session.commit()
        return _json({"stored": again is None, "entry": asdict(again) if again else None})

    @router.delete("/{entry_id}", **require(Action.TEND_INGEST_QUARANTINE), summary="Delete a quarantined event for good; audited")
    def drop_entry(entry_id: str, principal: CurrentPrincipal, context: Context, session: DbSession) -> dict[str, bool]:
        entry = _visible_entry(session, principal, quarantine(), entry_id)
        dropped = drop_quarantined(session, context.clock, principal.user.username, quarantine(), entry.id)
        session.commit()
        return {"dropped": dropped}

    return router


def _json(content: dict[str, Any]) -> Response:
    """Quarantined events are what the store could not take, e.g. nested deeper than pydantic serialises:
    the standard library's json writes them (as the quarantine file did)."""
    return Response(json.dumps(content, ensure_ascii=False, default=repr), media_type="application/json")


def _visible_units(session: DbSession, principal: Principal) -> set[str] | None:
    """None: every unit (a system admin); else the ids of the duty officer's subtree."""
    if principal.is_global:
        return None
    return {str(i) for i in session.scalars(select(Unit.id).where(Unit.path.startswith(principal.scope_path)))}


def _visible_entry(session: DbSession, principal: Principal, quarantine: Quarantine, entry_id: str) -> QuarantinedEvent:
    units = _visible_units(session, principal)
    entry = quarantine.get(entry_id)
    if entry is None or (units is not None and entry.unit_id not in units):
        raise HTTPException(404, f"隔离区中没有 {entry_id}")
    return entry
