"""Notices (通报): an upper unit notifies a unit below, which rectifies (整改) with evidence before the due date;
the issuer reviews (closes or sends back). The receiving unit is reminded before the due time (``notices.
remind_hours_before``, e.g. 24 h and at due); an overdue notice escalates to the target's supervising unit
and can lead to a summons (约谈). Reminders and escalations are jobs in the persistent scheduler, each
written once to the notice's history (and sent to the unit's channel). DOMAIN.md §7."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from incidents.folding import IncidentError
from incidents.workflow import safe_filename, store_file
from notices.models import Notice, NoticeEntry, Rectification, RectificationEvidence, Summons
from playbooks.actions import ActionService, Message
from playbooks.deadlines import after_commit
from playbooks.scheduler import Scheduler
from soc_core.audit import record_audit
from soc_core.clock import Clock, as_utc, to_db, to_shanghai
from soc_core.config import NoticeSettings
from soc_core.models import Unit
from soc_core.permissions import within

NOTICE_KINDS = {"vulnerability": "漏洞通报", "incident": "事件通报", "hazard": "隐患通报", "warning": "预警通报"}
NOTICE_STATUS_LABELS = {"issued": "已下发", "acknowledged": "已签收", "submitted": "已反馈待复核", "returned": "已退回整改",
                        "closed": "已销号"}
OVERDUE = "notice.overdue"
REMIND = "notice.remind"
WAITING_FOR_UNIT = ("issued", "acknowledged", "returned")  # the receiving unit still owes its rectification


def reminder_action(hours: float) -> str:
    """The history action of the reminder ``hours`` before the due time (its once-only key)."""
    return f"remind_{hours:g}h"


def _log(session: Session, clock: Clock, notice: Notice, actor: str, action: str, text: str) -> None:
    session.add(NoticeEntry(notice_id=notice.id, at=to_db(clock.now()), actor=actor, action=action, text=text))
    record_audit(session, clock, actor, f"notice.{action}", "notice", notice.id, notice.target_unit_id, text=text[:500])


def supervising_unit(session: Session, notice: Notice) -> Unit:
    """Where an overdue notice escalates: the target's parent, or above the issuer when that parent issued it."""
    target = session.get(Unit, notice.target_unit_id)
    issuer = session.get(Unit, notice.issuer_unit_id)
    assert target is not None and issuer is not None
    parent = session.get(Unit, target.parent_id) if target.parent_id else None
    if parent is None:
        return issuer
    if parent.id == issuer.id and issuer.parent_id:
        return session.get(Unit, issuer.parent_id) or issuer
    return parent


class NoticeService:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock, scheduler: Scheduler, default_hours: float,
                 evidence_dir: Path, max_bytes: int, settings: NoticeSettings | None = None,
                 actions: ActionService | None = None) -> None:
        self.sessions, self.clock, self.scheduler = sessions, clock, scheduler
        self.default_hours, self.evidence_dir, self.max_bytes = default_hours, evidence_dir, max_bytes
        self.settings, self.actions = settings or NoticeSettings(), actions
        scheduler.register(OVERDUE, self._overdue)
        scheduler.register(REMIND, self._remind)

    def issue(self, session: Session, actor: str, issuer: Unit, target: Unit, kind: str, title: str, description: str = "",
              assets: str = "", required_actions: str = "", due_at: datetime | None = None, incident_id: int | None = None) -> Notice:
        if kind not in NOTICE_KINDS:
            raise IncidentError(f"unknown notice kind {kind!r}; expected one of {', '.join(NOTICE_KINDS)}")
        if not title.strip():
            raise IncidentError("a notice needs a title")
        if target.id == issuer.id or not within(target, issuer):
            raise IncidentError(f"{issuer.name} can only notify units below it")
        now = self.clock.now()
        due = as_utc(due_at) if due_at else now + timedelta(hours=self.default_hours)
        if due <= now:
            raise IncidentError("the due date must lie in the future")
        year = to_shanghai(now).year
        count = session.scalar(select(func.count()).select_from(Notice).where(Notice.no.like(f"TB-{year}-%"))) or 0
        notice = Notice(no=f"TB-{year}-{count + 1:04d}", issuer_unit_id=issuer.id, issued_by=actor, issued_at=to_db(now),
                        target_unit_id=target.id, kind=kind, title=title.strip(), description=description, assets=assets,
                        required_actions=required_actions, due_at=to_db(due), status="issued", incident_id=incident_id)
        session.add(notice)
        session.flush()
        _log(session, self.clock, notice, actor, "issue", f"{issuer.name} 向 {target.name} 下发{NOTICE_KINDS[kind]}：{notice.title}")
        notice_id = notice.id
        after_commit(session, lambda: self._schedule(notice_id, due))
        return notice

    def _schedule(self, notice_id: int, due: datetime, reminders_sent: Sequence[str] = ()) -> None:
        """The overdue job and one job per reminder not yet written to the history (a past one runs at once)."""
        if self.scheduler.next_run(OVERDUE, str(notice_id)) is None:
            self.scheduler.at(OVERDUE, str(notice_id), due, notice_id=notice_id)
        for hours in self.settings.remind_hours_before:
            key = f"{notice_id}:{hours:g}"
            if reminder_action(hours) not in reminders_sent and self.scheduler.next_run(REMIND, key) is None:
                self.scheduler.at(REMIND, key, due - timedelta(hours=hours), notice_id=notice_id, hours=hours)

    def acknowledge(self, session: Session, notice: Notice, actor: str) -> None:
        if notice.status != "issued":
            raise IncidentError("only a newly issued notice can be signed for")
        notice.status, notice.acknowledged_at = "acknowledged", to_db(self.clock.now())
        _log(session, self.clock, notice, actor, "acknowledge", "签收通报")

    def submit(self, session: Session, notice: Notice, actor: str, measures: str, result: str = "", responsible: str = "",
               files: Sequence[tuple[str, str, BinaryIO]] = ()) -> Rectification:
        """The unit's rectification report with evidence files (name, content type, stream)."""
        if notice.status in ("submitted", "closed"):
            raise IncidentError(f"the notice is {NOTICE_STATUS_LABELS[notice.status]}; wait for the review")
        if not measures.strip():
            raise IncidentError("a rectification report states the measures taken")
        now = to_db(self.clock.now())
        rectification = Rectification(notice_id=notice.id, measures=measures.strip(), result=result, responsible=responsible,
                                      submitted_by=actor, submitted_at=now)
        session.add(rectification)
        session.flush()
        for filename, content_type, stream in files:
            sha256, size = store_file(stream, self.evidence_dir, self.max_bytes)
            session.add(RectificationEvidence(rectification_id=rectification.id, filename=safe_filename(filename),
                                              content_type=content_type or "application/octet-stream", size=size, sha256=sha256))
        if notice.acknowledged_at is None:
            notice.acknowledged_at = now
        notice.status = "submitted"
        late = "（逾期提交）" if as_utc(notice.due_at) < self.clock.now() else ""
        _log(session, self.clock, notice, actor, "submit", f"提交整改报告{late}：{measures.strip()[:200]}（证据 {len(files)} 份）")
        return rectification

    def review(self, session: Session, notice: Notice, actor: str, accept: bool, comment: str = "") -> None:
        if notice.status != "submitted":
            raise IncidentError("only a submitted rectification can be reviewed")
        latest = session.scalar(select(Rectification).where(Rectification.notice_id == notice.id).order_by(Rectification.id.desc()).limit(1))
        assert latest is not None
        now = to_db(self.clock.now())
        latest.review, latest.review_comment, latest.reviewed_by, latest.reviewed_at = ("accepted" if accept else "returned"), comment, actor, now
        if accept:
            notice.status, notice.closed_at = "closed", now
            _log(session, self.clock, notice, actor, "close", "复核通过，销号" + (f"：{comment}" if comment else ""))
        else:
            if not comment.strip():
                raise IncidentError("sending a rectification back needs a reason")
            notice.status = "returned"
            _log(session, self.clock, notice, actor, "return", f"复核不通过，退回整改：{comment}")

    def record_summons(self, session: Session, actor: str, unit: Unit, head: str, reason: str, held_at: datetime,
                       commitments: str = "", follow_up_due: Any = None, notice: Notice | None = None) -> Summons:
        if not head.strip() or not reason.strip():
            raise IncidentError("a summons names the person summoned and the reason")
        summons = Summons(unit_id=unit.id, notice_id=notice.id if notice else None, head=head.strip(), reason=reason.strip(),
                          held_at=to_db(held_at), commitments=commitments, follow_up_due=follow_up_due, recorded_by=actor,
                          recorded_at=to_db(self.clock.now()))
        session.add(summons)
        session.flush()
        record_audit(session, self.clock, actor, "summons.record", "summons", summons.id, unit.id, head=head, notice_id=summons.notice_id)
        if notice is not None:
            _log(session, self.clock, notice, actor, "summons", f"约谈 {unit.name} {head}：{reason}")
        return summons

    def resync(self) -> None:
        """Give every open, not yet overdue notice its overdue and reminder jobs (catch-up at start)."""
        with self.sessions() as session:
            rows = session.execute(select(Notice.id, Notice.due_at).where(Notice.status != "closed", Notice.overdue_at.is_(None))).all()
            sent: dict[int, list[str]] = {}
            for notice_id, action in session.execute(select(NoticeEntry.notice_id, NoticeEntry.action).where(
                    NoticeEntry.notice_id.in_([row[0] for row in rows]), NoticeEntry.action.like("remind_%"))):
                sent.setdefault(notice_id, []).append(action)
        for notice_id, due in rows:
            self._schedule(notice_id, as_utc(due), sent.get(notice_id, ()))

    def _send(self, session: Session, notice: Notice, unit: Unit, reason: str, subject: str, text: str) -> None:
        """Queue ``text`` for ``unit``'s channel (``notices.channel_by_unit``, else ``notices.channel``), if any."""
        channel = self.settings.channel_by_unit.get(unit.code or "", self.settings.channel)
        if self.actions is not None and channel:
            self.actions.enqueue(session, channel, Message(subject, text, reason, notice.incident_id,
                                                           {"notice_no": notice.no, "unit": unit.name}))

    def _remind(self, now: datetime, params: dict[str, Any]) -> None:
        """Remind the receiving unit ``hours`` before the due time, once, while it still owes its rectification."""
        hours = float(params["hours"])
        with self.sessions() as session:
            notice = session.get(Notice, params["notice_id"])
            if notice is None or notice.status not in WAITING_FOR_UNIT:
                return
            action = reminder_action(hours)
            if session.scalar(select(NoticeEntry.id).where(NoticeEntry.notice_id == notice.id, NoticeEntry.action == action)):
                return  # sent before (e.g. by the run before a restart)
            due = as_utc(notice.due_at)
            if due - timedelta(hours=hours) > now:  # the due date was moved later
                session.commit()
                self.scheduler.at(REMIND, f"{notice.id}:{hours:g}", due - timedelta(hours=hours), notice_id=notice.id, hours=hours)
                return
            if hours > 0 and now >= due:
                return  # caught up too late: the at-due reminder and the overdue escalation say it now
            if due - timedelta(hours=hours) < as_utc(notice.issued_at):
                return  # issued with less time than this reminder's lead: nothing to remind of yet
            target = session.get(Unit, notice.target_unit_id)
            assert target is not None
            local_due = to_shanghai(due).strftime("%Y-%m-%d %H:%M")
            if hours > 0:
                text = (f"提醒 {target.name}：通报 {notice.no}「{notice.title}」将于 {local_due} 到期（剩余约 {(due - now).total_seconds() / 3600:.0f} 小时），"
                        f"尚未提交整改报告")
            else:
                text = f"提醒 {target.name}：通报 {notice.no}「{notice.title}」已到整改期限（{local_due}），请立即提交整改报告"
            _log(session, self.clock, notice, "system", action, text)
            self._send(session, notice, target, "notice_reminder", f"[edusoc] 通报整改提醒 {notice.no}", text)
            session.commit()

    def _overdue(self, now: datetime, params: dict[str, Any]) -> None:
        with self.sessions() as session:
            notice = session.get(Notice, params["notice_id"])
            if notice is None or notice.status == "closed" or notice.overdue_at is not None:
                return
            if as_utc(notice.due_at) > now:  # the due date was moved later
                due = as_utc(notice.due_at)
                session.commit()
                self.scheduler.at(OVERDUE, str(notice.id), due, notice_id=notice.id)
                return
            above = supervising_unit(session, notice)
            notice.overdue_at, notice.escalated_to_unit_id = to_db(now), above.id
            target = session.get(Unit, notice.target_unit_id)
            assert target is not None
            text = (f"通报 {notice.no}「{notice.title}」超过整改期限未销号（{NOTICE_STATUS_LABELS[notice.status]}），"
                    f"升级至 {above.name}；可记录约谈 {target.name}")
            _log(session, self.clock, notice, "system", "overdue", text)
            repeated = self._repeated_overdue(session, target, now)
            if repeated:
                suggestion = (f"{target.name} 近 {self.settings.summons_window_days} 天内已有 {repeated} 份通报逾期未整改，"
                              f"建议约谈其主要负责人（网络安全法第五十六条）")
                _log(session, self.clock, notice, "system", "summons_suggested", suggestion)
                text = f"{text}。{suggestion}"
            self._send(session, notice, above, "notice_overdue", f"[edusoc] 通报逾期升级 {notice.no}", text)
            session.commit()

    def _repeated_overdue(self, session: Session, target: Unit, now: datetime) -> int:
        """How many of the target's notices went overdue within the window, when that reaches the summons threshold; else 0."""
        threshold = self.settings.summons_after_overdue
        if threshold <= 0:
            return 0
        since = to_db(now - timedelta(days=self.settings.summons_window_days))
        count = session.scalar(select(func.count()).select_from(Notice).where(
            Notice.target_unit_id == target.id, Notice.overdue_at.is_not(None), Notice.overdue_at >= since)) or 0
        return count if count >= threshold else 0
