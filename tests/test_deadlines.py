"""Deadlines and escalation on the injected clock, through apscheduler's persistent job store in the case store.

Every path is driven by moving the clock: 50 % / 80 % / 100 % escalation up the org tree, the breach
marking the incident overdue, the unacknowledged-incident escalation, restarts (catch-up fires once,
not twice and not never), a lost job re-created by resync, regrading moving the steps.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from incidents import Grade, Source, change_status, open_incident, set_grade
from incidents.models import TimelineEntry
from playbooks.deadlines import DeadlineService, complete_task, overdue_by_unit
from playbooks.models import EscalationStep, PlaybookTask, scheduled_jobs
from playbooks.playbook import Playbook, PlaybookError, TaskSpec, load_playbooks, select_playbook
from playbooks.scheduler import Scheduler
from soc_core.clock import as_utc
from soc_core.config import IncidentSettings
from soc_core.db import make_engine, migrate, session_factory
from soc_core.models import AuditEntry, Incident, Unit
from soc_core.org import UnitKind
from soc_core.repositories import create_unit

POLICY = IncidentSettings()
PLAYBOOKS = load_playbooks()


class Process:
    """One edusoc process's deadline machinery over a case store that outlives it."""

    def __init__(self, url: str, clock) -> None:  # type: ignore[no-untyped-def]
        self.engine = make_engine(url)
        migrate(self.engine)
        self.sessions = session_factory(self.engine)
        self.scheduler = Scheduler(self.engine, clock)
        self.deadlines = DeadlineService(self.sessions, clock, POLICY, self.scheduler, PLAYBOOKS)

    def start(self) -> list[str]:
        self.deadlines.resync()
        return self.scheduler.start(background=False)

    def stop(self) -> None:
        self.scheduler.shutdown()
        self.engine.dispose()


@pytest.fixture
def store(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'case.db'}"


@pytest.fixture
def tree(store, clock):  # type: ignore[no-untyped-def]
    process = Process(store, clock)
    with process.sessions() as session:
        province = create_unit(session, "示范省教育厅", UnitKind.PROVINCE)
        city = create_unit(session, "示范市教育局", UnitKind.CITY, province)
        county = create_unit(session, "示范区教育局", UnitKind.COUNTY, city)
        school = create_unit(session, "示范区第一中学", UnitKind.SCHOOL, county)
        session.commit()
        ids = {"province": province.id, "city": city.id, "county": county.id, "school": school.id}
    process.stop()
    return ids


def _open(process: Process, clock, tree, grade=Grade.II, source=Source.DETECTED) -> int:  # type: ignore[no-untyped-def]
    with process.sessions() as session:
        incident = open_incident(session, clock, POLICY, "duty", "网站SQL注入", session.get(Unit, tree["school"]), grade, source,
                                 on_open=process.deadlines.plan)
        session.commit()
        return incident.id


def _escalations(process: Process, incident_id: int, kind: str = "escalation") -> list[str]:
    with process.sessions() as session:
        return list(session.scalars(select(TimelineEntry.text).where(TimelineEntry.incident_id == incident_id,
                                                                      TimelineEntry.kind == kind).order_by(TimelineEntry.id)))


def test_bundled_playbooks_pick_major_notice_and_default():
    assert select_playbook(PLAYBOOKS, "II", "network_attack", "detected").name == "major"
    assert select_playbook(PLAYBOOKS, "I", "malware", "notice").name == "major"
    assert select_playbook(PLAYBOOKS, "IV", "network_attack", "notice").name == "notice"
    assert select_playbook(PLAYBOOKS, "III", "network_attack", "self_reported").name == "default"


def test_a_broken_playbook_file_names_the_file(tmp_path):
    (tmp_path / "bad.yaml").write_text("name: x\ntitle: y\nescalation:\n  - {at: 1.5, levels_up: 1}\n")
    with pytest.raises(PlaybookError, match="bad.yaml"):
        load_playbooks([tmp_path])


def test_major_incident_escalates_up_the_tree_at_half_eighty_and_hundred_percent(store, clock, tree):
    process = Process(store, clock)
    incident_id = _open(process, clock, tree)
    change_status_ack(process, clock, incident_id)
    clock.advance(timedelta(minutes=29))
    process.scheduler.run_due()
    assert _escalations(process, incident_id) == []
    clock.advance(timedelta(minutes=1))  # 30 min = 50 % of 1 h
    process.scheduler.run_due()
    assert _escalations(process, incident_id) == ["已用处置时限的 50%，升级至 示范区教育局"]
    clock.advance(timedelta(minutes=18))  # 48 min = 80 %
    process.scheduler.run_due()
    assert _escalations(process, incident_id)[-1] == "已用处置时限的 80%，升级至 示范市教育局"
    clock.advance(timedelta(minutes=12))  # 60 min: breach
    process.scheduler.run_due()
    texts = _escalations(process, incident_id)
    assert len(texts) == 3 and "已超过处置时限" in texts[-1] and "示范省教育厅" in texts[-1]
    with process.sessions() as session:
        incident = session.get(Incident, incident_id)
        assert as_utc(incident.overdue_at) == clock.now()
        assert overdue_by_unit(session, [tree["school"]]) == {tree["school"]: 1}
        assert session.query(AuditEntry).filter_by(action="incident.overdue").count() == 1
    process.stop()


def change_status_ack(process: Process, clock, incident_id: int) -> None:  # type: ignore[no-untyped-def]
    with process.sessions() as session:
        change_status(session, clock, session.get(Incident, incident_id), "acknowledged", "duty")
        session.commit()


def test_restart_between_creation_and_deadline_fires_each_escalation_once(store, clock, tree):
    first = Process(store, clock)
    incident_id = _open(first, clock, tree)
    change_status_ack(first, clock, incident_id)
    first.stop()  # the process goes down before anything is due
    clock.advance(timedelta(minutes=50))  # 50 % and 80 % fell due while it was down
    second = Process(store, clock)
    caught_up = second.start()
    # 50 %, 80 %, the acknowledgement check (skipped: acknowledged) and the three tasks due by then
    assert len(caught_up) == 6
    assert _escalations(second, incident_id) == ["已用处置时限的 50%，升级至 示范区教育局", "已用处置时限的 80%，升级至 示范市教育局"]
    second.stop()
    third = Process(store, clock)  # restarting again changes nothing
    assert third.start() == []
    assert len(_escalations(third, incident_id)) == 2
    clock.advance(timedelta(minutes=10))
    third.scheduler.run_due()
    assert len(_escalations(third, incident_id)) == 3
    third.stop()


def test_an_escalation_fired_before_a_crash_is_not_fired_again(store, clock, tree):
    process = Process(store, clock)
    incident_id = _open(process, clock, tree)
    change_status_ack(process, clock, incident_id)
    clock.advance(timedelta(minutes=30))
    with process.sessions() as session:
        step_id = session.scalar(select(EscalationStep.id).where(EscalationStep.incident_id == incident_id,
                                                                  EscalationStep.kind == "deadline", EscalationStep.step == 1))
    # the handler committed, then the process died before the job store removed the job
    process.deadlines._fire(clock.now(), {"step_id": step_id})
    process.stop()
    again = Process(store, clock)
    assert f"incident.escalate:{step_id}" in again.start()  # the job ran …
    assert len(_escalations(again, incident_id)) == 1          # … and changed nothing
    again.stop()


def test_a_lost_job_is_recreated_at_start_and_fires(store, clock, tree):
    process = Process(store, clock)
    incident_id = _open(process, clock, tree)
    change_status_ack(process, clock, incident_id)
    process.stop()
    engine = make_engine(store)
    with engine.begin() as connection:
        connection.execute(scheduled_jobs.delete())  # e.g. a crash between commit and scheduling
    engine.dispose()
    clock.advance(timedelta(minutes=31))
    restarted = Process(store, clock)
    restarted.start()
    assert _escalations(restarted, incident_id) == ["已用处置时限的 50%，升级至 示范区教育局"]
    restarted.stop()


def test_unacknowledged_incident_escalates_after_ack_minutes(store, clock, tree):
    process = Process(store, clock)
    incident_id = _open(process, clock, tree, Grade.IV)  # 72 h to handle, but nobody acknowledges it
    clock.advance(timedelta(minutes=POLICY.ack_minutes))
    process.scheduler.run_due()
    assert _escalations(process, incident_id) == ["事件超过 15 分钟未确认，已升级至 示范区教育局"]
    process.stop()


def test_acknowledged_incident_does_not_escalate_for_acknowledgement(store, clock, tree):
    process = Process(store, clock)
    incident_id = _open(process, clock, tree, Grade.IV)
    clock.advance(timedelta(minutes=5))
    change_status_ack(process, clock, incident_id)
    clock.advance(timedelta(minutes=30))
    process.scheduler.run_due()
    assert _escalations(process, incident_id) == []
    process.stop()


def test_resolved_incident_never_escalates_or_goes_overdue(store, clock, tree):
    process = Process(store, clock)
    incident_id = _open(process, clock, tree)
    with process.sessions() as session:
        change_status(session, clock, session.get(Incident, incident_id), "resolved", "duty")
        session.commit()
    clock.advance(timedelta(hours=2))
    process.scheduler.run_due()
    assert _escalations(process, incident_id) == []
    with process.sessions() as session:
        assert session.get(Incident, incident_id).overdue_at is None
    process.stop()


def test_notice_incident_escalates_over_sixty_hours(store, clock, tree):
    process = Process(store, clock)
    incident_id = _open(process, clock, tree, Grade.IV, Source.NOTICE)
    change_status_ack(process, clock, incident_id)
    clock.advance(timedelta(hours=29, minutes=59))
    process.scheduler.run_due()
    assert _escalations(process, incident_id) == []
    clock.advance(timedelta(minutes=1))  # 30 h = 50 % of 60 h
    process.scheduler.run_due()
    assert len(_escalations(process, incident_id)) == 1
    clock.advance(timedelta(hours=30))
    process.scheduler.run_due()
    with process.sessions() as session:
        assert session.get(Incident, incident_id).overdue_at is not None
    process.stop()


def test_regrading_up_brings_the_escalations_forward(store, clock, tree):
    process = Process(store, clock)
    incident_id = _open(process, clock, tree, Grade.IV)  # 72 h
    change_status_ack(process, clock, incident_id)
    with process.sessions() as session:
        incident = session.get(Incident, incident_id)
        set_grade(session, clock, POLICY, incident, Grade.II, "duty", "涉及学籍系统")
        process.deadlines.plan(session, incident)
        session.commit()
    clock.advance(timedelta(minutes=30))
    process.scheduler.run_due()
    assert _escalations(process, incident_id) == ["已用处置时限的 50%，升级至 示范区教育局"]
    process.stop()


def _tasks(session, incident_id: int) -> list[PlaybookTask]:  # type: ignore[no-untyped-def]
    return list(session.scalars(select(PlaybookTask).where(PlaybookTask.incident_id == incident_id).order_by(PlaybookTask.position)))


def test_playbook_tasks_carry_owner_roles_and_deadlines(store, clock, tree):
    process = Process(store, clock)
    incident_id = _open(process, clock, tree)
    with process.sessions() as session:
        tasks = _tasks(session, incident_id)
        assert [t.owner_role for t in tasks] == ["duty_officer", "school_admin", "duty_officer", "school_admin"]
        assert as_utc(tasks[0].due_at) == clock.now() + timedelta(minutes=6)
        assert session.get(Incident, incident_id).playbook == "major"
    process.stop()


def _task_escalations(process: Process, incident_id: int) -> list[str]:
    return _escalations(process, incident_id, "task_overdue")


def test_overdue_task_escalates_up_the_tree_once_and_is_audited(store, clock, tree):
    process = Process(store, clock)
    incident_id = _open(process, clock, tree)
    change_status_ack(process, clock, incident_id)
    clock.advance(timedelta(minutes=5, seconds=59))  # 确认接警并初步研判 is due at 10 % of 1 h = 6 min
    process.scheduler.run_due()
    assert _task_escalations(process, incident_id) == []
    clock.advance(timedelta(seconds=1))
    process.scheduler.run_due()
    process.scheduler.run_due()
    assert _task_escalations(process, incident_id) == ["预案任务「确认接警并初步研判」超过期限（11-02 09:06）仍未完成，已升级至 示范区教育局"]
    with process.sessions() as session:
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "incident.task_overdue")).all()
        assert len(audit) == 1 and audit[0].detail["target_unit_id"] == tree["county"]
    process.stop()


def test_task_done_in_time_does_not_escalate(store, clock, tree):
    process = Process(store, clock)
    incident_id = _open(process, clock, tree)
    with process.sessions() as session:
        first = _tasks(session, incident_id)[0]
        complete_task(session, clock, session.get(Incident, incident_id), first.id, "duty")
        session.commit()
    clock.advance(timedelta(minutes=7))
    process.scheduler.run_due()
    assert _task_escalations(process, incident_id) == []
    with process.sessions() as session:
        step = session.scalar(select(EscalationStep).where(EscalationStep.incident_id == incident_id, EscalationStep.kind == "task",
                                                           EscalationStep.step == 1))
        assert step.fired_at is None and step.skipped_reason == "done"
    process.stop()


def test_overdue_tasks_fire_once_across_restarts_going_as_far_up_as_the_escalation_reached(store, clock, tree):
    first = Process(store, clock)
    incident_id = _open(first, clock, tree)
    change_status_ack(first, clock, incident_id)
    first.stop()
    clock.advance(timedelta(minutes=61))  # every task fell due while the process was down
    second = Process(store, clock)
    second.start()
    texts = _task_escalations(second, incident_id)
    assert len(texts) == 4
    assert texts[0].endswith("示范区教育局")       # due at 10 %: before any step, so where the first step goes
    assert texts[1].endswith("示范区教育局")       # due at 50 %: where the 50 % step went
    assert texts[3].startswith("预案任务「完成处置并恢复业务」") and texts[3].endswith("示范省教育厅")  # 100 %: the breach step's level
    second.stop()
    third = Process(store, clock)
    third.start()
    third.scheduler.run_due()
    assert len(_task_escalations(third, incident_id)) == 4
    with third.sessions() as session:
        assert session.query(AuditEntry).filter_by(action="incident.task_overdue").count() == 4
    third.stop()


def test_task_escalation_level_is_the_tasks_own_or_the_step_reached_by_its_deadline():
    major = next(p for p in PLAYBOOKS if p.name == "major")
    assert [major.task_levels_up(t) for t in major.tasks] == [1, 1, 1, 3]
    override = TaskSpec(name="上报省厅", owner_role="duty_officer", due=0.1, escalate_levels_up=2)
    assert major.task_levels_up(override) == 2
    assert Playbook(name="bare", title="无升级步骤", tasks=[override.model_copy(update={"escalate_levels_up": None})]).task_levels_up(
        TaskSpec(name="x", owner_role="duty_officer", due=0.5)) == 1


def test_unacknowledged_escalation_missed_while_down_fires_once_after_restart(store, clock, tree):
    first = Process(store, clock)
    incident_id = _open(first, clock, tree, Grade.IV)
    first.stop()
    clock.advance(timedelta(minutes=40))  # nobody acknowledged it, and the process was down at the 15-minute mark
    second = Process(store, clock)
    second.start()
    assert _escalations(second, incident_id) == ["事件超过 15 分钟未确认，已升级至 示范区教育局"]
    second.stop()
    third = Process(store, clock)
    assert third.start() == [] and len(_escalations(third, incident_id)) == 1
    with third.sessions() as session:
        assert session.query(AuditEntry).filter_by(action="incident.unacknowledged").count() == 1
    third.stop()


def test_a_rolled_back_transaction_drops_its_after_commit_work(session):
    """after_soft_rollback calls its listener with (session, previous_transaction): a one-argument listener raised
    TypeError, turning any refused request that had planned a deadline into a 500 (issue 14)."""
    from playbooks.deadlines import after_commit

    ran: list[str] = []
    create_unit(session, "示范市教育局", UnitKind.CITY)
    after_commit(session, lambda: ran.append("scheduled"))
    session.rollback()
    session.commit()
    assert ran == [] and "edusoc_after_commit" not in session.info
