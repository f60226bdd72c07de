"""`edusoc run` enforces event retention on a schedule through the runtime."""
from __future__ import annotations

from datetime import timedelta

from edusoc.runtime import build_runtime
from soc_core.config import Settings
from soc_core.event_store import EventQuery
from soc_core.events import format_timestamp


def _event(at, n: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {"@timestamp": format_timestamp(at), "event.id": f"e-{n}", "event.kind": "event", "event.dataset": "edusoc.flow"}


def test_the_runtime_deletes_days_older_than_the_retention_period(tmp_path, clock):
    runtime = build_runtime(Settings(data_dir=str(tmp_path), event_store={"retention_days": 184}), clock)
    try:
        runtime.event_store.write([_event(clock.now() - timedelta(days=d), d) for d in (0, 184, 185, 400)])
        assert runtime.enforce_retention().startswith("2 day(s) deleted")
        assert sorted(e["event.id"] for e in runtime.event_store.search(EventQuery()).events) == ["e-0", "e-184"]
        # the scheduler runs the same job at once, then every retention_check_hours
        clock.advance(timedelta(days=1))
        assert "events.retention:all" in runtime.schedule_periodic_jobs()
        assert "events.retention:all" in runtime.scheduler.run_due()
        assert runtime.event_store.get("e-184") is None and runtime.event_store.get("e-0") is not None
    finally:
        runtime.close()


def test_a_zero_interval_disables_the_schedule(tmp_path, clock):
    runtime = build_runtime(Settings(data_dir=str(tmp_path), event_store={"retention_check_hours": 0}), clock)
    try:
        assert "events.retention:all" not in runtime.schedule_periodic_jobs()
    finally:
        runtime.close()

