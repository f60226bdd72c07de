"""Spreadsheet import and export of a unit's inventory (XLSX through openpyxl, and CSV).

The workbook has one sheet per kind, named by the kind's Chinese label (安全管理员, IP地址段, 主机,
服务, 网站, 信息系统, 教育APP), with the column headers of ``inventory.assets.KINDS`` in its
header row (within the first five rows, so a title row above it is fine). A CSV file holds one
kind, named by the caller or recognised from its headers; UTF-8 (with or without BOM) and GB18030
(what Excel saves in China) are both read.

Semantics, per row: each row is applied whole or not at all. A row with any bad value is
rejected with its row number, column and reason in Chinese, and nothing of it is saved; good rows
in the same file are saved (upserted by the kind's key: an existing row with the same key is
updated, otherwise created). A row whose key repeats an earlier row of the same sheet is
rejected as a duplicate. Rows not in the file are left alone (import never deletes).
With ``dry_run`` nothing is saved and the report says what would happen.

What spreadsheets people really send: cells merged down a column (the value applies to every
row of the merge), full-width digits (１３８…), dates typed as 2024年3月5日 or 2024/3/5 or as
date cells, blank rows, header cells with a trailing * or （必填）.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy.orm import Session

from inventory import cells
from inventory.assets import (
    FILING_STATUSES, InventoryError, KINDS, KindSpec, create_row, parse_values, row_values, rows_of, update_row,
)
from inventory.spreadsheet_grids import HEADER_SEARCH_ROWS, MAX_ROWS, Grid, read_grids
from inventory.spreadsheet_grids import ImportFileError as ImportFileError  # raised by import_inventory: part of this API
from soc_core.clock import Clock
from soc_core.models import Unit



@dataclass(frozen=True)
class RowRejection:
    sheet: str
    row: int        # the spreadsheet's own row number (1-based, header included)
    column: str     # Chinese header, with its column letter for XLSX
    reason: str


@dataclass(frozen=True)
class RowAccepted:
    sheet: str
    row: int
    action: str     # created | updated | unchanged


@dataclass
class ImportReport:
    accepted: list[RowAccepted] = field(default_factory=list)
    rejected: list[RowRejection] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def rejected_rows(self) -> int:
        return len({(r.sheet, r.row) for r in self.rejected})


@dataclass(frozen=True)
class SheetRows:
    spec: KindSpec
    sheet: str
    rows: list[tuple[int, dict[str, Any]]]          # (row number, column name -> raw value)
    letters: dict[str, str]                         # column name -> column letter ('' for CSV)


def _header_key(value: Any) -> str:
    text = cells.clean(value)
    return re.sub(r"[*＊]|[（(]必填[)）]|\s", "", text)


def _match_headers(spec: KindSpec, header_row: list[Any]) -> dict[int, str]:
    """Column index -> column name for the cells of ``header_row`` that name a column of ``spec``."""
    by_header = {c.header: c.name for c in spec.columns} | {c.name: c.name for c in spec.columns}
    return {i: by_header[_header_key(v)] for i, v in enumerate(header_row) if _header_key(v) in by_header}


def _sheet_rows(spec: KindSpec, sheet: str, grid: list[list[Any]], report: ImportReport, letters: bool) -> SheetRows | None:
    for index, candidate in enumerate(grid[:HEADER_SEARCH_ROWS]):
        mapping = _match_headers(spec, candidate)
        if mapping:
            break
    else:
        report.warnings.append(f"工作表“{sheet}”：未找到表头（应包含 {'、'.join(c.header for c in spec.columns)}），已跳过")
        return None
    missing = [c.header for c in spec.columns if c.required and c.name not in mapping.values()]
    if missing:
        raise ImportFileError(f"工作表“{sheet}”缺少必填列：{'、'.join(missing)}")
    known = set(mapping)
    for i, value in enumerate(grid[index]):
        if i not in known and not cells.is_blank(value):
            report.warnings.append(f"工作表“{sheet}”：不认识的列“{cells.clean(value)}”，已忽略")
    if len(grid) - index - 1 > MAX_ROWS:
        raise ImportFileError(f"工作表“{sheet}”超过 {MAX_ROWS} 行，请分批导入")
    rows = []
    for number, values in enumerate(grid[index + 1:], start=index + 2):
        raw = {name: values[i] if i < len(values) else None for i, name in mapping.items()}
        if all(cells.is_blank(v) for v in raw.values()):
            continue
        rows.append((number, raw))
    return SheetRows(spec, sheet, rows, {name: get_column_letter(i + 1) if letters else "" for i, name in mapping.items()})


def _spec_for_sheet(title: str) -> KindSpec | None:
    name = cells.clean(title)
    return next((s for s in KINDS.values() if name in (s.label, s.kind)), None)


def sheets_of_workbook(grids: list[tuple[str, Grid]], report: ImportReport) -> list[SheetRows]:
    sheets = []
    for title, grid in grids:
        spec = _spec_for_sheet(title)
        if spec is None:
            if title != README_SHEET:
                report.warnings.append(f"工作表“{title}”不是资产类别（{'、'.join(s.label for s in KINDS.values())}），已跳过")
            continue
        found = _sheet_rows(spec, title, grid, report, letters=True)
        if found:
            sheets.append(found)
    if not sheets:
        raise ImportFileError("文件中没有可导入的工作表：工作表名应为资产类别名称，如“信息系统”")
    return sheets


def sheets_of_csv(grid: Grid, kind: str | None, report: ImportReport) -> list[SheetRows]:
    if kind is not None:
        if kind not in KINDS:
            raise ImportFileError(f"未知的资产类别“{kind}”")
        spec = KINDS[kind]
    else:  # the kind whose headers the file names most
        scored = [(max((len(_match_headers(s, row)) for row in grid[:HEADER_SEARCH_ROWS]), default=0), s) for s in KINDS.values()]
        best, spec = max(scored, key=lambda pair: pair[0])
        if best == 0:
            raise ImportFileError("无法从表头判断资产类别：请使用模板的表头，或指定 kind 参数")
    found = _sheet_rows(spec, spec.label, grid, report, letters=False)
    return [found] if found else []


def _column_label(sheet: SheetRows, header: str) -> str:
    name = next((c.name for c in sheet.spec.columns if c.header == header), None)
    letter = sheet.letters.get(name or "", "")
    return f"{header}（{letter}列）" if letter else header


def apply_rows(session: Session, clock: Clock, actor: str, unit: Unit, sheets: list[SheetRows], report: ImportReport) -> None:
    """Validate and upsert each row in its own savepoint: a row is saved whole or not at all."""
    for sheet in sheets:
        seen: dict[tuple[Any, ...], int] = {}
        # The unit's rows of this kind by key, read once (not one query per spreadsheet row).
        filed = {tuple(getattr(r, k) for k in sheet.spec.key): r for r in rows_of(session, sheet.spec, [unit.id])}
        for number, raw in sheet.rows:
            try:
                values = parse_values(sheet.spec, raw)
            except InventoryError as exc:
                report.rejected.extend(RowRejection(sheet.sheet, number, _column_label(sheet, e.column), e.reason) for e in exc.errors)
                continue
            key = tuple(values[k] for k in sheet.spec.key)
            if key in seen:
                header = sheet.spec.header_of(sheet.spec.key[0])
                report.rejected.append(RowRejection(sheet.sheet, number, _column_label(sheet, header),
                                                    f"与第 {seen[key]} 行重复（{'、'.join(map(str, key))}），未导入"))
                continue
            seen[key] = number
            existing = filed.get(key)
            if report.dry_run:
                action = "created" if existing is None else ("unchanged" if row_values(sheet.spec, existing) == values else "updated")
                report.accepted.append(RowAccepted(sheet.sheet, number, action))
                continue
            savepoint = session.begin_nested()
            try:
                if existing is None:
                    filed[key] = create_row(session, clock, actor, sheet.spec, unit, raw, known_new=True)
                    action = "created"
                else:
                    before = row_values(sheet.spec, existing)
                    update_row(session, clock, actor, sheet.spec, existing, raw)
                    action = "unchanged" if before == row_values(sheet.spec, existing) else "updated"
                savepoint.commit()
            except InventoryError as exc:
                savepoint.rollback()
                report.rejected.extend(RowRejection(sheet.sheet, number, _column_label(sheet, e.column), e.reason) for e in exc.errors)
                continue
            report.accepted.append(RowAccepted(sheet.sheet, number, action))


def import_inventory(session: Session, clock: Clock, actor: str, unit: Unit, filename: str, content: bytes,
                     kind: str | None = None, dry_run: bool = False) -> ImportReport:
    """Read an XLSX or CSV file and file its rows for ``unit``; the caller commits."""
    report = ImportReport(dry_run=dry_run)
    grids = read_grids(content, filename)  # in a child process with memory and time limits
    if len(grids) == 1 and grids[0][0] == "":  # a CSV file: one untitled sheet
        sheets = sheets_of_csv(grids[0][1], kind, report)
    else:
        sheets = sheets_of_workbook(grids, report)
    apply_rows(session, clock, actor, unit, sheets, report)
    return report


# --- template and export -------------------------------------------------------------------

README_SHEET = "填写说明"
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_CHOICES = {"full_time": '"专职,兼职"', "transport": '"tcp,udp"',
            "filing_status": '"' + ",".join(FILING_STATUSES.values()) + '"',
            "centrally_hosted": '"是,否"', "is_cii": '"是,否"'}


def display_value(name: str, value: Any) -> Any:
    """A stored value as a person writes it in the spreadsheet (what the import reads back)."""
    if name == "full_time":
        return "专职" if value else "兼职"
    if name == "filing_status":
        return FILING_STATUSES.get(value, value)
    if isinstance(value, bool):
        return "是" if value else "否"
    return value


def _write_sheet(ws: Worksheet, spec: KindSpec) -> None:
    ws.append([c.header + ("*" if c.required else "") for c in spec.columns])
    for i, column in enumerate(spec.columns, start=1):
        cell = ws.cell(1, i)
        cell.font, cell.fill = Font(bold=True), _HEADER_FILL
        ws.column_dimensions[get_column_letter(i)].width = max(12, len(column.header) * 2 + 4)
        if column.name in _CHOICES:
            validation = DataValidation(type="list", formula1=_CHOICES[column.name], allow_blank=not column.required)
            validation.add(f"{get_column_letter(i)}2:{get_column_letter(i)}{MAX_ROWS}")
            ws.add_data_validation(validation)
    ws.freeze_panes = "A2"


def _readme(ws: Worksheet) -> None:
    ws.append(["教育专网资产清单导入模板 / edusoc inventory template"])
    ws.append(["每个工作表对应一类资产；表头带 * 的列必填；日期写 2024-03-05 或 2024年3月5日；每行独立导入，"
               "有错误的行整行不导入并报告行号、列和原因。"])
    ws.append([])
    ws.append(["工作表", "列", "必填", "说明"])
    for spec in KINDS.values():
        for column in spec.columns:
            ws.append([spec.label, column.header, "是" if column.required else "", column.hint])
    ws.column_dimensions["A"].width, ws.column_dimensions["B"].width, ws.column_dimensions["D"].width = 14, 22, 40


def build_workbook(session: Session | None = None, unit: Unit | None = None) -> bytes:
    """The template (no unit) or the unit's inventory in the template's layout."""
    workbook = Workbook()
    readme = workbook.active
    assert isinstance(readme, Worksheet), "a new workbook opens on one worksheet"
    _readme(readme)
    readme.title = README_SHEET
    for spec in KINDS.values():
        ws = workbook.create_sheet(spec.label)
        _write_sheet(ws, spec)
        if session is not None and unit is not None:
            for row in rows_of(session, spec, [unit.id]):
                values = row_values(spec, row)
                ws.append([display_value(c.name, values[c.name]) for c in spec.columns])
                for cell in ws[ws.max_row]:
                    if isinstance(cell.value, (date, datetime)):
                        cell.number_format = "yyyy-mm-dd"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def build_csv(session: Session, unit: Unit, kind: str) -> bytes:
    """One kind of the unit's inventory as CSV (UTF-8 with BOM, so Excel opens it in Chinese)."""
    spec = KINDS[kind]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([c.header for c in spec.columns])
    for row in rows_of(session, spec, [unit.id]):
        values = row_values(spec, row)
        writer.writerow([_csv_cell(display_value(c.name, values[c.name])) for c in spec.columns])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def iter_rejections(report: ImportReport) -> Iterator[dict[str, Any]]:
    for r in report.rejected:
        yield {"sheet": r.sheet, "row": r.row, "column": r.column, "reason": r.reason}
