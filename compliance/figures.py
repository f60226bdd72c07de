"""The regulators' compliance figures for a unit and everything below it (DOMAIN.md §2.6 KPIs).

Each figure is a ratio with its numerator and denominator, counted per unit and summed over a
subtree, so a region's figure is exactly the sum of its units' counts (drill-down adds up):

- ``monitoring_coverage`` — schools with a sensor heartbeat within the window / schools, by
  ``inventory.coverage.unit_coverage`` (the same figure as the sensor page and /api/v1/sensors/coverage).
- ``security_admin_named`` — schools naming ≥ 1 security admin / schools (DOMAIN.md §8).
- ``mlps_grading`` — information systems graded / systems (withdrawn ones left out).
- ``mlps_filing`` — level ≥ 2 systems filed with the PSB / level ≥ 2 systems (§2.3).
- ``mlps_assessment`` — systems due periodic assessment (level 2–4) not overdue: last assessment (else grading)
  within the level's interval / such systems (§2.4).
- ``app_filing`` — declared education apps with a valid provider filing on the national list and the
  school's user filing / declared apps (§3).
- ``incident_deadline_1h`` — incidents with a ≤ 1 h handling deadline (重大 and above) handled by it / those
  handled or past it; ``incident_deadline_60h`` the same for notified incidents (安全通报, source 'notice').
- ``zero_report_on_time`` — daily reports submitted by the deadline / report days already due, over every
  key period (重要时段) a unit must report in (DOMAIN.md §5); a day counts once its deadline has passed.
- ``notices_open`` — notices (通报) to the unit not yet closed / notices issued to it;
  ``notices_overdue`` — open notices past their due date / notices issued to it (DOMAIN.md §7).
- ``findings_resolved`` is not a ratio of compliance; open findings are counted by priority under ``findings``.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from compliance.check_runner import load_inventories, load_registry
from compliance.filing_checks import AppRegistry, UnitInventory, app_compliant, assessment_due, needs_assessment
from compliance.models import ComplianceSnapshot
from incidents.deadlines import grades_due_within
from incidents.states import REOPENABLE
from inventory.coverage import unit_coverage
from inventory.models import Finding
from notices.models import Notice
from soc_core.clock import Clock, as_utc, to_db, to_shanghai
from soc_core.config import Settings
from soc_core.models import Incident, Unit
from soc_core.org import UnitKind
from soc_core.permissions import within
from zero_reports.models import KeyPeriod, KeyPeriodUnit, ZeroReport
from zero_reports.service import deadline_of

FIGURES: dict[str, str] = {
    "monitoring_coverage": "监测覆盖率",
    "security_admin_named": "安全管理员落实率",
    "mlps_grading": "等保定级率",
    "mlps_filing": "等保备案率（二级及以上）",
    "mlps_assessment": "等保测评按期率",
    "app_filing": "教育APP备案合规率",
    "incident_deadline_1h": "重大事件1小时处置按期率",
    "incident_deadline_60h": "通报事件60小时处置按期率",
    "zero_report_on_time": "零报告按时报送率",
    "notices_open": "通报未办结占比",
    "notices_overdue": "通报逾期未办结占比",
}
# Incident statuses that mean handled; the time it was handled is read from the first of these
# attributes the Incident model has (the incident lifecycle adds them), else from the audit trail.
HANDLED_STATUSES = REOPENABLE  # resolved or closed
HANDLED_AT_ATTRS = ("resolved_at", "closed_at", "handled_at")

Counts = dict[str, list[int]]  # figure -> [numerator, denominator]


@dataclass(frozen=True)
class Figure:
    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        return round(self.numerator / self.denominator, 4) if self.denominator else None

    def as_dict(self, name: str) -> dict[str, Any]:
        return {"label": FIGURES[name], "numerator": self.numerator, "denominator": self.denominator, "value": self.value}


def _empty() -> Counts:
    return {name: [0, 0] for name in FIGURES}


def _add(counts: Counts, name: str, ok: bool) -> None:
    counts[name][0] += int(ok)
    counts[name][1] += 1


def inventory_counts(inventory: UnitInventory, now: datetime, settings: Settings, registry: AppRegistry) -> Counts:
    """One unit's own contribution to every inventory figure."""
    counts = _empty()
    rules = settings.compliance
    today = to_shanghai(now).date()
    if inventory.unit.kind == UnitKind.SCHOOL.value:
        _add(counts, "security_admin_named", bool(inventory.admins))
    for system in inventory.systems:
        if system.filing_status == "withdrawn":
            continue
        _add(counts, "mlps_grading", system.level is not None)
        if (system.level or 0) >= 2:
            _add(counts, "mlps_filing", system.filing_status in ("filed", "changed") and bool(system.filing_cert_no))
        if needs_assessment(system, rules):
            due = assessment_due(system, rules)
            # The same rule as the mlps.assessment_overdue check: a first assessment is due one interval after grading.
            _add(counts, "mlps_assessment", due is not None and today <= due)
    for app in inventory.apps:
        _add(counts, "app_filing", app_compliant(app, registry))
    return counts


def handled_at(incident: Incident) -> datetime | None:
    for name in HANDLED_AT_ATTRS:
        value = getattr(incident, name, None)
        if value is not None:
            return as_utc(value)
    return None


def incident_counts(incidents: Iterable[Incident], now: datetime, settings: Settings) -> dict[int, Counts]:
    """Per unit: incidents handled within their deadline / incidents handled or past their deadline."""
    per_unit: dict[int, Counts] = defaultdict(_empty)
    one_hour = {grade.value for grade in grades_due_within(settings.incidents, 1.0)}
    for incident in incidents:
        if incident.source == "notice":
            name = "incident_deadline_60h"
        elif incident.grade in one_hour:
            name = "incident_deadline_1h"
        else:
            continue
        deadline = as_utc(incident.handle_by)
        done = handled_at(incident) if incident.status in HANDLED_STATUSES else None
        if done is None and now <= deadline:
            continue  # still running, not yet due: counts neither way
        _add(per_unit[incident.unit_id], name, done is not None and done <= deadline)
    return per_unit


def zero_report_counts(
    obligations: Iterable[tuple[KeyPeriod, int]], reports: Iterable[ZeroReport], now: datetime,
) -> dict[int, Counts]:
    """Per unit: days reported by the deadline / days whose deadline has passed, for each (period, unit) owed."""
    on_time = {(r.period_id, r.unit_id, r.report_date) for r in reports if not r.late}
    today = to_shanghai(now).date()
    per_unit: dict[int, Counts] = defaultdict(_empty)
    for period, unit_id in obligations:
        day = period.starts_on
        while day <= min(period.ends_on, today):
            if now >= deadline_of(period, day):
                _add(per_unit[unit_id], "zero_report_on_time", (period.id, unit_id, day) in on_time)
            day += timedelta(days=1)
    return per_unit


def notice_counts(notices: Iterable[Notice], now: datetime) -> dict[int, Counts]:
    """Per target unit: notices still open, and open past their due date, each over notices issued to it."""
    per_unit: dict[int, Counts] = defaultdict(_empty)
    for notice in notices:
        still_open = notice.status != "closed"
        _add(per_unit[notice.target_unit_id], "notices_open", still_open)
        _add(per_unit[notice.target_unit_id], "notices_overdue", still_open and now > as_utc(notice.due_at))
    return per_unit


def _duty_counts(session: Session, unit_ids: list[int], now: datetime) -> dict[int, Counts]:
    obligations = session.execute(
        select(KeyPeriod, KeyPeriodUnit.unit_id).join(KeyPeriodUnit, KeyPeriodUnit.period_id == KeyPeriod.id)
        .where(KeyPeriodUnit.unit_id.in_(unit_ids))
    ).all()
    reports = session.scalars(select(ZeroReport).where(ZeroReport.unit_id.in_(unit_ids)))
    notices = session.scalars(select(Notice).where(Notice.target_unit_id.in_(unit_ids)))
    merged: dict[int, Counts] = defaultdict(_empty)
    for per_unit, names in ((zero_report_counts(obligations, reports, now), ("zero_report_on_time",)),
                            (notice_counts(notices, now), ("notices_open", "notices_overdue"))):
        for uid, counts in per_unit.items():
            for name in names:
                merged[uid][name] = counts[name]
    return merged


@dataclass
class ComplianceReport:
    unit: Unit
    as_of: datetime
    figures: dict[str, Figure]
    findings: dict[str, int]                       # open findings by priority
    children: list[tuple[Unit, dict[str, Figure], dict[str, int]]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "unit": _unit_dict(self.unit), "as_of": self.as_of.isoformat(),
            "figures": {n: f.as_dict(n) for n, f in self.figures.items()}, "findings": self.findings,
            "children": [{"unit": _unit_dict(u), "figures": {n: f.as_dict(n) for n, f in figs.items()}, "findings": found}
                         for u, figs, found in self.children],
        }


def _unit_dict(unit: Unit) -> dict[str, Any]:
    return {"id": unit.id, "name": unit.name, "kind": unit.kind, "code": unit.code}


def _sum(counts: Iterable[Counts]) -> dict[str, Figure]:
    total = _empty()
    for one in counts:
        for name, (num, den) in one.items():
            total[name][0] += num
            total[name][1] += den
    return {name: Figure(num, den) for name, (num, den) in total.items()}


def compliance_report(session: Session, clock: Clock, settings: Settings, root: Unit) -> ComplianceReport:
    """The figures of ``root``'s subtree, and of each direct child's subtree for drill-down."""
    now = clock.now()
    units = list(session.scalars(select(Unit).where(within(Unit.path, root))))
    window = timedelta(minutes=settings.compliance.heartbeat_window_minutes)
    inventories = load_inventories(session, units, now, window)
    registry = load_registry(session)
    own = {uid: inventory_counts(inv, now, settings, registry) for uid, inv in inventories.items()}
    for coverage in unit_coverage(session, now, window, root):  # schools of the subtree
        _add(own[coverage.unit_id], "monitoring_coverage", coverage.covered)
    # Drill incidents (演练) run the same clock but never count in compliance figures.
    incidents = session.scalars(select(Incident).where(Incident.unit_id.in_([u.id for u in units]), Incident.drill_id.is_(None)))
    for uid, counts in incident_counts(incidents, now, settings).items():
        for name in ("incident_deadline_1h", "incident_deadline_60h"):
            own[uid][name] = counts[name]
    for uid, counts in _duty_counts(session, [u.id for u in units], now).items():
        for name in ("zero_report_on_time", "notices_open", "notices_overdue"):
            own[uid][name] = counts[name]
    open_findings: dict[int, Counter[str]] = defaultdict(Counter)
    for finding in session.scalars(select(Finding).where(Finding.resolved_at.is_(None),
                                                         Finding.unit_id.in_([u.id for u in units]))):
        open_findings[finding.unit_id][finding.priority] += 1

    def subtree(unit: Unit) -> tuple[dict[str, Figure], dict[str, int]]:
        members = [u.id for u in units if within(u, unit)]
        found: Counter[str] = Counter()
        for uid in members:
            found.update(open_findings.get(uid, Counter()))
        return _sum(own[uid] for uid in members), {p: found.get(p, 0) for p in ("high", "medium", "low")}

    children = sorted((u for u in units if u.parent_id == root.id), key=lambda u: (u.kind, u.name))
    figures, findings = subtree(root)
    return ComplianceReport(root, now, figures, findings, [(child, *subtree(child)) for child in children])


def take_snapshots(session: Session, clock: Clock, settings: Settings) -> int:
    """Record every unit's subtree figures for today (Asia/Shanghai); a later run the same day replaces them."""
    now = clock.now()
    day_start = to_db(datetime.combine(to_shanghai(now).date(), datetime.min.time(), to_shanghai(now).tzinfo))
    taken = 0
    for unit in session.scalars(select(Unit).where(Unit.kind != UnitKind.SCHOOL.value).order_by(Unit.id)).all():
        report = compliance_report(session, clock, settings, unit)
        figures = {n: [f.numerator, f.denominator] for n, f in report.figures.items()}
        existing = session.scalar(select(ComplianceSnapshot).where(
            ComplianceSnapshot.unit_id == unit.id, ComplianceSnapshot.taken_at >= day_start))
        if existing is None:
            session.add(ComplianceSnapshot(unit_id=unit.id, taken_at=to_db(now), figures=figures))
        else:
            existing.taken_at, existing.figures = to_db(now), figures
        taken += 1
    return taken


def trend(session: Session, unit: Unit, days: int, clock: Clock) -> list[dict[str, Any]]:
    """The unit's daily snapshots over the last ``days`` days, oldest first."""
    since = to_db(clock.now() - timedelta(days=days))
    rows = session.scalars(select(ComplianceSnapshot).where(
        ComplianceSnapshot.unit_id == unit.id, ComplianceSnapshot.taken_at >= since).order_by(ComplianceSnapshot.taken_at))
    return [{"taken_at": as_utc(r.taken_at).isoformat(), "day": to_shanghai(r.taken_at).date().isoformat(),
             "figures": {n: Figure(*r.figures[n]).as_dict(n) for n in FIGURES if n in r.figures}} for r in rows]
