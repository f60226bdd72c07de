"""Event retention: delete whole day partitions older than the retention period.

A plain function so any scheduler (or the `edusoc events retention` command) can call it.
"""
from __future__ import annotations

from datetime import date, timedelta, timezone

from sqlalchemy.orm import Session, sessionmaker

from soc_core.audit import record_audit
from soc_core.clock import Clock
from soc_core.event_store import EventStore


def retention_cutoff(clock: Clock, days: int) -> date:
    """The oldest UTC day still kept: today and the ``days`` days before it stay."""
    if days < 1:
        raise ValueError(f"retention must be at least one day, got {days}")
    return clock.now().astimezone(timezone.utc).date() - timedelta(days=days)


def enforce_retention(
    store: EventStore, clock: Clock, days: int, sessions: sessionmaker[Session] | None = None, actor: str = "system",
) -> list[date]:
    """Drop every day partition older than the cutoff; the deletion is written to the audit log."""
    cutoff = retention_cutoff(clock, days)
    dropped = store.drop_days_before(cutoff)
    if dropped and sessions is not None:
        with sessions() as session:
            record_audit(session, clock, actor, "events.retention", "event_store", "events", None,
                         retention_days=days, cutoff=cutoff.isoformat(), days_deleted=[d.isoformat() for d in dropped])
            session.commit()
    return dropped
