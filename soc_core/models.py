"""Case-store models (SQLAlchemy 2). Times are stored as naive UTC; see clock.as_utc."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Unit(Base):
    """A node of the org tree: a bureau (province, city, county) or a school."""

    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    path: Mapped[str] = mapped_column(String(512), index=True, default="")
    code: Mapped[str | None] = mapped_column(String(32), unique=True)

    parent: Mapped[Unit | None] = relationship(remote_side=[id])


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    # Only the demo's seeded accounts are exempt from two-factor login (auth.require_mfa).
    mfa_exempt: Mapped[bool] = mapped_column(default=False)
    password_changed_at: Mapped[datetime | None]

    unit: Mapped[Unit] = relationship()


class LoginToken(Base):
    """A bearer token or UI session (kind "session"), or the short-lived token between the password and the
    TOTP step (kind "mfa"); only its SHA-256 is stored."""

    __tablename__ = "login_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    kind: Mapped[str] = mapped_column(String(16), default="session")
    last_used_at: Mapped[datetime | None]  # for the idle timeout (auth.session_idle_minutes)
    address: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(200), default="")

    user: Mapped[User] = relationship()


class Sensor(Base):
    """A school's sensor box; it authenticates to the collector with a token stored hashed."""

    __tablename__ = "sensors"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]
    events_accepted: Mapped[int] = mapped_column(default=0)
    events_rejected: Mapped[int] = mapped_column(default=0)

    unit: Mapped[Unit] = relationship()


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_group", "group_key", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))  # Chinese first: the rule's title_zh when it has one
    title_en: Mapped[str | None] = mapped_column(String(300))  # the rule's English title (detected incidents)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    grade: Mapped[str] = mapped_column(String(3))  # I..IV
    grade_basis: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(32), default="network_attack")
    source: Mapped[str] = mapped_column(String(16))  # detected | notice | self_reported
    status: Mapped[str] = mapped_column(String(16), default="new", index=True)
    rule_id: Mapped[str | None] = mapped_column(String(128))
    group_key: Mapped[str | None] = mapped_column(String(256))
    alert_count: Mapped[int] = mapped_column(default=0)
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    created_at: Mapped[datetime]
    handle_by: Mapped[datetime]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    description: Mapped[str] = mapped_column(Text, default="")
    # The key entity of the grouping (e.g. the attacking address) and how many units the same
    # rule + entity is open at (the spread used in grading).
    key_entity: Mapped[str] = mapped_column(String(256), default="")
    unit_count: Mapped[int] = mapped_column(default=1)
    # Workflow stamps: who/when for each step (MTTA = acknowledged_at - created_at; MTTR = resolved_at - created_at).
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # Breach of handle_by: set once by the deadline job; counted against the unit.
    overdue_at: Mapped[datetime | None]
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    playbook: Mapped[str | None] = mapped_column(String(64))
    # Reporting (DOMAIN.md §1.2): operator type decides the first-report deadline; report fields are
    # the free-text items of Art. 7, kept on the incident and copied into each report version.
    operator_type: Mapped[str] = mapped_column(String(16), default="other")  # cii | central | other
    report_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # 演练: the red-blue exercise whose traffic raised it (drills.models.Exercise.id). Same handling clock, but no
    # reporting deadlines, no compliance or zero-report counting, no real escalation unless the exercise asks for it.
    drill_id: Mapped[int | None] = mapped_column(index=True)

    unit: Mapped[Unit] = relationship()
    alerts: Mapped[list[Alert]] = relationship(back_populates="incident", order_by="Alert.timestamp")


class Alert(Base):
    """One rule match on one event, folded into an incident."""

    __tablename__ = "alerts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # stable: rule id + event id
    rule_id: Mapped[str] = mapped_column(String(128), index=True)
    rule_title: Mapped[str] = mapped_column(String(300))
    rule_title_zh: Mapped[str | None] = mapped_column(String(300))  # the rule's Chinese name (title_zh), shown first
    level: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(128), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    timestamp: Mapped[datetime] = mapped_column(index=True)
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)

    incident: Mapped[Incident | None] = relationship(back_populates="alerts")


class AuditEntry(Base):
    """Every change of state: who did what to which thing, when."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(64))  # username, 'sensor:NAME' or 'system'
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str] = mapped_column(String(64))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Hash chain (soc_core.audit_chain): SHA-256 over the previous entry's hash and this entry's content.
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))
