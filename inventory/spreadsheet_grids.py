"""An uploaded spreadsheet to plain grids of cell values, safely: sizes checked before cells are
loaded, and the whole parse in a child process with a memory and a time limit (soc_core.worker).

    grids = read_grids(content, filename)    # [(sheet title, rows of values)]; ImportFileError if refused

XLSX is read with openpyxl in read-only mode (cells streamed, never a whole sheet object): the
sheet's declared dimension is checked first, rows are read up to the limit and not one more, and
merged ranges (which read-only mode does not report) are streamed from the sheet's XML and filled
in only within the rows and columns actually read — a merge over A1:XFD1048576 costs nothing.
CSV is decoded (UTF-8, else GB18030) and split by the csv module in the same child; a malformed line
(a bare CR inside an unquoted field) is refused naming it.
"""
from __future__ import annotations

import csv
import io
import zipfile
from typing import Any
from xml.etree.ElementTree import iterparse

from openpyxl import load_workbook
from openpyxl.utils.cell import range_boundaries

from soc_core.errors import EdusocError
from soc_core.worker import WorkerLimitExceeded, run_limited

MAX_ROWS = 20_000  # data rows per sheet; a larger file is refused outright
HEADER_SEARCH_ROWS = 5
MAX_COLUMNS = 64  # the widest kind has 20 columns; a sheet may carry a few notes beside them
MAX_SHEETS = 32
MAX_UNPACKED_BYTES = 256 * 1024 * 1024  # all parts of the XLSX, uncompressed (a zip bomb stops here)
# The child's limits: a 10 MB upload of the largest allowed size parses in ~1/3 of each.
WORKER_MEMORY_BYTES = 512 * 1024 * 1024
WORKER_SECONDS = 30.0
_MAIN_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"

Grid = list[list[Any]]


class ImportFileError(EdusocError, ValueError):
    """The file as a whole cannot be read (not XLSX/CSV, too large, no recognisable sheet); message in Chinese."""


def read_grids(content: bytes, filename: str) -> list[tuple[str, Grid]]:
    """The sheets of an XLSX file, or the one sheet ("") of a CSV file, parsed in a limited child."""
    is_xlsx = content[:2] == b"PK" or filename.lower().endswith((".xlsx", ".xlsm"))
    if not is_xlsx and not (filename.lower().endswith((".csv", ".txt")) or not filename):
        raise ImportFileError(f"不支持的文件类型“{filename}”：请上传 .xlsx 或 .csv")
    try:
        return run_limited(xlsx_grids if is_xlsx else csv_grids, content,
                           memory_bytes=WORKER_MEMORY_BYTES, seconds=WORKER_SECONDS)
    except WorkerLimitExceeded as exc:
        what = {"memory": f"内存超过 {WORKER_MEMORY_BYTES // (1024 * 1024)} MB",
                "time": f"超过 {WORKER_SECONDS:g} 秒"}.get(exc.limit, "解析进程异常退出")
        raise ImportFileError(f"文件无法在限制内读取（{what}）：请检查是否含超大合并单元格或过多行，分批导入") from None


def xlsx_grids(content: bytes) -> list[tuple[str, Grid]]:
    _check_sizes(content)
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a file that is not a workbook
        raise ImportFileError(f"无法读取 XLSX 文件：{type(exc).__name__}") from exc
    if len(workbook.worksheets) > MAX_SHEETS:
        raise ImportFileError(f"工作簿有 {len(workbook.worksheets)} 个工作表，超过 {MAX_SHEETS} 个")
    limit = MAX_ROWS + HEADER_SEARCH_ROWS
    grids = []
    for ws in workbook.worksheets:
        # The declared size (<dimension ref="A1:Z1050000"/>), before any cell is read.
        declared = ws.max_row if isinstance(ws.max_row, int) else 0
        if declared > limit:
            raise ImportFileError(f"工作表“{ws.title}”有 {declared} 行，超过 {MAX_ROWS} 行，请分批导入")
        grid: Grid = []
        for row in ws.iter_rows(max_row=limit + 1, max_col=MAX_COLUMNS, values_only=True):
            grid.append(list(row))
        if len(grid) > limit:
            raise ImportFileError(f"工作表“{ws.title}”超过 {MAX_ROWS} 行，请分批导入")
        _fill_merged(grid, _merged_ranges(ws))
        grids.append((ws.title, grid))
    workbook.close()
    return grids


def _check_sizes(content: bytes) -> None:
    """Refuse a workbook by its parts' sizes and its sheets' row counts before openpyxl opens it (which,
    for a sheet without a <dimension>, parses the whole sheet just to learn its size)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile:
        return  # load_workbook says what is wrong
    with archive:
        total = sum(item.file_size for item in archive.infolist())
        if total > MAX_UNPACKED_BYTES:
            raise ImportFileError(f"文件解压后 {total // (1024 * 1024)} MB，超过 {MAX_UNPACKED_BYTES // (1024 * 1024)} MB")
        limit = MAX_ROWS + HEADER_SEARCH_ROWS
        for name in archive.namelist():
            if not (name.startswith("xl/worksheets/") and name.endswith(".xml")):
                continue
            rows = 0
            with archive.open(name) as part:
                for _, element in iterparse(part, events=("start",)):
                    if element.tag == f"{_MAIN_NS}row":
                        rows += 1
                        if rows > limit:
                            raise ImportFileError(f"工作表超过 {MAX_ROWS} 行，请分批导入")
                    elif element.tag == f"{_MAIN_NS}dimension":
                        try:
                            declared = range_boundaries(element.get("ref", "A1"))[3] or 0
                        except (TypeError, ValueError):
                            declared = 0  # a dimension that says nothing: the rows are counted
                        if declared > limit:
                            raise ImportFileError(f"工作表声明 {declared} 行，超过 {MAX_ROWS} 行，请分批导入")
                    elif element.tag == f"{_MAIN_NS}mergeCells":
                        break  # the cells are behind us


def _merged_ranges(ws: Any) -> list[tuple[int, int, int, int]]:
    """(min_col, min_row, max_col, max_row) of each merged range, streamed from the sheet's XML."""
    ranges: list[tuple[int, int, int, int]] = []
    try:
        source = ws._get_source()  # read-only worksheets do not parse mergeCells; the part is streamed
    except (KeyError, zipfile.BadZipFile):
        return ranges
    with source:
        for _, element in iterparse(source, events=("end",)):
            if element.tag == f"{_MAIN_NS}mergeCell":
                try:
                    min_col, min_row, max_col, max_row = range_boundaries(element.get("ref", ""))
                    # a whole-row or whole-column range ("A:A", "1:1") has open ends: no merged cells
                    if min_col is not None and min_row is not None and max_col is not None and max_row is not None:
                        ranges.append((min_col, min_row, max_col, max_row))
                except (TypeError, ValueError):
                    pass  # a malformed range is ignored, as Excel does
            if element.tag in (f"{_MAIN_NS}row", f"{_MAIN_NS}mergeCell"):
                element.clear()
    return ranges


def _fill_merged(grid: Grid, ranges: list[tuple[int, int, int, int]]) -> None:
    """Every cell of a merged range takes its top-left value, within the cells actually read."""
    for min_col, min_row, max_col, max_row in ranges:
        if min_row > len(grid):
            continue
        top = grid[min_row - 1]
        value = top[min_col - 1] if min_col - 1 < len(top) else None
        for r in range(min_row, min(max_row, len(grid)) + 1):
            row = grid[r - 1]
            for c in range(min_col, min(max_col, len(row)) + 1):
                row[c - 1] = value


def decode_text(content: bytes) -> str:
    """CSV bytes as text: UTF-8 (with or without BOM), else GB18030 (what Excel saves in China)."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFileError("CSV 文件编码无法识别：请另存为 UTF-8 或 GBK")


def csv_grids(content: bytes) -> list[tuple[str, Grid]]:
    """The rows of a CSV file; a malformed line (e.g. a bare CR inside an unquoted field) is an ImportFileError naming it."""
    reader = csv.reader(io.StringIO(decode_text(content)))
    grid: Grid = []
    try:
        for row in reader:
            grid.append(row)
            if len(grid) > MAX_ROWS + HEADER_SEARCH_ROWS:
                raise ImportFileError(f"CSV 文件超过 {MAX_ROWS} 行，请分批导入")
    except csv.Error as exc:
        raise ImportFileError(f"CSV 第 {reader.line_num} 行格式错误（字段中的换行或回车须放在双引号内）：{exc}") from None
    return [("", grid)]
