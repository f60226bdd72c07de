"""The regulators' compliance figures for the seeded demo region, against values computed by hand."""
from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone

import pytest
from openpyxl import load_workbook

from compliance.figures import incident_counts, notice_counts, zero_report_counts
from incidents import Grade, Source, open_incident
from notices.models import Notice
from soc_core.clock import to_db
from soc_core.config import Settings
from soc_core.models import Incident, Sensor
from soc_core.sensor_registry import record_heartbeat
from tests.api_helpers import DemoProcess, start_demo_process
from zero_reports.models import KeyPeriod, ZeroReport


@pytest.fixture
def demo(tmp_path, clock) -> Iterator[DemoProcess]:
    """The demo region: 第一中学's sensor sent a heartbeat 10 min ago, 实验小学's 2 h ago, 第二中学 has none;
    a 重大 incident at 第一中学 opened 3 h ago and one at 实验小学 30 min ago; a notice 70 h ago."""
    process = start_demo_process(tmp_path, clock)
    now = clock.now()
    with process.runtime.sessions() as session:
        for name, minutes in (("sensor-school1-edge", 10), ("sensor-school2-web", 120)):
            clock.set(now - timedelta(minutes=minutes))
            record_heartbeat(session, clock, session.query(Sensor).filter_by(name=name).one(), clock.now(), "1.0", {})
        for code, grade, source, hours_ago in (("DEMO-SCHOOL-1", Grade.II, Source.DETECTED, 3),
                                               ("DEMO-SCHOOL-2", Grade.II, Source.DETECTED, 0.5),
                                               ("DEMO-SCHOOL-1", Grade.IV, Source.NOTICE, 70),
                                               ("DEMO-SCHOOL-2", Grade.IV, Source.DETECTED, 100)):
            clock.set(now - timedelta(hours=hours_ago))
            open_incident(session, clock, process.runtime.settings.incidents, "duty", f"事件 {code}",
                          process.unit(code), grade, source)
        clock.set(now)
        session.commit()
    yield process
    process.runtime.close()


def figures(body) -> dict[str, tuple[int, int]]:
    return {name: (f["numerator"], f["denominator"]) for name, f in body["figures"].items()}


# By hand, from edusoc/demo.py's inventory (see the comments there):
REGION = {
    "monitoring_coverage": (1, 3),    # only 第一中学's sensor within 60 min
    "security_admin_named": (2, 3),   # 第二中学 names nobody
    "mlps_grading": (4, 5),           # 第二中学's OA is ungraded
    "mlps_filing": (3, 4),            # 实验小学's 门户网站 (L2) is graded, not filed
    "mlps_assessment": (3, 4),        # 实验小学's 一卡通 (L3) assessed 400 days ago > 365; its 门户网站's first is due 730 days after grading
    "app_filing": (2, 4),             # 快乐口算 revoked, 题库宝 not on the list
    "incident_deadline_1h": (0, 1),   # the 3 h old 重大 incident is past its hour; the 30 min one is not due yet
    "incident_deadline_60h": (0, 1),  # the notice of 70 h ago is past 60 h
    "zero_report_on_time": (0, 0),    # no key period declared
    "notices_open": (0, 0),           # no notice issued
    "notices_overdue": (0, 0),
}


def test_region_figures_match_hand_computed_values(demo):
    city = demo.unit("DEMO-CITY")
    body = demo.client.get("/api/v1/compliance", params={"unit_id": city.id}, headers=demo.login("regulator")).json()
    assert figures(body) == REGION
    assert body["figures"]["monitoring_coverage"]["value"] == round(1 / 3, 4)
    assert body["figures"]["monitoring_coverage"]["label"] == "监测覆盖率"
    assert [c["unit"]["code"] for c in body["children"]] == ["DEMO-COUNTY"]
    assert figures(body["children"][0]) == REGION


def test_drill_down_to_schools_adds_up(demo):
    county = demo.unit("DEMO-COUNTY")
    body = demo.client.get("/api/v1/compliance", params={"unit_id": county.id}, headers=demo.login("regulator")).json()
    by_school = {c["unit"]["code"]: figures(c) for c in body["children"]}
    assert by_school["DEMO-SCHOOL-1"]["mlps_filing"] == (2, 2) and by_school["DEMO-SCHOOL-1"]["monitoring_coverage"] == (1, 1)
    assert by_school["DEMO-SCHOOL-2"]["app_filing"] == (1, 3) and by_school["DEMO-SCHOOL-2"]["mlps_assessment"] == (1, 2)
    assert by_school["DEMO-SCHOOL-3"]["security_admin_named"] == (0, 1) and by_school["DEMO-SCHOOL-3"]["mlps_filing"] == (0, 0)
    assert body["children"][2]["figures"]["mlps_filing"]["value"] is None  # nothing to file: no ratio, not 0 %
    for name, (num, den) in REGION.items():
        assert sum(s[name][0] for s in by_school.values()) == num and sum(s[name][1] for s in by_school.values()) == den


def test_school_admin_sees_only_own_school_and_nobody_writes_through_compliance(demo):
    school1 = demo.login("school1")
    assert demo.client.get("/api/v1/compliance", params={"unit_id": demo.unit("DEMO-COUNTY").id}, headers=school1).status_code == 404
    own = demo.client.get("/api/v1/compliance", headers=school1).json()
    assert own["unit"]["code"] == "DEMO-SCHOOL-1" and own["figures"]["security_admin_named"]["numerator"] == 1
    assert demo.client.post("/api/v1/compliance/run-checks", headers=demo.login("regulator")).status_code == 403
    assert demo.client.post("/api/v1/compliance/run-checks", headers=school1).status_code == 403


def test_checks_become_findings_the_regulator_reads(demo):
    assert demo.client.post("/api/v1/compliance/run-checks", headers=demo.login("duty")).status_code == 200
    found = demo.client.get("/api/v1/findings", params={"unit_id": demo.unit("DEMO-CITY").id},
                            headers=demo.login("regulator")).json()
    keys = {(f["unit_name"], f["check_id"], f["subject"]) for f in found}
    assert keys == {
        ("示范区实验小学", "coverage.no_heartbeat", "sensors"), ("示范区第二中学", "coverage.no_heartbeat", "sensors"),
        ("示范区第二中学", "admin.missing", "security_admin"),
        ("示范区实验小学", "mlps.unfiled", "门户网站"),
        ("示范区实验小学", "mlps.assessment_overdue", "一卡通系统"), ("示范区实验小学", "mlps.unmonitored", "一卡通系统"),
        ("示范区实验小学", "app.revoked_in_use", "快乐口算"), ("示范区实验小学", "app.provider_unfiled", "题库宝"),
        ("示范区实验小学", "app.user_unfiled", "题库宝"), ("示范区第二中学", "website.double_non", "yz2-news.cn"),
    }
    assert found[0]["priority"] == "high"


def test_trend_keeps_one_snapshot_a_day(demo, clock):
    duty, regulator = demo.login("duty"), demo.login("regulator")
    city = demo.unit("DEMO-CITY")
    demo.client.post("/api/v1/compliance/run-checks", headers=duty)
    demo.client.post("/api/v1/compliance/run-checks", headers=duty)  # same day: replaces
    clock.advance(timedelta(days=1))
    with demo.runtime.sessions() as session:  # 实验小学's sensor reports again
        record_heartbeat(session, clock, session.query(Sensor).filter_by(name="sensor-school2-web").one(), clock.now(), "1.0", {})
        session.commit()
    duty, regulator = demo.login("duty"), demo.login("regulator")  # yesterday's logins have expired
    assert demo.client.post("/api/v1/compliance/run-checks", headers=duty).status_code == 200
    points = demo.client.get("/api/v1/compliance/trend", params={"unit_id": city.id}, headers=regulator).json()
    assert [p["day"] for p in points] == ["2026-11-02", "2026-11-03"]
    assert [(p["figures"]["monitoring_coverage"]["numerator"]) for p in points] == [1, 1]  # 第一中学's went stale


def test_export_is_a_workbook_with_the_same_figures(demo):
    city = demo.unit("DEMO-CITY")
    response = demo.client.get("/api/v1/compliance/export.xlsx", params={"unit_id": city.id}, headers=demo.login("regulator"))
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(response.content))
    assert workbook.sheetnames == ["合规概况", "下级单位", "未关闭问题"]
    rows = {r[0]: r[1:4] for r in workbook["合规概况"].iter_rows(min_row=3, values_only=True) if r and r[0]}
    assert rows["监测覆盖率"] == (1, 3, round(1 / 3, 4)) and rows["等保备案率（二级及以上）"] == (3, 4, 0.75)


def test_incident_deadline_figures_count_handled_on_time_and_missed(clock):
    """Pure: an incident handled before handle_by counts for, after it against, one still running not at all.
    The handling time is read from the lifecycle's timestamp (resolved_at) whichever model carries it."""
    now = clock.now()

    def incident(grade: str, source: str, handle_by: datetime, status: str = "new", resolved_at: datetime | None = None):
        row = Incident(unit_id=1, grade=grade, source=source, status=status, handle_by=to_db(handle_by))
        row.resolved_at = resolved_at  # set by the incident lifecycle once it lands; a plain attribute here
        return row

    rows = [
        incident("II", "detected", now - timedelta(hours=2), "resolved", now - timedelta(hours=2, minutes=20)),  # on time
        incident("I", "detected", now - timedelta(hours=1), "resolved", now - timedelta(minutes=30)),          # 30 min late
        incident("II", "detected", now + timedelta(minutes=40)),                                                # running
        incident("III", "notice", now - timedelta(hours=1), "closed", now - timedelta(hours=5)),                # notice on time
        incident("III", "detected", now - timedelta(hours=1)),                                                  # 24 h grade: not counted
    ]
    counts = incident_counts(rows, now, Settings())[1]
    assert counts["incident_deadline_1h"] == [1, 2] and counts["incident_deadline_60h"] == [1, 1]


def test_zero_report_figure_counts_days_due_and_reports_on_time():
    """Pure. A key period 1–3 Nov with a 16:00 Beijing deadline, judged at 2 Nov 17:00 Beijing: two days are due.
    School 1 reported both on time; school 2 reported 1 Nov late and 2 Nov not at all; school 3 owes nothing."""
    now = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)  # 17:00 Beijing
    period = KeyPeriod(id=7, starts_on=date(2026, 11, 1), ends_on=date(2026, 11, 3), deadline_hour=16)
    reports = [
        ZeroReport(period_id=7, unit_id=1, report_date=date(2026, 11, 1), late=False),
        ZeroReport(period_id=7, unit_id=1, report_date=date(2026, 11, 2), late=False),
        ZeroReport(period_id=7, unit_id=2, report_date=date(2026, 11, 1), late=True),
    ]
    counts = zero_report_counts([(period, 1), (period, 2)], reports, now)
    assert counts[1]["zero_report_on_time"] == [2, 2]
    assert counts[2]["zero_report_on_time"] == [0, 2]
    assert 3 not in counts
    # an hour earlier (before today's deadline) only 1 Nov is due
    earlier = zero_report_counts([(period, 1)], reports, now - timedelta(hours=2))
    assert earlier[1]["zero_report_on_time"] == [1, 1]


def test_notice_figures_count_open_and_overdue_over_issued():
    now = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)

    def notice(unit_id: int, status: str, due_in_hours: float) -> Notice:
        return Notice(target_unit_id=unit_id, status=status, due_at=to_db(now + timedelta(hours=due_in_hours)))

    counts = notice_counts([notice(1, "closed", -5), notice(1, "submitted", -1), notice(1, "issued", 10),
                            notice(2, "returned", -3)], now)
    assert counts[1]["notices_open"] == [2, 3] and counts[1]["notices_overdue"] == [1, 3]
    assert counts[2]["notices_open"] == [1, 1] and counts[2]["notices_overdue"] == [1, 1]


def test_a_finding_becomes_a_notice_to_its_school_once(demo):
    duty = demo.login("duty")
    assert demo.client.post("/api/v1/compliance/run-checks", headers=duty).status_code == 200
    found = demo.client.get("/api/v1/findings", params={"check_id": "mlps.unfiled"}, headers=duty).json()
    [finding] = found
    regulator = demo.login("regulator")
    assert demo.client.post(f"/api/v1/findings/{finding['id']}/notice", json={}, headers=regulator).status_code == 403
    school2 = demo.login("school2")  # a school cannot notify itself
    assert demo.client.post(f"/api/v1/findings/{finding['id']}/notice", json={}, headers=school2).status_code == 403  # issuing is the duty centre's (soc_core.permissions)
    response = demo.client.post(f"/api/v1/findings/{finding['id']}/notice",
                                json={"required_actions": "30日内完成公安机关备案"}, headers=duty)
    assert response.status_code == 201, response.text
    notice_id = response.json()["notice_id"]
    notice = demo.client.get(f"/api/v1/notices/{notice_id}", headers=school2).json()
    assert notice["target_unit_id"] == demo.unit("DEMO-SCHOOL-2").id and "门户网站" in notice["assets"]
    again = demo.client.post(f"/api/v1/findings/{finding['id']}/notice", json={}, headers=duty)
    assert again.status_code == 409
    figures_now = demo.client.get("/api/v1/compliance", params={"unit_id": demo.unit("DEMO-CITY").id},
                                  headers=regulator).json()["figures"]
    assert (figures_now["notices_open"]["numerator"], figures_now["notices_open"]["denominator"]) == (1, 1)
