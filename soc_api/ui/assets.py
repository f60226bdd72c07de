"""The Chinese-first pages of inventory and compliance: a school admin's inventory forms and import,
a regulator's compliance view with drill-down to units. The rules are those of the JSON API."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi.concurrency import run_in_threadpool
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from compliance.figures import FIGURES, compliance_report, trend
from compliance.findings import PRIORITY_LABELS, open_findings
from inventory.asset_import import ImportFileError, display_value, import_inventory, iter_rejections
from inventory.assets import InventoryError, KINDS, create_row, delete_row, history, row_values, rows_of
from soc_api.auth import Context, DbSession, Principal, require_page
from soc_api.downloads import MAX_UPLOAD_BYTES
from soc_api.scoping import filing_unit, scoped_unit
from soc_api.ui.common import UiPrincipal, templates, to_login
from soc_core.audit import record_audit
from soc_core.models import Unit
from soc_core.permissions import Action

router = APIRouter(include_in_schema=False)
templates.env.filters["percent"] = lambda value: "—" if value is None else f"{value * 100:.1f}%"


def _unit_or_none(session, principal: Principal, unit_id: int | None) -> Unit | None:  # type: ignore[no-untyped-def]
    try:
        return scoped_unit(session, principal, unit_id)
    except HTTPException:
        return None


def _visible_unit(request: Request, principal: Principal | None, session, unit_id: int | None) -> Unit | Response:  # type: ignore[no-untyped-def]
    """The unit a page shows, or the login page / a 404 page to answer with instead."""
    if principal is None:
        return to_login()
    unit = _unit_or_none(session, principal, unit_id)
    return unit if unit is not None else _not_found(request, principal)


def _not_found(request: Request, principal: Principal) -> Response:
    return templates.TemplateResponse(request, "not_found.html", {"principal": principal}, status_code=404)


def _inventory_page(request: Request, principal: Principal, session, unit: Unit, status: int = 200,  # type: ignore[no-untyped-def]
                    **extra: Any) -> Response:
    tables = []
    for spec in KINDS.values():
        rows = [(row.id, [display_value(c.name, row_values(spec, row)[c.name]) for c in spec.columns])
                for row in rows_of(session, spec, [unit.id])]
        tables.append({"spec": spec, "rows": rows})
    children = session.query(Unit).filter(Unit.parent_id == unit.id).order_by(Unit.name).all()
    can_file = principal.may(Action.FILE_INVENTORY)
    return templates.TemplateResponse(request, "assets.html", {
        "principal": principal, "unit": unit, "tables": tables, "children": children, "can_file": can_file,
        "choices": {"full_time": ["专职", "兼职"], "transport": ["tcp", "udp"], "centrally_hosted": ["否", "是"],
                    "is_cii": ["否", "是"], "filing_status": ["未定级", "已定级", "已备案", "变更", "撤销"]},
        **extra}, status_code=status)


@router.get("/assets", response_class=HTMLResponse, **require_page(Action.VIEW))
def inventory_page(request: Request, principal: UiPrincipal, session: DbSession,
                   unit_id: Annotated[int | None, Query()] = None) -> Response:
    if principal is None:
        return to_login()
    unit = _visible_unit(request, principal, session, unit_id)
    if isinstance(unit, Response):
        return unit
    return _inventory_page(request, principal, session, unit)


@router.post("/assets/{kind}/add", response_class=HTMLResponse, **require_page(Action.FILE_INVENTORY))
async def add_row(kind: str, request: Request, principal: UiPrincipal, context: Context, session: DbSession,
                  unit_id: Annotated[int | None, Query()] = None) -> Response:
    if principal is None:
        return to_login()
    if kind not in KINDS:
        raise HTTPException(404, "unknown kind")
    unit = filing_unit(session, principal, unit_id)
    form = await request.form()
    values = {c.name: str(form.get(c.name, "")) for c in KINDS[kind].columns}
    try:
        create_row(session, context.clock, principal.user.username, KINDS[kind], unit, values)
    except InventoryError as exc:
        session.rollback()
        return _inventory_page(request, principal, session, unit, 422, form_errors={"kind": kind, "errors": exc.errors})
    session.commit()
    return RedirectResponse(f"/assets?unit_id={unit.id}#{kind}", status_code=303)


@router.post("/assets/{kind}/{row_id}/delete", **require_page(Action.FILE_INVENTORY))
def remove_row(kind: str, row_id: int, principal: UiPrincipal, context: Context, session: DbSession) -> Response:
    if principal is None:
        return to_login()
    spec = KINDS.get(kind)
    row = session.get(spec.model, row_id) if spec else None
    if row is None:
        raise HTTPException(404, "not found")
    unit = filing_unit(session, principal, row.unit_id)  # type: ignore[attr-defined]
    delete_row(session, context.clock, principal.user.username, spec, row)  # type: ignore[arg-type]
    session.commit()
    return RedirectResponse(f"/assets?unit_id={unit.id}#{kind}", status_code=303)


@router.post("/assets/import", response_class=HTMLResponse, **require_page(Action.FILE_INVENTORY))
async def import_page(request: Request, principal: UiPrincipal, context: Context, session: DbSession,
                      unit_id: Annotated[int | None, Query()] = None) -> Response:
    if principal is None:
        return to_login()
    unit = filing_unit(session, principal, unit_id)
    form = await request.form()
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        return _inventory_page(request, principal, session, unit, 422, import_error="请选择要导入的文件")
    content = await upload.read(MAX_UPLOAD_BYTES + 1)
    try:
        if len(content) > MAX_UPLOAD_BYTES:
            raise ImportFileError("文件超过 10 MB")
        report = await run_in_threadpool(import_inventory, session, context.clock, principal.user.username, unit,
                                         upload.filename or "", content)  # parsed in a limited child process
    except ImportFileError as exc:
        session.rollback()
        return _inventory_page(request, principal, session, unit, 422, import_error=str(exc))
    record_audit(session, context.clock, principal.user.username, "asset.import", "unit", unit.id, unit.id,
                 filename=upload.filename, accepted=len(report.accepted), rejected_rows=report.rejected_rows)
    session.commit()
    return _inventory_page(request, principal, session, unit, import_report={
        "accepted": len(report.accepted), "rejected_rows": report.rejected_rows,
        "rejected": list(iter_rejections(report)), "warnings": report.warnings})


@router.get("/assets/{kind}/{row_id}/history", response_class=HTMLResponse, **require_page(Action.VIEW))
def history_page(kind: str, row_id: int, request: Request, principal: UiPrincipal, session: DbSession) -> Response:
    if principal is None:
        return to_login()
    revisions = history(session, kind, row_id) if kind in KINDS else []
    if not revisions or not principal.can_see(session.get(Unit, revisions[0].unit_id)):  # type: ignore[arg-type]
        return _not_found(request, principal)
    headers = {c.name: c.header for c in KINDS[kind].columns}
    return templates.TemplateResponse(request, "asset_history.html", {
        "principal": principal, "spec": KINDS[kind], "revisions": revisions, "headers": headers,
        "unit": session.get(Unit, revisions[0].unit_id)})


@router.get("/compliance", response_class=HTMLResponse, **require_page(Action.VIEW))
def compliance_page(request: Request, principal: UiPrincipal, context: Context, session: DbSession,
                    unit_id: Annotated[int | None, Query()] = None) -> Response:
    if principal is None:
        return to_login()
    unit = _visible_unit(request, principal, session, unit_id)
    if isinstance(unit, Response):
        return unit
    report = compliance_report(session, context.clock, context.settings, unit)
    parent = session.get(Unit, unit.parent_id) if unit.parent_id else None
    return templates.TemplateResponse(request, "compliance.html", {
        "principal": principal, "report": report, "labels": FIGURES, "unit": unit,
        "parent": parent if parent is not None and principal.can_see(parent) else None,
        "findings": open_findings(session, unit)[:200], "priority_labels": PRIORITY_LABELS,
        "trend": trend(session, unit, 30, context.clock)})
