"""/api/v1/jobs: the periodic jobs (compliance checks, event retention, the collector's disk-queue
drainer and enrichment index) with their interval, last run, last result and next run. System admins only."""
from __future__ import annotations

from fastapi import APIRouter, HTTPException

from playbooks.scheduler import job_statuses
from soc_api.auth import Context, CurrentPrincipal, DbSession, require
from soc_api.schemas.jobs import JobOut, job_out
from soc_core.models_jobs import JobStatus
from soc_core.permissions import Action

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


@router.get("", response_model=list[JobOut], summary="Periodic jobs: interval, last run and result, next run (system admins)", **require(Action.RUN_JOB))
def list_jobs(principal: CurrentPrincipal, session: DbSession) -> list[JobOut]:
    return [job_out(status) for status in job_statuses(session)]


@router.post("/{job_id:path}/run", response_model=JobOut, status_code=202,
             summary="Run a periodic job at the scheduler's next tick (system admins; audited)", **require(Action.RUN_JOB))
def run_job(job_id: str, principal: CurrentPrincipal, context: Context, session: DbSession) -> JobOut:
    if context.scheduler is None or context.scheduler.run_soon(job_id, principal.user.username) is None:
        raise HTTPException(404, f"job {job_id!r} is not scheduled in this process")
    status = session.get(JobStatus, job_id)
    if status is None:
        raise HTTPException(404, f"job {job_id!r} has no status")
    return job_out(status)
