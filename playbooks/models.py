"""Case-store tables of playbooks: escalation steps, tasks, the persistent job store, action deliveries."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Float, ForeignKey, LargeBinary, String, Table, Text, Unicode, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from soc_core.models import Base

# apscheduler's SQLAlchemyJobStore table (same columns as apscheduler 3.x creates), declared here so
# the migrations own it and autogenerate does not propose to drop it.
scheduled_jobs = Table(
    "scheduled_jobs",
    Base.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)


class EscalationStep(Base):
    """One planned escalation of an incident; ``fired_at`` is set exactly once, by whoever fires it first."""

    __tablename__ = "incident_escalations"
    __table_args__ = (UniqueConstraint("incident_id", "kind", "step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # deadline | unacknowledged
    step: Mapped[int]
    fraction: Mapped[float]                         # of the handling time (deadline kind)
    levels_up: Mapped[int]                          # how far up the org tree it goes
    overdue: Mapped[bool] = mapped_column(default=False)  # the breach step marks the incident overdue
    due_at: Mapped[datetime] = mapped_column(index=True)
    target_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    fired_at: Mapped[datetime | None]
    skipped_reason: Mapped[str | None] = mapped_column(String(64))


class PlaybookTask(Base):
    """A task of the playbook that started for an incident, owned by a role, with its own deadline."""

    __tablename__ = "incident_tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    playbook: Mapped[str] = mapped_column(String(64))
    position: Mapped[int]
    name: Mapped[str] = mapped_column(String(200))
    owner_role: Mapped[str] = mapped_column(String(32))
    due_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
    done_by: Mapped[str | None] = mapped_column(String(64))


class ActionDelivery(Base):
    """One message or block request to one channel; retried on the scheduler until sent or out of attempts."""

    __tablename__ = "action_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(64), index=True)
    adapter: Mapped[str] = mapped_column(String(16))   # webhook | wecom | dingtalk | email | blocklist
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    reason: Mapped[str] = mapped_column(String(64))    # open | escalation | overdue | ...
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)  # e.g. the address to block
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")


class ActionAttempt(Base):
    """Every delivery attempt, successful or not, with what the other side answered."""

    __tablename__ = "action_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("action_deliveries.id"), index=True)
    at: Mapped[datetime]
    ok: Mapped[bool]
    status_code: Mapped[int | None]
    response: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str] = mapped_column(Text, default="")
