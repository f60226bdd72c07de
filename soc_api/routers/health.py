"""GET /api/v1/health: whether the stores answer, and the pipeline's counters."""
from __future__ import annotations

from typing import Literal

from sqlalchemy import text

from fastapi import APIRouter

from soc_api.auth import Context, CurrentPrincipal, DbSession, require
from soc_api.schemas.health import HealthOut

from soc_core.permissions import Action

router = APIRouter(prefix="/api/v1", tags=["health"])


@router.get("/health", response_model=HealthOut, summary="Health of the stores and the ingest pipeline", **require(Action.VIEW))
def health(principal: CurrentPrincipal, context: Context, session: DbSession) -> HealthOut:
    status: Literal["ok", "degraded"] = "ok"
    try:
        session.execute(text("SELECT 1"))
        case_store = "ok"
    except Exception as exc:  # noqa: BLE001 - reported, not raised: health must answer
        case_store, status = f"error: {exc}", "degraded"
    event_store: dict[str, object] = {"configured": context.event_store is not None}
    if context.event_store is not None:
        try:
            event_store["events"] = context.event_store.count()
            event_store["status"] = "ok"
        except Exception as exc:  # noqa: BLE001
            event_store["status"], status = f"error: {exc}", "degraded"
    components = {name: probe() for name, probe in context.health_probes.items()}
    if any(component.get("alarm") for component in components.values()):  # e.g. a stuck or filling ingest queue
        status = "degraded"
    return HealthOut(status=status, time=context.clock.now(), case_store=case_store,
                     event_store=event_store, components=components)
