"""The audit log: one call per change of state, in the same transaction as the change."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from soc_core.clock import Clock, to_db
from soc_core.models import AuditEntry


def record_audit(
    session: Session,
    clock: Clock,
    actor: str,
    action: str,
    target_type: str,
    target_id: object,
    unit_id: int | None = None,
    **detail: Any,
) -> AuditEntry:
    entry = AuditEntry(
        at=to_db(clock.now()),
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        unit_id=unit_id,
        detail=detail,
    )
    session.add(entry)
    return entry
