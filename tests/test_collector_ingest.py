"""collectors: the ingest endpoint validates per event, stores idempotently, detects inline."""
from __future__ import annotations

import gzip
import json
from collections.abc import Iterator

import pytest

from soc_core.event_store import EventQuery
from soc_core.models import Incident, Sensor
from tests.api_helpers import DemoProcess, start_demo_process


@pytest.fixture
def demo(tmp_path, clock) -> Iterator[DemoProcess]:
    process = start_demo_process(tmp_path, clock)
    yield process
    process.runtime.close()


def web_event(n: int, query: str = "page=1") -> dict[str, object]:
    return {
        "@timestamp": f"2026-11-02T01:{n // 60:02d}:{n % 60:02d}Z", "event.id": f"web-{n}", "event.kind": "event",
        "event.dataset": "edusoc.web", "event.module": "weblog", "source.ip": "203.0.113.7",
        "http.request.method": "GET", "url.original": f"/news.php?{query}", "url.path": "/news.php", "url.query": query,
        "http.response.status_code": 200,
    }


def post_batch(demo: DemoProcess, lines: list[bytes], sensor: str = "sensor-school2-web", token: str | None = None):
    body = gzip.compress(b"\n".join(lines))
    headers = {"Authorization": f"Bearer {token or demo.sensors[sensor].token}", "Content-Encoding": "gzip",
               "Content-Type": "application/x-ndjson"}
    return demo.client.post("/api/v1/ingest/events", content=body, headers=headers)


def encode(*events: dict[str, object]) -> list[bytes]:
    return [json.dumps(e).encode() for e in events]


def test_bad_events_are_rejected_with_reasons_and_good_ones_kept(demo):
    lines = encode(web_event(1)) + [b"{not json", json.dumps({**web_event(2), "source.ip": "999.1.1.1"}).encode()] + encode(web_event(3))
    response = post_batch(demo, lines)
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 2
    assert [r["line"] for r in body["rejected"]] == [2, 3]
    assert "JSON" in body["rejected"][0]["reason"] and "source.ip" in body["rejected"][1]["reason"]
    assert demo.runtime.event_store.get("web-1") is not None and demo.runtime.event_store.get("web-3") is not None


def test_a_retried_batch_is_stored_once(demo):
    lines = encode(*(web_event(n) for n in range(10)))
    assert post_batch(demo, lines).json()["accepted"] == 10
    again = post_batch(demo, lines).json()
    assert (again["accepted"], again["duplicates"]) == (0, 10)
    assert demo.runtime.event_store.count() == 10


def test_unit_comes_from_the_sensor_not_the_event(demo):
    forged = {**web_event(1), "organization.id": "999"}
    post_batch(demo, encode(forged))
    stored = demo.runtime.event_store.get("web-1")
    assert stored["organization.id"] == str(demo.unit("DEMO-SCHOOL-2").id)
    assert stored["observer.name"] == "sensor-school2-web"
    with demo.runtime.sessions() as session:
        sensor = session.query(Sensor).filter_by(name="sensor-school2-web").one()
        assert sensor.events_accepted == 1 and sensor.last_seen_at is not None


def test_unknown_token_is_refused(demo):
    assert post_batch(demo, encode(web_event(1)), token="not-a-sensor").status_code == 401
    assert demo.runtime.event_store.count() == 0


def test_garbage_body_is_refused_whole(demo):
    response = demo.client.post("/api/v1/ingest/events", content=b"\x00\xffgarbage", headers={
        "Authorization": f"Bearer {demo.sensors['sensor-school2-web'].token}", "Content-Encoding": "gzip"})
    assert response.status_code == 400 and "gzip" in response.json()["detail"]


def test_gzip_bomb_is_refused(tmp_path, clock):
    demo = start_demo_process(tmp_path, clock, ingest={"max_decompressed_bytes": 1024 * 1024})
    try:
        bomb = gzip.compress(b"\n" * (8 * 1024 * 1024))
        response = demo.client.post("/api/v1/ingest/events", content=bomb, headers={
            "Authorization": f"Bearer {demo.sensors['sensor-school2-web'].token}", "Content-Encoding": "gzip"})
        assert response.status_code == 413
    finally:
        demo.runtime.close()


def test_sql_injection_becomes_an_incident_with_its_alert_stored(demo):
    attack = web_event(5, "id=1%27%20union%20select%201,2,database()--")
    body = post_batch(demo, encode(web_event(4), attack)).json()
    assert body["alerts"] >= 1
    alerts = demo.runtime.event_store.search(EventQuery(filters={"event.kind": "alert"}))
    assert alerts.total == body["alerts"]
    with demo.runtime.sessions() as session:
        incident = session.query(Incident).one()
        assert incident.unit.code == "DEMO-SCHOOL-2" and incident.source == "detected"
