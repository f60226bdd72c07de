"""soc_api: login, scoping by the org tree, read-only regulators, health, OpenAPI, audit."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from incidents import Grade, Source, open_incident
from soc_core.models import AuditEntry
from tests.api_helpers import DemoProcess, start_demo_process


@pytest.fixture
def demo(tmp_path, clock) -> Iterator[DemoProcess]:
    process = start_demo_process(tmp_path, clock)
    yield process
    process.runtime.close()


def _incident_in(demo: DemoProcess, clock, unit_code: str, grade: Grade = Grade.II, source: Source = Source.DETECTED) -> int:
    with demo.runtime.sessions() as session:
        incident = open_incident(session, clock, demo.runtime.settings.incidents, "duty", f"事件 {unit_code}",
                                 demo.unit(unit_code), grade, source)
        session.commit()
        return incident.id


def test_wrong_password_is_refused_and_audited(demo):
    response = demo.client.post("/api/v1/auth/token", data={"username": "duty", "password": "not-the-password"})
    assert response.status_code == 401
    with demo.runtime.sessions() as session:
        assert session.query(AuditEntry).filter_by(action="auth.failed", actor="duty").count() == 1


@pytest.mark.parametrize("path", ["/api/v1/incidents", "/api/v1/incidents/1", "/api/v1/health"])
def test_api_routes_need_a_token(demo, path):
    assert demo.client.get(path).status_code == 401
    assert demo.client.get(path, headers={"Authorization": "Bearer forged"}).status_code == 401


def test_incident_carries_grade_and_handle_by(demo, clock):
    incident_id = _incident_in(demo, clock, "DEMO-SCHOOL-1", Grade.II)
    body = demo.client.get(f"/api/v1/incidents/{incident_id}", headers=demo.login("duty")).json()
    assert body["grade"] == "II" and body["grade_label"] == "重大"
    assert body["handle_by"].startswith("2026-11-02T02:00:00")  # created 01:00 UTC, 1 h to handle
    assert body["seconds_left"] == 3600


def test_school_admin_sees_only_their_school(demo, clock):
    own = _incident_in(demo, clock, "DEMO-SCHOOL-1")
    other = _incident_in(demo, clock, "DEMO-SCHOOL-2")
    headers = demo.login("school1")
    listed = demo.client.get("/api/v1/incidents", headers=headers).json()
    assert [item["id"] for item in listed["items"]] == [own]
    assert demo.client.get(f"/api/v1/incidents/{other}", headers=headers).status_code == 404
    assert demo.client.get(f"/api/v1/incidents/{own}", headers=headers).status_code == 200


def test_city_duty_officer_sees_the_whole_city(demo, clock):
    ids = {_incident_in(demo, clock, code) for code in ("DEMO-SCHOOL-1", "DEMO-SCHOOL-2", "DEMO-COUNTY")}
    listed = demo.client.get("/api/v1/incidents", headers=demo.login("duty")).json()
    assert {item["id"] for item in listed["items"]} == ids and listed["total"] == 3


def test_regulator_reads_but_cannot_write(demo, clock):
    incident_id = _incident_in(demo, clock, "DEMO-SCHOOL-1")
    headers = demo.login("regulator")
    assert demo.client.get(f"/api/v1/incidents/{incident_id}", headers=headers).status_code == 200
    response = demo.client.post("/api/v1/incidents", headers=headers, json={
        "title": "监管尝试写入", "unit_id": demo.unit("DEMO-SCHOOL-1").id, "grade": "IV", "source": "notice"})
    assert response.status_code == 403


def test_duty_registers_a_notified_incident_due_in_sixty_hours(demo, clock):
    response = demo.client.post("/api/v1/incidents", headers=demo.login("duty"), json={
        "title": "上级通报：网站存在SQL注入漏洞", "unit_id": demo.unit("DEMO-SCHOOL-2").id, "grade": "IV", "source": "notice"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["source"] == "notice" and body["seconds_left"] == 60 * 3600
    with demo.runtime.sessions() as session:
        assert session.query(AuditEntry).filter_by(action="incident.create", target_id=str(body["id"])).one().actor == "duty"


def test_school_admin_cannot_register_for_another_school(demo):
    response = demo.client.post("/api/v1/incidents", headers=demo.login("school1"), json={
        "title": "越权", "unit_id": demo.unit("DEMO-SCHOOL-2").id, "grade": "IV", "source": "self_reported"})
    assert response.status_code == 404


def test_token_expires_with_the_session_lifetime(demo, clock):
    headers = demo.login("duty")
    clock.advance(timedelta(hours=demo.runtime.settings.api.session_hours, seconds=1))
    assert demo.client.get("/api/v1/incidents", headers=headers).status_code == 401


def test_health_reports_stores_and_rules(demo):
    body = demo.client.get("/api/v1/health", headers=demo.login("admin")).json()
    assert body["status"] == "ok" and body["case_store"] == "ok"
    assert body["event_store"]["status"] == "ok"
    assert body["components"]["rules"]["loaded"] > 0


def test_openapi_documents_the_routes(demo):
    paths = demo.client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/auth/token", "/api/v1/incidents", "/api/v1/incidents/{incident_id}", "/api/v1/health",
            "/api/v1/ingest/events"} <= set(paths)
    assert demo.client.get("/docs").status_code == 200


def test_ui_login_sets_a_session_cookie_and_lists_incidents(demo, clock):
    _incident_in(demo, clock, "DEMO-SCHOOL-1")
    assert demo.client.get("/", follow_redirects=False).headers["location"] == "/login"
    response = demo.client.post("/login", data={"username": "duty", "password": "edusoc-demo"}, follow_redirects=False)
    assert response.status_code == 303
    assert "httponly" in response.headers["set-cookie"].lower() and "samesite=strict" in response.headers["set-cookie"].lower()
    page = demo.client.get("/")
    assert "重大（II）" in page.text and "事件 DEMO-SCHOOL-1" in page.text
