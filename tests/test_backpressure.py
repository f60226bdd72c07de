"""Nothing lost: the disk queue while the store is down, 503 when it is full, and real crashes.

The crash tests kill a real `edusoc run` with SIGKILL in the middle of a sensor's shipment, and stop a
real Elasticsearch node in the middle of ingest; then they count: every event sent is stored exactly once.
"""
from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from collectors.disk_queue import DiskQueue
from collectors.sqlite_store import SqliteEventStore
from edusoc.demo import seed_demo_region
from sensors.shipper import Shipper
from soc_core.clock import SystemClock
from soc_core.config import Settings
from soc_core.db import make_engine, migrate, session_factory
from soc_core.event_store import EventQuery
from soc_core.events import owned_event_id
from soc_core.models import Sensor
from sqlalchemy import select
from tests.api_helpers import DemoProcess, start_demo_process, start_live_server
from tests.conftest import REPO


def _events(n: int, prefix: str = "ev") -> list[dict[str, object]]:
    return [{"@timestamp": f"2026-11-02T01:{(i // 60) % 60:02d}:{i % 60:02d}.{i:06d}Z", "event.id": f"{prefix}-{i:06d}",
             "event.kind": "event", "event.dataset": "edusoc.flow", "source.ip": f"10.20.{i % 250}.{i % 200 + 1}",
             "destination.ip": "203.0.113.9", "destination.port": 443, "message": f"flow {i}"} for i in range(n)]


def _post(demo: DemoProcess, events: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    body = gzip.compress(b"\n".join(json.dumps(e).encode() for e in events))
    return demo.client.post("/api/v1/ingest/events", content=body, headers={
        "Authorization": f"Bearer {demo.sensors['sensor-school1-edge'].token}", "Content-Encoding": "gzip"})


def _edge_unit(demo: DemoProcess) -> str:
    return demo.stored_id("", "sensor-school1-edge").removesuffix(":")


def _stored_once(store, events, unit_id: str) -> None:  # type: ignore[no-untyped-def]
    ids = [owned_event_id(unit_id, e["event.id"]) for e in events]
    page = store.search(EventQuery(event_ids=ids, limit=1))
    assert page.total == len(ids), f"{page.total} of {len(ids)} events stored"


# -- the queue itself


def test_the_queue_is_durable_ordered_and_bounded(tmp_path):
    queue = DiskQueue(tmp_path / "q", max_bytes=4000)
    assert queue.put(_events(3, "a")) and queue.put(_events(2, "b"))
    assert not queue.put(_events(100, "c"))  # would exceed the bound: refused, nothing written
    (tmp_path / "q" / "000000000099.tmp").write_bytes(b"half a batch")  # a put cut short by a crash
    reopened = DiskQueue(tmp_path / "q", max_bytes=4000)  # after a restart
    assert reopened.state().batches == 2 and not (tmp_path / "q" / "000000000099.tmp").exists()
    batch = reopened.oldest()
    assert [e["event.id"] for _, e in batch.events] == ["a-000000", "a-000001", "a-000002"]
    reopened.remove(batch.path)
    assert [e["event.id"] for _, e in reopened.oldest().events] == ["b-000000", "b-000001"]
    assert reopened.put(_events(1, "d")) and sorted(p.name for p in (tmp_path / "q").iterdir())[-1] == "000000000003.ndjson"


# -- a store that fails under a running collector


@pytest.fixture
def demo(tmp_path, clock) -> Iterator[DemoProcess]:
    process = start_demo_process(tmp_path, clock, ingest={"queue_max_bytes": 20_000, "queue_retry_after_seconds": 7})
    yield process
    process.runtime.close()


def _break_store(demo: DemoProcess) -> None:
    demo.runtime.ingest.store.close()  # every write now fails with EventStoreError


def _mend_store(demo: DemoProcess) -> SqliteEventStore:
    store = SqliteEventStore(demo.runtime.settings.sqlite_events_path)
    demo.runtime.ingest.store = store
    return store


def test_batches_wait_on_disk_while_the_store_is_down_then_drain_exactly_once(demo):
    first, second, third = _events(30, "x")[:10], _events(30, "x")[10:20], _events(30, "x")[20:]
    assert _post(demo, first).json()["queued"] == 0
    _break_store(demo)
    body = _post(demo, second).json()
    assert (body["accepted"], body["queued"]) == (10, 10)
    assert _post(demo, second).json()["queued"] == 10  # a resent batch is queued again: duplicates collapse in the store
    metrics = demo.runtime.ingest.queue_metrics()
    assert metrics["batches"] == 2 and metrics["bytes"] > 0 and metrics["alarm"] is False
    store = _mend_store(demo)
    assert _post(demo, third).json()["queued"] == 10  # the queue is not empty: keep order, queue
    assert demo.runtime.ingest.drain() == "3 queued batch(es) moved to the store"
    assert demo.runtime.ingest.queue_metrics()["batches"] == 0
    _stored_once(store, first + second + third, _edge_unit(demo))
    assert store.count() == 30


def test_a_full_queue_answers_503_with_retry_after_and_raises_the_alarm(demo):
    _break_store(demo)
    answers = [_post(demo, _events(20, f"f{n}")) for n in range(12)]
    refused = [a for a in answers if a.status_code == 503]
    assert refused and all(a.headers["Retry-After"] == "7" for a in refused)
    assert "disk queue is full" in refused[0].json()["detail"]
    health = demo.client.get("/api/v1/health", headers=demo.login("admin")).json()
    assert health["components"]["ingest_queue"]["alarm"] is True
    assert health["components"]["ingest"]["batches_refused_queue_full"] == len(refused)
    store = _mend_store(demo)
    demo.runtime.ingest.drain()
    accepted = [e for n, a in enumerate(answers) if a.status_code == 200 for e in _events(20, f"f{n}")]
    _stored_once(store, accepted, _edge_unit(demo))
    assert store.count() == len(accepted)


def test_without_a_queue_a_store_failure_is_503_not_an_ack(tmp_path, clock):
    demo = start_demo_process(tmp_path, clock, ingest={"queue_max_bytes": 0})
    try:
        _break_store(demo)
        answer = _post(demo, _events(5))
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "30"
    finally:
        demo.runtime.close()


# -- real crashes


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_collector(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "EDUSOC_DATA_DIR": str(data_dir), "EDUSOC_COMPLIANCE__CHECK_INTERVAL_MINUTES": "0"}
    process = subprocess.Popen([sys.executable, "-m", "edusoc.cli", "run", "--no-demo", "--port", str(port)],
                               cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/login", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("edusoc run did not come up")


def test_killing_the_collector_mid_shipment_loses_and_duplicates_nothing(tmp_path):
    engine = make_engine(Settings(data_dir=str(tmp_path)).case_store_url)
    migrate(engine)
    with session_factory(engine)() as session:
        token = next(s.token for s in seed_demo_region(session, SystemClock()) if s.name == "sensor-school1-edge")
        session.commit()
        unit_id = str(session.scalars(select(Sensor.unit_id).where(Sensor.name == "sensor-school1-edge")).one())
    engine.dispose()
    port = _free_port()
    collector = _start_collector(tmp_path, port)
    events = _events(20_000, "kill")
    reports = []

    def ship() -> None:
        with Shipper(f"http://127.0.0.1:{port}", token, batch_size=2000, max_attempts=200,
                     backoff_initial=0.2, backoff_max=1.0, timeout=60) as shipper:
            reports.append(shipper.ship(events))

    sensor = threading.Thread(target=ship)
    sensor.start()
    try:
        deadline = time.monotonic() + 120
        store_path = tmp_path / "events.db"
        while time.monotonic() < deadline and not (store_path.exists() and SqliteEventStore(store_path).count() >= 4000):
            time.sleep(0.1)
        collector.send_signal(signal.SIGKILL)  # mid-shipment: some batches acked, one in flight, the rest unsent
        collector.wait(timeout=30)
        collector = _start_collector(tmp_path, port)
        sensor.join(timeout=300)
        assert not sensor.is_alive() and reports and reports[0].ok, reports
        assert reports[0].retries >= 1  # the sensor did see the collector go away
    finally:
        collector.send_signal(signal.SIGTERM)
        collector.wait(timeout=60)
    store = SqliteEventStore(tmp_path / "events.db")
    _stored_once(store, events, unit_id)
    assert store.count() == len(events)
    store.close()


ES_SECOND_PORT = int(os.environ.get("EDUSOC_TEST_ES_SECOND_PORT", "9214"))


def _es(command: str) -> None:
    subprocess.run([str(REPO / "scripts" / "es.sh"), command], check=True, timeout=300, capture_output=True,
                   env={**os.environ, "EDUSOC_ES_PORT": str(ES_SECOND_PORT)})


@pytest.mark.elasticsearch
def test_stopping_elasticsearch_mid_ingest_loses_and_duplicates_nothing(tmp_path, clock):
    if not os.environ.get("EDUSOC_TEST_ES_URL"):
        pytest.skip("EDUSOC_TEST_ES_URL is not set: Elasticsearch tests need `make test` (scripts/es.sh)")
    _es("start")  # a node of our own: stopping it disturbs no other test
    url = f"http://127.0.0.1:{ES_SECOND_PORT}"
    demo = start_demo_process(tmp_path, clock, event_store={"backend": "elasticsearch", "elasticsearch_url": url,
                                                            "elasticsearch_index_prefix": "edusoc-backpressure",
                                                            "retention_check_hours": 0},
                              compliance={"check_interval_minutes": 0}, detection={"scheduled_query_minutes": 0})
    demo.runtime.event_store.drop_days_before(date.max)  # left over by an interrupted run
    live = start_live_server(demo.runtime)
    stop = threading.Event()
    assert any(job.startswith("ingest.queue_drain:") for job in demo.runtime.schedule_periodic_jobs())

    def tick() -> None:  # the scheduler's loop, on the test's clock: the drainer's interval passes every 0.2 s
        while not stop.wait(0.2):
            clock.advance(timedelta(seconds=demo.runtime.settings.ingest.queue_drain_seconds))
            demo.runtime.scheduler.run_due()

    drainer = threading.Thread(target=tick, daemon=True)
    drainer.start()
    events = _events(12_000, "es")
    reports = []

    def ship() -> None:
        with Shipper(live.base_url, demo.sensors["sensor-school1-edge"].token, batch_size=1000, max_attempts=200,
                     backoff_initial=0.2, backoff_max=1.0, timeout=120) as shipper:
            reports.append(shipper.ship(events))

    sensor = threading.Thread(target=ship)
    try:
        sensor.start()
        while demo.runtime.ingest.counters.events_accepted < 3000 and sensor.is_alive():
            time.sleep(0.05)
        _es("stop")  # mid-ingest
        while demo.runtime.ingest.counters.events_queued == 0 and sensor.is_alive():
            time.sleep(0.05)
        _es("start")
        sensor.join(timeout=600)
        assert reports and reports[0].ok, reports
        assert demo.runtime.ingest.counters.events_queued > 0  # the collector did hold batches on disk
        deadline = time.monotonic() + 120
        while demo.runtime.ingest.queue_metrics()["batches"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert demo.runtime.ingest.queue_metrics()["batches"] == 0
        store = demo.runtime.event_store
        store._es.indices.refresh(index=f"{store.index_prefix}-*")
        _stored_once(store, events, _edge_unit(demo))
        assert store.search(EventQuery(filters={"event.kind": "event"}, limit=1)).total == len(events)
    finally:
        stop.set()
        sensor.join(timeout=60)
        live.stop()
        try:
            demo.runtime.event_store.drop_days_before(date.max)
            demo.runtime.event_store._es.indices.delete_index_template(name="edusoc-backpressure")
        finally:
            demo.runtime.close()
            if drainer is not None:
                drainer.join(timeout=10)
            _es("stop")
