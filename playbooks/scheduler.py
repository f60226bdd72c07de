"""Jobs that must survive a restart: apscheduler's SQLAlchemy job store on the case store, run on the injected clock.

Any area registers a job kind with a handler, then schedules it once (``at``) or daily (``daily``):

    scheduler.register("events.retention", lambda now, params: prune(now))
    scheduler.daily("events.retention", "all", hour=3)

Why not apscheduler's own loop: apscheduler 3 reads the wall clock (``datetime.now``) with no way to
inject another, and every deadline in edusoc must follow ``soc_core.clock.Clock`` so tests move time
instead of sleeping. So apscheduler keeps the jobs (persistent store, triggers, serialisation) and
this module decides when they are due, by ``clock.now()``: in a background thread every
``tick_seconds``, and once at start (the catch-up pass for everything that fell due while the
process was down). A job runs at least once after it falls due; handlers make their effect
idempotent (e.g. an escalation row's ``fired_at``), so together a deadline fires exactly once.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from sqlalchemy import Engine

from soc_core.clock import SHANGHAI, Clock

log = logging.getLogger("edusoc.scheduler")

# A handler gets the scheduler's "now" and the parameters given when the job was scheduled.
JobHandler = Callable[[datetime, dict[str, Any]], None]
RETRY_AFTER = timedelta(minutes=1)


def _run_job(kind: str, params: dict[str, Any]) -> None:  # pragma: no cover - never run by apscheduler's loop
    """The function reference apscheduler stores with each job; Scheduler.run_due dispatches by ``kind``."""
    raise RuntimeError(f"job {kind} must be run by playbooks.scheduler.Scheduler")


class _StoreOnlyScheduler(BackgroundScheduler):
    """apscheduler as the front of its persistent job store: its own wall-clock loop never runs a job."""

    def _process_jobs(self):  # type: ignore[no-untyped-def]
        return None  # wait until woken; Scheduler.run_due runs jobs on the injected clock


class Scheduler:
    def __init__(self, engine: Engine, clock: Clock, tick_seconds: float = 5.0, tablename: str = "scheduled_jobs") -> None:
        self.clock = clock
        self.tick_seconds = tick_seconds
        self._handlers: dict[str, JobHandler] = {}
        self._store = SQLAlchemyJobStore(engine=engine, tablename=tablename)
        self._aps = _StoreOnlyScheduler(jobstores={"default": self._store}, timezone=timezone.utc)
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
            for job in self._store.get_due_jobs(now):
                kind, params = job.kwargs["kind"], job.kwargs["params"]
                handler = self._handlers.get(kind)
                if handler is None:
                    log.error("job %s: no handler registered for %r; kept for a later start", job.id, kind)
                    continue
                try:
                    handler(now, params)
                except Exception:  # noqa: BLE001 - one failing job must not stop the others; retried later
                    log.exception("job %s failed; retrying after %s", job.id, RETRY_AFTER)
                    self._aps.modify_job(job.id, next_run_time=now + RETRY_AFTER)
                    continue
                ran.append(job.id)
                current = self._aps.get_job(job.id)
                if current is None or current.next_run_time != job.next_run_time:
                    continue  # the handler removed or rescheduled its own job (e.g. a retry)
                following = job.trigger.get_next_fire_time(job.next_run_time, now)
                if following is None:
                    self._aps.remove_job(job.id)
                else:
                    self._aps.modify_job(job.id, next_run_time=following)
        return ran

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
