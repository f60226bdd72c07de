"""Case-store table of compliance snapshots: a unit subtree's figures at one instant, for the trend."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from soc_core.models import Base


class ComplianceSnapshot(Base):
    """The compliance figures of one unit's subtree at one instant, for the trend over time."""

    __tablename__ = "compliance_snapshots"
    __table_args__ = (Index("ix_compliance_snapshots_unit_at", "unit_id", "taken_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    taken_at: Mapped[datetime]
    figures: Mapped[dict[str, Any]] = mapped_column(default=dict)
