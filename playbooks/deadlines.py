"""Deadlines and escalation: a playbook starts for each incident; its steps live in the case store and fire once.

``DeadlineService.plan`` (on open, regrade, merge) picks the playbook, writes the escalation steps and
tasks, and schedules one job per step after the transaction commits. A firing step goes up the
org tree (school → county → city → province), the breach step marks the incident overdue, and the
playbook's actions are queued for delivery. ``resync`` re-creates the job of every unfired step
(the catch-up pass at start, in case a job was lost between a commit and its scheduling).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from incidents.deadlines import discovered_at, plan_handle_by
from incidents.folding import IncidentError, add_timeline
from incidents.states import FINISHED
from incidents.grading import Grade
from playbooks.models import EscalationStep, PlaybookTask
from playbooks.playbook import ActionSpec, Playbook, select_playbook
from playbooks.scheduler import Scheduler
from soc_core.audit import record_audit
from soc_core.clock import Clock, as_utc, to_db
from soc_core.config import IncidentSettings
from soc_core.models import Incident, Unit

log = logging.getLogger("edusoc.deadlines")

ESCALATE = "incident.escalate"
TASK = "task"  # EscalationStep.kind of a playbook task's own deadline (step = the task's position)
# (session, incident, action, reason, text) -> queue the action's delivery (see playbooks.actions)
ActionHook = Callable[[Session, Incident, ActionSpec, str, str], None]


def ancestor(session: Session, unit: Unit, levels_up: int) -> Unit:
    """The unit ``levels_up`` above ``unit`` in the org tree, or the root when the tree is shorter."""
    ids = [int(part) for part in unit.path.strip("/").split("/") if part]
    index = max(0, len(ids) - 1 - levels_up)
    return session.get(Unit, ids[index]) or unit


def after_commit(session: Session, callback: Callable[[], object]) -> None:
    """Run ``callback`` once the session's transaction commits (jobs go to the store only for committed rows).

    Scheduling inside the transaction would also deadlock SQLite: the job store writes on another connection.
    """
    pending: list[Callable[[], object]] = session.info.setdefault("edusoc_after_commit", [])
    if not pending:
        def _run(_session: Session) -> None:
            callbacks = list(session.info.pop("edusoc_after_commit", []))
            for cb in callbacks:
                try:
                    cb()
                except Exception:  # noqa: BLE001 - the rows are committed; resync at start re-creates the job
                    log.exception("after-commit scheduling failed")

        def _drop(_session: Session, _previous_transaction: object) -> None:  # after_soft_rollback passes both
            session.info.pop("edusoc_after_commit", None)

        event.listen(session, "after_commit", _run, once=True)
        event.listen(session, "after_soft_rollback", _drop, once=True)
    pending.append(callback)


class DeadlineService:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock, policy: IncidentSettings, scheduler: Scheduler,
                 playbooks: Sequence[Playbook], on_action: ActionHook | None = None) -> None:
        self.sessions, self.clock, self.policy, self.scheduler = sessions, clock, policy, scheduler
        self.playbooks = list(playbooks)
        self.on_action = on_action
        scheduler.register(ESCALATE, self._fire)

    # -- planning -----------------------------------------------------------------------------
    def plan(self, session: Session, incident: Incident) -> None:
        """Start (or re-plan after a change of grade or deadline) the incident's playbook. Idempotent."""
        if incident.status in FINISHED:
            return
        playbook = self._playbook_for(incident)
        if playbook is None:
            return
        first_time = incident.playbook is None
        if first_time:
            incident.playbook = playbook.name
            add_timeline(session, self.clock, incident, "system", "playbook", f"启动预案：{playbook.title}", playbook=playbook.name)
        if playbook.handle_hours is not None:  # the playbook's own policy, on open and after every regrade
            plan_handle_by(incident, self.policy, playbook.handle_hours)
        created, deadline = discovered_at(incident), as_utc(incident.handle_by)
        span = deadline - created
        existing = {(s.kind, s.step): s for s in session.scalars(select(EscalationStep).where(EscalationStep.incident_id == incident.id))}
        unit = incident.unit or session.get(Unit, incident.unit_id)
        assert unit is not None, "an incident always belongs to a unit (units.id foreign key)"
        planned: list[EscalationStep] = []
        wanted = [("deadline", n, spec.at, spec.levels_up, spec.overdue, created + span * spec.at)
                  for n, spec in enumerate(playbook.escalation, start=1)]
        wanted.append(("unacknowledged", 1, 0.0, 1, False, created + timedelta(minutes=self.policy.ack_minutes)))
        for kind, n, fraction, levels_up, overdue, due in wanted:
            step = existing.get((kind, n))
            if step is None:
                step = EscalationStep(incident_id=incident.id, kind=kind, step=n, fraction=fraction, levels_up=levels_up,
                                      overdue=overdue, due_at=to_db(due), target_unit_id=ancestor(session, unit, levels_up).id)
                session.add(step)
            elif step.fired_at is None and step.skipped_reason is None:
                step.due_at = to_db(due)
            else:
                continue
            planned.append(step)
        if first_time:
            for position, task in enumerate(playbook.tasks, start=1):
                task_due = created + span * task.due
                session.add(PlaybookTask(incident_id=incident.id, playbook=playbook.name, position=position, name=task.name,
                                         owner_role=task.owner_role.value, due_at=to_db(task_due)))
                if (TASK, position) not in existing:  # a task past due and not done escalates once (see _fire)
                    levels_up = playbook.task_levels_up(task)
                    step = EscalationStep(incident_id=incident.id, kind=TASK, step=position, fraction=task.due, levels_up=levels_up,
                                          overdue=False, due_at=to_db(task_due), target_unit_id=ancestor(session, unit, levels_up).id)
                    session.add(step)
                    planned.append(step)
            self._act(session, incident, playbook, "open", f"新事件：{incident.title}（{Grade(incident.grade).label}），处置时限 {self._local(deadline)}")
        session.flush()
        jobs = [(step.id, as_utc(step.due_at)) for step in planned]
        after_commit(session, lambda: [self.scheduler.at(ESCALATE, str(step_id), due, step_id=step_id) for step_id, due in jobs])

    def resync(self) -> int:
        """Make sure every unfired step has its job (the catch-up half that the job store cannot do alone)."""
        with self.sessions() as session:
            steps = session.scalars(select(EscalationStep).where(EscalationStep.fired_at.is_(None), EscalationStep.skipped_reason.is_(None))).all()
            jobs = [(s.id, as_utc(s.due_at)) for s in steps]
        for step_id, due in jobs:
            if self.scheduler.next_run(ESCALATE, str(step_id)) is None:
                self.scheduler.at(ESCALATE, str(step_id), due, step_id=step_id)
        return len(jobs)

    # -- firing -------------------------------------------------------------------------------
    def _fire(self, now: datetime, params: dict[str, Any]) -> None:
        with self.sessions() as session:
            step = session.get(EscalationStep, params["step_id"])
            if step is None or step.fired_at is not None or step.skipped_reason is not None:
                return
            incident = session.get(Incident, step.incident_id)
            if incident is None:
                return
            if incident.status in FINISHED or (step.kind == "unacknowledged" and incident.status != "new"):
                step.skipped_reason = "acknowledged" if step.kind == "unacknowledged" else incident.status
                session.commit()
                return
            if step.kind == TASK and _task(session, step) is None:
                step.skipped_reason = "done"  # done in time (or the task is gone): nothing to escalate
                session.commit()
                return
            if as_utc(step.due_at) > now:
                # the deadline moved later (regraded down): wait for the new time
                due = as_utc(step.due_at)
                session.commit()
                self.scheduler.at(ESCALATE, str(step.id), due, step_id=step.id)
                return
            # compare-and-set: whoever sets fired_at first fires; a second runner changes nothing
            claimed = session.execute(update(EscalationStep).where(EscalationStep.id == step.id, EscalationStep.fired_at.is_(None))
                                      .values(fired_at=to_db(now))).rowcount  # type: ignore[attr-defined]  # SQLAlchemy types execute() as Result; an UPDATE returns a CursorResult, which has rowcount
            if claimed != 1:
                session.rollback()
                return
            self._escalate(session, incident, step, now)
            session.commit()

    def _escalate(self, session: Session, incident: Incident, step: EscalationStep, now: datetime) -> None:
        target = session.get(Unit, step.target_unit_id) if step.target_unit_id else incident.unit
        target_name = target.name if target else "上级单位"
        playbook = self._playbook_by_name(incident.playbook)
        if step.kind == "unacknowledged":
            text = f"事件超过 {self.policy.ack_minutes:g} 分钟未确认，已升级至 {target_name}"
            reason = "unacknowledged"
        elif step.kind == TASK:
            task = _task(session, step)
            name = task.name if task else f"#{step.step}"
            text = f"预案任务「{name}」超过期限（{self._local(as_utc(step.due_at))}）仍未完成，已升级至 {target_name}"
            reason = "task_overdue"
        else:
            text = f"已用处置时限的 {step.fraction:.0%}，升级至 {target_name}"
            reason = "escalation"
            if step.overdue:
                incident.overdue_at = to_db(now)
                text = f"已超过处置时限（{self._local(as_utc(incident.handle_by))}），计入 {incident.unit.name} 超时，升级至 {target_name}"
                reason = "overdue"
        add_timeline(session, self.clock, incident, "system", "task_overdue" if step.kind == TASK else "escalation", text, step=step.step, step_kind=step.kind,
                     target_unit_id=step.target_unit_id, overdue=step.overdue)
        record_audit(session, self.clock, "system", f"incident.{reason}", "incident", incident.id, incident.unit_id,
                     step=step.step, kind=step.kind, target_unit_id=step.target_unit_id)
        if playbook is not None:
            self._act(session, incident, playbook, reason, text)

    def _act(self, session: Session, incident: Incident, playbook: Playbook, reason: str, text: str) -> None:
        if self.on_action is None:
            return
        for action in playbook.actions:
            if action.when == reason:
                self.on_action(session, incident, action, reason, text)

    def _playbook_for(self, incident: Incident) -> Playbook | None:
        if incident.playbook:
            return self._playbook_by_name(incident.playbook) or select_playbook(self.playbooks, incident.grade, incident.category, incident.source)
        return select_playbook(self.playbooks, incident.grade, incident.category, incident.source)

    def _playbook_by_name(self, name: str | None) -> Playbook | None:
        return next((p for p in self.playbooks if p.name == name), None)

    @staticmethod
    def _local(instant: datetime) -> str:
        from soc_core.clock import to_shanghai

        return to_shanghai(instant).strftime("%m-%d %H:%M")


    def open_tasks(self, session: Session, incident: Incident) -> list[str]:
        """The names of the incident's playbook tasks not yet done (closing a major incident waits for them)."""
        return list(session.scalars(select(PlaybookTask.name).where(PlaybookTask.incident_id == incident.id, PlaybookTask.done_at.is_(None))
                                    .order_by(PlaybookTask.position)))


def _task(session: Session, step: EscalationStep) -> PlaybookTask | None:
    """The not-yet-done playbook task a task step watches, or None."""
    return session.scalar(select(PlaybookTask).where(PlaybookTask.incident_id == step.incident_id, PlaybookTask.position == step.step,
                                                     PlaybookTask.done_at.is_(None)).order_by(PlaybookTask.id.desc()).limit(1))


def overdue_by_unit(session: Session, unit_ids: Any) -> dict[int, int]:
    """Breached deadlines counted against each unit (for the duty board and the regulators)."""
    rows = session.execute(select(Incident.unit_id, func.count()).where(Incident.overdue_at.is_not(None), Incident.unit_id.in_(unit_ids))
                           .group_by(Incident.unit_id))
    return {unit_id: count for unit_id, count in rows}


def complete_task(session: Session, clock: Clock, incident: Incident, task_id: int, actor: str) -> PlaybookTask:
    task = session.get(PlaybookTask, task_id)
    if task is None or task.incident_id != incident.id:
        raise IncidentError(f"task {task_id} is not a task of incident {incident.id}")
    if task.done_at is not None:
        raise IncidentError(f"task {task.name} was done already")
    task.done_at, task.done_by = to_db(clock.now()), actor
    late = "（逾期）" if as_utc(task.due_at) < clock.now() else ""
    add_timeline(session, clock, incident, actor, "task", f"完成任务：{task.name}{late}", task_id=task.id)
    record_audit(session, clock, actor, "incident.task_done", "incident", incident.id, incident.unit_id, task=task.name)
    return task
