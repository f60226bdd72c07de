"""7×24 duty through the API on the injected clock: an unacknowledged incident escalates and reaches the duty
channel; MTTA and MTTR are figures of the caller's part of the org tree only."""
from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest

from tests.api_helpers import DemoProcess, start_demo_process
from tests.test_actions import Receiver, receiver  # noqa: F401 - the loopback webhook fixture


@pytest.fixture
def demo(tmp_path, clock, receiver) -> Iterator[DemoProcess]:
    process = start_demo_process(tmp_path, clock, actions={"channels": {"duty": {"adapter": "webhook", "url": f"{receiver.url}/duty"}}})
    yield process
    process.runtime.close()


def _open(demo: DemoProcess, unit: str, grade: str = "III", title: str = "教务系统异常登录") -> int:
    response = demo.client.post("/api/v1/incidents", json={"title": title, "unit_id": demo.unit(unit).id, "grade": grade,
                                                           "source": "self_reported"}, headers=demo.login("duty"))
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _status(demo: DemoProcess, incident_id: int, status: str, user: str = "duty") -> None:
    response = demo.client.post(f"/api/v1/incidents/{incident_id}/status", json={"status": status}, headers=demo.login(user))
    assert response.status_code == 200, response.text


def test_unacknowledged_incident_escalates_to_the_unit_above_and_the_duty_channel(demo, clock, receiver):
    incident_id = _open(demo, "DEMO-SCHOOL-1")
    clock.advance(timedelta(minutes=14, seconds=59))
    demo.runtime.scheduler.run_due()
    assert demo.client.get("/api/v1/duty", headers=demo.login("duty")).json()["unacknowledged_incident_ids"] == [incident_id]
    clock.advance(timedelta(seconds=1))  # incidents.ack_minutes = 15
    demo.runtime.scheduler.run_due()
    demo.runtime.scheduler.run_due()  # delivers the queued message
    timeline = demo.client.get(f"/api/v1/incidents/{incident_id}", headers=demo.login("duty")).json()["timeline"]
    assert [t["text"] for t in timeline if t["kind"] == "escalation"] == ["事件超过 15 分钟未确认，已升级至 示范区教育局"]
    [message] = [json.loads(r["body"]) for r in receiver.requests if json.loads(r["body"])["event"] == "unacknowledged"]  # type: ignore[arg-type]
    assert "教务系统异常登录" in message["subject"] and "未确认" in message["text"]
    clock.advance(timedelta(hours=1))
    demo.runtime.scheduler.run_due()
    assert len([r for r in receiver.requests if json.loads(r["body"])["event"] == "unacknowledged"]) == 1  # type: ignore[arg-type]


def test_an_incident_acknowledged_in_time_does_not_escalate(demo, clock, receiver):
    incident_id = _open(demo, "DEMO-SCHOOL-2")
    clock.advance(timedelta(minutes=3))
    _status(demo, incident_id, "acknowledged")
    clock.advance(timedelta(minutes=30))
    demo.runtime.scheduler.run_due()
    demo.runtime.scheduler.run_due()
    assert not [r for r in receiver.requests if json.loads(r["body"])["event"] == "unacknowledged"]  # type: ignore[arg-type]
    assert demo.client.get("/api/v1/duty", headers=demo.login("duty")).json()["unacknowledged_incident_ids"] == []


def test_mtta_and_mttr_are_figures_of_the_callers_subtree(demo, clock):
    first, second = _open(demo, "DEMO-SCHOOL-1"), _open(demo, "DEMO-SCHOOL-2")
    clock.advance(timedelta(minutes=2))
    _status(demo, first, "acknowledged", "school1")
    clock.advance(timedelta(minutes=8))
    _status(demo, second, "acknowledged", "school2")
    clock.advance(timedelta(minutes=30))
    _status(demo, first, "resolved", "school1")
    school1 = demo.client.get("/api/v1/duty", headers=demo.login("school1")).json()["response_times"]
    assert (school1["incidents"], school1["mtta_seconds"], school1["mttr_seconds"]) == (1, 120, 40 * 60)
    school2 = demo.client.get("/api/v1/duty", headers=demo.login("school2")).json()["response_times"]
    assert (school2["incidents"], school2["mtta_seconds"], school2["mttr_seconds"], school2["resolved"]) == (1, 600, None, 0)
    city = demo.client.get("/api/v1/duty", headers=demo.login("regulator")).json()["response_times"]
    assert (city["incidents"], city["mtta_seconds"]) == (2, 360)


def test_an_overdue_playbook_task_shows_where_it_escalated(demo, clock):
    incident_id = _open(demo, "DEMO-SCHOOL-1", grade="II", title="网站被植入webshell")  # the major playbook: 1 hour
    clock.advance(timedelta(minutes=6))  # 确认接警并初步研判 is due at 10 %
    demo.runtime.scheduler.run_due()
    tasks = demo.client.get(f"/api/v1/incidents/{incident_id}", headers=demo.login("school1")).json()["tasks"]
    assert tasks[0]["name"] == "确认接警并初步研判" and tasks[0]["escalated_to"] == "示范区教育局"
    assert tasks[0]["escalated_at"].startswith("2026-11-02T01:06:00")
    assert all(t["escalated_at"] is None for t in tasks[1:])
    page = demo.client
    page.post("/login", data={"username": "school1", "password": "edusoc-demo"})
    assert "逾期已升级至 示范区教育局" in page.get(f"/incidents/{incident_id}").text
