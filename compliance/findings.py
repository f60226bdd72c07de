"""Open findings of the checks, most urgent first, and their priority labels."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory.models import Finding
from soc_core.models import Unit
from soc_core.permissions import within

PRIORITY_LABELS = {"high": "高", "medium": "中", "low": "低"}


def open_findings(session: Session, unit: Unit, check_id: str | None = None) -> list[tuple[Finding, str]]:
    query = (select(Finding, Unit.name).join(Unit, Unit.id == Finding.unit_id)
             .where(Finding.resolved_at.is_(None), within(Unit.path, unit)))
    if check_id:
        query = query.where(Finding.check_id == check_id)
    order = {"high": 0, "medium": 1, "low": 2}
    return sorted(((f, name) for f, name in session.execute(query)), key=lambda pair: (order.get(pair[0].priority, 3), pair[0].id))
