"""Run the inventory checks over the case store (and the event store) and keep ``Finding`` rows in step.

A finding opens the first run that sees its condition, stays open (``last_seen_at`` moves) while
later runs see it, and is resolved the first run that no longer does. Each open and resolve is
audited. The checks themselves are the pure functions of ``compliance.filing_checks``.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from compliance.filing_checks import AppRegistry, CheckResult, Traffic, UnitInventory, run_unit_checks
from inventory.coverage import sensor_health
from inventory.models import (EducationApp, FiledApp, Finding, Host, InformationSystem, InventoryRow, IpRange, SecurityAdmin,
                              Service, Website)
from soc_core.audit import record_audit
from soc_core.clock import Clock, to_db
from soc_core.config import ComplianceSettings
from soc_core.event_store import EventQuery, EventStore
from soc_core.models import Unit

_ATTRS: tuple[tuple[type[InventoryRow], str], ...] = ((SecurityAdmin, "admins"), (IpRange, "ip_ranges"), (Host, "hosts"), (Service, "services"),
          (Website, "websites"), (InformationSystem, "systems"), (EducationApp, "apps"))
# Flow states in which the responder answered (Zeek conn_state): a port a scan found closed (REJ, S0) is no service.
ANSWERED_STATES = ("SF", "S1", "S2", "S3", "RSTO", "RSTR", "SH")
TRAFFIC_TERMS = 500  # most frequent values read per field and unit


def load_inventories(session: Session, units: Iterable[Unit], now: datetime,
                     heartbeat_window: timedelta) -> dict[int, UnitInventory]:
    """The inventory of each unit, read in one query per kind, with its sensors' health at ``now``."""
    inventories = {u.id: UnitInventory(u) for u in units}
    ids = list(inventories)
    for model, attr in _ATTRS:
        for row in session.scalars(select(model).where(model.unit_id.in_(ids)).order_by(model.id)):
            getattr(inventories[row.unit_id], attr).append(row)  # type: ignore[attr-defined]  # SQLAlchemy's select() of a union of mapped classes yields their Base
    for health in sensor_health(session, now, heartbeat_window):
        if health.unit_id in inventories:
            inventories[health.unit_id].sensors.append(health)
    return inventories


def load_registry(session: Session) -> AppRegistry:
    return AppRegistry(list(session.scalars(select(FiledApp).order_by(FiledApp.id))))


def _host(value: object) -> str:
    return str(value).lower().split(":")[0].rstrip(".")


def observe_traffic(store: EventStore, inventory: UnitInventory, start: datetime, end: datetime) -> Traffic:
    """What the unit's sensors saw between ``start`` and ``end``: names looked up, answered services, web domains."""
    unit = [str(inventory.unit.id)]
    traffic = Traffic()

    def query(**filters: str | int) -> EventQuery:
        return EventQuery(start=start, end=end, unit_ids=unit, filters=dict(filters))

    for term in store.count_by(query(**{"event.dataset": "edusoc.dns"}), "dns.question.name", TRAFFIC_TERMS):
        traffic.names[str(term.value)] = term.count
    for term in store.count_by(query(**{"event.dataset": "edusoc.tls"}), "tls.client.server_name", TRAFFIC_TERMS):
        traffic.names[str(term.value)] = traffic.names.get(str(term.value), 0) + term.count
    if inventory.ip_ranges:
        for state in ANSWERED_STATES:
            for ip_term in store.count_by(query(**{"event.dataset": "edusoc.flow", "network.connection.state": state}),
                                          "destination.ip", TRAFFIC_TERMS):
                ip = str(ip_term.value)
                if not inventory.owns_ip(ip):
                    continue
                for transport in ("tcp", "udp"):
                    for port in store.count_by(query(**{"event.dataset": "edusoc.flow", "network.connection.state": state,
                                                        "destination.ip": ip, "network.transport": transport}),
                                               "destination.port", TRAFFIC_TERMS):
                        key = (ip, int(port.value), transport)
                        traffic.services[key] = traffic.services.get(key, 0) + port.count
        # Web servers of the unit seen in captured HTTP: the domains each of its addresses serves.
        for ip_term in store.count_by(query(**{"event.dataset": "edusoc.http"}), "destination.ip", TRAFFIC_TERMS):
            if inventory.owns_ip(str(ip_term.value)):
                for domain in store.count_by(query(**{"event.dataset": "edusoc.http", "destination.ip": str(ip_term.value)}),
                                             "url.domain", TRAFFIC_TERMS):
                    traffic.websites.setdefault(_host(domain.value), set()).add(str(ip_term.value))
    # Where the unit's filed websites are served from, as its clients reach them.
    for website in inventory.websites:
        for ip_term in store.count_by(query(**{"event.dataset": "edusoc.http", "url.domain": website.domain}), "destination.ip", 20):
            traffic.websites.setdefault(website.domain, set()).add(str(ip_term.value))
    # The unit's own web server logs: every virtual host in them is served by the unit.
    for domain in store.count_by(query(**{"event.dataset": "edusoc.web"}), "url.domain", TRAFFIC_TERMS):
        traffic.websites.setdefault(_host(domain.value), set())
    return traffic


@dataclass(frozen=True)
class CheckRun:
    opened: int
    still_open: int
    resolved: int
    results: list[CheckResult]


def evaluate(session: Session, clock: Clock, settings: ComplianceSettings, store: EventStore | None = None,
             units: Iterable[Unit] | None = None) -> list[CheckResult]:
    """Every check for every unit (default: all units), without touching the findings table."""
    now = clock.now()
    inventories = load_inventories(session, units if units is not None else session.scalars(select(Unit)), now,
                                   timedelta(minutes=settings.heartbeat_window_minutes))
    registry = load_registry(session)
    start = now - timedelta(hours=settings.traffic_lookback_hours)
    results = []
    for inventory in inventories.values():
        traffic = observe_traffic(store, inventory, start, now) if store is not None else None
        results += run_unit_checks(inventory, now, settings, registry, traffic)
    return results


def run_checks(session: Session, clock: Clock, settings: ComplianceSettings, store: EventStore | None = None,
               actor: str = "system") -> CheckRun:
    """Evaluate every check and reconcile the findings table; the caller commits."""
    results = evaluate(session, clock, settings, store)
    now = to_db(clock.now())
    current = {(r.check_id, r.unit_id, r.subject): r for r in results}
    open_rows = {(f.check_id, f.unit_id, f.subject): f
                 for f in session.scalars(select(Finding).where(Finding.resolved_at.is_(None)))}
    opened = still = resolved = 0
    for key, result in current.items():
        row = open_rows.get(key)
        if row is None:
            row = Finding(check_id=result.check_id, unit_id=result.unit_id, subject=result.subject, priority=result.priority,
                          message=result.message, detail=result.detail, first_seen_at=now, last_seen_at=now)
            session.add(row)
            session.flush()
            record_audit(session, clock, actor, "finding.open", "finding", row.id, row.unit_id,
                         check_id=row.check_id, subject=row.subject, priority=row.priority)
            opened += 1
        else:
            row.last_seen_at, row.priority, row.message, row.detail = now, result.priority, result.message, result.detail
            still += 1
    for key, row in open_rows.items():
        if key not in current:
            row.resolved_at = now
            record_audit(session, clock, actor, "finding.resolve", "finding", row.id, row.unit_id,
                         check_id=row.check_id, subject=row.subject)
            resolved += 1
    return CheckRun(opened, still, resolved, results)


def open_findings_by_unit(session: Session, unit_ids: Iterable[int]) -> dict[int, list[Finding]]:
    found: dict[int, list[Finding]] = defaultdict(list)
    for row in session.scalars(select(Finding).where(Finding.resolved_at.is_(None), Finding.unit_id.in_(list(unit_ids)))):
        found[row.unit_id].append(row)
    return found
