"""Inventory schools file: validation, versioned history, scoping and read-only regulators."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from inventory import cells
from inventory.assets import InventoryError, KINDS, create_row, history, update_row
from soc_core.models import AuditEntry
from tests.api_helpers import DemoProcess, start_demo_process

SYSTEM = {"name": "招生录取系统", "addresses": "10.1.1.10, xj.school1.edu.cn", "biz_level": "第三级", "service_level": "2",
          "filing_status": "已备案", "filing_cert_no": "44030099001-00001", "graded_on": "2024年3月5日",
          "filed_on": "2024-03-20", "assessed_on": "2025/11/01", "assessor": "示范测评中心", "is_cii": "否"}


@pytest.fixture
def demo(tmp_path, clock) -> Iterator[DemoProcess]:
    process = start_demo_process(tmp_path, clock)
    yield process
    process.runtime.close()


def test_final_level_is_the_higher_of_the_two(session, clock):
    from soc_core.org import UnitKind
    from soc_core.repositories import create_unit

    unit = create_unit(session, "一中", UnitKind.SCHOOL)
    row = create_row(session, clock, "school1", KINDS["information_system"], unit, SYSTEM)
    assert (row.biz_level, row.service_level, row.level) == (3, 2, 3)
    assert row.graded_on.isoformat() == "2024-03-05" and row.filing_status == "filed"


@pytest.mark.parametrize("cert", ["4403009900100001", "44030099001-0001", "4403009900-100001", "A4030099001-00001"])
def test_filing_certificate_number_must_be_eleven_dash_five_digits(cert):
    with pytest.raises(cells.CellError, match="11位数字-5位数字"):
        cells.filing_cert_no(cert)


def test_full_width_certificate_number_is_read():
    assert cells.filing_cert_no("４４０３００９９００１－０００１２") == "44030099001-00012"


def test_filed_system_without_certificate_is_refused_with_every_reason(session, clock):
    from soc_core.org import UnitKind
    from soc_core.repositories import create_unit

    unit = create_unit(session, "一中", UnitKind.SCHOOL)
    with pytest.raises(InventoryError) as caught:
        create_row(session, clock, "school1", KINDS["information_system"], unit,
                   {**SYSTEM, "filing_cert_no": "", "filed_on": ""})
    assert {e.column for e in caught.value.errors} == {"备案证明编号", "备案日期"}


def test_every_change_is_versioned_with_who_when_what(session, clock):
    from soc_core.org import UnitKind
    from soc_core.repositories import create_unit

    unit = create_unit(session, "一中", UnitKind.SCHOOL)
    spec = KINDS["information_system"]
    row = create_row(session, clock, "school1", spec, unit, SYSTEM)
    clock.advance(timedelta(days=1))
    update_row(session, clock, "school1b", spec, row, {"assessed_on": "2026-10-30"})
    update_row(session, clock, "school1b", spec, row, {"assessed_on": "2026-10-30"})  # no change, no version
    revisions = history(session, "information_system", row.id)
    assert [(r.version, r.action, r.actor) for r in revisions] == [(1, "create", "school1"), (2, "update", "school1b")]
    assert revisions[1].changes == {"assessed_on": ["2025-11-01", "2026-10-30"]}
    assert revisions[1].at - revisions[0].at == timedelta(days=1)


def test_school_admin_files_for_own_school_and_regulator_reads_history(demo):
    school1 = demo.login("school1")
    created = demo.client.post("/api/v1/assets/information_system", json=SYSTEM, headers=school1)
    assert created.status_code == 201, created.text
    row_id = created.json()["id"]
    assert created.json()["level"] == 3
    assert demo.client.patch(f"/api/v1/assets/information_system/{row_id}", json={"assessor": "另一测评机构"},
                             headers=school1).status_code == 200
    regulator = demo.login("regulator")
    city = demo.unit("DEMO-CITY")
    rows = demo.client.get("/api/v1/assets/information_system", params={"unit_id": city.id}, headers=regulator).json()
    assert "招生录取系统" in [r["name"] for r in rows if r["id"] == row_id]
    versions = demo.client.get(f"/api/v1/assets/information_system/{row_id}/history", headers=regulator).json()
    assert [(v["version"], v["actor"]) for v in versions] == [(1, "school1"), (2, "school1")]
    assert versions[1]["changes"] == {"assessor": ["示范测评中心", "另一测评机构"]}
    with demo.runtime.sessions() as session:
        assert session.query(AuditEntry).filter_by(action="asset.update", target_type="information_system").count() == 1


def test_regulator_cannot_write_inventory(demo):
    regulator = demo.login("regulator")
    response = demo.client.post("/api/v1/assets/security_admin", headers=regulator,
                                json={"name": "张三", "phone": "13800000000", "full_time": "专职"})
    assert response.status_code == 403


def test_school_admin_cannot_touch_another_school(demo):
    other = demo.unit("DEMO-SCHOOL-2")
    school1 = demo.login("school1")
    response = demo.client.post("/api/v1/assets/security_admin", params={"unit_id": other.id}, headers=school1,
                                json={"name": "张三", "phone": "13800000000", "full_time": "专职"})
    assert response.status_code == 404
    school2 = demo.login("school2")
    row = demo.client.post("/api/v1/assets/host", json={"ip": "10.30.0.5"}, headers=school2).json()
    assert demo.client.get(f"/api/v1/assets/host/{row['id']}/history", headers=school1).status_code == 404
    assert demo.client.delete(f"/api/v1/assets/host/{row['id']}", headers=school1).status_code == 404
    assert row["id"] not in [r["id"] for r in demo.client.get("/api/v1/assets/host", headers=school1).json()]


def test_bad_value_answers_422_with_column_and_chinese_reason(demo):
    response = demo.client.post("/api/v1/assets/service", headers=demo.login("school1"),
                                json={"ip": "10.1.1.300", "port": "70000"})
    assert response.status_code == 422
    errors = {e["column"]: e["reason"] for e in response.json()["detail"]["errors"]}
    assert "不是有效的 IP 地址" in errors["IP地址"] and "1–65535" in errors["端口"]


def test_deleted_row_keeps_its_history(demo):
    school1 = demo.login("school1")
    row = demo.client.post("/api/v1/assets/website", headers=school1,
                           json={"domain": "HTTPS://News.School1.edu.cn/", "icp_no": "示ICP备0001号"}).json()
    assert row["domain"] == "news.school1.edu.cn"
    assert demo.client.delete(f"/api/v1/assets/website/{row['id']}", headers=school1).status_code == 204
    versions = demo.client.get(f"/api/v1/assets/website/{row['id']}/history", headers=demo.login("regulator")).json()
    assert [v["action"] for v in versions] == ["create", "delete"] and versions[1]["data"] is None
