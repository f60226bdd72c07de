"""Spreadsheet import: a workbook full of the mistakes people make, row-level atomicity, round trip."""
from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime

import pytest
from openpyxl import Workbook, load_workbook

from sqlalchemy import select

from edusoc.demo import create_demo_user
from inventory.models import InformationSystem, SecurityAdmin
from soc_core.models import Unit
from soc_core.org import Role, UnitKind
from soc_core.repositories import create_unit
from tests.api_helpers import DemoProcess, start_demo_process

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def demo(tmp_path, clock) -> Iterator[DemoProcess]:
    """The demo region plus a school that has filed nothing yet, whose admin is `school9`."""
    process = start_demo_process(tmp_path, clock)
    with process.runtime.sessions() as session:
        county = session.scalars(select(Unit).where(Unit.code == "DEMO-COUNTY")).one()
        school = create_unit(session, "示范区第九中学", UnitKind.SCHOOL, county, code="DEMO-SCHOOL-9")
        create_demo_user(session, clock, "school9", Role.SCHOOL_ADMIN, school)
        session.commit()
    yield process
    process.runtime.close()


def _mine(session, model):
    school = session.scalars(select(Unit).where(Unit.code == "DEMO-SCHOOL-9")).one()
    return session.query(model).filter(model.unit_id == school.id)


def messy_workbook() -> bytes:
    """What a school really sends back: a merged title row, merged cells down a column, full-width
    digits, Chinese dates, a duplicated row, a blank row, bad values."""
    wb = Workbook()
    admins = wb.active
    admins.title = "安全管理员"
    admins.append(["示范区第一中学 网络安全管理员名单"])          # row 1: title, merged A1:D1
    admins.merge_cells("A1:D1")
    admins.append(["姓名*", "职务", "电话（必填）", "专兼职"])     # row 2: header
    admins.append(["王伟", "信息中心主任", "１３８０００１２３４５", "专职"])   # row 3: full-width digits
    admins.append(["李娜", "教师", "0755-12345678", "兼职"])       # row 4
    admins.append([None, None, None, None])                         # row 5: blank, skipped
    admins.append(["王伟", "信息中心主任", "13800012345", "专职"])  # row 6: duplicate of row 3
    admins.append(["赵强", "网管", "电话待定", "临时工"])          # row 7: two bad values

    systems = wb.create_sheet("信息系统")
    systems.append(["系统名称", "IP/域名", "业务信息等级", "系统服务等级", "备案状态", "备案证明编号",
                    "定级日期", "备案日期", "最近测评日期", "测评机构", "是否关键信息基础设施"])
    systems.append(["学籍管理系统", "10.1.1.10", "第三级", "二级", "已备案", "４４０３００９９００１－０００１２",
                    "2024年3月5日", datetime(2024, 3, 20), "2025.11.1", "示范测评中心", "否"])          # row 2
    systems.append(["门户网站", "10.1.1.20", 2, 2, "已备案", "44030099001-12",
                    "2024/3/5", "2024-03-25", None, "示范测评中心", "否"])                               # row 3: bad cert
    systems.append(["OA系统", "10.1.1.30", "二", "二", "已定级", None, "2024年2月30日", None, None, None, "否"])  # row 4: no such date
    systems.append(["一卡通系统", "10.1.1.40", "二", "一", "已定级", None, "2023-09-01", None, None, None, "否"])  # row 5
    systems.append([None, "10.1.1.41", "二", "一", "已定级", None, "2023-09-01", None, None, None, "否"])         # row 6: merged name
    systems.merge_cells("A5:A6")  # the school merged the name down two rows: same system twice -> duplicate
    wb.create_sheet("备注").append(["随便写的东西"])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _import(demo, headers, content: bytes, filename: str = "清单.xlsx", **form):
    return demo.client.post("/api/v1/assets/import", headers=headers,
                            files={"file": (filename, content, XLSX if filename.endswith("xlsx") else "text/csv")}, data=form)


def test_messy_workbook_keeps_good_rows_and_names_each_bad_one(demo):
    response = _import(demo, demo.login("school9"), messy_workbook())
    assert response.status_code == 200, response.text
    body = response.json()
    accepted = {(a["sheet"], a["row"]) for a in body["accepted_rows"]}
    assert accepted == {("安全管理员", 3), ("安全管理员", 4), ("信息系统", 2), ("信息系统", 5)}
    rejected = {(r["sheet"], r["row"], r["column"]): r["reason"] for r in body["rejected"]}
    assert set(rejected) == {
        ("安全管理员", 6, "姓名（A列）"), ("安全管理员", 7, "电话（C列）"), ("安全管理员", 7, "专兼职（D列）"),
        ("信息系统", 3, "备案证明编号（F列）"), ("信息系统", 4, "定级日期（G列）"), ("信息系统", 6, "系统名称（A列）"),
    }
    assert "与第 3 行重复" in rejected[("安全管理员", 6, "姓名（A列）")]
    assert "11位数字-5位数字" in rejected[("信息系统", 3, "备案证明编号（F列）")]
    assert "不是存在的日期" in rejected[("信息系统", 4, "定级日期（G列）")]
    assert "与第 5 行重复" in rejected[("信息系统", 6, "系统名称（A列）")]
    assert body["accepted"] == 4 and body["rejected_rows"] == 5
    assert any("备注" in w for w in body["warnings"])
    with demo.runtime.sessions() as session:
        admins = {a.name: a for a in _mine(session, SecurityAdmin)}
        assert set(admins) == {"王伟", "李娜"} and admins["王伟"].phone == "13800012345" and admins["王伟"].full_time
        systems = {s.name: s for s in _mine(session, InformationSystem)}
        assert set(systems) == {"学籍管理系统", "一卡通系统"}  # a bad row leaves nothing behind
        assert systems["学籍管理系统"].filing_cert_no == "44030099001-00012"
        assert systems["学籍管理系统"].graded_on.isoformat() == "2024-03-05" and systems["学籍管理系统"].level == 3


def test_reimport_updates_by_key_and_is_idempotent(demo):
    headers = demo.login("school9")
    _import(demo, headers, messy_workbook())
    again = _import(demo, headers, messy_workbook()).json()
    assert {a["action"] for a in again["accepted_rows"]} == {"unchanged"}
    with demo.runtime.sessions() as session:
        assert _mine(session, SecurityAdmin).count() == 2


def test_dry_run_saves_nothing(demo):
    body = _import(demo, demo.login("school9"), messy_workbook(), dry_run="true").json()
    assert body["accepted"] == 4 and body["dry_run"] is True
    with demo.runtime.sessions() as session:
        assert _mine(session, SecurityAdmin).count() == 0


def test_gbk_csv_from_excel_is_read_and_kind_guessed(demo):
    content = "姓名,职务,电话,专兼职\r\n陈静,副校长,13900001111,兼职\r\n,,,\r\n刘洋,网管,139,专职\r\n".encode("gb18030")
    body = _import(demo, demo.login("school9"), content, "admins.csv").json()
    assert body["accepted"] == 1
    assert [(r["row"], r["column"]) for r in body["rejected"]] == [(4, "电话")]


def test_regulator_cannot_import(demo):
    assert _import(demo, demo.login("regulator"), messy_workbook()).status_code == 403


def test_not_a_spreadsheet_is_refused_whole(demo):
    response = _import(demo, demo.login("school9"), b"PK\x03\x04 definitely not a zip", "x.xlsx")
    assert response.status_code == 422 and "无法读取" in response.json()["detail"]["message"]


def test_export_reimports_to_the_same_inventory(demo):
    headers = demo.login("school9")
    _import(demo, headers, messy_workbook())
    exported = demo.client.get("/api/v1/assets/export.xlsx", headers=headers)
    assert exported.status_code == 200
    sheet = load_workbook(io.BytesIO(exported.content))["信息系统"]
    assert sheet["A1"].value == "系统名称*" and sheet.max_row == 3
    again = _import(demo, headers, exported.content).json()
    assert again["rejected"] == [] and {a["action"] for a in again["accepted_rows"]} == {"unchanged"}
    csv_body = demo.client.get("/api/v1/assets/export.csv", params={"kind": "security_admin"}, headers=headers)
    assert csv_body.content.startswith("\ufeff姓名".encode())
    assert _import(demo, headers, csv_body.content, "a.csv").json()["accepted"] == 2


def test_template_has_a_sheet_per_kind_and_imports_to_nothing(demo):
    headers = demo.login("regulator")
    template = demo.client.get("/api/v1/assets/template.xlsx", headers=headers)
    names = load_workbook(io.BytesIO(template.content)).sheetnames
    assert names == ["填写说明", "安全管理员", "IP地址段", "主机", "服务", "网站", "信息系统", "教育APP"]
    body = _import(demo, demo.login("school9"), template.content).json()
    assert body["accepted"] == 0 and body["rejected"] == []
