"""The SQLite case store under light concurrency (issue 14): writers racing through the API wait
their turn instead of failing with "database is locked"."""
from __future__ import annotations

import gzip
import json
import threading
from datetime import datetime, timezone

import httpx
from sqlalchemy import select

from soc_core.models import Sensor
from soc_core.models_sensors import SensorStatus

from tests.api_helpers import serving, start_demo_process

SENSORS = ("sensor-school1-edge", "sensor-school2-web")


def test_concurrent_writers_through_the_api_never_see_database_is_locked(tmp_path, clock):
    demo = start_demo_process(tmp_path, clock)
    failures: list[str] = []
    with serving(demo) as live:
        def sensor(name: str, worker: int) -> None:
            headers = {"Authorization": f"Bearer {demo.sensors[name].token}"}
            with httpx.Client(base_url=live.base_url, timeout=60) as client:
                for n in range(25):
                    beat = client.post("/api/v1/ingest/heartbeat", headers=headers, json={
                        "sensor_time": datetime(2026, 11, 2, tzinfo=timezone.utc).isoformat(), "version": "t",
                        "counters": {"events": n}})
                    event = {"@timestamp": "2026-11-02T01:00:00Z", "event.id": f"w{worker}-{n}", "event.kind": "event",
                             "event.dataset": "edusoc.flow", "source.ip": "10.0.0.1", "destination.ip": "10.0.0.2"}
                    batch = client.post("/api/v1/ingest/events", content=gzip.compress(json.dumps(event).encode()),
                                        headers={**headers, "Content-Encoding": "gzip"})
                    for answer in (beat, batch):
                        if answer.status_code != 200:
                            failures.append(f"{answer.status_code} {answer.text[:200]}")

        workers = [threading.Thread(target=sensor, args=(SENSORS[i % 2], i)) for i in range(8)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    assert failures == []
    with demo.runtime.sessions() as session:
        sensors = session.scalars(select(Sensor).where(Sensor.name.in_(SENSORS))).all()
        counted = sum(s.events_accepted for s in sensors)
        beats = sum(session.scalars(select(SensorStatus.heartbeats).where(SensorStatus.sensor_id.in_([s.id for s in sensors]))))
    demo.runtime.close()
    assert (counted, beats) == (8 * 25, 8 * 25)  # no lost update between racing writers

