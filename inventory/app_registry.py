"""The national education-app filing list (教育APP备案, DOMAIN.md §3), imported from its CSV export.

The export's column names vary; these headers are recognised (first match wins):
备案号/备案编号/filing_no, APP名称/应用名称/name, 提供者/提供者名称/主办单位/provider,
状态/备案状态/status (有效/正常/valid, 撤销/已撤销/revoked, 黑名单/blacklisted), 域名/domains.
Entries are upserted by filing number; an entry missing from a later export is kept as it was
(the export may be a province's part of the list). A bad line is reported with its line number
and reason and skipped; the others are kept.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory import cells
from inventory.models import FiledApp
from inventory.spreadsheet_grids import ImportFileError, read_grids
from soc_core.audit import record_audit
from soc_core.clock import Clock, to_db

HEADERS = {
    "filing_no": ("备案号", "备案编号", "filing_no"),
    "name": ("APP名称", "应用名称", "名称", "name"),
    "provider": ("提供者", "提供者名称", "主办单位", "provider"),
    "status": ("状态", "备案状态", "status"),
    "domains": ("域名", "domains"),
}
STATUSES = {"有效": "valid", "正常": "valid", "valid": "valid", "撤销": "revoked", "已撤销": "revoked",
            "revoked": "revoked", "黑名单": "blacklisted", "列入黑名单": "blacklisted", "blacklisted": "blacklisted"}


@dataclass
class RegistryImport:
    created: int = 0
    updated: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)


def import_registry_csv(session: Session, clock: Clock, actor: str, content: bytes) -> RegistryImport:
    """Upsert the list's entries; the caller commits."""
    rows = read_grids(content, "list.csv")[0][1]  # in a child process with memory and time limits
    if not rows:
        raise ImportFileError("名单文件为空")
    header = [cells.clean(h) for h in rows[0]]
    columns: dict[str, int] = {}
    for name, aliases in HEADERS.items():
        index = next((i for i, h in enumerate(header) if h in aliases), None)
        if index is not None:
            columns[name] = index
    missing = [HEADERS[n][0] for n in ("filing_no", "name", "status") if n not in columns]
    if missing:
        raise ImportFileError(f"名单缺少列：{'、'.join(missing)}")
    report = RegistryImport()
    existing = {e.filing_no: e for e in session.scalars(select(FiledApp))}
    for line, row in enumerate(rows[1:], start=2):
        value = {n: cells.clean(row[i]) if i < len(row) else "" for n, i in columns.items()}
        if not any(value.values()):
            continue
        if not value["filing_no"] or not value["name"]:
            report.rejected.append((line, "备案号和APP名称不能为空"))
            continue
        status = STATUSES.get(value["status"].lower() if value["status"].isascii() else value["status"])
        if status is None:
            report.rejected.append((line, f"状态应为 有效/撤销/黑名单，而不是“{value['status']}”"))
            continue
        try:
            domains = cells.domains(value.get("domains", ""))
        except cells.CellError as exc:
            report.rejected.append((line, f"域名：{exc}"))
            continue
        entry = existing.get(value["filing_no"])
        if entry is None:
            entry = FiledApp(filing_no=value["filing_no"], name=value["name"], provider=value.get("provider", ""),
                             status=status, domains=domains, updated_at=to_db(clock.now()))
            session.add(entry)
            existing[entry.filing_no] = entry
            report.created += 1
        else:
            changed = (entry.name, entry.provider, entry.status, entry.domains) != (value["name"], value.get("provider", ""), status, domains)
            if changed:
                if entry.status != status:
                    record_audit(session, clock, actor, "app_registry.status", "filed_app", entry.filing_no, None,
                                 before=entry.status, after=status)
                entry.name, entry.provider, entry.status, entry.domains = value["name"], value.get("provider", ""), status, domains
                entry.updated_at = to_db(clock.now())
                report.updated += 1
    record_audit(session, clock, actor, "app_registry.import", "filed_app", "*", None,
                 created=report.created, updated=report.updated, rejected=len(report.rejected))
    return report
