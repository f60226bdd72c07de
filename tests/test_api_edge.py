"""The API's edge (issue 14): bad input is a 4xx naming the field, never a 500; browsers get security headers and
cross-origin state changes are refused; one school cannot reach another's events through an incident."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from incidents import Grade, Source, open_incident
from soc_core.events import format_timestamp
from tests.api_helpers import DemoProcess, start_demo_process

HUGE = 2**63  # one past the largest signed 64-bit integer


@pytest.fixture
def demo(tmp_path, clock) -> Iterator[DemoProcess]:
    process = start_demo_process(tmp_path, clock)
    yield process
    process.runtime.close()


def _incident(demo: DemoProcess, clock, unit: str = "DEMO-SCHOOL-1") -> int:  # type: ignore[no-untyped-def]
    with demo.runtime.sessions() as session:
        incident = open_incident(session, clock, demo.runtime.settings.incidents, "duty", "网站被植入webshell", demo.unit(unit),
                                 Grade.III, Source.DETECTED)
        session.commit()
        return incident.id


def _refused_at(response, *location: object) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 422, response.text
    assert [list(location)] == [error["loc"] for error in response.json()["detail"]], response.text


def test_integers_past_int64_are_refused_in_path_query_and_body(demo, clock):
    headers = demo.login("duty")
    incident_id = _incident(demo, clock)
    _refused_at(demo.client.get(f"/api/v1/incidents/{HUGE}", headers=headers), "path", "incident_id")
    _refused_at(demo.client.get(f"/api/v1/incidents/{-HUGE - 1}", headers=headers), "path", "incident_id")
    _refused_at(demo.client.get("/api/v1/incidents", params={"offset": HUGE}, headers=headers), "query", "offset")
    _refused_at(demo.client.post(f"/api/v1/incidents/{incident_id}/merge", json={"incident_ids": [HUGE]}, headers=headers),
                "body", "incident_ids", 0)
    assert demo.client.get(f"/api/v1/incidents/{2**63 - 1}", headers=headers).status_code == 404  # the largest is fine


def test_a_field_filter_past_int64_is_refused(demo):
    response = demo.client.get("/api/v1/events", params={"destination.port": HUGE}, headers=demo.login("duty"))
    assert response.status_code == 422 and "destination.port" in response.text


def test_a_lone_surrogate_in_a_json_body_is_refused(demo, clock):
    incident_id = _incident(demo, clock)
    body = b'{"text": "\\ud800 webshell"}'
    response = demo.client.post(f"/api/v1/incidents/{incident_id}/comments", content=body,
                                headers={**demo.login("duty"), "Content-Type": "application/json"})
    _refused_at(response, "body", "text")


def test_a_nul_in_q_is_refused_and_never_matches_everything(demo, clock):
    demo.runtime.event_store.write([{"@timestamp": format_timestamp(clock.now()), "event.id": "e-nul", "event.kind": "event",
                                     "event.dataset": "zeek.conn", "message": "harmless",
                                     "organization.id": str(demo.unit("DEMO-SCHOOL-1").id)}])
    headers = demo.login("duty")
    _refused_at(demo.client.get("/api/v1/events", params={"q": "\x00webshell"}, headers=headers), "query", "q")
    assert demo.client.get("/api/v1/events", params={"q": "webshell"}, headers=headers).json()["total"] == 0


def test_a_bare_cr_in_the_app_list_csv_is_a_4xx_naming_the_line(demo):
    csv = "备案号,APP名称,状态\nA-1,某\r学习,有效\n".encode()
    response = demo.client.post("/api/v1/app-registry/import", files={"file": ("apps.csv", csv, "text/csv")},
                                headers=demo.login("admin"))
    assert response.status_code == 422 and "第 2 行" in response.text


def test_every_response_carries_the_security_headers(demo):
    for response in (demo.client.get("/login"), demo.client.get("/api/v1/incidents"),
                     demo.client.get(f"/api/v1/incidents/{HUGE}", headers=demo.login("duty"))):
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        assert "frame-ancestors 'none'" in csp
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"


def test_a_form_posted_from_another_port_with_the_session_cookie_is_refused(demo, clock):
    incident_id = _incident(demo, clock)
    login = demo.client.post("/login", data={"username": "duty", "password": "edusoc-demo"}, follow_redirects=False)
    assert login.status_code == 303
    cross = demo.client.post(f"/incidents/{incident_id}/comment", data={"text": "csrf"}, follow_redirects=False,
                             headers={"Origin": "http://testserver:8666", "Sec-Fetch-Site": "same-site"})
    assert cross.status_code == 403 and "跨站" in cross.json()["detail"]["message_zh"]
    only_origin = demo.client.post(f"/incidents/{incident_id}/comment", data={"text": "csrf"}, follow_redirects=False,
                                   headers={"Origin": "http://testserver:8666"})
    assert only_origin.status_code == 403
    same = demo.client.post(f"/incidents/{incident_id}/comment", data={"text": "ok"}, follow_redirects=False,
                            headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 303
    detail = demo.client.get(f"/api/v1/incidents/{incident_id}", headers=demo.login("duty")).json()
    assert [t["text"] for t in detail["timeline"] if t["kind"] == "comment"] == ["ok"]


def test_a_school_admin_cannot_link_another_schools_event(demo, clock):
    other = {"@timestamp": format_timestamp(clock.now()), "event.id": "evt-school2", "event.kind": "event",
             "event.dataset": "zeek.conn", "source.ip": "10.20.2.7", "organization.id": str(demo.unit("DEMO-SCHOOL-2").id)}
    own = {**other, "event.id": "evt-school1", "source.ip": "10.20.1.7", "organization.id": str(demo.unit("DEMO-SCHOOL-1").id)}
    demo.runtime.event_store.write([other, own])
    incident_id = _incident(demo, clock, "DEMO-SCHOOL-1")
    school1 = demo.login("school1")
    refused = demo.client.post(f"/api/v1/incidents/{incident_id}/events", json={"event_id": "evt-school2"}, headers=school1)
    assert refused.status_code == 422 and "管辖范围" in refused.json()["detail"]["message_zh"]
    linked = demo.client.post(f"/api/v1/incidents/{incident_id}/events", json={"event_id": "evt-school1"}, headers=school1)
    assert linked.status_code == 201
    assert [link["event"]["source.ip"] for link in linked.json()["linked_events"]] == ["10.20.1.7"]


def test_the_incident_view_reads_linked_events_within_the_callers_subtree(demo, clock):
    event = {"@timestamp": format_timestamp(clock.now()), "event.id": "evt-county", "event.kind": "event",
             "event.dataset": "zeek.conn", "source.ip": "10.20.2.9", "organization.id": str(demo.unit("DEMO-SCHOOL-2").id)}
    demo.runtime.event_store.write([event])
    incident_id = _incident(demo, clock, "DEMO-SCHOOL-1")
    # a city duty officer may link a neighbouring school's event to the incident ...
    duty = demo.client.post(f"/api/v1/incidents/{incident_id}/events", json={"event_id": "evt-county"}, headers=demo.login("duty"))
    assert duty.json()["linked_events"][0]["event"]["source.ip"] == "10.20.2.9"
    # ... but school 1's admin sees the link, not the other school's event
    seen = demo.client.get(f"/api/v1/incidents/{incident_id}", headers=demo.login("school1")).json()
    assert [(link["event_id"], link["event"]) for link in seen["linked_events"]] == [("evt-county", None)]
