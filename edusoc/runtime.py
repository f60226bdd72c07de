"""Wire one edusoc process: case store, event store, rules, ingest, playbooks and the API."""
from __future__ import annotations

import logging
import socket
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from collectors.disk_queue import DiskQueue
from collectors.ingest import IngestService
from collectors.ingest_api import build_ingest_router
from edusoc.quarantine_api import build_quarantine_router
from collectors.quarantine import Quarantine
from collectors.retention import enforce_retention
from collectors.sqlite_store import SqliteEventStore
from compliance.check_runner import run_checks
from compliance.figures import take_snapshots
from drills.tagging import drill_pages_real_escalation, drill_scopes
from detection_rules import Alert, RuleSet, RuleSwitches
from detection_rules.default_set import default_detection
from incidents import fold_alerts
from inventory.address_book import address_book_from_inventory
from inventory.asset_facts import inventory_lookup
from notices.service import NoticeService
from playbooks.actions import ActionService
from playbooks.deadlines import DeadlineService
from playbooks.playbook import BUNDLED, load_playbooks
from playbooks.scheduler import Scheduler
from reports.incident_reports import ReportService
from soc_api import ApiContext, create_app
from soc_core.security import limit_concurrent_hashing
from soc_api.context import DetectionContext
from soc_core.clock import Clock, SystemClock
from soc_core.config import Settings
from soc_core.db import make_engine, migrate, session_factory
from soc_core.event_store import EventStore
from soc_core.models import Incident, Unit
from soc_core.models_rules import RuleUnitSetting
from zero_reports.service import ZeroReportService

log = logging.getLogger("edusoc")
# Periodic job kinds (playbooks.scheduler ``every``); the API lists them at /api/v1/jobs.
COMPLIANCE_JOB, RETENTION_JOB = "compliance.checks", "events.retention"
ADDRESS_BOOK_JOB, QUEUE_DRAIN_JOB = "ingest.address_book", "ingest.queue_drain"
SIGMA_QUERIES_JOB = "detection.sigma_queries"


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    engine: Engine
    sessions: sessionmaker[Session]
    event_store: EventStore
    ruleset: RuleSet
    ingest: IngestService
    app: FastAPI
    # Deadlines and periodic jobs: apscheduler's job store on the case store, run on ``clock``. Other areas
    # register their jobs here (``register(kind, handler)`` then ``at``/``daily``, or ``every``) before ``start``.
    scheduler: Scheduler
    deadlines: DeadlineService
    actions: ActionService
    notices: NoticeService
    zero_reports: ZeroReportService
    reports: ReportService

    def start(self, background: bool = True) -> list[str]:
        """Schedule the periodic jobs, catch up on everything that fell due while the process was down, then keep ticking.

        Returns the ids of the jobs the catch-up pass ran."""
        self.schedule_periodic_jobs()
        self.deadlines.resync()
        self.notices.resync()
        self.zero_reports.resync()
        return self.scheduler.start(background=background)

    def schedule_periodic_jobs(self) -> list[str]:
        """Put the periodic jobs on the scheduler, each at its interval from the settings (0: not in this process).

        Compliance checks and event retention are jobs of the installation (persistent: a run missed
        while down is made once at start); the disk-queue drainer and the enrichment index belong
        to this process's collector (kept in memory, named after this process).
        """
        settings, node = self.settings, self.scheduler.node
        jobs = [
            self.scheduler.every(COMPLIANCE_JOB, "all", settings.compliance.check_interval_minutes * 60,
                                 lambda now, params: self.run_compliance_checks(), label="合规检查 Compliance checks"),
            self.scheduler.every(RETENTION_JOB, "all", settings.event_store.retention_check_hours * 3600,
                                 lambda now, params: self.enforce_retention(), label="事件保留期清理 Event retention"),
            self.scheduler.every(ADDRESS_BOOK_JOB, node, settings.ingest.address_book_refresh_minutes * 60,
                                 lambda now, params: self.refresh_collector_indexes(), label="资产地址索引刷新 Address-book refresh",
                                 local=True),
        ]
        if settings.event_store.backend == "elasticsearch":  # the Sigma rules also as queries on the indices
            jobs.append(self.scheduler.every(SIGMA_QUERIES_JOB, "all", settings.detection.scheduled_query_minutes * 60,
                                             lambda now, params: self.run_scheduled_sigma_queries(),
                                             label="Sigma 规则定时查询 Scheduled Sigma queries"))
        if self.ingest.queue is not None:
            jobs.append(self.scheduler.every(QUEUE_DRAIN_JOB, node, settings.ingest.queue_drain_seconds,
                                             lambda now, params: self.ingest.drain(), label="采集磁盘队列回放 Ingest queue drain",
                                             local=True))
        return [job for job in jobs if job is not None]

    def run_compliance_checks(self, actor: str = "system") -> str:
        """One scheduled pass: inventory checks into findings, then today's compliance snapshots."""
        with self.sessions() as session:
            result = run_checks(session, self.clock, self.settings.compliance, self.event_store, actor)
            snapshots = take_snapshots(session, self.clock, self.settings)
            session.commit()
        return (f"findings {result.opened} opened, {result.still_open} still open, {result.resolved} resolved; "
                f"{snapshots} snapshots")

    def enforce_retention(self) -> str:
        """Delete whole days of events older than ``event_store.retention_days``."""
        dropped = enforce_retention(self.event_store, self.clock, self.settings.event_store.retention_days, self.sessions)
        return f"{len(dropped)} day(s) deleted" + (f": {dropped[0]} .. {dropped[-1]}" if dropped else "")

    def refresh_address_book(self) -> str:
        """Re-read the inventory's IP ranges and hosts into the collector's enrichment index."""
        with self.sessions() as session:
            book = address_book_from_inventory(session)
        self.ingest.address_book = book
        return f"{book.size} networks and hosts indexed"

    def refresh_collector_indexes(self) -> str:
        """The collector's two indexes from the case store: the exercises that tag traffic, the inventory's addresses."""
        return "; ".join(part for part in (self.refresh_drill_scopes(), self.refresh_address_book()) if part)

    def refresh_drill_scopes(self) -> str:
        """Re-read the exercises (window, scope, red-team addresses) the collector tags events with."""
        with self.sessions() as session:
            scopes = drill_scopes(session, self.clock.now())
        self.ingest.drill_scopes = scopes if len(scopes) else None
        return f"{len(scopes)} exercise(s) tag events" if len(scopes) else ""

    def run_scheduled_sigma_queries(self) -> str:
        """One pass of the Sigma rules as Elasticsearch queries; alerts go where inline alerts go."""
        from datetime import timedelta

        from elasticsearch import Elasticsearch

        from detection_rules.scheduled_queries import ScheduledSigmaQueries, build_queries

        section, detection = self.settings.event_store, self.settings.detection
        queries, _ = build_queries(self.ruleset)
        client = Elasticsearch(section.elasticsearch_url)
        try:
            job = ScheduledSigmaQueries(
                client, section.elasticsearch_index_prefix, queries, Path(self.settings.data_dir) / "sigma-queries.json",
                self.clock, overlap=timedelta(minutes=detection.scheduled_query_overlap_minutes),
                switches=self.ingest.engine.switches,
            )
            alerts = job.run(self.ingest.alert_sink)  # the sink is idempotent by alert id: inline ones are not doubled
        finally:
            client.close()
        return f"{len(queries)} queries, {len(alerts)} new alerts" if alerts else ""

    def close(self) -> None:
        self.scheduler.shutdown()
        self.event_store.close()
        self.engine.dispose()


@dataclass
class IncidentClocks:
    """The ``incidents.commands.Planner``: on open and on every change, the playbook's escalation steps and tasks and
    the reporting deadlines (idempotent); the playbook tasks still undone (closing a major incident waits for them)."""

    deadlines: DeadlineService
    reports: ReportService

    def plan(self, session: Session, incident: Incident) -> None:
        """A drill incident (演练) keeps its handling clock but gets no reporting deadlines, and pages the real
        escalation chain only when its exercise says so."""
        if incident.drill_id is not None:
            if drill_pages_real_escalation(session, incident.drill_id):
                self.deadlines.plan(session, incident)
            return
        self.deadlines.plan(session, incident)
        self.reports.plan(session, incident)

    def open_tasks(self, session: Session, incident: Incident) -> list[str]:
        return self.deadlines.open_tasks(session, incident)


def open_event_store(settings: Settings) -> EventStore:
    if settings.event_store.backend == "elasticsearch":
        from collectors.elasticsearch_store import ElasticsearchEventStore

        section = settings.event_store
        return ElasticsearchEventStore(section.elasticsearch_url, section.elasticsearch_index_prefix,
                                       refresh_interval=section.elasticsearch_refresh_interval)
    return SqliteEventStore(settings.sqlite_events_path, settings.event_store.sqlite_full_text)


def build_runtime(settings: Settings, clock: Clock | None = None) -> Runtime:
    clock = clock or SystemClock()
    settings.data_path.mkdir(parents=True, exist_ok=True)
    limit_concurrent_hashing(settings.auth.max_concurrent_hashes, settings.auth.hash_wait_seconds)
    engine = make_engine(settings.case_store_url)
    migrate(engine)
    sessions = session_factory(engine)
    event_store = open_event_store(settings)
    detection = default_detection(settings.detection)
    for problem in detection.problems:
        log.warning("%s", problem)
    log.info("detection: %s", detection.describe())
    ruleset, scanner, crs = detection.ruleset, detection.yara, detection.crs
    assert scanner is not None  # default_detection always builds one: uploads are scanned with it
    with sessions() as session:
        switches = RuleSwitches(
            (setting.rule_id, code)
            for setting, code in session.execute(
                select(RuleUnitSetting, Unit.code).join(Unit, Unit.id == RuleUnitSetting.unit_id).where(RuleUnitSetting.enabled.is_(False))
            )
            if code
        )
    indicators = detection.indicators

    scheduler = Scheduler(engine, clock, settings.playbooks.tick_seconds, node=f"{socket.gethostname()}:{settings.data_path}")
    playbooks = load_playbooks([BUNDLED, *(Path(p) for p in settings.playbooks.directories)])
    actions = ActionService(sessions, clock, settings.actions, scheduler)
    deadlines = DeadlineService(sessions, clock, settings.incidents, scheduler, playbooks, on_action=actions.playbook_action)
    reports = ReportService(sessions, clock, settings.incidents, scheduler)
    notices = NoticeService(sessions, clock, scheduler, settings.incidents.handle_hours_notice, settings.data_path / "evidence",
                            settings.incidents.evidence_max_bytes, settings.notices, actions)
    zero_reports = ZeroReportService(sessions, clock, scheduler)

    planner = IncidentClocks(deadlines, reports)
    plan_incident = planner.plan

    def fold_into_incidents(alerts: Sequence[Alert]) -> None:
        with sessions() as session:
            touched = fold_alerts(session, clock, settings.incidents, alerts, assets=inventory_lookup(session), on_open=plan_incident)
            for incident in touched:
                plan_incident(session, incident)  # a raised grade brings the steps forward; idempotent otherwise
            session.commit()

    ingest = IngestService(event_store, detection.engine(switches), fold_into_incidents, settings.ingest, clock)
    if settings.ingest.queue_max_bytes > 0:
        ingest.queue = DiskQueue(settings.data_path / "ingest-queue", settings.ingest.queue_max_bytes)
    if settings.ingest.quarantine_max_events > 0:
        ingest.quarantine = Quarantine(settings.data_path / "ingest-quarantine", settings.ingest.quarantine_max_events)
    context = ApiContext(
        settings=settings, sessions=sessions, clock=clock, event_store=event_store, planner=planner,
        notice_service=notices, zero_report_service=zero_reports, report_service=reports, scheduler=scheduler,
        health_probes={
            "ingest": lambda: asdict(ingest.counters),
            "ingest_queue": ingest.queue_metrics,
            "rules": lambda: {"loaded": len(ruleset.rules), "rejected": len(ruleset.errors)},
            "yara": lambda: {"rules": scanner.rule_count, "left_out": len(scanner.errors), **asdict(scanner.stats)},
            "crs": lambda: {**crs.describe(), **asdict(crs.stats)} if crs is not None else {"loaded": False},
        },
        detection=DetectionContext(ruleset, switches, scanner, indicators, crs),
    )
    app = create_app(context, [build_ingest_router(ingest, sessions), build_quarantine_router(ingest)])
    runtime = Runtime(settings, clock, engine, sessions, event_store, ruleset, ingest, app, scheduler, deadlines, actions, notices,
                   zero_reports, reports)
    context.on_drill_change = runtime.refresh_drill_scopes
    runtime.refresh_address_book()
    runtime.refresh_drill_scopes()
    return runtime
