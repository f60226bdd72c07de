"""What each periodic job did last: when it ran, whether it worked, what it said, when it runs next.

One row per periodic job, replaced at each run (a run is telemetry, not a change of state; a job
being scheduled, rescheduled, failing or recovering is, and goes to the audit log). Jobs of the
whole installation (compliance checks, event retention) have ``node`` = ""; jobs of one process
(its collector's disk-queue drainer, its enrichment index) name the host and data directory.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from soc_core.models import Base


class JobStatus(Base):
    __tablename__ = "job_status"

    job_id: Mapped[str] = mapped_column(String(191), primary_key=True)  # "<kind>:<key>", as in scheduled_jobs
    kind: Mapped[str] = mapped_column(String(100))
    label: Mapped[str] = mapped_column(String(200), default="")  # Chinese name shown to admins
    node: Mapped[str] = mapped_column(String(200), default="")   # "" = the installation; else the process's host:data_dir
    interval_seconds: Mapped[float]
    next_run_at: Mapped[datetime | None]  # naive UTC
    last_run_at: Mapped[datetime | None]
    last_ok: Mapped[bool | None]
    last_result: Mapped[str] = mapped_column(Text, default="")
    runs: Mapped[int] = mapped_column(default=0)
    failures: Mapped[int] = mapped_column(default=0)  # consecutive failed runs
