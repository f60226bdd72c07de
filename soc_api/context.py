"""What the API needs from the process that hosts it, handed over once at start."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from detection_rules import IndicatorSet, RuleSet, RuleSwitches, YaraScanner
from detection_rules.crs import CrsEngine
from incidents.commands import Planner
from notices.service import NoticeService
from playbooks.scheduler import Scheduler
from reports.incident_reports import ReportService
from soc_core.clock import Clock
from soc_core.config import Settings
from soc_core.event_store import EventStore
from zero_reports.service import ZeroReportService


@dataclass
class DetectionContext:
    """The running detection engine's parts the rules API reads and tunes."""

    ruleset: RuleSet
    switches: RuleSwitches
    yara: YaraScanner | None = None
    indicators: IndicatorSet | None = None
    crs: CrsEngine | None = None  # the OWASP CRS: its families are rules too (crs:sqli, ...), switchable per unit


@dataclass
class ApiContext:
    settings: Settings
    sessions: sessionmaker[Session]
    clock: Clock
    event_store: EventStore | None = None
    # Extra figures for /api/v1/health, e.g. the collector's counters: name → callable returning a dict.
    health_probes: dict[str, Callable[[], dict[str, object]]] = field(default_factory=dict)
    detection: DetectionContext | None = None
    # Re-plans an incident's clocks after every command (playbook steps and tasks, report deadlines) and names its
    # undone tasks; the commands (incidents.commands) call it. None: no clocks (bare API tests).
    planner: Planner | None = None
    notice_service: NoticeService = None  # type: ignore[assignment]
    zero_report_service: ZeroReportService = None  # type: ignore[assignment]
    report_service: ReportService = None  # type: ignore[assignment]
    # The process's scheduler: the jobs API asks it to run a periodic job now.
    scheduler: Scheduler | None = None
    # Called after an exercise is created or changed: the collector re-reads which traffic is the exercises'.
    on_drill_change: Callable[[], object] | None = None
