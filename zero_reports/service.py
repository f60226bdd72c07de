"""Zero-reports (零报告) in key periods (重要时段): a regulator declares the period, the units that must report
and the daily deadline hour; each unit reports every day, even when nothing happened; a missing report is
itself a finding that escalates to the unit's supervisor. DOMAIN.md §5."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from incidents.folding import IncidentError
from inventory.models import Finding
from playbooks.deadlines import after_commit
from playbooks.scheduler import Scheduler
from soc_core.date_ranges import KEY_PERIOD_MAX_DAYS, DateRangeError, check_range
from soc_core.audit import record_audit
from soc_core.clock import Clock, SHANGHAI, to_db, to_shanghai
from soc_core.models import Incident, Unit
from soc_core.permissions import within
from zero_reports.models import KeyPeriod, KeyPeriodUnit, ZeroReport

CHECK = "zero_report.deadline"
FINDING = "zero_report.missing"


def deadline_of(period: KeyPeriod, day: date) -> datetime:
    """The instant (UTC-aware) a day's report is due: ``deadline_hour`` Beijing time that day."""
    return datetime.combine(day, time(period.deadline_hour), tzinfo=SHANGHAI)


def beijing_today(clock: Clock) -> date:
    return to_shanghai(clock.now()).date()


@dataclass(frozen=True)
class UnitStatus:
    unit_id: int
    unit_name: str
    report: ZeroReport | None
    missing: bool  # the deadline passed without a report (a finding exists)


class ZeroReportService:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock, scheduler: Scheduler) -> None:
        self.sessions, self.clock, self.scheduler = sessions, clock, scheduler
        scheduler.register(CHECK, self._check)

    def declare(self, session: Session, actor: str, declarer: Unit, name: str, starts_on: date, ends_on: date,
                deadline_hour: int, units: Sequence[Unit]) -> KeyPeriod:
        if not name.strip():
            raise IncidentError("a key period needs a name (e.g. 国庆假期)")
        if ends_on < starts_on:
            raise IncidentError("a key period ends on or after its first day")
        try:  # every day of a period is checked for missing reports: its length bounds that work
            check_range(starts_on, ends_on, start_field="starts_on", end_field="ends_on", max_days=KEY_PERIOD_MAX_DAYS)
        except DateRangeError as exc:
            raise IncidentError(str(exc)) from None
        if not 0 <= deadline_hour <= 23:
            raise IncidentError("the daily deadline hour is 0–23 (Beijing time)")
        if not units:
            raise IncidentError("name the units that must report")
        outside = [u.name for u in units if not within(u, declarer)]
        if outside:
            raise IncidentError(f"{declarer.name} cannot require reports from {', '.join(outside)}")
        period = KeyPeriod(name=name.strip(), declared_by_unit_id=declarer.id, declared_by=actor, declared_at=to_db(self.clock.now()),
                           starts_on=starts_on, ends_on=ends_on, deadline_hour=deadline_hour, active=True)
        session.add(period)
        session.flush()
        for unit in {u.id: u for u in units}.values():
            session.add(KeyPeriodUnit(period_id=period.id, unit_id=unit.id))
        record_audit(session, self.clock, actor, "key_period.declare", "key_period", period.id, declarer.id, name=name,
                     starts_on=str(starts_on), ends_on=str(ends_on), deadline_hour=deadline_hour, units=len(units))
        period_id = period.id
        after_commit(session, lambda: self.scheduler.daily(CHECK, str(period_id), hour=deadline_hour, period_id=period_id))
        return period

    def submit(self, session: Session, actor: str, period: KeyPeriod, unit: Unit, has_incident: bool,
               incident_ids: Sequence[int] = (), summary: str = "", systems_down: str = "", on_duty: str = "",
               report_date: date | None = None) -> ZeroReport:
        """Today's report (Beijing date); a second report the same day replaces the first (e.g. an incident after a zero-report)."""
        day = report_date or beijing_today(self.clock)
        if not period.active or not period.starts_on <= day <= period.ends_on:
            raise IncidentError(f"{period.name} does not cover {day}")
        if session.scalar(select(KeyPeriodUnit).where(KeyPeriodUnit.period_id == period.id, KeyPeriodUnit.unit_id == unit.id)) is None:
            raise IncidentError(f"{unit.name} is not required to report in {period.name}")
        if day > beijing_today(self.clock):
            raise IncidentError("a report cannot be made for a future day")
        if has_incident:
            # a drill incident (演练) is no real incident of the unit: a zero-report never lists it
            found = set(session.scalars(select(Incident.id).where(Incident.id.in_(incident_ids), Incident.unit_id == unit.id,
                                                                  Incident.drill_id.is_(None))))
            if not found and not summary.strip():
                raise IncidentError("a report with incidents lists them (incident ids of the unit) or describes them")
            if set(incident_ids) - found:
                raise IncidentError(f"incidents {sorted(set(incident_ids) - found)} are not incidents of {unit.name}")
        now = self.clock.now()
        late = now >= deadline_of(period, day)  # due before the deadline hour
        report = session.scalar(select(ZeroReport).where(ZeroReport.period_id == period.id, ZeroReport.unit_id == unit.id,
                                                         ZeroReport.report_date == day))
        if report is None:
            report = ZeroReport(period_id=period.id, unit_id=unit.id, report_date=day, has_incident=has_incident,
                                submitted_by=actor, submitted_at=to_db(now))
            session.add(report)
        report.has_incident, report.incident_ids = has_incident, list(incident_ids) if has_incident else []
        report.summary, report.systems_down, report.on_duty = summary, systems_down, on_duty
        report.submitted_by, report.submitted_at, report.late = actor, to_db(now), late
        session.flush()
        finding = self._finding(session, period, unit.id, day)
        if finding is not None and finding.resolved_at is None:
            finding.resolved_at = to_db(now)  # reported late: the finding stays on record, resolved
        record_audit(session, self.clock, actor, "zero_report.submit", "zero_report", report.id, unit.id, period_id=period.id,
                     date=str(day), has_incident=has_incident, late=late)
        return report

    def status(self, session: Session, period: KeyPeriod, day: date, unit_ids: Any) -> list[UnitStatus]:
        """Who has and has not reported on ``day`` among the period's units the caller may see."""
        rows = session.execute(select(Unit).join(KeyPeriodUnit, KeyPeriodUnit.unit_id == Unit.id)
                               .where(KeyPeriodUnit.period_id == period.id, Unit.id.in_(unit_ids)).order_by(Unit.path)).scalars().all()
        reports = {r.unit_id: r for r in session.scalars(select(ZeroReport).where(ZeroReport.period_id == period.id,
                                                                                 ZeroReport.report_date == day))}
        overdue = self.clock.now() >= deadline_of(period, day)
        return [UnitStatus(u.id, u.name, reports.get(u.id), reports.get(u.id) is None and overdue) for u in rows]

    def resync(self) -> None:
        """Every active period keeps its daily job (catch-up at start; the check itself covers missed days)."""
        with self.sessions() as session:
            periods = session.execute(select(KeyPeriod.id, KeyPeriod.deadline_hour).where(KeyPeriod.active.is_(True))).all()
        for period_id, hour in periods:
            if self.scheduler.next_run(CHECK, str(period_id)) is None:
                self.scheduler.daily(CHECK, str(period_id), hour=hour, period_id=period_id)
            self._check(self.clock.now(), {"period_id": period_id})

    def _finding(self, session: Session, period: KeyPeriod, unit_id: int, day: date) -> Finding | None:
        return session.scalar(select(Finding).where(Finding.check_id == FINDING, Finding.unit_id == unit_id,
                                                    Finding.subject == _subject(period, day)))

    def _check(self, now: datetime, params: dict[str, Any]) -> None:
        """Every required unit without a report for a day whose deadline passed gets one finding, escalated upward."""
        with self.sessions() as session:
            period = session.get(KeyPeriod, params["period_id"])
            if period is None or not period.active:
                self.scheduler.cancel(CHECK, str(params["period_id"]))
                return
            units = session.scalars(select(Unit).join(KeyPeriodUnit, KeyPeriodUnit.unit_id == Unit.id)
                                    .where(KeyPeriodUnit.period_id == period.id)).all()
            last = min(period.ends_on, to_shanghai(now).date())
            # A period declared before its length was bounded (e.g. from year 36) is checked over its
            # last KEY_PERIOD_MAX_DAYS days only: the catch-up after a restart stays bounded.
            day = max(period.starts_on, last - timedelta(days=KEY_PERIOD_MAX_DAYS - 1))
            while day <= last:
                if deadline_of(period, day) <= now:
                    reported = set(session.scalars(select(ZeroReport.unit_id).where(ZeroReport.period_id == period.id,
                                                                                    ZeroReport.report_date == day)))
                    for unit in units:
                        if unit.id not in reported and self._finding(session, period, unit.id, day) is None:
                            self._record_missing(session, period, unit, day, now)
                day += timedelta(days=1)
            if to_shanghai(now).date() > period.ends_on:
                period.active = False  # the period is over and fully checked
            session.commit()
            if not period.active:
                self.scheduler.cancel(CHECK, str(period.id))

    def _record_missing(self, session: Session, period: KeyPeriod, unit: Unit, day: date, now: datetime) -> None:
        above = session.get(Unit, unit.parent_id) if unit.parent_id else None
        message = (f"{unit.name} 未在 {day} {period.deadline_hour}:00 前提交{period.name}零报告，已升级至 "
                   f"{above.name if above else '本级'}")
        session.add(Finding(check_id=FINDING, unit_id=unit.id, subject=_subject(period, day), priority="high", message=message,
                            detail={"period_id": period.id, "date": str(day), "escalated_to_unit_id": above.id if above else None},
                            first_seen_at=to_db(now), last_seen_at=to_db(now)))
        record_audit(session, self.clock, "system", "zero_report.missing", "key_period", period.id, unit.id, date=str(day),
                     escalated_to_unit_id=above.id if above else None)


def _subject(period: KeyPeriod, day: date) -> str:
    return f"key_period:{period.id}:{day.isoformat()}"
