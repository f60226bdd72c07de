"""/api/v1/compliance, /api/v1/findings and /api/v1/app-registry: what regulators see, read-only and scoped.

Every figure is ``{numerator, denominator, value}`` for the unit asked for and everything below
it, with the same figures per direct child for drill-down.
"""
from __future__ import annotations

import io
from typing import Annotated, Any

from fastapi.concurrency import run_in_threadpool
from fastapi import APIRouter, File, HTTPException, Query, UploadFile
from fastapi.responses import Response
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import select

from compliance.check_runner import run_checks
from compliance.figures import ComplianceReport, FIGURES, compliance_report, take_snapshots, trend
from compliance.findings import PRIORITY_LABELS, open_findings
from inventory.app_registry import import_registry_csv
from inventory.asset_import import ImportFileError
from inventory.models import FiledApp, Finding
from soc_api.auth import Context, CurrentPrincipal, DbSession, require
from soc_api.downloads import XLSX, attachment
from soc_api.schemas.compliance import FindingNotice
from soc_api.scoping import scoped_unit
from soc_core.clock import as_utc, to_shanghai
from soc_core.models import Unit
from soc_core.permissions import Action

router = APIRouter(tags=["compliance"])


@router.get("/api/v1/compliance", summary="Compliance figures of a unit and everything below it, with drill-down", **require(Action.VIEW))
def get_compliance(principal: CurrentPrincipal, context: Context, session: DbSession,
                   unit_id: Annotated[int | None, Query()] = None) -> dict[str, Any]:
    unit = scoped_unit(session, principal, unit_id)
    return compliance_report(session, context.clock, context.settings, unit).as_dict()


@router.get("/api/v1/compliance/trend", summary="Daily snapshots of a unit's figures", **require(Action.VIEW))
def get_trend(principal: CurrentPrincipal, context: Context, session: DbSession,
              unit_id: Annotated[int | None, Query()] = None, days: Annotated[int, Query(ge=1, le=3660)] = 90) -> list[dict[str, Any]]:
    unit = scoped_unit(session, principal, unit_id)
    return trend(session, unit, days, context.clock)


def report_workbook(report: ComplianceReport, findings: list[tuple[Finding, str]]) -> bytes:
    workbook = Workbook()
    summary = workbook.active
    assert isinstance(summary, Worksheet), "a new workbook opens on one worksheet"
    summary.title = "合规概况"
    summary.append([f"{report.unit.name} 合规情况", f"截至 {to_shanghai(report.as_of):%Y-%m-%d %H:%M}（北京时间）"])
    summary.append(["指标", "分子", "分母", "比率"])
    for name, figure in report.figures.items():
        summary.append([FIGURES[name], figure.numerator, figure.denominator, figure.value])
        summary.cell(summary.max_row, 4).number_format = "0.0%"
    summary.append([])
    summary.append(["未关闭问题（高/中/低）", report.findings["high"], report.findings["medium"], report.findings["low"]])
    units = workbook.create_sheet("下级单位")
    units.append(["单位", "类型"] + [f"{FIGURES[n]}（分子/分母）" for n in FIGURES] + ["未关闭问题"])
    for child, figures, found in report.children:
        units.append([child.name, child.kind] + [f"{figures[n].numerator}/{figures[n].denominator}" for n in FIGURES]
                     + [sum(found.values())])
    open_sheet = workbook.create_sheet("未关闭问题")
    open_sheet.append(["单位", "检查项", "对象", "优先级", "说明", "首次发现（北京时间）"])
    for finding, unit_name in findings:
        open_sheet.append([unit_name, finding.check_id, finding.subject, PRIORITY_LABELS.get(finding.priority, finding.priority),
                           finding.message, f"{to_shanghai(finding.first_seen_at):%Y-%m-%d %H:%M}"])
    for sheet in workbook.worksheets:
        for cell in sheet[2 if sheet is summary else 1]:
            cell.font = Font(bold=True)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@router.get("/api/v1/compliance/export.xlsx", summary="The compliance figures, per child unit and open findings, as XLSX", **require(Action.VIEW))
def export_compliance(principal: CurrentPrincipal, context: Context, session: DbSession,
                      unit_id: Annotated[int | None, Query()] = None) -> Response:
    unit = scoped_unit(session, principal, unit_id)
    report = compliance_report(session, context.clock, context.settings, unit)
    return attachment(report_workbook(report, open_findings(session, unit)), XLSX, f"合规情况-{unit.name}.xlsx")


@router.get("/api/v1/findings", summary="Open findings of the checks in a unit and everything below it", **require(Action.VIEW))
def list_findings(principal: CurrentPrincipal, session: DbSession, unit_id: Annotated[int | None, Query()] = None,
                  check_id: Annotated[str | None, Query()] = None) -> list[dict[str, Any]]:
    unit = scoped_unit(session, principal, unit_id)
    return [{"id": f.id, "check_id": f.check_id, "unit_id": f.unit_id, "unit_name": name, "subject": f.subject,
             "priority": f.priority, "message": f.message, "detail": f.detail,
             "first_seen_at": as_utc(f.first_seen_at).isoformat(), "last_seen_at": as_utc(f.last_seen_at).isoformat()}
            for f, name in open_findings(session, unit, check_id)]


@router.post("/api/v1/compliance/run-checks", summary="Run every check now (system admin or duty officer)", **require(Action.RUN_CHECKS))
def run_checks_now(principal: CurrentPrincipal, context: Context, session: DbSession) -> dict[str, int]:
    result = run_checks(session, context.clock, context.settings.compliance, context.event_store, principal.user.username)
    snapshots = take_snapshots(session, context.clock, context.settings)
    session.commit()
    return {"opened": result.opened, "still_open": result.still_open, "resolved": result.resolved, "snapshots": snapshots}


@router.get("/api/v1/app-registry", summary="The national education-app filing list as imported", **require(Action.VIEW))
def list_registry(principal: CurrentPrincipal, session: DbSession,
                  status: Annotated[str | None, Query(description="valid, revoked or blacklisted")] = None) -> list[dict[str, Any]]:
    query = select(FiledApp).order_by(FiledApp.name)
    if status:
        query = query.where(FiledApp.status == status)
    return [{"filing_no": e.filing_no, "name": e.name, "provider": e.provider, "status": e.status,
             "domains": [d for d in e.domains.split(",") if d], "updated_at": as_utc(e.updated_at).isoformat()}
            for e in session.scalars(query)]


@router.post("/api/v1/app-registry/import", summary="Import the national education-app filing list (CSV); system admin", **require(Action.MANAGE_APP_REGISTRY))
async def import_registry(principal: CurrentPrincipal, context: Context, session: DbSession,
                          file: Annotated[UploadFile, File()]) -> dict[str, Any]:
    try:
        content = await file.read(10 * 1024 * 1024)
        # Off the event loop: the file is parsed in a limited child process, the rows saved in a worker thread.
        report = await run_in_threadpool(import_registry_csv, session, context.clock, principal.user.username, content)
    except ImportFileError as exc:
        raise HTTPException(422, {"message": str(exc), "errors": []}) from exc
    session.commit()
    return {"created": report.created, "updated": report.updated,
            "rejected": [{"row": line, "reason": reason} for line, reason in report.rejected]}


@router.post("/api/v1/findings/{finding_id}/notice", status_code=201,
             summary="Turn an open finding into a notice (隐患通报) to its unit, once", **require(Action.ISSUE_NOTICE))
def notice_from_finding(finding_id: int, body: FindingNotice, principal: CurrentPrincipal, context: Context,
                        session: DbSession) -> dict[str, Any]:
    finding = session.get(Finding, finding_id)
    unit = session.get(Unit, finding.unit_id) if finding is not None else None
    if finding is None or unit is None or not principal.can_see(unit):
        raise HTTPException(404, f"finding {finding_id} not found")
    if finding.resolved_at is not None:
        raise HTTPException(409, "the finding is resolved; nothing to rectify")
    if "notice_id" in finding.detail:
        raise HTTPException(409, f"finding {finding_id} became notice {finding.detail['notice_id']} already")
    notice = context.notice_service.issue(
        session, principal.user.username, principal.user.unit, unit, "hazard", finding.message[:300],
        description=f"检查项 {finding.check_id}：{finding.subject}", assets=finding.subject,
        required_actions=body.required_actions, due_at=body.due_at,
    )
    finding.detail = {**finding.detail, "notice_id": notice.id}
    session.commit()
    return {"notice_id": notice.id, "no": notice.no, "target_unit_id": unit.id, "due_at": as_utc(notice.due_at).isoformat()}
