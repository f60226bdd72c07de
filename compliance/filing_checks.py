"""Scheduled checks of what units filed against the rules and against what their traffic shows.

Each check is a pure function of a unit's inventory, the time and (for some) the traffic seen,
returning ``CheckResult`` values; ``compliance.check_runner`` loads the inputs and keeps the
``Finding`` rows in step. Inventory rows are the ORM objects (tests build them unsaved).

Checks (check_id — what it means):
- ``admin.missing`` — a school names no security admin (DOMAIN.md §8).
- ``mlps.unfiled`` — a level ≥ 2 system not filed within ``filing_days_after_grading`` of its grading (§2.3).
- ``mlps.assessment_overdue`` — the last assessment of a level ≥ 2 system is older than its level's interval (§2.4).
- ``mlps.unmonitored`` — a level ≥ 3 system whose addresses no live sensor covers: its unit has no live
  sensor, or an address of it lies outside the unit's filed IP ranges (what the unit's sensors watch).
- ``app.provider_unfiled`` / ``app.revoked_in_use`` / ``app.user_unfiled`` — a declared education app
  missing from the national filing list / revoked or blacklisted there / without the school's user filing (§3).
- ``app.unfiled_in_use`` — a domain of a listed app seen in the unit's DNS (or TLS) traffic while the unit
  has not declared the app; high priority when the app is revoked or blacklisted (§3 先备案后选用).
- ``discovery.host`` / ``discovery.service`` / ``discovery.website`` — a responder address, an answered
  port, a served web domain seen in the unit's traffic but not in its inventory.
- ``website.double_non`` — 双非: a website whose domain is under none of the official suffixes and whose
  address is outside the unit's IP ranges (非本单位域名、非本单位IP, DOMAIN.md §5), unless centrally hosted.
- ``coverage.no_heartbeat`` — a school none of whose sensors sent a heartbeat within the window: the
  definition of ``inventory.coverage``, which the sensor page, the coverage API and the compliance figure share.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from inventory.cells import clean
from inventory.coverage import SensorHealth
from inventory.models import EducationApp, FiledApp, Host, InformationSystem, IpRange, SecurityAdmin, Service, Website
from soc_core.clock import to_shanghai
from soc_core.config import ComplianceSettings
from soc_core.models import Unit
from soc_core.org import UnitKind

HIGH, MEDIUM, LOW = "high", "medium", "low"
FILED = ("filed", "changed")
APP_STATUS_LABELS = {"valid": "有效", "revoked": "已撤销", "blacklisted": "黑名单"}


@dataclass(frozen=True)
class CheckResult:
    check_id: str
    unit_id: int
    subject: str      # what the finding is about, stable across runs (system name, domain, ip:port)
    priority: str     # high | medium | low
    message: str      # Chinese, for the unit and the regulator
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class UnitInventory:
    """Everything one unit filed, and its sensors' health (``inventory.coverage``) at the time of the check."""

    unit: Unit
    admins: list[SecurityAdmin] = field(default_factory=list)
    ip_ranges: list[IpRange] = field(default_factory=list)
    hosts: list[Host] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    websites: list[Website] = field(default_factory=list)
    systems: list[InformationSystem] = field(default_factory=list)
    apps: list[EducationApp] = field(default_factory=list)
    sensors: list[SensorHealth] = field(default_factory=list)

    def networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(r.cidr, strict=False) for r in self.ip_ranges]

    def owns_ip(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks())


@dataclass
class Traffic:
    """What one unit's sensors saw over the lookback window."""

    names: dict[str, int] = field(default_factory=dict)                     # DNS/TLS names -> events
    services: dict[tuple[str, int, str], int] = field(default_factory=dict)  # answered (ip, port, transport) -> flows
    websites: dict[str, set[str]] = field(default_factory=dict)             # served web domain -> server ips seen


# --- monitoring coverage ---------------------------------------------------------------------

def is_monitored(inventory: UnitInventory) -> bool:
    """Covered as ``inventory.coverage.UnitCoverage.covered``: a sensor of the unit is reporting."""
    return any(s.reporting for s in inventory.sensors)


def check_coverage(inventory: UnitInventory, settings: ComplianceSettings) -> list[CheckResult]:
    if inventory.unit.kind != UnitKind.SCHOOL.value or is_monitored(inventory):
        return []
    beats = [s.last_heartbeat_at for s in inventory.sensors if s.last_heartbeat_at is not None and not s.revoked]
    last = f"，最近一次上报于 {max(beats):%Y-%m-%d %H:%M} UTC" if beats else "，从未上报"
    return [CheckResult("coverage.no_heartbeat", inventory.unit.id, "sensors", HIGH,
                        f"{inventory.unit.name}没有探针在 {settings.heartbeat_window_minutes:g} 分钟内上报{last}",
                        {"sensors": len([s for s in inventory.sensors if not s.revoked])})]


def check_admins(inventory: UnitInventory) -> list[CheckResult]:
    if inventory.unit.kind != UnitKind.SCHOOL.value or inventory.admins:
        return []
    return [CheckResult("admin.missing", inventory.unit.id, "security_admin", MEDIUM,
                        f"{inventory.unit.name}未落实专兼职网络安全管理员")]


# --- MLPS ------------------------------------------------------------------------------------

def filing_due(system: InformationSystem, settings: ComplianceSettings) -> date | None:
    """The last day a graded level >= 2 system may be filed; None when it need not be (or has no grading date)."""
    if (system.level or 0) < 2 or system.graded_on is None:
        return None
    return system.graded_on + timedelta(days=settings.filing_days_after_grading)


def assessment_due(system: InformationSystem, settings: ComplianceSettings) -> date | None:
    """When the next assessment is due: last assessment (else grading) + the level's interval."""
    interval = settings.assessment_interval_days.get(system.level or 0)
    reference = system.assessed_on or system.graded_on
    if interval is None or reference is None:
        return None
    return reference + timedelta(days=interval)


def needs_assessment(system: InformationSystem, settings: ComplianceSettings) -> bool:
    return (system.level or 0) in settings.assessment_interval_days and system.filing_status != "withdrawn"


def check_mlps(inventory: UnitInventory, now: datetime, settings: ComplianceSettings) -> list[CheckResult]:
    today = to_shanghai(now).date()  # filing and assessment dates are Beijing calendar days
    out = []
    for system in inventory.systems:
        level = system.level or 0
        if level < 2 or system.filing_status == "withdrawn":
            continue
        priority = HIGH if system.is_cii or level >= 4 else MEDIUM
        if system.filing_status not in FILED:
            due = filing_due(system, settings)
            if due is None or today > due:
                when = f"定级于 {system.graded_on}，应于 {due} 前备案" if due else "未填写定级日期"
                out.append(CheckResult("mlps.unfiled", inventory.unit.id, system.name, priority,
                                       f"第{level}级系统“{system.name}”未向公安机关备案（{when}）",
                                       {"level": level, "due": due.isoformat() if due else None}))
        if needs_assessment(system, settings):
            due = assessment_due(system, settings)
            if due is None or today > due:
                last = f"上次测评 {system.assessed_on}" if system.assessed_on else "从未测评"
                out.append(CheckResult("mlps.assessment_overdue", inventory.unit.id, system.name, priority,
                                       f"第{level}级系统“{system.name}”等级测评逾期（{last}，"
                                       f"每 {settings.assessment_interval_days[level]} 天至少一次）",
                                       {"level": level, "due": due.isoformat() if due else None}))
    return out


def _ip_addresses(system: InformationSystem) -> list[str]:
    out = []
    for part in (system.addresses or "").split(","):
        part = part.strip()
        try:
            if "/" in part:
                out.append(str(ipaddress.ip_network(part, strict=False).network_address))
            else:
                out.append(str(ipaddress.ip_address(part)))
        except ValueError:
            continue  # a domain name: covered through the address it resolves to, not checked here
    return out


def system_monitored(system: InformationSystem, inventory: UnitInventory, now: datetime, settings: ComplianceSettings) -> bool:
    addresses = _ip_addresses(system)
    return bool(addresses) and is_monitored(inventory) and all(inventory.owns_ip(a) for a in addresses)


def check_mlps_monitoring(inventory: UnitInventory, now: datetime, settings: ComplianceSettings) -> list[CheckResult]:
    out = []
    for system in inventory.systems:
        if (system.level or 0) < 3 or system.filing_status == "withdrawn" or system_monitored(system, inventory, now, settings):
            continue
        addresses = _ip_addresses(system)
        if not addresses:
            why = "未登记 IP 地址，无法确认探针覆盖"
        elif not is_monitored(inventory):
            why = "本单位没有在线探针"
        else:
            why = "地址 " + "、".join(a for a in addresses if not inventory.owns_ip(a)) + " 不在本单位登记的网段内"
        out.append(CheckResult("mlps.unmonitored", inventory.unit.id, system.name, HIGH,
                               f"第{system.level}级系统“{system.name}”未被监测覆盖：{why}", {"addresses": addresses}))
    return out


# --- education apps --------------------------------------------------------------------------

def _norm(name: str) -> str:
    return clean(name).lower().replace(" ", "")


@dataclass(frozen=True)
class AppRegistry:
    """The national education-app filing list, indexed for the checks."""

    entries: Sequence[FiledApp]

    def lookup(self, app: EducationApp) -> FiledApp | None:
        if app.provider_filing_no:
            found = next((e for e in self.entries if e.filing_no == clean(app.provider_filing_no)), None)
            if found is not None:
                return found
        return next((e for e in self.entries if _norm(e.name) == _norm(app.name)), None)

    def app_for_name(self, dns_name: str) -> FiledApp | None:
        """The listed app one of whose domains is ``dns_name`` or a parent of it."""
        for entry in self.entries:
            for domain in filter(None, (entry.domains or "").split(",")):
                if dns_name == domain or dns_name.endswith("." + domain):
                    return entry
        return None


def app_compliant(app: EducationApp, registry: AppRegistry) -> bool:
    """Provider filing valid on the national list, and the school's own user filing done (DOMAIN.md §3)."""
    entry = registry.lookup(app)
    return entry is not None and entry.status == "valid" and bool(app.user_filing_no)


def check_apps(inventory: UnitInventory, registry: AppRegistry, traffic: Traffic | None = None) -> list[CheckResult]:
    unit = inventory.unit
    out = []
    declared: set[str] = set()
    for app in inventory.apps:
        entry = registry.lookup(app)
        if entry is not None:
            declared.add(entry.filing_no)
        if entry is None:
            out.append(CheckResult("app.provider_unfiled", unit.id, app.name, MEDIUM,
                                   f"教育APP“{app.name}”不在全国教育APP备案名单中（未完成提供者备案）"))
        elif entry.status != "valid":
            out.append(CheckResult("app.revoked_in_use", unit.id, app.name, HIGH,
                                   f"教育APP“{app.name}”备案状态为{APP_STATUS_LABELS.get(entry.status, entry.status)}，应停止使用",
                                   {"filing_no": entry.filing_no, "status": entry.status}))
        if not app.user_filing_no:
            out.append(CheckResult("app.user_unfiled", unit.id, app.name, LOW,
                                   f"教育APP“{app.name}”未完成学校使用者备案"))
    if traffic is not None:
        seen: dict[str, tuple[FiledApp, list[str]]] = {}
        for name in sorted(traffic.names):
            entry = registry.app_for_name(name)
            if entry is not None and entry.filing_no not in declared:
                seen.setdefault(entry.filing_no, (entry, []))[1].append(name)
        for entry, names in seen.values():
            bad = entry.status != "valid"
            status = f"（备案状态：{APP_STATUS_LABELS.get(entry.status, entry.status)}）" if bad else ""
            out.append(CheckResult("app.unfiled_in_use", unit.id, entry.name, HIGH if bad else MEDIUM,
                                   f"流量中发现未登记的教育APP“{entry.name}”在使用{status}：{'、'.join(names[:5])}",
                                   {"filing_no": entry.filing_no, "status": entry.status, "names": names[:20],
                                    "events": sum(traffic.names[n] for n in names)}))
    return out


# --- discovery and 双非 -----------------------------------------------------------------------

def official_domain(domain: str, settings: ComplianceSettings) -> bool:
    return any(domain == s or domain.endswith("." + s) for s in settings.official_domain_suffixes)


def check_discovery(inventory: UnitInventory, traffic: Traffic, settings: ComplianceSettings) -> list[CheckResult]:
    unit = inventory.unit
    out = []
    hosts = {h.ip for h in inventory.hosts}
    services = {(s.ip, s.port, s.transport) for s in inventory.services}
    websites = {w.domain for w in inventory.websites}
    new_hosts: dict[str, list[str]] = {}
    for (ip, port, transport), flows in sorted(traffic.services.items()):
        if flows < settings.discovery_min_flows or not inventory.owns_ip(ip):
            continue  # only the unit's own addresses are its assets; the rest is the internet
        if ip not in hosts:
            new_hosts.setdefault(ip, []).append(f"{transport}/{port}")
        if (ip, port, transport) not in services:
            out.append(CheckResult("discovery.service", unit.id, f"{ip}:{port}/{transport}", LOW,
                                   f"流量中发现未登记的服务 {ip}:{port}/{transport}（{flows} 条连接）", {"flows": flows}))
    for ip, ports in new_hosts.items():
        out.append(CheckResult("discovery.host", unit.id, ip, LOW,
                               f"流量中发现未登记的主机 {ip}（开放 {'、'.join(ports[:10])}）", {"ports": ports}))
    for domain, ips in sorted(traffic.websites.items()):
        served_here = not ips or any(inventory.owns_ip(ip) for ip in ips)  # no ips: from the unit's own server logs
        if domain not in websites and served_here:
            out.append(CheckResult("discovery.website", unit.id, domain, MEDIUM,
                                   f"流量中发现未登记的网站 {domain}", {"ips": sorted(ips)}))
    return out


def check_double_non(inventory: UnitInventory, traffic: Traffic | None, settings: ComplianceSettings) -> list[CheckResult]:
    """双非 websites of the unit: off the official domains and served from no address of the unit
    (the filed address and those seen serving it)."""
    out = []
    seen = traffic.websites if traffic else {}
    for website in sorted(inventory.websites, key=lambda w: w.domain):
        domain = website.domain
        ips = ({website.ip} if website.ip else set()) | seen.get(domain, set())
        if website.centrally_hosted or official_domain(domain, settings) or not ips or any(inventory.owns_ip(ip) for ip in ips):
            continue
        out.append(CheckResult("website.double_non", inventory.unit.id, domain, HIGH,
                               f"“双非”网站 {domain}：域名不在 {'/'.join(settings.official_domain_suffixes)} 下，"
                               f"服务器 {'、'.join(sorted(ips))} 不在本单位网段内", {"ips": sorted(ips)}))
    return out


def run_unit_checks(inventory: UnitInventory, now: datetime, settings: ComplianceSettings,
                    registry: AppRegistry, traffic: Traffic | None) -> list[CheckResult]:
    """Every check for one unit; ``traffic`` None skips the traffic-based ones (no event store)."""
    results = [
        *check_coverage(inventory, settings), *check_admins(inventory), *check_mlps(inventory, now, settings),
        *check_mlps_monitoring(inventory, now, settings), *check_apps(inventory, registry, traffic),
        *check_double_non(inventory, traffic, settings),
    ]
    if traffic is not None:
        results += check_discovery(inventory, traffic, settings)
    return results
