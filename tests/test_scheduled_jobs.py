"""Periodic jobs on the scheduler (playbooks.scheduler ``every``), driven by the injected clock:
intervals from the settings, a status per job (/api/v1/jobs), audited scheduling and failures,
and a run missed while the process was down made exactly once at start."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from edusoc.runtime import build_runtime
from playbooks.scheduler import Scheduler, job_statuses
from soc_core.clock import as_utc
from soc_core.config import Settings
from soc_core.event_store import EventQuery
from soc_core.events import format_timestamp
from soc_core.models import AuditEntry
from tests.api_helpers import start_demo_process


def _event(at, n: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {"@timestamp": format_timestamp(at), "event.id": f"e-{n}", "event.kind": "event", "event.dataset": "edusoc.flow"}


def _statuses(runtime) -> dict[str, object]:  # type: ignore[no-untyped-def]
    with runtime.sessions() as session:
        return {s.kind: s for s in job_statuses(session)}


def _audits(runtime, action: str) -> int:  # type: ignore[no-untyped-def]
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action))


def test_each_periodic_job_runs_at_start_then_at_its_interval_from_the_settings(tmp_path, clock):
    settings = Settings(data_dir=str(tmp_path), compliance={"check_interval_minutes": 30},
                        event_store={"retention_check_hours": 6}, ingest={"address_book_refresh_minutes": 5, "queue_drain_seconds": 2})
    runtime = build_runtime(settings, clock)
    try:
        runtime.start(background=False)
        jobs = _statuses(runtime)
        assert {k: s.interval_seconds for k, s in jobs.items()} == {
            "compliance.checks": 1800, "events.retention": 6 * 3600, "ingest.address_book": 300, "ingest.queue_drain": 2}
        assert all(s.runs == 1 and s.last_ok for s in jobs.values())
        assert jobs["compliance.checks"].last_result.startswith("findings ")
        assert jobs["ingest.address_book"].last_result.endswith("networks and hosts indexed")
        assert jobs["compliance.checks"].node == "" and jobs["ingest.queue_drain"].node.endswith(str(tmp_path))
        assert as_utc(jobs["compliance.checks"].next_run_at) == clock.now() + timedelta(minutes=30)
        assert _audits(runtime, "job.schedule") == 4
        clock.advance(timedelta(minutes=5))
        assert sorted(k.split(":")[0] for k in runtime.scheduler.run_due()) == ["ingest.address_book", "ingest.queue_drain"]
        clock.advance(timedelta(minutes=25))
        assert "compliance.checks:all" in runtime.scheduler.run_due()
        assert _statuses(runtime)["compliance.checks"].runs == 2
    finally:
        runtime.close()


def test_a_missed_retention_run_catches_up_once_after_a_restart(tmp_path, clock):
    settings = Settings(data_dir=str(tmp_path), event_store={"retention_days": 184, "retention_check_hours": 6})
    first = build_runtime(settings, clock)
    first.start(background=False)  # retention runs at first start, nothing to delete yet
    assert _statuses(first)["events.retention"].runs == 1
    first.event_store.write([_event(clock.now() - timedelta(days=d), d) for d in (0, 183, 184)])
    first.close()

    clock.advance(timedelta(days=3))  # down over twelve scheduled runs; day 184 and 183 are now expired
    second = build_runtime(settings, clock)
    try:
        assert _audits(second, "events.retention") == 0
        ran = second.start(background=False)
        assert ran.count("events.retention:all") == 1
        assert second.event_store.get("e-184") is None and second.event_store.get("e-183") is None
        assert [e["event.id"] for e in second.event_store.search(EventQuery()).events] == ["e-0"]
        status = _statuses(second)["events.retention"]
        assert status.runs == 2 and status.last_result.startswith("2 day(s) deleted")
        assert as_utc(status.next_run_at) > clock.now()  # missed runs folded into the one catch-up run
        assert _audits(second, "events.retention") == 1  # retention deletions stay audited
        assert "events.retention:all" not in second.scheduler.run_due()  # not a second catch-up on the next tick
        assert _statuses(second)["events.retention"].runs == 2
        assert _audits(second, "job.schedule") == 4  # the restart kept the schedule: nothing rescheduled
        clock.advance(timedelta(hours=6))
        assert "events.retention:all" in second.scheduler.run_due()
        assert _statuses(second)["events.retention"].runs == 3
    finally:
        second.close()


def test_an_interval_of_zero_leaves_the_job_to_another_process(tmp_path, clock):
    scheduler_process = build_runtime(Settings(data_dir=str(tmp_path)), clock)
    scheduler_process.schedule_periodic_jobs()
    scheduler_process.close()
    clock.advance(timedelta(hours=7))
    collector = build_runtime(Settings(data_dir=str(tmp_path), event_store={"retention_check_hours": 0},
                                       compliance={"check_interval_minutes": 0}), clock)
    try:
        collector.start(background=False)
        jobs = _statuses(collector)
        assert jobs["events.retention"].runs == 0 and jobs["compliance.checks"].runs == 0  # still due, for the scheduler
        assert jobs["ingest.queue_drain"].runs == 1
        assert collector.scheduler.next_run("events.retention", "all") is not None
    finally:
        collector.close()


def test_a_failing_job_is_recorded_audited_retried_and_its_recovery_audited(sessions, clock):
    engine = sessions.kw["bind"]
    scheduler = Scheduler(engine, clock)
    calls: list[int] = []

    def flaky(now, params) -> str:  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 2:
            raise ConnectionError("event store unreachable")
        return f"pass {len(calls)}"

    try:
        scheduler.every("test.flaky", "all", 3600, flaky, label="测试 Test")
        assert scheduler.run_due() == ["test.flaky:all"]
        clock.advance(timedelta(hours=1))
        assert scheduler.run_due() == []  # failed
        with sessions() as session:
            (status,) = job_statuses(session)
            assert (status.last_ok, status.failures, status.last_result) == (False, 1, "ConnectionError: event store unreachable")
            assert as_utc(status.next_run_at) == clock.now() + timedelta(minutes=1)  # retried soon, not in an hour
        clock.advance(timedelta(minutes=1))
        assert scheduler.run_due() == ["test.flaky:all"]
        with sessions() as session:
            (status,) = job_statuses(session)
            assert (status.last_ok, status.failures, status.runs, status.last_result) == (True, 0, 3, "pass 3")
            actions = list(session.scalars(select(AuditEntry.action).where(AuditEntry.target_type == "job").order_by(AuditEntry.id)))
        assert actions == ["job.schedule", "job.fail", "job.recover"]
    finally:
        scheduler.shutdown()


def test_jobs_api_is_for_system_admins(tmp_path, clock):
    demo = start_demo_process(tmp_path, clock)
    try:
        demo.runtime.start(background=False)
        jobs = demo.client.get("/api/v1/jobs", headers=demo.login("admin")).json()
        by_kind = {j["kind"]: j for j in jobs}
        assert by_kind["events.retention"]["label"].startswith("事件保留期清理")
        assert by_kind["events.retention"]["last_ok"] is True and by_kind["events.retention"]["runs"] == 1
        assert by_kind["events.retention"]["next_run_at"] == "2026-11-02T07:00:00Z"  # 6 h after start
        for user in ("duty", "school1", "regulator"):
            assert demo.client.get("/api/v1/jobs", headers=demo.login(user)).status_code == 403
        assert demo.client.get("/api/v1/jobs").status_code == 401
    finally:
        demo.runtime.close()


def test_a_system_admin_runs_a_job_now_and_it_is_audited(tmp_path, clock):
    demo = start_demo_process(tmp_path, clock)
    try:
        demo.runtime.start(background=False)
        admin = demo.login("admin")
        assert demo.client.post("/api/v1/jobs/events.retention:all/run", headers=demo.login("duty")).status_code == 403
        assert demo.client.post("/api/v1/jobs/no.such:job/run", headers=admin).status_code == 404
        answer = demo.client.post("/api/v1/jobs/events.retention:all/run", headers=admin)
        assert answer.status_code == 202 and answer.json()["next_run_at"] == "2026-11-02T01:00:00Z"
        assert demo.runtime.scheduler.run_due() == ["events.retention:all"]  # the next tick runs it
        job = next(j for j in demo.client.get("/api/v1/jobs", headers=admin).json() if j["kind"] == "events.retention")
        assert job["runs"] == 2 and job["next_run_at"] == "2026-11-02T07:00:00Z"
        with demo.runtime.sessions() as session:
            entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "job.run_requested")).one()
        assert (entry.actor, entry.target_id) == ("admin", "events.retention:all")
    finally:
        demo.runtime.close()
