"""Nothing an upload holds can stall the process (issue 14): a merged-cell bomb and a 1,050,000-row sheet
are refused or read within limits in a child process, and other routes answer meanwhile."""
from __future__ import annotations

import io
import re
import threading
import zipfile
from collections.abc import Iterator

import httpx
import pytest
from openpyxl import Workbook

from soc_core.worker import WorkerLimitExceeded, run_limited
from tests.api_helpers import DemoProcess, serving, start_demo_process

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def demo(tmp_path, clock) -> Iterator[DemoProcess]:
    process = start_demo_process(tmp_path, clock)
    yield process
    process.runtime.close()


def _workbook(*rows: list[object]) -> bytes:
    wb = Workbook()
    sheet = wb.active
    sheet.title = "主机"
    sheet.append(["主机名", "IP地址", "操作系统", "用途"])
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _rewrite_sheet(content: bytes, change) -> bytes:  # type: ignore[no-untyped-def]
    """The workbook with its first sheet's XML passed through ``change`` (how such files are crafted)."""
    source, out = zipfile.ZipFile(io.BytesIO(content)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = change(data.decode()).encode()
            target.writestr(item, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return out.getvalue()


def merged_cell_bomb() -> bytes:
    """1.6 KB: one merged range over every cell of the sheet below the header."""
    return _rewrite_sheet(_workbook(["web01", "10.1.1.5", "Linux", "门户"]), lambda xml: xml.replace(
        "</sheetData>", '</sheetData><mergeCells count="1"><mergeCell ref="A2:XFD1048576"/></mergeCells>'))


def million_rows(declared: bool) -> bytes:
    """~170 KB compressed: 1,050,000 rows, with or without the <dimension> that says so."""
    rows = "".join(f'<row r="{n}"><c r="A{n}" t="inlineStr"><is><t>h</t></is></c></row>' for n in range(2, 1_050_001))

    def change(xml: str) -> str:
        xml = re.sub(r"<dimension [^>]*/>", '<dimension ref="A1:D1050000"/>' if declared else "", xml)
        return xml.replace("</sheetData>", rows + "</sheetData>")

    return _rewrite_sheet(_workbook(), change)


def _upload(client, headers, content: bytes):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/assets/import", headers=headers, files={"file": ("清单.xlsx", content, XLSX)})


def test_a_merged_cell_bomb_is_read_within_the_cells_of_the_sheet(demo):
    bomb = merged_cell_bomb()
    assert len(bomb) < 8 * 1024
    answer = _upload(demo.client, demo.login("school1"), bomb)
    assert answer.status_code == 200, answer.text
    # as Excel shows it: the merge's value in every cell of the row, so "web01" is no IP address
    assert (answer.json()["accepted"], answer.json()["rejected_rows"]) == (0, 1)


def test_a_sheet_declaring_a_million_rows_is_refused_before_its_cells_are_read(demo):
    answer = _upload(demo.client, demo.login("school1"), million_rows(declared=True))
    assert answer.status_code == 422
    assert "超过 20000 行" in answer.json()["detail"]["message"]


def test_other_routes_answer_while_a_million_row_sheet_is_refused(demo):
    sheet = million_rows(declared=False)  # no dimension: the rows are counted as they stream
    finished: list[str] = []
    with serving(demo) as live:
        headers = demo.login("school1")

        def upload() -> None:
            with httpx.Client(base_url=live.base_url, timeout=120) as client:
                answer = _upload(client, headers, sheet)
            finished.append(f"upload {answer.status_code} {answer.text[:200]}")

        uploader = threading.Thread(target=upload)
        uploader.start()
        with httpx.Client(base_url=live.base_url, timeout=120) as client:
            while not finished and uploader.is_alive():  # the upload is in flight: the API still answers
                assert client.get("/api/v1/health", headers=headers).status_code == 200
                if not finished:
                    finished.append("health")
        uploader.join()
    assert finished[0] == "health", finished
    assert finished[-1].startswith("upload 422") and "超过 20000 行" in finished[-1]


def _allocate(megabytes: int) -> int:
    return len(bytearray(megabytes * 1024 * 1024))


def _spin() -> None:
    while True:
        pass


def test_the_worker_stops_at_its_memory_and_time_limits():
    assert run_limited(_allocate, 8, memory_bytes=512 << 20, seconds=60) == 8 << 20
    with pytest.raises(WorkerLimitExceeded) as memory:
        run_limited(_allocate, 1024, memory_bytes=256 << 20, seconds=60)
    assert memory.value.limit == "memory"
    with pytest.raises(WorkerLimitExceeded) as time:
        run_limited(_spin, memory_bytes=256 << 20, seconds=1)
    assert time.value.limit == "time"

