"""Case-store tables of the incident workflow: timeline, evidence, linked events, suppression rules."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from soc_core.models import Base


class TimelineEntry(Base):
    """One line of an incident's history: a status change, a comment, an evidence file, an escalation…"""

    __tablename__ = "incident_timeline"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))  # status | comment | evidence | link | merge | split | grade | escalation | action | report
    text: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class EvidenceFile(Base):
    """A file attached to an incident; stored under <data_dir>/evidence by its SHA-256."""

    __tablename__ = "incident_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(128), default="application/octet-stream")
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime]


class EventLink(Base):
    """An event (by its stable id in the EventStore) linked to an incident by hand."""

    __tablename__ = "incident_event_links"
    __table_args__ = (UniqueConstraint("incident_id", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    event_id: Mapped[str] = mapped_column(String(128))
    note: Mapped[str] = mapped_column(Text, default="")
    added_by: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[datetime]


class SuppressionRule(Base):
    """Alerts matching every given condition are recorded but folded into no incident (known noise)."""

    __tablename__ = "suppression_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)  # applies to this unit's subtree
    rule_id: Mapped[str | None] = mapped_column(String(128))   # None: any rule
    entity: Mapped[str | None] = mapped_column(String(256))    # None: any key entity (e.g. a scanner's IP)
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(default=True)
    hits: Mapped[int] = mapped_column(default=0)
    last_hit_at: Mapped[datetime | None]
