"""Case-store tables of 7×24 duty, notices (通报 → 整改 → 复核, 约谈) and zero-reports in key periods (重要时段)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from soc_core.models import Base


class DutyShift(Base):
    """One person on duty for a team of a unit over [starts_at, ends_at)."""

    __tablename__ = "duty_shifts"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    team: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime] = mapped_column(index=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class HandoverNote(Base):
    """What the outgoing shift tells the incoming one (open incidents, pending notices, anything odd)."""

    __tablename__ = "duty_handovers"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    team: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(index=True)
    from_user: Mapped[str] = mapped_column(String(64))
    to_user: Mapped[str] = mapped_column(String(64), default="")
    text: Mapped[str] = mapped_column(Text)
    open_incident_ids: Mapped[list[Any]] = mapped_column(default=list)  # snapshot at handover


class Notice(Base):
    """A notice (通报) from an upper unit to a unit below, answered by a rectification (整改) before ``due_at``."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    no: Mapped[str] = mapped_column(String(32), unique=True)  # 通报编号, e.g. TB-2026-0007
    issuer_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    issued_by: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime]
    target_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # vulnerability | incident | hazard | warning
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    assets: Mapped[str] = mapped_column(Text, default="")
    required_actions: Mapped[str] = mapped_column(Text, default="")
    due_at: Mapped[datetime] = mapped_column(index=True)
    # issued → acknowledged → submitted → closed; submitted → returned → submitted …; overdue is a flag
    status: Mapped[str] = mapped_column(String(16), default="issued", index=True)
    acknowledged_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    overdue_at: Mapped[datetime | None]
    escalated_to_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))


class NoticeEntry(Base):
    """The history of a notice: issued, acknowledged, rectification submitted, returned, closed, overdue, summons."""

    __tablename__ = "notice_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"), index=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text, default="")


class Rectification(Base):
    """The unit's answer to a notice: measures, result and evidence; reviewed by the issuer."""

    __tablename__ = "rectifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"), index=True)
    measures: Mapped[str] = mapped_column(Text)
    result: Mapped[str] = mapped_column(Text, default="")
    responsible: Mapped[str] = mapped_column(String(100), default="")
    submitted_by: Mapped[str] = mapped_column(String(64))
    submitted_at: Mapped[datetime]
    review: Mapped[str | None] = mapped_column(String(16))  # accepted | returned
    review_comment: Mapped[str] = mapped_column(Text, default="")
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    reviewed_at: Mapped[datetime | None]


class RectificationEvidence(Base):
    __tablename__ = "rectification_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    rectification_id: Mapped[int] = mapped_column(ForeignKey("rectifications.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(128))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))


class Summons(Base):
    """A summons talk (约谈) of a unit's head, e.g. after an overdue notice (网络安全法 art. 56, DOMAIN.md §7)."""

    __tablename__ = "summons"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("notices.id"), index=True)
    head: Mapped[str] = mapped_column(String(100))      # who was summoned (法定代表人/主要负责人)
    reason: Mapped[str] = mapped_column(Text)
    held_at: Mapped[datetime]
    commitments: Mapped[str] = mapped_column(Text, default="")
    follow_up_due: Mapped[date | None]
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime]


class KeyPeriod(Base):
    """A key period (重要时段) declared by a regulator: the listed units report daily before ``deadline_hour``."""

    __tablename__ = "key_periods"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    declared_by_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    declared_by: Mapped[str] = mapped_column(String(64))
    declared_at: Mapped[datetime]
    starts_on: Mapped[date]   # Beijing dates, inclusive
    ends_on: Mapped[date]
    deadline_hour: Mapped[int]  # Beijing hour of the daily deadline, e.g. 16
    active: Mapped[bool] = mapped_column(default=True)


class KeyPeriodUnit(Base):
    __tablename__ = "key_period_units"
    __table_args__ = (UniqueConstraint("period_id", "unit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("key_periods.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)


class ZeroReport(Base):
    """A unit's daily report in a key period: nothing happened (零报告), or the incidents that did."""

    __tablename__ = "zero_reports"
    __table_args__ = (UniqueConstraint("period_id", "unit_id", "report_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("key_periods.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    report_date: Mapped[date] = mapped_column(index=True)  # Beijing date
    has_incident: Mapped[bool]
    incident_ids: Mapped[list[Any]] = mapped_column(default=list)
    summary: Mapped[str] = mapped_column(Text, default="")
    systems_down: Mapped[str] = mapped_column(Text, default="")  # 关停系统清单
    on_duty: Mapped[str] = mapped_column(String(200), default="")  # 值班人员及电话
    submitted_by: Mapped[str] = mapped_column(String(64))
    submitted_at: Mapped[datetime]
    late: Mapped[bool] = mapped_column(default=False)
