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
    store = demo.runtime.event_store
    assert store.get(demo.stored_id("web-1")) is not None and store.get(demo.stored_id("web-3")) is not None


def test_a_retried_batch_is_stored_once(demo):
    lines = encode(*(web_event(n) for n in range(10)))
    assert post_batch(demo, lines).json()["accepted"] == 10
    again = post_batch(demo, lines).json()
    assert (again["accepted"], again["duplicates"]) == (0, 10)
    assert demo.runtime.event_store.count() == 10


def test_unit_comes_from_the_sensor_not_the_event(demo):
    forged = {**web_event(1), "organization.id": "999"}
    post_batch(demo, encode(forged))
    stored = demo.runtime.event_store.get(demo.stored_id("web-1"))
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
        incidents = session.query(Incident).all()
        # one incident per rule: the bundled Sigma rule and the OWASP CRS (its SQL injection family)
        assert sorted(incident.rule_id for incident in incidents) == ["883fe4fe-3a19-41bd-85b3-6bb76654e90a", "crs:sqli"]
        for incident in incidents:
            assert incident.unit.code == "DEMO-SCHOOL-2" and incident.source == "detected"


def test_concurrent_batches_store_each_event_once(demo):
    """Batches are written outside the detection lock: overlapping batches from several threads
    still store every event exactly once, and the counters add up."""
    import threading

    from collectors.ingest import EventOrigin

    service = demo.runtime.ingest
    school = demo.unit("DEMO-SCHOOL-2")
    origin = EventOrigin("1", "concurrent", str(school.id), school.name, school.path)
    # 4 threads x 5 batches of 100; thread t's events are t*250 .. t*250+499: half shared with the next thread
    batches = [[gzip.compress(b"\n".join(encode(*(web_event(t * 250 + b * 100 + i) for i in range(100)))))
                for b in range(5)] for t in range(4)]
    results: list[tuple[int, int]] = []

    def send(own: list[bytes]) -> None:
        for body in own:
            result = service.ingest(origin, body, gzipped=True)
            results.append((result.accepted, result.duplicates))

    threads = [threading.Thread(target=send, args=(own,)) for own in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    distinct = 3 * 250 + 500
    assert demo.runtime.event_store.count() == distinct
    assert sum(a for a, _ in results) == distinct and sum(d for _, d in results) == 2000 - distinct
    assert (service.counters.events_accepted, service.counters.events_duplicate) == (distinct, 2000 - distinct)
