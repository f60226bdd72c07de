"""Reports upward: first report deadlines by operator type, the 30-day final report, DOCX and PDF with Chinese text."""
from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from incidents import Grade, Source, change_status, open_incident
from incidents.models import TimelineEntry
from soc_core.models import AuditEntry
from tests.api_helpers import DemoProcess, start_demo_process


@pytest.fixture
def demo(tmp_path, clock) -> Iterator[DemoProcess]:
    process = start_demo_process(tmp_path, clock)
    yield process
    process.runtime.close()


def _incident(demo: DemoProcess, clock, grade: Grade = Grade.II) -> int:  # type: ignore[no-untyped-def]
    with demo.runtime.sessions() as session:
        incident = open_incident(session, clock, demo.runtime.settings.incidents, "duty", "门户网站被植入webshell", demo.unit("DEMO-SCHOOL-2"),
                                 grade, Source.DETECTED, on_open=demo.runtime.app.state.context.planner.plan)
        session.commit()
        return incident.id


def _overdue_notes(demo: DemoProcess, incident_id: int) -> list[str]:
    with demo.runtime.sessions() as session:
        return list(session.scalars(select(TimelineEntry.text).where(TimelineEntry.incident_id == incident_id,
                                                                      TimelineEntry.kind == "report_overdue")))


@pytest.mark.parametrize(("operator_type", "hours"), [("cii", 1), ("central", 2), ("other", 4)])
def test_first_report_deadline_follows_the_operator_type(demo, clock, operator_type, hours):
    incident_id = _incident(demo, clock)
    headers = demo.login("duty")
    response = demo.client.patch(f"/api/v1/incidents/{incident_id}/report-fields", json={"operator_type": operator_type}, headers=headers)
    assert response.status_code == 200, response.text
    clock.advance(timedelta(hours=hours) - timedelta(seconds=1))
    demo.runtime.scheduler.run_due()
    assert _overdue_notes(demo, incident_id) == []
    clock.advance(timedelta(seconds=1))
    demo.runtime.scheduler.run_due()
    demo.runtime.scheduler.run_due()
    [note] = _overdue_notes(demo, incident_id)
    assert note.startswith("初报逾期未报")
    late = demo.client.post(f"/api/v1/incidents/{incident_id}/reports", json={"kind": "initial"}, headers=headers).json()
    assert late["late"] is True


def test_report_in_time_is_not_flagged_and_general_incidents_need_none(demo, clock):
    major, general = _incident(demo, clock), _incident(demo, clock, Grade.IV)
    headers = demo.login("duty")
    clock.advance(timedelta(hours=3))
    report = demo.client.post(f"/api/v1/incidents/{major}/reports", json={"kind": "initial"}, headers=headers).json()
    assert report["late"] is False and report["seq"] == 1
    clock.advance(timedelta(hours=2))
    demo.runtime.scheduler.run_due()
    assert _overdue_notes(demo, major) == [] and _overdue_notes(demo, general) == []


def test_follow_up_needs_a_first_report_and_final_needs_closure(demo, clock):
    incident_id = _incident(demo, clock)
    headers = demo.login("duty")
    assert demo.client.post(f"/api/v1/incidents/{incident_id}/reports", json={"kind": "followup"}, headers=headers).status_code == 422
    assert demo.client.post(f"/api/v1/incidents/{incident_id}/reports", json={"kind": "final"}, headers=headers).status_code == 422
    demo.client.post(f"/api/v1/incidents/{incident_id}/reports", json={"kind": "initial"}, headers=headers)
    demo.client.patch(f"/api/v1/incidents/{incident_id}/report-fields", json={"fields": {"trend": "攻击者已被封堵，未见扩散"}}, headers=headers)
    follow = demo.client.post(f"/api/v1/incidents/{incident_id}/reports", json={"kind": "followup"}, headers=headers).json()
    assert follow["seq"] == 2 and follow["fields"]["trend"] == "攻击者已被封堵，未见扩散"
    assert [r["kind"] for r in demo.client.get(f"/api/v1/incidents/{incident_id}/reports", headers=headers).json()] == ["initial", "followup"]


def test_final_report_is_due_thirty_days_after_closure(demo, clock):
    incident_id = _incident(demo, clock)
    headers = demo.login("duty")
    demo.client.post(f"/api/v1/incidents/{incident_id}/reports", json={"kind": "initial"}, headers=headers)
    demo.client.post(f"/api/v1/incidents/{incident_id}/status", json={"status": "resolved"}, headers=headers)
    closed = demo.client.post(f"/api/v1/incidents/{incident_id}/status", json={"status": "closed", "override_reason": "任务已线下完成"},
                              headers=headers)
    assert closed.status_code == 200, closed.text
    clock.advance(timedelta(days=30) - timedelta(minutes=1))
    demo.runtime.scheduler.run_due()
    assert _overdue_notes(demo, incident_id) == []
    clock.advance(timedelta(minutes=1))
    demo.runtime.scheduler.run_due()
    assert [n[:6] for n in _overdue_notes(demo, incident_id)] == ["终报逾期未报"]
    with demo.runtime.sessions() as session:
        assert session.query(AuditEntry).filter_by(action="incident.report_overdue").count() == 1


def _closed_with_reports(demo: DemoProcess, clock) -> tuple[int, dict[str, str], int]:  # type: ignore[no-untyped-def]
    incident_id = _incident(demo, clock)
    headers = demo.login("duty")
    demo.client.patch(f"/api/v1/incidents/{incident_id}/report-fields", json={"fields": {
        "system": "门户网站（等保二级）", "impact": "网站首页被挂马约40分钟", "cause": "上传目录未限制脚本执行",
        "lessons": "上传目录禁止执行脚本；每周检查网页防篡改日志"}}, headers=headers)
    report = demo.client.post(f"/api/v1/incidents/{incident_id}/reports", json={"kind": "initial"}, headers=headers).json()
    return incident_id, headers, report["id"]


def test_docx_export_carries_the_chinese_report(demo, clock):
    from docx import Document

    incident_id, headers, report_id = _closed_with_reports(demo, clock)
    response = demo.client.get(f"/api/v1/incidents/{incident_id}/reports/{report_id}/docx", headers=headers)
    assert response.status_code == 200
    text = "\n".join(p.text for p in Document(io.BytesIO(response.content)).paragraphs)
    assert "网络安全事件初报" in text and "示范区实验小学" in text and "网站首页被挂马约40分钟" in text
    assert "五、溯源调查工作线索（可能的攻击者信息、攻击路径、存在的漏洞等）" in text


def test_pdf_export_embeds_a_chinese_font_and_renders(demo, clock, tmp_path):
    if shutil.which("pdftoppm") is None:
        pytest.fail("poppler-utils is not installed: run `make test`, which installs it")
    incident_id, headers, report_id = _closed_with_reports(demo, clock)
    response = demo.client.get(f"/api/v1/incidents/{incident_id}/reports/{report_id}/pdf", headers=headers)
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(response.content)
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "网络安全事件初报" in text and "上传目录未限制脚本执行" in text
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert any("TrueType" in line and line.split()[-5:-2] == ["yes", "yes", "yes"] for line in fonts.splitlines())  # embedded subset with ToUnicode
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")], check=True)
    page = next(tmp_path.glob("page*.png"))
    assert page.stat().st_size > 5000  # a page with text on it, looked at by hand while writing this test
