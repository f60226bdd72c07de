"""playbooks: alerts fold into graded incidents with deadlines from the configured tables."""
from __future__ import annotations

from datetime import timedelta

import pytest

from detection_rules import Alert
from incidents import Grade, Source, fold_alerts, handle_by, open_incident, time_left
from soc_core.clock import as_utc
from soc_core.config import IncidentSettings
from soc_core.events import format_timestamp
from soc_core.models import AuditEntry, Incident
from soc_core.org import UnitKind
from soc_core.repositories import create_unit

POLICY = IncidentSettings()


def _alert(clock, unit_id: int, n: int, rule: str = "rule-sqli", level: str = "high", after: timedelta = timedelta()) -> Alert:
    return Alert(
        id=f"alert-{rule}-{n}", rule_id=rule, rule_title=f"Title of {rule}", level=level, tags=("attack.t1190",),
        timestamp=format_timestamp(clock.now() + after), event_ids=(f"event-{n}",), unit_id=str(unit_id),
        matches={"url.query": "union select"}, summary={"source.ip": "203.0.113.7"},
    )


@pytest.fixture
def school(session):
    county = create_unit(session, "示范区教育局", UnitKind.COUNTY)
    return create_unit(session, "第一中学", UnitKind.SCHOOL, county)


def test_major_incident_due_in_one_hour(clock):
    assert handle_by(clock.now(), Grade.II, Source.DETECTED, POLICY) == clock.now() + timedelta(hours=1)
    assert handle_by(clock.now(), Grade.I, Source.SELF_REPORTED, POLICY) == clock.now() + timedelta(hours=1)


def test_notified_incident_due_in_sixty_hours(clock):
    assert handle_by(clock.now(), Grade.IV, Source.NOTICE, POLICY) == clock.now() + timedelta(hours=60)
    # a notified 重大 incident keeps the sooner, 1 h, limit
    assert handle_by(clock.now(), Grade.II, Source.NOTICE, POLICY) == clock.now() + timedelta(hours=1)


def test_deadline_table_is_configurable(clock):
    policy = IncidentSettings(handle_hours_by_grade={"I": 0.5, "II": 2, "III": 8, "IV": 24}, handle_hours_notice=48)
    assert handle_by(clock.now(), Grade.III, Source.DETECTED, policy) == clock.now() + timedelta(hours=8)
    assert handle_by(clock.now(), Grade.IV, Source.NOTICE, policy) == clock.now() + timedelta(hours=24)


def test_alerts_of_one_rule_and_unit_fold_into_one_incident(session, clock, school):
    alerts = [_alert(clock, school.id, n, after=timedelta(seconds=n)) for n in range(500)]
    incidents = fold_alerts(session, clock, POLICY, alerts)
    assert len(incidents) == 1
    incident = incidents[0]
    assert incident.alert_count == 500
    assert incident.grade == "III"  # high → 较大 by the default table
    assert "high" in incident.grade_basis
    assert as_utc(incident.handle_by) == clock.now() + timedelta(hours=24)


def test_refolding_the_same_alerts_changes_nothing(session, clock, school):
    alerts = [_alert(clock, school.id, n) for n in range(3)]
    fold_alerts(session, clock, POLICY, alerts)
    assert fold_alerts(session, clock, POLICY, alerts) == []
    assert session.query(Incident).one().alert_count == 3


def test_alert_after_the_window_opens_a_new_incident(session, clock, school):
    fold_alerts(session, clock, POLICY, [_alert(clock, school.id, 1)])
    fold_alerts(session, clock, POLICY, [_alert(clock, school.id, 2, after=timedelta(minutes=POLICY.group_window_minutes + 1))])
    assert session.query(Incident).count() == 2


def test_other_rule_or_unit_is_another_incident(session, clock, school):
    other = create_unit(session, "第二中学", UnitKind.SCHOOL, school.parent)
    fold_alerts(session, clock, POLICY, [
        _alert(clock, school.id, 1), _alert(clock, school.id, 2, rule="rule-webshell"), _alert(clock, other.id, 3),
    ])
    assert session.query(Incident).count() == 3


def test_more_severe_alert_raises_grade_and_brings_deadline_forward(session, clock, school):
    fold_alerts(session, clock, POLICY, [_alert(clock, school.id, 1, level="high")])
    clock.advance(timedelta(minutes=10))
    [incident] = fold_alerts(session, clock, POLICY, [_alert(clock, school.id, 2, level="critical")])
    assert incident.grade == "II"
    assert as_utc(incident.handle_by) == as_utc(incident.created_at) + timedelta(hours=1)


def test_manual_notice_incident_is_audited_and_counts_down(session, clock, school):
    incident = open_incident(session, clock, POLICY, "duty", "上级通报：网站被篡改", school, Grade.IV, Source.NOTICE)
    assert as_utc(incident.handle_by) == clock.now() + timedelta(hours=60)
    clock.advance(timedelta(hours=61))
    assert time_left(incident, clock).overdue
    entry = session.query(AuditEntry).filter_by(action="incident.create").one()
    assert (entry.actor, entry.target_id) == ("duty", str(incident.id))
