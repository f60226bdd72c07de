"""Spreadsheet routes of /api/v1/assets: import (XLSX or CSV), the template and exports.

Mounted before the {kind} routes of assets.py so these fixed paths are matched first.
"""
from __future__ import annotations

from typing import Annotated, Any

from fastapi.concurrency import run_in_threadpool
from fastapi import APIRouter, File, Form, HTTPException, Query, UploadFile
from fastapi.responses import Response

from inventory.asset_import import ImportFileError, build_csv, build_workbook, import_inventory, iter_rejections
from inventory.assets import KINDS
from soc_api.auth import Context, CurrentPrincipal, DbSession, require
from soc_api.downloads import MAX_UPLOAD_BYTES, XLSX, attachment
from soc_api.scoping import filing_unit, scoped_unit
from soc_core.audit import record_audit
from soc_core.permissions import Action

router = APIRouter(prefix="/api/v1/assets", tags=["assets"])


@router.post("/import", summary="Import a unit's inventory from XLSX or CSV; each row is saved whole or not at all", **require(Action.FILE_INVENTORY))
async def import_file(
    principal: CurrentPrincipal, context: Context, session: DbSession,
    file: Annotated[UploadFile, File(description="XLSX (one sheet per kind) or CSV (one kind)")],
    unit_id: Annotated[int | None, Form()] = None,
    kind: Annotated[str | None, Form(description="for CSV: the kind of rows; guessed from the headers when absent")] = None,
    dry_run: Annotated[bool, Form()] = False,
) -> dict[str, Any]:
    unit = filing_unit(session, principal, unit_id)
    content = await file.read(MAX_UPLOAD_BYTES + 1)
    if len(content) > MAX_UPLOAD_BYTES:
        raise HTTPException(413, f"文件超过 {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    try:
        # Off the event loop: parsed in a limited child process (soc_core.worker), rows saved in a worker thread.
        report = await run_in_threadpool(import_inventory, session, context.clock, principal.user.username, unit,
                                         file.filename or "", content, kind, dry_run)
    except ImportFileError as exc:
        raise HTTPException(422, {"message": str(exc), "errors": []}) from exc
    if not dry_run:
        record_audit(session, context.clock, principal.user.username, "asset.import", "unit", unit.id, unit.id,
                     filename=file.filename, accepted=len(report.accepted), rejected_rows=report.rejected_rows)
        session.commit()
    else:
        session.rollback()
    return {
        "unit_id": unit.id, "dry_run": dry_run,
        "accepted": len(report.accepted), "rejected_rows": report.rejected_rows,
        "accepted_rows": [{"sheet": a.sheet, "row": a.row, "action": a.action} for a in report.accepted],
        "rejected": list(iter_rejections(report)), "warnings": report.warnings,
    }


@router.get("/template.xlsx", summary="The empty import template: one sheet per kind, Chinese headers", **require(Action.VIEW))
def template(principal: CurrentPrincipal) -> Response:
    return attachment(build_workbook(), XLSX, "资产清单导入模板.xlsx")


@router.get("/export.xlsx", summary="A unit's inventory in the template's layout", **require(Action.VIEW))
def export_xlsx(principal: CurrentPrincipal, session: DbSession, unit_id: Annotated[int | None, Query()] = None) -> Response:
    unit = scoped_unit(session, principal, unit_id)
    return attachment(build_workbook(session, unit), XLSX, f"资产清单-{unit.name}.xlsx")


@router.get("/export.csv", summary="One kind of a unit's inventory as CSV (UTF-8 with BOM)", **require(Action.VIEW))
def export_csv(principal: CurrentPrincipal, session: DbSession, kind: Annotated[str, Query()],
               unit_id: Annotated[int | None, Query()] = None) -> Response:
    if kind not in KINDS:
        raise HTTPException(404, f"unknown asset kind {kind!r}")
    unit = scoped_unit(session, principal, unit_id)
    return attachment(build_csv(session, unit, kind), "text/csv; charset=utf-8", f"{KINDS[kind].label}-{unit.name}.csv")
