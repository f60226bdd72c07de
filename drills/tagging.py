"""The exercises the collector tags events with, read from the case store (see soc_core.drill_scope)."""
from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from drills.models import Exercise
from soc_core.clock import as_utc, to_db
from soc_core.drill_scope import DrillScopes, DrillWindow
from soc_core.models import Unit

# Sensors deliver late (spooled batches after an outage): an exercise keeps tagging its window for a while after it ends.
LATE_DELIVERY = timedelta(days=2)


def drill_scopes(session: Session, now: datetime) -> DrillScopes:
    """Every exercise whose window ended less than LATE_DELIVERY ago (or is still to come)."""
    exercises = session.scalars(select(Exercise).where(Exercise.ends_at >= to_db(now - LATE_DELIVERY))).all()
    if not exercises:
        return DrillScopes((), {})
    paths = {str(unit_id): path for unit_id, path in session.execute(select(Unit.id, Unit.path))}
    windows = [
        DrillWindow(exercise.id, as_utc(exercise.starts_at), as_utc(exercise.ends_at),
                    tuple(ipaddress.ip_network(n, strict=False) for n in exercise.attacker_networks),
                    tuple(paths[str(u)] for u in exercise.scope_unit_ids if str(u) in paths))
        for exercise in exercises
    ]
    return DrillScopes(windows, paths)


def drill_pages_real_escalation(session: Session, drill_id: int) -> bool:
    """Whether the exercise's incidents page the real escalation chain (the organizer's choice; off by default)."""
    exercise = session.get(Exercise, drill_id)
    return bool(exercise and exercise.page_real_escalation)
