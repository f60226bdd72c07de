#!/usr/bin/env python3
"""Inventory import throughput: rows per second through edusoc's per-row-atomic import (parse, validate,
upsert with a savepoint, version and audit each row) into a fresh SQLite case store.

    .venv/bin/python bench/asset_import.py [--rows 5000]

The workbook has ``--rows`` information systems and as many hosts, with realistic values (Chinese
dates, full-width digits in a tenth of the certificate numbers, a bad row in fifty). The reference
is openpyxl alone reading the same workbook cell by cell (``load_workbook`` + ``iter_rows``), in the
same run: the ratio says how much slower a checked, versioned import is than merely reading the file.
Ends with one JSON line.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from openpyxl import Workbook, load_workbook  # noqa: E402

from inventory.asset_import import import_inventory  # noqa: E402
from soc_core.clock import ManualClock  # noqa: E402
from soc_core.db import make_engine, migrate, session_factory  # noqa: E402
from soc_core.org import UnitKind  # noqa: E402
from soc_core.repositories import create_unit  # noqa: E402

FULL_WIDTH = str.maketrans("0123456789-", "０１２３４５６７８９－")


def workbook(rows: int) -> bytes:
    wb = Workbook()
    systems = wb.active
    systems.title = "信息系统"
    systems.append(["系统名称", "IP/域名", "业务信息等级", "系统服务等级", "备案状态", "备案证明编号", "定级日期", "备案日期",
                    "最近测评日期", "测评机构", "是否关键信息基础设施"])
    hosts = wb.create_sheet("主机")
    hosts.append(["IP地址", "主机名", "操作系统", "用途"])
    for i in range(rows):
        cert = f"{44030099000 + i % 1000:011d}-{i:05d}"
        if i % 10 == 0:
            cert = cert.translate(FULL_WIDTH)
        if i % 50 == 7:
            cert = cert[:-1]  # a bad row
        systems.append([f"业务系统{i:05d}", f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}", "第三级", "二级", "已备案", cert,
                        f"2024年{i % 12 + 1}月{i % 28 + 1}日", datetime(2024, i % 12 + 1, i % 28 + 1), "2025/10/1",
                        "示范测评中心", "否"])
        hosts.append([f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}", f"host{i:05d}", "CentOS 7", "业务"])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000, help="rows per sheet (two sheets)")
    args = parser.parse_args()
    content = workbook(args.rows)
    total_rows = 2 * args.rows

    started = time.perf_counter()
    cells = sum(1 for ws in load_workbook(io.BytesIO(content), data_only=True).worksheets
                for row in ws.iter_rows(values_only=True) for _ in row)
    reference = total_rows / (time.perf_counter() - started)

    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/case.db")
        migrate(engine)
        clock = ManualClock(datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc))
        with session_factory(engine)() as session:
            unit = create_unit(session, "基准学校", UnitKind.SCHOOL)
            session.commit()
            started = time.perf_counter()
            report = import_inventory(session, clock, "bench", unit, "bench.xlsx", content)
            session.commit()
            elapsed = time.perf_counter() - started
        engine.dispose()
    value = total_rows / elapsed
    print(f"workbook: {len(content)} bytes, {total_rows} rows, {cells} cells")
    print(f"edusoc import: {len(report.accepted)} accepted, {report.rejected_rows} rejected in {elapsed:.2f} s = {value:.0f} rows/s")
    print(f"reference (openpyxl read only): {reference:.0f} rows/s")
    print(json.dumps({"bench": "asset_import_rows_per_s", "value": round(value, 1), "unit": "rows/s",
                      "reference": round(reference, 1), "ratio": round(value / reference, 4)}))


if __name__ == "__main__":
    main()
