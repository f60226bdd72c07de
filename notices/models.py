"""Case-store tables of notices (通报 → 整改 → 复核) and summons (约谈)."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from soc_core.models import Base


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
