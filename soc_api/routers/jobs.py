"""/api/v1/jobs: the periodic jobs (compliance checks, event retention, the collector's disk-queue
drainer and enrichment index) with their interval, last run, last result and next run. System admins only."""
from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from playbooks.scheduler import job_statuses
from soc_api.auth import Context, CurrentPrincipal, DbSession, Principal
from soc_core.clock import as_utc_or_none
from soc_core.models_jobs import JobStatus
from soc_core.org import Role

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


class JobOut(BaseModel):
    job_id: str
    kind: str
    label: str = Field(description="Chinese name first, English second")
    node: str = Field(description="'' for a job of the whole installation; else the process (host:data_dir) it belongs to")
    interval_seconds: float
    last_run_at: datetime | None
    last_ok: bool | None = Field(description="None until the first run")
    last_result: str = Field(description="what the last run did, or its error")
    next_run_at: datetime | None
    runs: int
    failures: int = Field(description="consecutive failed runs")


def job_out(status: JobStatus) -> JobOut:
    return JobOut(job_id=status.job_id, kind=status.kind, label=status.label, node=status.node,
                  interval_seconds=status.interval_seconds, last_run_at=as_utc_or_none(status.last_run_at), last_ok=status.last_ok,
                  last_result=status.last_result, next_run_at=as_utc_or_none(status.next_run_at), runs=status.runs, failures=status.failures)


def can_see_jobs(principal: Principal) -> bool:
    return principal.role is Role.SYSTEM_ADMIN


def _admin(principal: Principal) -> None:
    if not can_see_jobs(principal):
        raise HTTPException(403, "only system admins see and run the scheduled jobs")


@router.get("", response_model=list[JobOut], summary="Periodic jobs: interval, last run and result, next run (system admins)")
def list_jobs(principal: CurrentPrincipal, session: DbSession) -> list[JobOut]:
    _admin(principal)
    return [job_out(status) for status in job_statuses(session)]


@router.post("/{job_id:path}/run", response_model=JobOut, status_code=202,
             summary="Run a periodic job at the scheduler's next tick (system admins; audited)")
def run_job(job_id: str, principal: CurrentPrincipal, context: Context, session: DbSession) -> JobOut:
    _admin(principal)
    if context.scheduler is None or context.scheduler.run_soon(job_id, principal.user.username) is None:
        raise HTTPException(404, f"job {job_id!r} is not scheduled in this process")
    status = session.get(JobStatus, job_id)
    if status is None:
        raise HTTPException(404, f"job {job_id!r} has no status")
    return job_out(status)
