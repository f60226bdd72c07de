"""Detection tuning kept in the case store: rules switched off for a unit (issue 5).

Sigma filters (exceptions) live in rule files, where they are reviewed like rules; switching a
rule off for one school is an operational decision, kept here with who made it and when, and
audited.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from soc_core.models import Base


class RuleUnitSetting(Base):
    __tablename__ = "rule_unit_settings"
    __table_args__ = (UniqueConstraint("rule_id", "unit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(160), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(64))
