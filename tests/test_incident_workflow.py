"""The incident workflow through the API: status steps with who/when, comments, evidence, links, merge, split."""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta

import pytest

from detection_rules import Alert
from incidents import Grade, IncidentError, Source, change_status, fold_alerts, open_incident
from soc_core.events import format_timestamp
from soc_core.models import AuditEntry, Incident
from tests.api_helpers import DemoProcess, start_demo_process


@pytest.fixture
def demo(tmp_path, clock) -> Iterator[DemoProcess]:
    process = start_demo_process(tmp_path, clock, incidents={"evidence_max_bytes": 1024})
    yield process
    process.runtime.close()


def _incident(demo: DemoProcess, clock, unit: str = "DEMO-SCHOOL-1", grade: Grade = Grade.II) -> int:
    with demo.runtime.sessions() as session:
        incident = open_incident(session, clock, demo.runtime.settings.incidents, "duty", "网站被植入webshell", demo.unit(unit),
                                 grade, Source.DETECTED)
        session.commit()
        return incident.id


def _alerts(demo: DemoProcess, clock, unit: str, n: int, entity: str) -> list[Alert]:
    unit_id = demo.unit(unit).id
    return [Alert(id=f"a-{entity}-{i}", rule_id="rule-x", rule_title="Rule X", level="high", tags=(),
                  timestamp=format_timestamp(clock.now() + timedelta(seconds=i)), event_ids=(f"e-{entity}-{i}",),
                  unit_id=str(unit_id), matches={}, summary={"source.ip": entity}) for i in range(n)]


def test_status_steps_record_who_and_when(demo, clock):
    incident_id = _incident(demo, clock, grade=Grade.III)  # a 重大 one closes only with its tasks done (test_casework_commands)
    headers = demo.login("duty")
    clock.advance(timedelta(minutes=7))
    body = demo.client.post(f"/api/v1/incidents/{incident_id}/status", json={"status": "acknowledged"}, headers=headers).json()
    assert body["status"] == "acknowledged" and body["acknowledged_by"] == "duty"
    assert body["acknowledged_at"].startswith("2026-11-02T01:07:00")
    for status in ("investigating", "contained", "resolved", "closed"):
        clock.advance(timedelta(minutes=5))
        response = demo.client.post(f"/api/v1/incidents/{incident_id}/status", json={"status": status, "note": status}, headers=headers)
        assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "closed" and body["closed_at"].startswith("2026-11-02T01:27:00")
    assert [t["kind"] for t in body["timeline"]].count("status") == 6  # created + 5 steps
    assert "已处置 → 已关闭" in body["timeline"][-1]["text"]
    with demo.runtime.sessions() as session:
        assert session.query(AuditEntry).filter_by(action="incident.status", target_id=str(incident_id)).count() == 5


def test_backward_step_and_closing_unresolved_are_refused(demo, clock):
    incident_id = _incident(demo, clock)
    headers = demo.login("duty")
    response = demo.client.post(f"/api/v1/incidents/{incident_id}/status", json={"status": "closed"}, headers=headers)
    assert response.status_code == 422 and "resolved" in response.json()["detail"]["message_en"]
    demo.client.post(f"/api/v1/incidents/{incident_id}/status", json={"status": "contained"}, headers=headers)
    response = demo.client.post(f"/api/v1/incidents/{incident_id}/status", json={"status": "acknowledged"}, headers=headers)
    assert response.status_code == 422


def test_reopen_clears_resolution_but_keeps_acknowledgement(session, clock, demo):
    with demo.runtime.sessions() as session:
        incident = session.get(Incident, _incident(demo, clock))
        change_status(session, clock, incident, "resolved", "duty")
        change_status(session, clock, incident, "investigating", "duty", "复发 / recurred")
        assert incident.resolved_at is None and incident.acknowledged_at is not None
        with pytest.raises(IncidentError):
            change_status(session, clock, incident, "new", "duty")


def test_regulator_cannot_act_and_school_cannot_reach_other_schools(demo, clock):
    incident_id = _incident(demo, clock, "DEMO-SCHOOL-1")
    assert demo.client.post(f"/api/v1/incidents/{incident_id}/comments", json={"text": "x"}, headers=demo.login("regulator")).status_code == 403
    assert demo.client.post(f"/api/v1/incidents/{incident_id}/comments", json={"text": "x"}, headers=demo.login("school2")).status_code == 404
    assert demo.client.post(f"/api/v1/incidents/{incident_id}/comments", json={"text": "已断网隔离"}, headers=demo.login("school1")).status_code == 201


def test_evidence_is_hashed_stored_and_size_limited(demo, clock):
    incident_id = _incident(demo, clock)
    headers = demo.login("school1")
    content = "webshell 样本 <?php eval($_POST[x]); ?>".encode()
    response = demo.client.post(f"/api/v1/incidents/{incident_id}/evidence", files={"file": ("../../shell.php", content, "text/plain")}, headers=headers)
    assert response.status_code == 201, response.text
    [evidence] = response.json()["evidence"]
    assert evidence["sha256"] == hashlib.sha256(content).hexdigest() and evidence["size"] == len(content)
    assert evidence["filename"] == "shell.php"  # no path from the client survives
    stored = demo.runtime.settings.data_path / "evidence" / evidence["sha256"][:2] / evidence["sha256"]
    assert stored.read_bytes() == content
    download = demo.client.get(f"/api/v1/incidents/{incident_id}/evidence/{evidence['id']}", headers=headers)
    assert download.content == content
    too_big = demo.client.post(f"/api/v1/incidents/{incident_id}/evidence", files={"file": ("big.bin", b"x" * 1025)}, headers=headers)
    assert too_big.status_code == 413
    assert len(list((demo.runtime.settings.data_path / "evidence").rglob("*"))) == 2  # one dir, one file: nothing left behind


def test_linked_event_comes_from_the_event_store(demo, clock):
    incident_id = _incident(demo, clock)
    event = {"@timestamp": format_timestamp(clock.now()), "event.id": "evt-1", "event.kind": "event", "event.dataset": "zeek.conn",
             "source.ip": "10.20.3.66", "destination.ip": "10.20.1.10", "organization.id": str(demo.unit("DEMO-SCHOOL-1").id)}
    demo.runtime.event_store.write([event])
    headers = demo.login("duty")
    body = demo.client.post(f"/api/v1/incidents/{incident_id}/events", json={"event_id": "evt-1", "note": "首个扫描包"}, headers=headers).json()
    [link] = body["linked_events"]
    assert link["event"]["source.ip"] == "10.20.3.66"
    assert any(t["kind"] == "link" for t in body["timeline"])


def test_merge_and_split_move_alerts(demo, clock):
    with demo.runtime.sessions() as session:
        a, b = (fold_alerts(session, clock, demo.runtime.settings.incidents, _alerts(demo, clock, "DEMO-SCHOOL-1", 3, ip))[0].id
                for ip in ("203.0.113.7", "203.0.113.8"))
        session.commit()
    headers = demo.login("duty")
    merged = demo.client.post(f"/api/v1/incidents/{a}/merge", json={"incident_ids": [b]}, headers=headers).json()
    assert merged["alert_count"] == 6
    assert demo.client.get(f"/api/v1/incidents/{b}", headers=headers).json()["status"] == "merged"
    split_ids = [alert["id"] for alert in merged["alerts"] if alert["summary"]["source.ip"] == "203.0.113.8"]
    new = demo.client.post(f"/api/v1/incidents/{a}/split", json={"alert_ids": split_ids, "title": "第二个攻击源"}, headers=headers)
    assert new.status_code == 201
    assert new.json()["alert_count"] == 3 and new.json()["title"] == "第二个攻击源"
    assert demo.client.get(f"/api/v1/incidents/{a}", headers=headers).json()["alert_count"] == 3


def test_merge_across_units_is_refused(demo, clock):
    a, b = _incident(demo, clock, "DEMO-SCHOOL-1"), _incident(demo, clock, "DEMO-SCHOOL-2")
    response = demo.client.post(f"/api/v1/incidents/{a}/merge", json={"incident_ids": [b]}, headers=demo.login("duty"))
    assert response.status_code == 422


def test_regrade_needs_a_reason_and_moves_the_deadline(demo, clock):
    incident_id = _incident(demo, clock, grade=Grade.IV)
    headers = demo.login("duty")
    body = demo.client.post(f"/api/v1/incidents/{incident_id}/grade", json={"grade": "II", "reason": "涉及学籍系统"}, headers=headers).json()
    assert body["grade"] == "II" and "涉及学籍系统" in body["grade_basis"]
    assert body["seconds_left"] == 3600


def test_suppression_api_is_scoped_and_audited(demo, clock):
    school2 = demo.unit("DEMO-SCHOOL-2").id
    assert demo.client.post("/api/v1/suppressions", json={"unit_id": school2, "rule_id": "r", "reason": "x"},
                            headers=demo.login("school1")).status_code == 404
    created = demo.client.post("/api/v1/suppressions", json={"unit_id": school2, "entity": "10.0.0.5", "reason": "网络中心扫描器"},
                               headers=demo.login("duty"))
    assert created.status_code == 201
    assert demo.client.delete(f"/api/v1/suppressions/{created.json()['id']}", headers=demo.login("duty")).json()["active"] is False
    with demo.runtime.sessions() as session:
        assert session.query(AuditEntry).filter(AuditEntry.action.like("suppression.%")).count() == 2
