"""The sensor registry: heartbeats, register/revoke/rotate through the API, health and coverage per unit."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from edusoc.demo import create_demo_user
from inventory.coverage import unit_coverage
from soc_core.models import AuditEntry, Sensor
from soc_core.org import Role
from soc_core.security import hash_token
from tests.api_helpers import DemoProcess, start_demo_process

COUNTERS = {"packets": 120_000, "drops": 3, "events": 950, "spool_bytes": 0, "spool_batches": 0, "errors": 0}


@pytest.fixture
def demo(tmp_path, clock) -> Iterator[DemoProcess]:
    process = start_demo_process(tmp_path, clock)
    yield process
    process.runtime.close()


def _beat(demo: DemoProcess, token: str, **body: object):
    payload = {"sensor_time": "2026-11-02T01:00:02Z", "version": "edusoc-sensor 0.3.1", "counters": COUNTERS, **body}
    return demo.client.post("/api/v1/ingest/heartbeat", json=payload, headers={"Authorization": f"Bearer {token}"})


def _sensor(demo: DemoProcess, user: str, name: str) -> dict[str, object]:
    listed = demo.client.get("/api/v1/sensors", headers=demo.login(user))
    assert listed.status_code == 200, listed.text
    return next(s for s in listed.json() if s["name"] == name)


def test_a_heartbeat_records_clock_version_and_counters(demo):
    token = demo.sensors["sensor-school1-edge"].token
    assert _beat(demo, token).json() == {"ok": True}
    sensor = _sensor(demo, "duty", "sensor-school1-edge")
    assert sensor["reporting"] is True and sensor["version"] == "edusoc-sensor 0.3.1"
    assert sensor["counters"] == COUNTERS and sensor["clock_skew_seconds"] == 2.0
    assert sensor["last_heartbeat_at"] == "2026-11-02T01:00:00Z" and sensor["unit_name"] == "示范区第一中学"
    assert _sensor(demo, "duty", "sensor-school2-web")["reporting"] is False


def test_a_bad_token_is_401_and_a_bad_body_422(demo):
    assert _beat(demo, "not-a-token").status_code == 401
    assert demo.client.post("/api/v1/ingest/heartbeat", json={}).status_code == 401
    token = demo.sensors["sensor-school1-edge"].token
    bad_time = _beat(demo, token, sensor_time="yesterday")
    assert bad_time.status_code == 422 and "sensor_time" in bad_time.json()["detail"]
    negative = _beat(demo, token, counters={"drops": -1})
    assert negative.status_code == 422 and "drops" in negative.json()["detail"]
    assert _beat(demo, token, counters={"packets": "many"}).status_code == 422


def test_duty_officer_registers_a_sensor_whose_token_works_and_is_stored_hashed(demo):
    unit = demo.unit("DEMO-SCHOOL-3").id
    response = demo.client.post("/api/v1/sensors", json={"name": "sensor-school3-edge", "unit_id": unit},
                                headers=demo.login("duty"))
    assert response.status_code == 201, response.text
    token = response.json()["token"]
    assert _beat(demo, token).status_code == 200
    with demo.runtime.sessions() as session:
        sensor = session.query(Sensor).filter_by(name="sensor-school3-edge").one()
        assert sensor.token_hash == hash_token(token) and token not in sensor.token_hash
        assert session.query(AuditEntry).filter_by(action="sensor.register", actor="duty").count() == 1
    again = demo.client.post("/api/v1/sensors", json={"name": "sensor-school3-edge", "unit_id": unit},
                             headers=demo.login("duty"))
    assert again.status_code == 409


def test_only_admins_duty_officers_and_school_admins_within_scope_manage_sensors(demo, clock):
    school2 = demo.unit("DEMO-SCHOOL-2").id
    body = {"name": "rogue", "unit_id": school2}
    assert demo.client.post("/api/v1/sensors", json=body, headers=demo.login("school1")).status_code == 404  # not their school
    assert demo.client.post("/api/v1/sensors", json=body, headers=demo.login("regulator")).status_code == 403
    assert demo.client.post("/api/v1/sensors", json=body, headers=demo.login("drill")).status_code == 403
    assert demo.client.post("/api/v1/sensors", json=body, headers=demo.login("school2")).status_code == 201
    with demo.runtime.sessions() as session:
        create_demo_user(session, clock, "duty1", Role.DUTY_OFFICER, demo.unit("DEMO-SCHOOL-1"))
        session.commit()
    local = demo.login("duty1")
    assert demo.client.post("/api/v1/sensors", json=body, headers=local).status_code == 404
    other = _sensor(demo, "duty", "sensor-school2-web")["sensor_id"]
    assert demo.client.post(f"/api/v1/sensors/{other}/revoke", headers=local).status_code == 404
    assert [s["name"] for s in demo.client.get("/api/v1/sensors", headers=local).json()] == ["sensor-school1-edge"]


def test_a_revoked_sensor_is_refused_at_once(demo):
    token = demo.sensors["sensor-school2-web"].token
    sensor_id = _sensor(demo, "admin", "sensor-school2-web")["sensor_id"]
    revoked = demo.client.post(f"/api/v1/sensors/{sensor_id}/revoke", headers=demo.login("admin"))
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    assert _beat(demo, token).status_code == 401
    assert demo.client.post("/api/v1/ingest/events", content=b"", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert demo.client.post(f"/api/v1/sensors/{sensor_id}/revoke", headers=demo.login("admin")).status_code == 409
    with demo.runtime.sessions() as session:
        assert session.query(AuditEntry).filter_by(action="sensor.revoke", actor="admin").count() == 1


def test_a_rotated_token_replaces_the_old_one(demo):
    old = demo.sensors["sensor-school1-edge"].token
    sensor_id = _sensor(demo, "duty", "sensor-school1-edge")["sensor_id"]
    new = demo.client.post(f"/api/v1/sensors/{sensor_id}/token", headers=demo.login("duty")).json()["token"]
    assert _beat(demo, old).status_code == 401 and _beat(demo, new).status_code == 200


def test_a_school_is_covered_while_one_of_its_sensors_beats_within_the_window(demo, clock):
    _beat(demo, demo.sensors["sensor-school1-edge"].token)
    coverage = demo.client.get("/api/v1/sensors/coverage", headers=demo.login("regulator")).json()
    assert coverage["window_minutes"] == 60
    by_name = {u["unit_name"]: u for u in coverage["units"]}
    assert (coverage["units_total"], coverage["units_covered"]) == (3, 1)
    assert by_name["示范区第一中学"]["covered"] and by_name["示范区第一中学"]["reporting"] == 1
    assert not by_name["示范区实验小学"]["covered"] and by_name["示范区实验小学"]["sensors"] == 1  # events, no heartbeat
    assert by_name["示范区第二中学"]["sensors"] == 0
    school1 = demo.client.get("/api/v1/sensors/coverage", headers=demo.login("school1")).json()
    assert [u["unit_name"] for u in school1["units"]] == ["示范区第一中学"]
    # the plain function the compliance checks can call, with the clock moved past the window
    clock.advance(timedelta(minutes=61))
    with demo.runtime.sessions() as session:
        assert [u.covered for u in unit_coverage(session, clock.now(), timedelta(minutes=60))] == [False, False, False]
        assert [u.covered for u in unit_coverage(session, clock.now(), timedelta(minutes=90))] == [True, False, False]


def test_sensor_status_is_online_then_stale_then_offline_as_heartbeats_stop(demo, clock):
    token = demo.sensors["sensor-school1-edge"].token
    assert _sensor(demo, "duty", "sensor-school1-edge")["status"] == "offline"  # never sent a heartbeat
    _beat(demo, token)
    assert _sensor(demo, "duty", "sensor-school1-edge")["status"] == "online"
    clock.advance(timedelta(seconds=121))  # two 60 s heartbeats missed
    assert _sensor(demo, "duty", "sensor-school1-edge")["status"] == "stale"
    clock.advance(timedelta(minutes=59))  # past the 60 min window
    assert _sensor(demo, "duty", "sensor-school1-edge")["status"] == "offline"


def test_coverage_api_and_compliance_report_the_same_figure(demo, clock):
    """A school whose sensor only ships events (no heartbeat) is not covered, for both."""
    _beat(demo, demo.sensors["sensor-school1-edge"].token)
    with demo.runtime.sessions() as session:  # 实验小学's sensor shipped a batch a minute ago
        session.query(Sensor).filter_by(name="sensor-school2-web").one().last_seen_at = clock.now().replace(tzinfo=None)
        session.commit()
    for user, unit in (("regulator", "DEMO-CITY"), ("school1", "DEMO-SCHOOL-1"), ("school2", "DEMO-SCHOOL-2")):
        headers = demo.login(user)
        coverage = demo.client.get("/api/v1/sensors/coverage", headers=headers).json()
        figure = demo.client.get("/api/v1/compliance", params={"unit_id": demo.unit(unit).id},
                                 headers=headers).json()["figures"]["monitoring_coverage"]
        assert (figure["numerator"], figure["denominator"]) == (coverage["units_covered"], coverage["units_total"]), user
    assert (coverage["units_covered"], coverage["units_total"]) == (0, 1)  # 实验小学: events but no heartbeat
    demo.client.post("/api/v1/compliance/run-checks", headers=demo.login("duty"))
    findings = demo.client.get("/api/v1/findings", params={"check_id": "coverage.no_heartbeat"}, headers=demo.login("duty")).json()
    assert sorted(f["unit_name"] for f in findings) == ["示范区实验小学", "示范区第二中学"]
