"""One command per user action, the same from every entrance: the deadlines they re-plan, the refusals they make."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from detection_rules import Alert
from incidents import Grade, Source, commands, fold_alerts, open_incident
from incidents.deadlines import grades_due_within
from incidents.models import TimelineEntry
from playbooks.deadlines import DeadlineService
from playbooks.playbook import Playbook, Trigger
from playbooks.scheduler import Scheduler
from reports.incident_reports import DUE
from soc_core.clock import as_utc
from soc_core.config import IncidentSettings
from soc_core.db import make_engine, migrate, session_factory
from soc_core.events import format_timestamp
from soc_core.models import AuditEntry, Incident
from soc_core.org import Role, UnitKind
from soc_core.repositories import create_unit
from tests.api_helpers import DemoProcess, start_demo_process

POLICY = IncidentSettings()


@pytest.fixture
def demo(tmp_path, clock) -> Iterator[DemoProcess]:
    process = start_demo_process(tmp_path, clock)
    yield process
    process.runtime.close()


def _incident(demo: DemoProcess, clock, grade: Grade = Grade.III) -> int:  # type: ignore[no-untyped-def]
    with demo.runtime.sessions() as session:
        incident = open_incident(session, clock, demo.runtime.settings.incidents, "duty", "网站被植入webshell", demo.unit("DEMO-SCHOOL-1"),
                                 grade, Source.DETECTED, on_open=demo.runtime.app.state.context.planner.plan)
        session.commit()
        return incident.id


def _resolve(demo: DemoProcess, incident_id: int, headers: dict[str, str]) -> None:
    for status in ("acknowledged", "resolved"):
        assert demo.client.post(f"/api/v1/incidents/{incident_id}/status", json={"status": status}, headers=headers).status_code == 200


def _final_report_due(demo: DemoProcess, incident_id: int):  # type: ignore[no-untyped-def]
    return demo.runtime.scheduler.next_run(DUE, f"{incident_id}:final")


def test_closing_through_the_api_starts_the_final_report_clock(demo, clock):
    incident_id, duty = _incident(demo, clock), demo.login("duty")
    _resolve(demo, incident_id, duty)
    assert _final_report_due(demo, incident_id) is None
    assert demo.client.post(f"/api/v1/incidents/{incident_id}/status", json={"status": "closed"}, headers=duty).status_code == 200
    assert _final_report_due(demo, incident_id) == clock.now() + timedelta(days=30)


def test_closing_through_the_web_form_starts_the_final_report_clock(demo, clock):
    incident_id, duty = _incident(demo, clock), demo.login("duty")
    _resolve(demo, incident_id, duty)
    page = demo.client.post(f"/incidents/{incident_id}/status", data={"status": "closed", "note": "复查无残留"}, headers=duty,
                            follow_redirects=False)
    assert page.status_code == 303 and "error" not in page.headers["location"]
    assert _final_report_due(demo, incident_id) == clock.now() + timedelta(days=30)


def test_closing_a_major_incident_needs_its_tasks_done_or_an_override_with_a_reason(demo, clock):
    incident_id, duty = _incident(demo, clock, Grade.II), demo.login("duty")
    _resolve(demo, incident_id, duty)
    refused = demo.client.post(f"/api/v1/incidents/{incident_id}/status", json={"status": "closed"}, headers=duty)
    assert refused.status_code == 422
    assert refused.json()["detail"]["message_zh"].startswith("预案任务未完成")  # Chinese first, the undone tasks named
    closed = demo.client.post(f"/api/v1/incidents/{incident_id}/status",
                              json={"status": "closed", "override_reason": "现场处置已完成，任务补录中"}, headers=duty).json()
    assert closed["status"] == "closed"
    [override] = [t for t in closed["timeline"] if t["kind"] == "override"]
    assert override["actor"] == "duty" and "现场处置已完成，任务补录中" in override["text"]
    with demo.runtime.sessions() as session:
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "incident.close_override")).one()
        assert audit.detail["reason"] == "现场处置已完成，任务补录中" and len(audit.detail["tasks"]) == len(closed["tasks"])


def test_a_school_asks_for_a_regrade_with_a_reason_and_the_duty_officer_decides(demo, clock):
    incident_id, school, duty = _incident(demo, clock), demo.login("school1"), demo.login("duty")
    url = f"/api/v1/incidents/{incident_id}/regrade-requests"
    assert demo.client.post(url, json={"grade": "IV", "reason": " "}, headers=school).status_code == 422
    asked = demo.client.post(url, json={"grade": "IV", "reason": "仅测试页面受影响"}, headers=school).json()
    assert asked["grade"] == "III"  # nothing changes until the duty centre decides
    [request] = asked["regrade_requests"]
    assert (request["grade"], request["requested_by"], request["state"]) == ("IV", "school1", "pending")
    assert demo.client.post(f"{url}/{request['id']}/decision", json={"accept": True}, headers=school).status_code == 403
    decided = demo.client.post(f"{url}/{request['id']}/decision", json={"accept": True, "note": "核实属实"}, headers=duty).json()
    assert decided["grade"] == "IV" and decided["regrade_requests"][0]["state"] == "accepted"
    assert as_utc_iso(decided["handle_by"]) == as_utc_iso(decided["created_at"]) + timedelta(hours=72)
    again = demo.client.post(f"{url}/{request['id']}/decision", json={"accept": False}, headers=duty)
    assert again.status_code == 422


def as_utc_iso(text: str):  # type: ignore[no-untyped-def]
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_report_fields_from_the_web_form_refuse_unknown_fields_like_the_api(demo, clock):
    incident_id, duty = _incident(demo, clock), demo.login("duty")
    page = demo.client.post(f"/incidents/{incident_id}/report-fields/save", data={"cause": "弱口令", "bogus": "x"}, headers=duty,
                            follow_redirects=False)
    assert page.status_code == 303 and "error" in page.headers["location"]
    api = demo.client.patch(f"/api/v1/incidents/{incident_id}/report-fields", json={"fields": {"bogus": "x"}}, headers=duty)
    assert api.status_code == 422
    saved = demo.client.post(f"/incidents/{incident_id}/report-fields/save", data={"cause": "弱口令", "operator_type": "cii"},
                             headers=duty, follow_redirects=False)
    assert "error" not in saved.headers["location"]
    detail = demo.client.get(f"/api/v1/incidents/{incident_id}", headers=duty).json()
    assert detail["report_fields"]["cause"] == "弱口令" and detail["operator_type"] == "cii"
    with demo.runtime.sessions() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "incident.report_fields")).all()
        assert [e.detail["operator_type"] for e in entries] == ["cii"]  # one entry, the same shape as the API's


@pytest.fixture
def case_store(tmp_path, clock):  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'case.db'}")
    migrate(engine)
    sessions = session_factory(engine)
    eight_hours = Playbook(name="web_defacement", title="网页篡改处置", trigger=Trigger(grades=["II", "III"]), handle_hours=8)
    deadlines = DeadlineService(sessions, clock, POLICY, Scheduler(engine, clock), [eight_hours])
    with sessions() as session:
        province = create_unit(session, "示范省教育厅", UnitKind.PROVINCE)
        county = create_unit(session, "示范区教育局", UnitKind.COUNTY, create_unit(session, "示范市教育局", UnitKind.CITY, province))
        school = create_unit(session, "示范中学", UnitKind.SCHOOL, county)
        session.commit()
        yield session, deadlines, school
    engine.dispose()


def _desk(session, clock, deadlines):  # type: ignore[no-untyped-def]
    return commands.Desk(session, clock, POLICY, commands.Who("duty", Role.DUTY_OFFICER, "/"), deadlines)


def test_a_regrade_keeps_the_playbooks_own_handling_hours(case_store, clock):
    session, deadlines, school = case_store
    desk = _desk(session, clock, deadlines)
    incident = commands.open_incident(desk, "首页被篡改", school, Grade.III, Source.DETECTED)
    assert incident.playbook == "web_defacement"
    assert as_utc(incident.handle_by) == clock.now() + timedelta(hours=8)  # the playbook's, not the grade's 24 h
    clock.advance(timedelta(minutes=20))
    commands.regrade(desk, incident, Grade.II, "涉及招生系统")
    assert as_utc(incident.handle_by) == as_utc(incident.created_at) + timedelta(hours=8)  # not 1 h, not from now


def test_a_split_off_incident_keeps_the_discovery_time_of_its_alerts(case_store, clock):
    session, deadlines, school = case_store
    desk = _desk(session, clock, deadlines)
    alerts = [Alert(id=f"a-{i}", rule_id="rule-x", rule_title="Rule X", level="high", tags=(),
                    timestamp=format_timestamp(clock.now() + timedelta(seconds=i)), event_ids=(f"e-{i}",), unit_id=str(school.id),
                    matches={}, summary={"source.ip": "203.0.113.7"}) for i in range(3)]
    [parent] = fold_alerts(session, clock, POLICY, alerts, on_open=deadlines.plan)
    discovered = as_utc(parent.created_at)
    clock.advance(timedelta(hours=5))
    new = commands.split(desk, parent, ["a-2"], "第二个攻击阶段")
    assert as_utc(new.created_at) == discovered + timedelta(seconds=2)  # its alert's discovery, not now
    assert as_utc(new.handle_by) == as_utc(new.created_at) + timedelta(hours=8)


def test_a_merge_keeps_the_earliest_discovery(case_store, clock):
    session, deadlines, school = case_store
    desk = _desk(session, clock, deadlines)
    first = commands.open_incident(desk, "弱口令登录", school, Grade.III, Source.DETECTED)
    clock.advance(timedelta(hours=3))
    second = commands.open_incident(desk, "异常外联", school, Grade.III, Source.DETECTED)
    commands.merge(desk, second, [first])
    assert as_utc(second.created_at) == as_utc(first.created_at)
    assert as_utc(second.handle_by) == as_utc(first.handle_by)


def test_the_one_hour_figure_reads_the_grade_table():
    assert grades_due_within(POLICY, 1.0) == {Grade.I, Grade.II}
    slower = IncidentSettings(handle_hours_by_grade={"I": 0.5, "II": 2.0, "III": 24.0, "IV": 72.0})
    assert grades_due_within(slower, 1.0) == {Grade.I}


def test_every_writer_of_the_deadline_goes_through_incidents_deadlines():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    writers = [f"{path.relative_to(root)}" for package in ("incidents", "playbooks", "reports", "soc_api", "edusoc", "duty", "notices")
               for path in (root / package).rglob("*.py") if ".handle_by = " in path.read_text(encoding="utf-8")]
    assert writers == ["incidents/deadlines.py"]


def test_timeline_of_a_declined_request_names_who_declined(demo, clock):
    incident_id, school, duty = _incident(demo, clock), demo.login("school1"), demo.login("duty")
    url = f"/api/v1/incidents/{incident_id}/regrade-requests"
    request = demo.client.post(url, json={"grade": "II", "reason": "涉及学籍数据"}, headers=school).json()["regrade_requests"][0]
    declined = demo.client.post(f"{url}/{request['id']}/decision", json={"accept": False, "note": "未涉及敏感数据"}, headers=duty).json()
    assert declined["grade"] == "III" and declined["regrade_requests"][0]["state"] == "declined"
    with demo.runtime.sessions() as session:
        texts = session.scalars(select(TimelineEntry.text).where(TimelineEntry.incident_id == incident_id,
                                                                  TimelineEntry.kind == "regrade_decision")).all()
        assert texts == ["驳回改级申请（重大）：未涉及敏感数据"]
        assert session.get(Incident, incident_id).grade == "III"
