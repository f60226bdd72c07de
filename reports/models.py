"""Case-store table of incident reports: first report (初报), follow-ups (续报), final report (终报), every version kept."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from soc_core.models import Base


class IncidentReport(Base):
    """One report as sent upward; its fields are the items of the 2025 reporting measures (DOMAIN.md §1.2)."""

    __tablename__ = "incident_reports"
    __table_args__ = (UniqueConstraint("incident_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # initial | followup | final
    seq: Mapped[int]                                # 1, 2, … per incident: the version history
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    due_at: Mapped[datetime | None]                 # the deadline this report answered
    late: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
