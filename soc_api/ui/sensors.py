"""The 探针与采集 page: sensors per unit with their status and counters, monitoring coverage per unit,
the collector's disk queue (its alarm) and, for system admins, the periodic jobs. Registering,
rotating and revoking go through /api/v1/sensors (static/sensors.js); the rules are the API's."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from inventory.coverage import sensor_health, unit_coverage
from playbooks.scheduler import job_statuses
from soc_api.auth import Context, DbSession, require_page
from soc_api.schemas.jobs import job_out
from soc_api.ui.common import UiPrincipal, templates, to_login
from soc_core.models import Unit
from soc_core.org import Role, UnitKind
from soc_core.permissions import Action, within

router = APIRouter(include_in_schema=False)
STATUS_LABELS = {"online": "在线", "stale": "延迟", "offline": "离线", "revoked": "已吊销"}
QUEUE_WATCHERS = (Role.SYSTEM_ADMIN, Role.DUTY_OFFICER)  # the collector's queue is the regional centre's, not a school's


def coverage_by_unit(units: list[Unit], covered: dict[int, bool]) -> list[dict[str, Any]]:
    """For each bureau in ``units``: the schools of its subtree covered / its schools (those with none left out)."""
    school_paths = {u.path: covered[u.id] for u in units if u.id in covered}
    rows = []
    for unit in units:
        if unit.kind == UnitKind.SCHOOL.value:
            continue
        mine = [ok for path, ok in school_paths.items() if within(path, unit)]
        if mine:
            rows.append({"unit": unit, "covered": sum(mine), "total": len(mine), "value": sum(mine) / len(mine)})
    return rows


@router.get("/sensors", response_class=HTMLResponse, **require_page(Action.VIEW))
def sensors_page(request: Request, principal: UiPrincipal, context: Context, session: DbSession) -> Response:
    if principal is None:
        return to_login()
    now, compliance = context.clock.now(), context.settings.compliance
    window = timedelta(minutes=compliance.heartbeat_window_minutes)
    scope = None if principal.is_global else principal.user.unit
    units = list(session.scalars(select(Unit).where(Unit.id.in_(principal.visible_units())).order_by(Unit.path)))
    sensors = sensor_health(session, now, window, scope, timedelta(seconds=compliance.sensor_heartbeat_seconds))
    schools = unit_coverage(session, now, window, scope)
    covered = {c.unit_id: c.covered for c in schools}
    by_unit = [(unit, [s for s in sensors if s.unit_id == unit.id]) for unit in units]
    probe = context.health_probes.get("ingest_queue")
    return templates.TemplateResponse(request, "sensors.html", {
        "principal": principal, "now": now, "window_minutes": compliance.heartbeat_window_minutes,
        "sensor_units": [(unit, rows) for unit, rows in by_unit if rows or unit.kind == UnitKind.SCHOOL.value],
        "coverage": {"covered": sum(covered.values()), "total": len(covered),
                     "value": sum(covered.values()) / len(covered) if covered else None},
        "coverage_rows": coverage_by_unit(units, covered),
        "status_labels": STATUS_LABELS, "can_manage": principal.may(Action.MANAGE_SENSORS),
        "queue": probe() if probe is not None and principal.role in QUEUE_WATCHERS else None,
        "jobs": [job_out(j) for j in job_statuses(session)] if principal.may(Action.RUN_JOB) else None,
    })
