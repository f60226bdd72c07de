"""Schemas of /api/v1/jobs."""
from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from soc_core.clock import as_utc_or_none
from soc_core.models_jobs import JobStatus


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
