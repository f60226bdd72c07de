"""Duty, notices and zero-reports shaped for the API and the UI, within a principal's scope."""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from duty.models import DutyShift, HandoverNote
from duty.roster import on_duty_at, response_times
from notices.models import Notice, NoticeEntry, Rectification, RectificationEvidence, Summons
from notices.service import NOTICE_KINDS, NOTICE_STATUS_LABELS
from playbooks.deadlines import overdue_by_unit
from soc_api.auth import Principal
from soc_api.schemas.duty import DutyBoard, HandoverOut, ResponseTimesOut, ShiftOut
from soc_api.schemas.notices import EvidenceRef, NoticeDetail, NoticeEntryOut, NoticeOut, RectificationOut, SummonsOut
from soc_api.schemas.zero_reports import KeyPeriodOut, ZeroReportBoard, ZeroReportOut, ZeroReportStatus
from soc_core.clock import Clock, as_utc, as_utc_or_none
from soc_core.models import Incident, Unit, User
from zero_reports.models import KeyPeriod, KeyPeriodUnit, ZeroReport
from zero_reports.service import ZeroReportService, deadline_of


def shift_out(session: Session, shift: DutyShift) -> ShiftOut:
    user, unit = session.get(User, shift.user_id), session.get(Unit, shift.unit_id)
    assert user is not None and unit is not None
    return ShiftOut(id=shift.id, unit_id=shift.unit_id, unit_name=unit.name, team=shift.team, username=user.username,
                    display_name=user.display_name, starts_at=as_utc(shift.starts_at), ends_at=as_utc(shift.ends_at), note=shift.note)


def duty_board(session: Session, principal: Principal, clock: Clock) -> DutyBoard:
    now = clock.now()
    units = principal.visible_units()
    upcoming = session.scalars(select(DutyShift).where(DutyShift.unit_id.in_(units), DutyShift.starts_at > now.replace(tzinfo=None),
                                                       DutyShift.starts_at <= (now + timedelta(hours=48)).replace(tzinfo=None))
                               .order_by(DutyShift.starts_at).limit(50))
    since = now - timedelta(days=30)
    times = response_times(session, units, since)
    names = dict(session.execute(select(Unit.id, Unit.name).where(Unit.id.in_(units))).all())
    handovers = session.scalars(select(HandoverNote).where(HandoverNote.unit_id.in_(units)).order_by(HandoverNote.at.desc()).limit(10))
    unacknowledged = session.scalars(select(Incident.id).where(Incident.unit_id.in_(units), Incident.status == "new")
                                     .order_by(Incident.created_at))
    return DutyBoard(
        now=now, on_duty=[shift_out(session, s) for s in on_duty_at(session, units, now)],
        upcoming=[shift_out(session, s) for s in upcoming],
        response_times=ResponseTimesOut(since=since, **times.__dict__),
        overdue_by_unit={names[unit_id]: count for unit_id, count in overdue_by_unit(session, units).items()},
        unacknowledged_incident_ids=list(unacknowledged),
        handovers=[HandoverOut(id=h.id, unit_id=h.unit_id, team=h.team, at=as_utc(h.at), from_user=h.from_user, to_user=h.to_user,
                               text=h.text, open_incident_ids=list(h.open_incident_ids)) for h in handovers],
    )


def scoped_notices(session: Session, principal: Principal) -> list[Notice]:
    units = principal.visible_units()
    return list(session.scalars(select(Notice).where(or_(Notice.target_unit_id.in_(units), Notice.issuer_unit_id.in_(units)))
                                .order_by(Notice.status == "closed", Notice.due_at)))


def scoped_notice(session: Session, principal: Principal, notice_id: int) -> Notice | None:
    notice = session.get(Notice, notice_id)
    if notice is None:
        return None
    target, issuer = session.get(Unit, notice.target_unit_id), session.get(Unit, notice.issuer_unit_id)
    if not (principal.can_see(target) or principal.can_see(issuer)):  # type: ignore[arg-type]
        return None
    return notice


def notice_out(session: Session, notice: Notice, clock: Clock) -> NoticeOut:
    issuer, target = session.get(Unit, notice.issuer_unit_id), session.get(Unit, notice.target_unit_id)
    assert issuer is not None and target is not None
    overdue = notice.overdue_at is not None or (notice.status != "closed" and as_utc(notice.due_at) < clock.now())
    return NoticeOut(id=notice.id, no=notice.no, issuer_unit_id=issuer.id, issuer_name=issuer.name, target_unit_id=target.id,
                     target_name=target.name, kind=notice.kind, kind_label=NOTICE_KINDS[notice.kind], title=notice.title,
                     description=notice.description, assets=notice.assets, required_actions=notice.required_actions,
                     issued_by=notice.issued_by, issued_at=as_utc(notice.issued_at), due_at=as_utc(notice.due_at), status=notice.status,
                     status_label=NOTICE_STATUS_LABELS[notice.status], overdue=overdue, overdue_at=as_utc_or_none(notice.overdue_at),
                     escalated_to_unit_id=notice.escalated_to_unit_id, closed_at=as_utc_or_none(notice.closed_at))


def notice_detail(session: Session, notice: Notice, clock: Clock) -> NoticeDetail:
    history = session.scalars(select(NoticeEntry).where(NoticeEntry.notice_id == notice.id).order_by(NoticeEntry.id))
    rectifications = session.scalars(select(Rectification).where(Rectification.notice_id == notice.id).order_by(Rectification.id))
    return NoticeDetail(
        **notice_out(session, notice, clock).model_dump(),
        history=[NoticeEntryOut(at=as_utc(e.at), actor=e.actor, action=e.action, text=e.text) for e in history],
        rectifications=[RectificationOut(
            id=r.id, measures=r.measures, result=r.result, responsible=r.responsible, submitted_by=r.submitted_by,
            submitted_at=as_utc(r.submitted_at), review=r.review, review_comment=r.review_comment, reviewed_by=r.reviewed_by,
            evidence=[EvidenceRef(filename=e.filename, size=e.size, sha256=e.sha256) for e in session.scalars(
                select(RectificationEvidence).where(RectificationEvidence.rectification_id == r.id))],
        ) for r in rectifications],
    )


def summons_out(s: Summons) -> SummonsOut:
    return SummonsOut(id=s.id, unit_id=s.unit_id, notice_id=s.notice_id, head=s.head, reason=s.reason, held_at=as_utc(s.held_at),
                      commitments=s.commitments, follow_up_due=s.follow_up_due, recorded_by=s.recorded_by)


def period_out(session: Session, period: KeyPeriod) -> KeyPeriodOut:
    unit_ids = list(session.scalars(select(KeyPeriodUnit.unit_id).where(KeyPeriodUnit.period_id == period.id)))
    return KeyPeriodOut(id=period.id, name=period.name, declared_by=period.declared_by, starts_on=period.starts_on,
                        ends_on=period.ends_on, deadline_hour=period.deadline_hour, active=period.active, unit_ids=unit_ids)


def scoped_periods(session: Session, principal: Principal) -> list[KeyPeriod]:
    """Periods declared in the caller's scope or requiring a report from a unit in it."""
    units = principal.visible_units()
    required = select(KeyPeriodUnit.period_id).where(KeyPeriodUnit.unit_id.in_(units))
    return list(session.scalars(select(KeyPeriod).where(or_(KeyPeriod.declared_by_unit_id.in_(units), KeyPeriod.id.in_(required)))
                                .order_by(KeyPeriod.starts_on.desc())))


def report_out(r: ZeroReport) -> ZeroReportOut:
    return ZeroReportOut(id=r.id, period_id=r.period_id, unit_id=r.unit_id, report_date=r.report_date, has_incident=r.has_incident,
                         incident_ids=list(r.incident_ids), summary=r.summary, systems_down=r.systems_down, on_duty=r.on_duty,
                         submitted_by=r.submitted_by, submitted_at=as_utc(r.submitted_at), late=r.late)


def zero_report_board(session: Session, principal: Principal, service: ZeroReportService, period: KeyPeriod, day: date) -> ZeroReportBoard:
    statuses = service.status(session, period, day, principal.visible_units())
    units = [ZeroReportStatus(unit_id=s.unit_id, unit_name=s.unit_name, reported=s.report is not None, missing=s.missing,
                              report=report_out(s.report) if s.report else None) for s in statuses]
    reported = sum(1 for u in units if u.reported)
    return ZeroReportBoard(period=period_out(session, period), date=day, deadline=deadline_of(period, day), reported=reported,
                           not_reported=len(units) - reported, units=units)
