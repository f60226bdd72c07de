"""Ingest never blocks on one bad event (issue 14): the validator and the stores agree on timestamps,
a store's refusal for content is split out and quarantined while the rest is stored, a poisoned
disk-queue file drains, and health shows a stuck queue and the quarantine."""
from __future__ import annotations

import gzip
import json
import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from collectors.elasticsearch_store import ElasticsearchEventStore, event_mappings
from collectors.sqlite_store import SqliteEventStore
from soc_core.event_store import EventsRefused
from soc_core.events import EventError, format_timestamp, validate_event
from tests.api_helpers import DemoProcess, start_demo_process

SENSOR = "sensor-school1-edge"


def flow(n: int, at: str = "2026-11-02T01:00:00Z", **extra: object) -> dict[str, object]:
    return {"@timestamp": at, "event.id": f"flow-{n}", "event.kind": "event", "event.dataset": "edusoc.flow",
            "source.ip": "10.20.1.5", "destination.ip": "203.0.113.9", "destination.port": 443,
            "message": f"flow {n}", **extra}


def nested(depth: int) -> dict[str, object]:
    """A DNS answer nested ``depth`` levels: valid JSON the validator takes, deeper than orjson writes
    (254 levels), so neither store can serialise it — a real refusal for content."""
    value: object = "x"
    for _ in range(depth):
        value = {"a": value}
    return {"name": "example.edu.cn", "data": value}


def post(demo: DemoProcess, events: list[dict[str, object]], sensor: str = SENSOR):  # type: ignore[no-untyped-def]
    body = gzip.compress(b"\n".join(json.dumps(e).encode() for e in events))
    return demo.client.post("/api/v1/ingest/events", content=body, headers={
        "Authorization": f"Bearer {demo.sensors[sensor].token}", "Content-Encoding": "gzip"})


@pytest.fixture
def demo(tmp_path, clock) -> Iterator[DemoProcess]:
    process = start_demo_process(tmp_path, clock, ingest={"queue_stuck_seconds": 60})
    yield process
    process.runtime.close()


# -- one timestamp form


@pytest.mark.parametrize("timestamp", ["0999-12-31T23:59:59Z", "0036-01-01T00:00:00Z", "1969-12-31T23:59:59Z",
                                       "2262-01-01T00:00:00Z", "9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00"])
def test_the_validator_refuses_times_the_stores_cannot_hold_naming_the_field(timestamp):
    with pytest.raises(EventError) as caught:
        validate_event(flow(1, timestamp))
    assert caught.value.field == "@timestamp"


def test_times_within_the_range_keep_a_four_digit_year_and_certificates_may_run_to_9999():
    assert validate_event(flow(1, "1970-01-01T00:00:00Z"))["@timestamp"] == "1970-01-01T00:00:00.000000Z"
    assert validate_event(flow(1, "2261-12-31T23:59:59Z"))["@timestamp"] == "2261-12-31T23:59:59.000000Z"
    cert = validate_event(flow(1, **{"tls.server.not_after": "9999-12-31T23:59:59Z"}))
    assert cert["tls.server.not_after"] == "9999-12-31T23:59:59.000000Z"
    assert format_timestamp(datetime(36, 1, 1, tzinfo=timezone.utc)) == "0036-01-01T00:00:00.000000Z"


def test_an_event_of_year_999_is_rejected_and_later_batches_are_stored_not_queued(demo):
    answer = post(demo, [flow(1), flow(2, "0999-01-01T00:00:00Z"), flow(3)]).json()
    assert (answer["accepted"], answer["queued"]) == (2, 0)
    assert answer["rejected"][0]["line"] == 2 and "@timestamp" in answer["rejected"][0]["reason"]
    later = post(demo, [flow(4), flow(5)]).json()
    assert (later["accepted"], later["queued"]) == (2, 0)
    assert demo.runtime.event_store.count() == 4
    assert demo.runtime.ingest.queue_metrics()["batches"] == 0


# -- the store refuses content: split, quarantine, store the rest


def test_a_store_refusal_for_content_is_not_an_outage(tmp_path):
    store = SqliteEventStore(tmp_path / "events.db")
    good = validate_event(flow(1))
    with pytest.raises(EventsRefused) as caught:
        store.write([good, {**good, "event.id": "bad", "@timestamp": "999-01-01T00:00:00.000000Z"}])
    assert [r.position for r in caught.value.refused] == [1] and caught.value.written.written == 1
    assert store.get("flow-1") == good
    store.close()


def test_a_batch_with_an_event_the_store_refuses_is_split_and_the_rest_stored(demo):
    events = [flow(n) for n in range(1, 8)]
    events[4] = flow(5, **{"dns.answers": [nested(300)]})
    answer = post(demo, events).json()
    assert (answer["accepted"], answer["queued"]) == (6, 0)
    [rejected] = answer["rejected"]
    assert rejected["line"] == 5 and "refused" in rejected["reason"] and "quarantined as" in rejected["reason"]
    assert demo.runtime.event_store.count() == 6
    ingest = demo.runtime.ingest
    assert ingest.queue_metrics()["batches"] == 0 and ingest.queue_metrics()["quarantined"] == 1
    total, [entry] = ingest.quarantine.entries()
    assert total == 1 and entry.event["event.id"] == demo.stored_id("flow-5", SENSOR)
    assert entry.unit_id == str(demo.unit("DEMO-SCHOOL-1").id) and "JSON" in entry.reason
    # still refused on retry: kept, one more attempt; dropped by the operator: gone
    assert ingest.retry_quarantined(entry.id).attempts == 2
    assert ingest.drop_quarantined(entry.id) and ingest.quarantine.count() == 0


def test_a_poisoned_queue_file_of_the_old_format_drains_into_the_quarantine(demo):
    queue = demo.runtime.ingest.queue
    good = validate_event(flow(1))
    # As the old collector queued them: a year-999 event written as "999-…" (strftime), a torn line.
    old = [json.dumps({**good, "event.id": "old-1", "@timestamp": "999-01-01T00:00:00.000000Z"}),
           json.dumps({**good, "event.id": "old-2"}), '{"event.id": "torn']
    (queue.path / "000000000001.ndjson").write_text("\n".join(old) + "\n")
    reopened = type(queue)(queue.path, queue.max_bytes)
    demo.runtime.ingest.queue = reopened
    assert reopened.put([{**good, "event.id": "later"}])
    report = demo.runtime.ingest.drain()
    assert report == "2 queued batch(es) moved to the store, 2 event(s) quarantined"
    store = demo.runtime.event_store
    assert store.get("old-2") is not None and store.get("later") is not None
    _, entries = demo.runtime.ingest.quarantine.entries()
    assert sorted(e.origin for e in entries) == ["queue 000000000001.ndjson line 1", "queue 000000000001.ndjson line 3"]
    assert reopened.state().batches == 0


def test_health_shows_a_stuck_queue_and_the_quarantine(demo, clock):
    headers = demo.login("admin")
    demo.runtime.ingest.store.close()  # the store is down: batches wait on disk
    assert post(demo, [flow(1)]).json()["queued"] == 1
    queue = demo.client.get("/api/v1/health", headers=headers).json()["components"]["ingest_queue"]
    assert queue["stuck"] is False and queue["quarantined"] == 0
    clock.advance(timedelta(minutes=2))
    demo.runtime.ingest.drain()  # the store still refuses
    health = demo.client.get("/api/v1/health", headers=headers).json()
    queue = health["components"]["ingest_queue"]
    assert queue["stuck"] is True and queue["alarm"] is True and "write failed" in queue["last_error"]
    assert health["status"] == "degraded"
    page = demo.client.get("/sensors", headers=headers).text  # the 探针与采集 page says so too
    assert 'id="queue-alarm"' in page and "队列停滞" in page and 'id="queue-error"' in page


# -- Elasticsearch: an index made by an older mapping refuses what the new one takes


def _es_url() -> str:
    url = os.environ.get("EDUSOC_TEST_ES_URL")
    if not url:
        pytest.skip("EDUSOC_TEST_ES_URL is not set: run `make test` (it starts Elasticsearch)")
    return url


@pytest.mark.elasticsearch
def test_elasticsearch_refusals_are_quarantined_and_the_rest_stored(tmp_path, clock):
    prefix = f"edusoc-quarantine-{uuid.uuid4().hex[:8]}"
    demo = start_demo_process(tmp_path, clock, event_store={
        "backend": "elasticsearch", "elasticsearch_url": _es_url(), "elasticsearch_index_prefix": prefix,
        "retention_check_hours": 0}, detection={"scheduled_query_minutes": 0})
    store: ElasticsearchEventStore = demo.runtime.event_store  # type: ignore[assignment]
    try:
        # The day's index as an older edusoc created it: certificate dates as date_nanos (1970..2262).
        mappings = event_mappings()
        mappings["properties"]["tls"]["properties"]["server"]["properties"]["not_after"] = {"type": "date_nanos"}
        store.ensure_template()
        store._es.indices.create(index=f"{prefix}-2026.11.02", mappings=mappings)  # over the template's
        events = [flow(n) for n in range(1, 6)]
        events[1] = flow(2, **{"tls.server.not_after": "9999-12-31T23:59:59Z"})
        events[3] = flow(4, **{"dns.answers": [nested(300)]})
        answer = post(demo, events).json()
        assert (answer["accepted"], answer["queued"], len(answer["rejected"])) == (3, 0, 2)
        assert [r["line"] for r in answer["rejected"]] == [2, 4]
        assert demo.runtime.ingest.quarantine.count() == 2
        store._es.indices.refresh(index=f"{prefix}-*")
        assert store.count() == 3
    finally:
        store.drop_days_before(datetime.max.date())
        store._es.options(ignore_status=404).indices.delete_index_template(name=prefix)
        demo.runtime.close()


# -- ids are owned by the sending unit


def test_another_schools_sensor_cannot_take_an_event_id_first(demo):
    stolen = flow(1)
    assert post(demo, [{**stolen, "message": "forged"}], sensor="sensor-school2-web").json()["accepted"] == 1
    genuine = post(demo, [stolen], sensor=SENSOR).json()
    assert (genuine["accepted"], genuine["duplicates"]) == (1, 0)
    stored = demo.runtime.event_store.get(demo.stored_id("flow-1", SENSOR))
    assert stored["message"] == "flow 1" and stored["organization.id"] == str(demo.unit("DEMO-SCHOOL-1").id)


def test_an_id_is_stored_once_whatever_day_its_retry_carries(demo):
    first = post(demo, [flow(1, "2026-11-02T23:59:59.9Z"), flow(2, "2026-11-02T12:00:00Z")]).json()
    assert first["accepted"] == 2
    again = post(demo, [flow(1, "2026-11-03T00:00:00.1Z"), flow(2, "2026-11-02T12:00:00Z")]).json()
    assert (again["accepted"], again["duplicates"]) == (0, 2)
    store = demo.runtime.event_store
    assert store.count() == 2
    assert store.get(demo.stored_id("flow-1", SENSOR))["@timestamp"] == "2026-11-02T23:59:59.900000Z"


# -- the operator: API and CLI


def test_operators_list_retry_and_drop_quarantined_events_audited(demo):
    from soc_core.models import AuditEntry
    events = [flow(1), flow(2, **{"dns.answers": [nested(300)]})]
    assert post(demo, events).json()["accepted"] == 1
    admin, duty = demo.login("admin"), demo.login("duty")
    assert demo.client.get("/api/v1/ingest/quarantine", headers=demo.login("school1")).status_code == 403
    assert demo.client.get("/api/v1/ingest/quarantine", headers=demo.login("regulator")).status_code == 403
    listed = demo.client.get("/api/v1/ingest/quarantine", headers=duty).json()
    [entry] = listed["entries"]
    assert listed["total"] == 1 and entry["event"]["event.id"] == demo.stored_id("flow-2", SENSOR)
    assert "采集隔离区有 1 条" in demo.client.get("/sensors", headers=duty).text
    retried = demo.client.post(f"/api/v1/ingest/quarantine/{entry['id']}/retry", headers=duty).json()
    assert retried["stored"] is False and retried["entry"]["attempts"] == 2
    assert demo.client.delete(f"/api/v1/ingest/quarantine/{entry['id']}", headers=admin).json() == {"dropped": True}
    assert demo.client.delete(f"/api/v1/ingest/quarantine/{entry['id']}", headers=admin).status_code == 404
    with demo.runtime.sessions() as session:
        actions = [a for (a,) in session.execute(
            __import__("sqlalchemy").select(AuditEntry.action).where(AuditEntry.action.like("ingest.quarantine.%")))]
    assert actions == ["ingest.quarantine.retry", "ingest.quarantine.drop"]


def test_the_cli_lists_retries_and_drops_quarantined_events(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from collectors.quarantine import Quarantine, QuarantinedEvent
    from edusoc.cli import app
    monkeypatch.setenv("EDUSOC_DATA_DIR", str(tmp_path))
    quarantine = Quarantine(tmp_path / "ingest-quarantine", 10)
    good = validate_event(flow(1))
    fixed = quarantine.put(QuarantinedEvent("", "2026-11-02T01:00:00.000000Z", "store was older", "ingest", None, None, good))
    torn = quarantine.put(QuarantinedEvent("", "2026-11-02T01:00:00.000000Z", "not a JSON line", "queue 1 line 3", None,
                                           None, None, raw='{"event.id": "torn'))
    runner = CliRunner()
    listed = runner.invoke(app, ["ingest", "quarantine", "list"])
    assert listed.exit_code == 0 and "2 event(s) in quarantine" in listed.output
    retried = runner.invoke(app, ["ingest", "quarantine", "retry", "all"])
    assert retried.exit_code == 1  # the torn line is refused again
    assert f"{fixed.id}: stored" in retried.output and f"{torn.id}: refused again" in retried.output
    assert runner.invoke(app, ["ingest", "quarantine", "drop", torn.id]).exit_code == 0
    assert Quarantine(tmp_path / "ingest-quarantine", 10).count() == 0


# -- every date range is bounded


def test_key_periods_and_searches_refuse_years_outside_2000_to_2100_in_chinese(demo):
    duty = demo.login("duty")
    school = demo.unit("DEMO-SCHOOL-1").id
    wild = demo.client.post("/api/v1/zero-reports/periods", headers=duty, json={
        "name": "国庆", "starts_on": "0036-01-01", "ends_on": "4338-01-01", "deadline_hour": 9, "unit_ids": [school]})
    assert wild.status_code == 422 and "2000 年至 2100 年" in wild.text
    long = demo.client.post("/api/v1/zero-reports/periods", headers=duty, json={
        "name": "全年", "starts_on": "2026-01-01", "ends_on": "2027-12-31", "deadline_hour": 9, "unit_ids": [school]})
    assert long.status_code == 422 and "最长 366 天" in long.text
    search = demo.client.get("/api/v1/events", headers=duty, params={"start": "0036-01-01T00:00:00Z"})
    assert search.status_code == 422 and "2000 年至 2100 年" in search.text
