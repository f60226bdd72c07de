"""Where an incident's handling deadline is decided: the one writer of ``Incident.handle_by``.

One anchor: every deadline of an incident — handling, escalation steps, tasks, the first report — starts at
its discovery time (发现或获知, DOMAIN.md §1.5), ``Incident.created_at``. The handling time is the grade's
(``incidents.handle_hours_by_grade``), the notice limit when that is sooner, or the incident's playbook's own
``handle_hours`` when it has one (the playbook's policy wins over the grade table, on open and on every regrade).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from incidents.grading import Grade, Source
from soc_core.clock import as_utc, to_db
from soc_core.config import IncidentSettings
from soc_core.models import Incident


def discovered_at(incident: Incident) -> datetime:
    """The instant every deadline of ``incident`` counts from."""
    return as_utc(incident.created_at)


def handling_hours(grade: Grade, source: Source, policy: IncidentSettings) -> float:
    """Hours to handle an incident of ``grade`` from ``source``: the grade's limit, or the notice limit when sooner."""
    hours = policy.handle_hours_by_grade[grade.value]
    if source is Source.NOTICE:
        hours = min(hours, policy.handle_hours_notice)
    return hours


def handle_by(discovered: datetime, grade: Grade, source: Source, policy: IncidentSettings) -> datetime:
    """The handling deadline of an incident discovered at ``discovered``. Timers start at discovery (DOMAIN.md §1.5)."""
    return discovered + timedelta(hours=handling_hours(grade, source, policy))


def plan_handle_by(incident: Incident, policy: IncidentSettings, playbook_hours: float | None = None) -> datetime:
    """Set ``incident.handle_by`` from its discovery time: the playbook's own hours when given, else the grade's.

    The only place that writes ``handle_by``; called on open, on every grade change, merge and split, and by the
    playbook planner with the playbook's ``handle_hours``.
    """
    if playbook_hours is not None:
        deadline = discovered_at(incident) + timedelta(hours=playbook_hours)
    else:
        deadline = handle_by(discovered_at(incident), Grade(incident.grade), Source(incident.source), policy)
    incident.handle_by = to_db(deadline)
    return deadline


def grades_due_within(policy: IncidentSettings, hours: float) -> frozenset[Grade]:
    """The grades whose handling limit in the policy is at most ``hours`` (the "1-hour grades" of the KPIs)."""
    return frozenset(grade for grade in Grade if policy.handle_hours_by_grade[grade.value] <= hours)
