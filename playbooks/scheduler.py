"""Jobs that must survive a restart: apscheduler's SQLAlchemy job store on the case store, run on the injected clock.

Any area registers a job kind with a handler, then schedules it once (``at``) or daily (``daily``):

    scheduler.register("notice.overdue", notices.overdue)
    scheduler.at("notice.overdue", str(notice_id), due, notice_id=notice_id)

Periodic jobs (``every``: compliance checks, event retention, the collector's disk-queue drainer)
also keep a ``job_status`` row — last run, its result, next run — for the admins' jobs page, and
their scheduling, failures and recoveries go to the audit log. A job of the whole installation is
kept in the persistent store (one scheduler process runs it, and catches up after a restart); a
job of one process (``local=True``: its own disk queue, its own in-memory index) in memory.

Why not apscheduler's own loop: apscheduler 3 reads the wall clock (``datetime.now``) with no way to
inject another, and every deadline in edusoc must follow ``soc_core.clock.Clock`` so tests move time
instead of sleeping. So apscheduler keeps the jobs (persistent store, triggers, serialisation) and
this module decides when they are due, by ``clock.now()``: in a background thread every
``tick_seconds``, and once at start (the catch-up pass for everything that fell due while the
process was down). A job runs at least once after it falls due; handlers make their effect
idempotent (e.g. an escalation row's ``fired_at``), so together a deadline fires exactly once.
Runs of a recurring job missed while the process was down are coalesced: one catch-up run, then
the next regular time after now (apscheduler's own ``coalesce``).
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from apscheduler.job import Job
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from soc_core.audit import record_audit
from soc_core.clock import SHANGHAI, Clock, to_db
from soc_core.models_jobs import JobStatus

log = logging.getLogger("edusoc.scheduler")

# A handler gets the scheduler's "now" and the parameters given when the job was scheduled; what a
# periodic job's handler returns (a line saying what it did) is kept as its last result.
JobHandler = Callable[[datetime, dict[str, Any]], object]
RETRY_AFTER = timedelta(minutes=1)
RESULT_CHARS = 1000
AUDIT_ACTOR = "scheduler"


def _run_job(kind: str, params: dict[str, Any]) -> None:  # pragma: no cover - never run by apscheduler's loop
    """The function reference apscheduler stores with each job; Scheduler.run_due dispatches by ``kind``."""
    raise RuntimeError(f"job {kind} must be run by playbooks.scheduler.Scheduler")


class _StoreOnlyScheduler(BackgroundScheduler):  # type: ignore[misc]  # apscheduler ships no types: its classes are Any
    """apscheduler as the front of its persistent job store: its own wall-clock loop never runs a job."""

    def _process_jobs(self):  # type: ignore[no-untyped-def]
        return None  # wait until woken; Scheduler.run_due runs jobs on the injected clock


class Scheduler:
    def __init__(self, engine: Engine, clock: Clock, tick_seconds: float = 5.0, tablename: str = "scheduled_jobs",
                 node: str = "") -> None:
        self.clock = clock
        self.tick_seconds = tick_seconds
        self.node = node  # names this process in the status of its local jobs
        self._engine = engine
        self._handlers: dict[str, JobHandler] = {}
        self._periodic: set[str] = set()   # job ids whose runs are recorded in job_status
        self._unhandled: set[str] = set()  # due jobs of kinds this process does not run (logged once)
        self._store = SQLAlchemyJobStore(engine=engine, tablename=tablename)
        self._local = MemoryJobStore()
        self._aps = _StoreOnlyScheduler(jobstores={"default": self._store, "local": self._local}, timezone=timezone.utc)
        self._aps.start()
        self._run_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- registration -------------------------------------------------------------------------
    def register(self, kind: str, handler: JobHandler) -> None:
        """Name what a job kind does; register every kind before ``start`` so the catch-up pass can run it."""
        self._handlers[kind] = handler

    def at(self, kind: str, key: str, when: datetime, **params: Any) -> str:
        """Run ``kind`` once at ``when`` (replacing an earlier schedule of the same kind and key)."""
        job_id = f"{kind}:{key}"
        self._aps.add_job(_run_job, trigger=DateTrigger(when), id=job_id, kwargs={"kind": kind, "params": params},
                          replace_existing=True, next_run_time=when)
        return job_id

    def daily(self, kind: str, key: str, hour: int, minute: int = 0, **params: Any) -> str:
        """Run ``kind`` every day at ``hour:minute`` Beijing time (from now on, by the injected clock)."""
        job_id = f"{kind}:{key}"
        trigger = CronTrigger(hour=hour, minute=minute, timezone=SHANGHAI)
        self._aps.add_job(_run_job, trigger=trigger, id=job_id, kwargs={"kind": kind, "params": params},
                          replace_existing=True, next_run_time=trigger.get_next_fire_time(None, self.clock.now()))
        return job_id

    def every(self, kind: str, key: str, seconds: float, handler: JobHandler, *, label: str = "",
              local: bool = False) -> str | None:
        """Run ``handler`` every ``seconds``, the first time at once; ``seconds`` <= 0: not in this process.

        A job already in the persistent store with the same interval keeps its next run time, so a
        run missed while the process was down is made once by ``start``'s catch-up pass.
        """
        if seconds <= 0:
            log.info("periodic job %s:%s is not run by this process (interval 0)", kind, key)
            return None
        self.register(kind, handler)
        self.tick_seconds = min(self.tick_seconds, max(float(seconds), 1.0))  # a 2 s drainer is not held to a 5 s tick
        job_id, now, interval = f"{kind}:{key}", self.clock.now(), timedelta(seconds=seconds)
        existing = self._aps.get_job(job_id)
        if existing is not None and isinstance(existing.trigger, IntervalTrigger) and existing.trigger.interval == interval:
            next_run = existing.next_run_time
        else:
            next_run = now if existing is None or existing.next_run_time is None else min(existing.next_run_time, now + interval)
            self._aps.add_job(_run_job, trigger=IntervalTrigger(seconds=seconds, start_date=next_run, timezone=timezone.utc),
                              id=job_id, jobstore="local" if local else "default", kwargs={"kind": kind, "params": {}},
                              replace_existing=True, next_run_time=next_run)
        self._periodic.add(job_id)
        with Session(self._engine) as session:
            status = session.get(JobStatus, job_id) or JobStatus(job_id=job_id, runs=0, failures=0, last_result="")
            previous = status.interval_seconds if status.kind else None
            status.kind, status.label, status.node = kind, label, self.node if local else ""
            status.interval_seconds, status.next_run_at = float(seconds), to_db(next_run) if next_run else None
            session.add(status)
            if previous != float(seconds):  # new, or its interval changed (a restart re-adding it is no change)
                record_audit(session, self.clock, AUDIT_ACTOR, "job.schedule", "job", job_id, None,
                             interval_seconds=float(seconds), previous_interval_seconds=previous,
                             next_run_at=next_run.isoformat() if next_run else None, node=status.node)
            session.commit()
        return job_id

    def run_soon(self, job_id: str, actor: str) -> datetime | None:
        """Make a periodic job due now (the next tick runs it); audited. None when this process has no such job."""
        job = self._aps.get_job(job_id)
        if job is None or job_id not in self._periodic:
            return None
        now = self.clock.now()
        self._aps.modify_job(job_id, next_run_time=now)
        with Session(self._engine) as session:
            status = session.get(JobStatus, job_id)
            if status is not None:
                status.next_run_at = to_db(now)
            record_audit(session, self.clock, actor, "job.run_requested", "job", job_id, None)
            session.commit()
        return now

    def cancel(self, kind: str, key: str) -> None:
        job = self._aps.get_job(f"{kind}:{key}")
        if job is not None:
            job.remove()

    def next_run(self, kind: str, key: str) -> datetime | None:
        job = self._aps.get_job(f"{kind}:{key}")
        return job.next_run_time if job is not None else None

    # -- running ------------------------------------------------------------------------------
    def run_due(self, now: datetime | None = None) -> list[str]:
        """Run every job due by ``now`` (default: the clock) once; return their ids. The catch-up pass is this call."""
        now = now or self.clock.now()
        ran: list[str] = []
        with self._run_lock:
            due = sorted([*self._store.get_due_jobs(now), *self._local.get_due_jobs(now)], key=lambda j: j.next_run_time)
            for job in due:
                kind, params = job.kwargs["kind"], job.kwargs["params"]
                handler = self._handlers.get(kind)
                if handler is None:
                    if job.id not in self._unhandled:  # e.g. retention in a collector process: the scheduler runs it
                        self._unhandled.add(job.id)
                        log.warning("job %s: no handler registered for %r in this process; left to one that has", job.id, kind)
                    continue
                try:
                    outcome = handler(now, params)
                except Exception as exc:  # noqa: BLE001 - one failing job must not stop the others; retried later
                    log.exception("job %s failed; retrying after %s", job.id, RETRY_AFTER)
                    retry = now + RETRY_AFTER
                    if job.id in self._periodic:
                        retry = min(retry, self._following(job, now) or retry)
                        self._record(job.id, now, False, f"{type(exc).__name__}: {exc}", retry)
                    self._aps.modify_job(job.id, next_run_time=retry)
                    continue
                ran.append(job.id)
                current = self._aps.get_job(job.id)
                if current is None or current.next_run_time != job.next_run_time:
                    following = current.next_run_time if current is not None else None  # the handler rescheduled its own job
                else:
                    following = self._following(job, now)
                    if following is None:
                        self._aps.remove_job(job.id)
                    else:
                        self._aps.modify_job(job.id, next_run_time=following)
                if job.id in self._periodic:
                    self._record(job.id, now, True, "" if outcome is None else str(outcome), following)
        return ran

    @staticmethod
    def _following(job: Job, now: datetime) -> datetime | None:
        """The job's next fire time after ``now``: runs missed while down or busy fold into the one just made."""
        following: datetime | None = job.trigger.get_next_fire_time(job.next_run_time, now)
        if following is not None and following <= now:
            following = job.trigger.get_next_fire_time(None, now)
            if following is not None and following <= now:
                following = job.trigger.get_next_fire_time(following, now)
        return following

    def _record(self, job_id: str, now: datetime, ok: bool, result: str, next_run: datetime | None) -> None:
        """A periodic job's last run in ``job_status``; a failure after success (and the recovery) is audited."""
        with Session(self._engine) as session:
            status = session.get(JobStatus, job_id)
            if status is None:
                return
            if ok != (status.last_ok is not False):
                record_audit(session, self.clock, AUDIT_ACTOR, "job.recover" if ok else "job.fail", "job", job_id, None,
                             result=result[:RESULT_CHARS], failures=0 if ok else status.failures + 1, node=status.node)
            status.last_run_at, status.last_ok, status.last_result = to_db(now), ok, result[:RESULT_CHARS]
            status.next_run_at = to_db(next_run) if next_run is not None else None
            status.runs += 1
            status.failures = 0 if ok else status.failures + 1
            session.commit()

    def start(self, background: bool = True) -> list[str]:
        """Catch up on everything due while the process was down, then (optionally) keep ticking in a thread."""
        caught_up = self.run_due()
        if caught_up:
            log.info("scheduler catch-up ran %d job(s): %s", len(caught_up), ", ".join(caught_up[:10]))
        if background and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="edusoc-scheduler", daemon=True)
            self._thread.start()
        return caught_up

    def _loop(self) -> None:
        while not self._stop.wait(self.tick_seconds):
            try:
                self.run_due()
            except Exception:  # noqa: BLE001 - e.g. the case store briefly unavailable; next tick retries
                log.exception("scheduler tick failed")

    def shutdown(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._aps.running:
            self._aps.shutdown(wait=False)


def job_statuses(session: Session) -> list[JobStatus]:
    """Every periodic job's status, installation-wide jobs first, then each process's, by kind."""
    return list(session.scalars(select(JobStatus).order_by(JobStatus.node, JobStatus.kind, JobStatus.job_id)))
