"""Duty roster, notices (通报 → 整改 → 复核, overdue → 约谈) and zero-reports, through the API on the injected clock."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from incidents import Grade, Source, change_status, open_incident
from inventory.models import Finding
from soc_core.models import AuditEntry, Incident
from tests.api_helpers import DemoProcess, start_demo_process


@pytest.fixture
def demo(tmp_path, clock) -> Iterator[DemoProcess]:
    process = start_demo_process(tmp_path, clock)
    yield process
    process.runtime.close()


def _run_due(demo: DemoProcess) -> list[str]:
    return demo.runtime.scheduler.run_due()


# -- duty -------------------------------------------------------------------------------------
def test_roster_says_who_is_on_duty_now(demo, clock):
    headers = demo.login("admin")
    city = demo.unit("DEMO-CITY").id
    start = clock.now() - timedelta(hours=1)
    created = demo.client.post("/api/v1/duty/shifts", json={"unit_id": city, "team": "市局值班组", "username": "duty",
                                                             "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=8)).isoformat()},
                               headers=headers)
    assert created.status_code == 201, created.text
    overlap = demo.client.post("/api/v1/duty/shifts", json={"unit_id": city, "team": "市局值班组", "username": "duty",
                                                             "starts_at": (start + timedelta(hours=2)).isoformat(),
                                                             "ends_at": (start + timedelta(hours=9)).isoformat()}, headers=headers)
    assert overlap.status_code == 422
    board = demo.client.get("/api/v1/duty", headers=demo.login("duty")).json()
    assert [s["username"] for s in board["on_duty"]] == ["duty"]
    clock.advance(timedelta(hours=8))
    assert demo.client.get("/api/v1/duty", headers=headers).json()["on_duty"] == []


def test_mtta_and_mttr_come_from_the_workflow_stamps(demo, clock):
    with demo.runtime.sessions() as session:
        policy = demo.runtime.settings.incidents
        a = open_incident(session, clock, policy, "duty", "A", demo.unit("DEMO-SCHOOL-1"), Grade.III, Source.DETECTED)
        b = open_incident(session, clock, policy, "duty", "B", demo.unit("DEMO-SCHOOL-2"), Grade.III, Source.DETECTED)
        clock.advance(timedelta(minutes=4))
        change_status(session, clock, a, "acknowledged", "duty")
        clock.advance(timedelta(minutes=4))
        change_status(session, clock, b, "acknowledged", "duty")
        clock.advance(timedelta(minutes=52))
        change_status(session, clock, a, "resolved", "duty")
        session.commit()
    times = demo.client.get("/api/v1/duty", headers=demo.login("duty")).json()["response_times"]
    assert times["mtta_seconds"] == 6 * 60  # (4 + 8) / 2 minutes
    assert times["mttr_seconds"] == 60 * 60
    assert (times["acknowledged"], times["resolved"], times["unacknowledged"]) == (2, 1, 0)


def test_handover_snapshots_the_open_incidents(demo, clock):
    with demo.runtime.sessions() as session:
        incident = open_incident(session, clock, demo.runtime.settings.incidents, "duty", "A", demo.unit("DEMO-SCHOOL-1"), Grade.II, Source.DETECTED)
        session.commit()
    note = demo.client.post("/api/v1/duty/handovers", json={"unit_id": demo.unit("DEMO-CITY").id, "to_user": "admin",
                                                            "text": "一中SQL注入事件待学校反馈"}, headers=demo.login("duty")).json()
    assert note["open_incident_ids"] == [incident.id]
    assert demo.client.get("/api/v1/duty", headers=demo.login("regulator")).json()["handovers"][0]["text"] == "一中SQL注入事件待学校反馈"


def test_overdue_incidents_are_counted_against_their_unit(demo, clock):
    with demo.runtime.sessions() as session:
        open_incident(session, clock, demo.runtime.settings.incidents, "duty", "A", demo.unit("DEMO-SCHOOL-1"), Grade.II, Source.DETECTED,
                      on_open=demo.runtime.deadlines.plan)
        session.commit()
    clock.advance(timedelta(hours=1))
    _run_due(demo)
    board = demo.client.get("/api/v1/duty", headers=demo.login("duty")).json()
    assert board["overdue_by_unit"] == {"示范区第一中学": 1}


# -- notices ----------------------------------------------------------------------------------
def _issue(demo: DemoProcess, **extra: object) -> dict:  # type: ignore[type-arg]
    body = {"target_unit_id": demo.unit("DEMO-SCHOOL-2").id, "kind": "vulnerability", "title": "门户网站存在SQL注入漏洞",
            "assets": "www.school2.edu.cn", "required_actions": "修复并复测", **extra}
    response = demo.client.post("/api/v1/notices", json=body, headers=demo.login("duty"))
    assert response.status_code == 201, response.text
    return response.json()


def test_notice_round_trip_rectify_send_back_and_close(demo, clock):
    notice = _issue(demo)
    assert notice["no"] == "TB-2026-0001" and notice["status"] == "issued"
    assert notice["due_at"].startswith("2026-11-04T13:00:00")  # 60 h by default
    school = demo.login("school2")
    assert demo.client.post(f"/api/v1/notices/{notice['id']}/acknowledge", headers=school).json()["status"] == "acknowledged"
    submitted = demo.client.post(f"/api/v1/notices/{notice['id']}/rectifications", data={"measures": "已修复注入点", "responsible": "王老师"},
                                 files=[("files", ("retest.txt", "复测：无注入".encode(), "text/plain"))], headers=school)
    assert submitted.status_code == 201, submitted.text
    assert submitted.json()["rectifications"][0]["evidence"][0]["filename"] == "retest.txt"
    assert demo.client.post(f"/api/v1/notices/{notice['id']}/review", json={"accept": True}, headers=school).status_code == 403
    returned = demo.client.post(f"/api/v1/notices/{notice['id']}/review", json={"accept": False, "comment": "复测仍可注入"},
                                headers=demo.login("duty")).json()
    assert returned["status"] == "returned"
    demo.client.post(f"/api/v1/notices/{notice['id']}/rectifications", data={"measures": "已上线WAF并修复代码"}, headers=school)
    closed = demo.client.post(f"/api/v1/notices/{notice['id']}/review", json={"accept": True}, headers=demo.login("duty")).json()
    assert closed["status"] == "closed"
    assert [e["action"] for e in closed["history"]] == ["issue", "acknowledge", "submit", "return", "submit", "close"]


def test_schools_cannot_issue_and_see_only_their_own_notices(demo, clock):
    _issue(demo)
    assert demo.client.get("/api/v1/notices", headers=demo.login("school1")).json() == []
    response = demo.client.post("/api/v1/notices", json={"target_unit_id": demo.unit("DEMO-SCHOOL-1").id, "kind": "hazard", "title": "x"},
                                headers=demo.login("school1"))
    assert response.status_code == 403  # issuing a notice is the duty centre's (soc_core.permissions)


def test_overdue_notice_escalates_once_and_can_become_a_summons(demo, clock):
    notice = _issue(demo, due_at=(clock.now() + timedelta(hours=72)).isoformat())
    clock.advance(timedelta(hours=71, minutes=59))
    _run_due(demo)
    assert demo.client.get(f"/api/v1/notices/{notice['id']}", headers=demo.login("duty")).json()["overdue_at"] is None
    clock.advance(timedelta(minutes=1))
    _run_due(demo)
    _run_due(demo)
    body = demo.client.get(f"/api/v1/notices/{notice['id']}", headers=demo.login("duty")).json()
    assert body["overdue"] and body["escalated_to_unit_id"] == demo.unit("DEMO-COUNTY").id  # the bureau supervising the school
    assert [e["action"] for e in body["history"]].count("overdue") == 1
    summons = demo.client.post(f"/api/v1/notices/{notice['id']}/summons", json={"head": "李校长", "reason": "通报逾期未整改",
                                                                                "held_at": clock.now().isoformat(), "commitments": "三日内整改"},
                               headers=demo.login("duty"))
    assert summons.status_code == 201
    assert demo.client.get("/api/v1/notices/summons", headers=demo.login("regulator")).json()[0]["head"] == "李校长"


def test_closed_notice_never_goes_overdue(demo, clock):
    notice = _issue(demo)
    demo.client.post(f"/api/v1/notices/{notice['id']}/rectifications", data={"measures": "已修复"}, headers=demo.login("school2"))
    demo.client.post(f"/api/v1/notices/{notice['id']}/review", json={"accept": True}, headers=demo.login("duty"))
    clock.advance(timedelta(hours=61))
    _run_due(demo)
    assert demo.client.get(f"/api/v1/notices/{notice['id']}", headers=demo.login("duty")).json()["overdue_at"] is None


# -- zero-reports -----------------------------------------------------------------------------
def _declare(demo: DemoProcess, clock) -> dict:  # type: ignore[no-untyped-def, type-arg]
    # the clock starts at 2026-11-02 09:00 Beijing
    body = {"name": "国庆假期", "starts_on": "2026-11-02", "ends_on": "2026-11-04", "deadline_hour": 16,
            "unit_ids": [demo.unit("DEMO-SCHOOL-1").id, demo.unit("DEMO-SCHOOL-2").id]}
    response = demo.client.post("/api/v1/zero-reports/periods", json=body, headers=demo.login("regulator"))
    assert response.status_code == 201, response.text
    return response.json()


def test_regulator_declares_a_key_period_but_schools_cannot(demo, clock):
    _declare(demo, clock)
    body = {"name": "x", "starts_on": "2026-11-02", "ends_on": "2026-11-02", "deadline_hour": 16, "unit_ids": [demo.unit("DEMO-SCHOOL-1").id]}
    assert demo.client.post("/api/v1/zero-reports/periods", json=body, headers=demo.login("school1")).status_code == 403
    with demo.runtime.sessions() as session:
        assert session.query(AuditEntry).filter_by(action="key_period.declare", actor="regulator").count() == 1


def test_dashboard_shows_who_has_reported_and_a_missing_report_becomes_a_finding(demo, clock):
    period = _declare(demo, clock)
    report = demo.client.post("/api/v1/zero-reports", json={"period_id": period["id"], "unit_id": demo.unit("DEMO-SCHOOL-1").id,
                                                            "has_incident": False, "on_duty": "张三 138xxxx"}, headers=demo.login("school1"))
    assert report.status_code == 201 and report.json()["late"] is False
    board = demo.client.get(f"/api/v1/zero-reports?period_id={period['id']}", headers=demo.login("duty")).json()
    assert (board["reported"], board["not_reported"]) == (1, 1)
    assert {u["unit_name"]: u["missing"] for u in board["units"]} == {"示范区第一中学": False, "示范区实验小学": False}
    clock.advance(timedelta(hours=6, minutes=59))  # 15:59 Beijing
    _run_due(demo)
    with demo.runtime.sessions() as session:
        assert session.query(Finding).filter_by(check_id="zero_report.missing").count() == 0
    clock.advance(timedelta(minutes=1))  # 16:00: the deadline
    _run_due(demo)
    _run_due(demo)
    with demo.runtime.sessions() as session:
        [finding] = session.scalars(select(Finding).where(Finding.check_id == "zero_report.missing")).all()
        assert finding.unit_id == demo.unit("DEMO-SCHOOL-2").id
        assert "示范区教育局" in finding.message  # escalated to the supervising bureau
    board = demo.client.get(f"/api/v1/zero-reports?period_id={period['id']}", headers=demo.login("duty")).json()
    assert {u["unit_name"]: u["missing"] for u in board["units"]}["示范区实验小学"] is True
    late = demo.client.post("/api/v1/zero-reports", json={"period_id": period["id"], "unit_id": demo.unit("DEMO-SCHOOL-2").id,
                                                          "has_incident": False}, headers=demo.login("school2")).json()
    assert late["late"] is True
    with demo.runtime.sessions() as session:
        assert session.scalar(select(Finding.resolved_at).where(Finding.check_id == "zero_report.missing")) is not None


def test_missed_days_are_found_after_a_restart(demo, clock, tmp_path):
    period = _declare(demo, clock)
    demo.runtime.close()
    clock.advance(timedelta(days=2, hours=6))  # 15:00 on the 4th: the process was down over two deadlines
    restarted = start_demo_process(tmp_path, clock)
    restarted.runtime.start(background=False)
    with restarted.runtime.sessions() as session:
        subjects = sorted(f.subject for f in session.scalars(select(Finding).where(Finding.check_id == "zero_report.missing")))
    assert subjects == [f"key_period:{period['id']}:2026-11-02"] * 2 + [f"key_period:{period['id']}:2026-11-03"] * 2
    restarted.runtime.close()


def test_report_with_incidents_must_name_incidents_of_the_unit(demo, clock):
    period = _declare(demo, clock)
    with demo.runtime.sessions() as session:
        own = open_incident(session, clock, demo.runtime.settings.incidents, "school1", "弱口令", demo.unit("DEMO-SCHOOL-1"), Grade.IV, Source.SELF_REPORTED)
        other = open_incident(session, clock, demo.runtime.settings.incidents, "duty", "x", demo.unit("DEMO-SCHOOL-2"), Grade.IV, Source.DETECTED)
        session.commit()
    headers = demo.login("school1")
    unit = demo.unit("DEMO-SCHOOL-1").id
    bad = demo.client.post("/api/v1/zero-reports", json={"period_id": period["id"], "unit_id": unit, "has_incident": True,
                                                         "incident_ids": [other.id]}, headers=headers)
    assert bad.status_code == 422
    good = demo.client.post("/api/v1/zero-reports", json={"period_id": period["id"], "unit_id": unit, "has_incident": True,
                                                          "incident_ids": [own.id]}, headers=headers)
    assert good.status_code == 201 and good.json()["incident_ids"] == [own.id]
    assert isinstance(date.fromisoformat(good.json()["report_date"]), date)
    with demo.runtime.sessions() as session:
        assert session.get(Incident, own.id) is not None
