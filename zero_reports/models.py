"""Case-store tables of key periods (重要时段), the units that must report, and their zero-reports (零报告)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from soc_core.models import Base


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
