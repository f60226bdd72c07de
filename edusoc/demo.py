"""The demo region and its sample traffic: what `edusoc run --demo` seeds and replays.

Demo only: every account's password is DEMO_PASSWORD, printed at start and in the README.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from duty.models import DutyShift, HandoverNote
from duty.roster import add_shift, on_duty_at, write_handover
from inventory.app_registry import import_registry_csv
from inventory.assets import KINDS, create_row
from inventory.models import AssetRevision, FiledApp
from notices.models import Notice
from sensors.pcap import read_pcap
from sensors.shipper import ship_events
from sensors.weblog import read_access_log
from soc_core.clock import Clock, SHANGHAI, to_db, to_shanghai
from soc_core.models import Sensor, Unit, User
from soc_core.org import Role, UnitKind
from soc_core.repositories import create_unit, create_user, register_sensor, rotate_sensor_token
from zero_reports.models import KeyPeriod, ZeroReport
from zero_reports.service import beijing_today, deadline_of

if TYPE_CHECKING:
    from edusoc.runtime import Runtime

DEMO_PASSWORD = "edusoc-demo"
SAMPLES = Path(__file__).resolve().parent.parent / "sensors" / "samples"

# code, name, kind, parent code
DEMO_UNITS = (
    ("DEMO-CITY", "示范市教育局", UnitKind.CITY, None),
    ("DEMO-COUNTY", "示范区教育局", UnitKind.COUNTY, "DEMO-CITY"),
    ("DEMO-SCHOOL-1", "示范区第一中学", UnitKind.SCHOOL, "DEMO-COUNTY"),
    ("DEMO-SCHOOL-2", "示范区实验小学", UnitKind.SCHOOL, "DEMO-COUNTY"),
    ("DEMO-SCHOOL-3", "示范区第二中学", UnitKind.SCHOOL, "DEMO-COUNTY"),
)
# username, display name, role, unit code
DEMO_USERS = (
    ("admin", "系统管理员", Role.SYSTEM_ADMIN, "DEMO-CITY"),
    ("duty", "市局值班员", Role.DUTY_OFFICER, "DEMO-CITY"),
    ("duty2", "市局值班员（夜班）", Role.DUTY_OFFICER, "DEMO-CITY"),
    ("school1", "一中网管", Role.SCHOOL_ADMIN, "DEMO-SCHOOL-1"),
    ("school2", "实验小学网管", Role.SCHOOL_ADMIN, "DEMO-SCHOOL-2"),
    ("regulator", "市局监管（只读）", Role.REGULATOR, "DEMO-CITY"),
    ("drill", "演练组织方", Role.DRILL_ORGANIZER, "DEMO-CITY"),
)
# sensor name, unit code, what it replays
DEMO_SENSORS = (
    ("sensor-school1-edge", "DEMO-SCHOOL-1", SAMPLES / "campus_sample.pcap"),
    ("sensor-school2-web", "DEMO-SCHOOL-2", SAMPLES / "access.log"),
)


@dataclass(frozen=True)
class DemoSensor:
    name: str
    unit_code: str
    token: str
    sample: Path


def create_demo_user(session: Session, clock: Clock, username: str, role: Role, unit: Unit, display_name: str = "") -> User:
    """A demo account: the published DEMO_PASSWORD (outside the password policy) and no second factor.
    Demo only — `edusoc run --demo` says so at start."""
    user = create_user(session, clock, username, DEMO_PASSWORD, role, unit, display_name, actor="demo-seed", policy=None)
    user.mfa_exempt = True
    return user


def seed_demo_region(session: Session, clock: Clock) -> list[DemoSensor]:
    """Create the demo units, users and sensors if missing (idempotent); return fresh sensor tokens."""
    units: dict[str, Unit] = {}
    for code, name, kind, parent_code in DEMO_UNITS:
        unit = session.scalar(select(Unit).where(Unit.code == code))
        units[code] = unit or create_unit(session, name, kind, units[parent_code] if parent_code else None, code=code)
    for username, display_name, role, unit_code in DEMO_USERS:
        if session.scalar(select(User).where(User.username == username)) is None:
            create_demo_user(session, clock, username, role, units[unit_code], display_name)
    sensors: list[DemoSensor] = []
    for name, unit_code, sample in DEMO_SENSORS:
        existing = session.scalar(select(Sensor).where(Sensor.name == name))
        # Tokens are stored hashed, so a restarted demo cannot read the old one back: it rotates it.
        token = rotate_sensor_token(session, clock, existing, "demo-seed") if existing else \
            register_sensor(session, clock, name, units[unit_code], "demo-seed").token
        sensors.append(DemoSensor(name, unit_code, token, sample))
    seed_demo_inventory(session, clock, units)
    session.commit()
    return sensors


# The national education-app filing list, as a few lines of its CSV export (names invented for the demo).
DEMO_APP_LIST = """备案号,APP名称,提供者,状态,域名
示教APP备2026001号,智慧作业,示范教育科技有限公司,有效,zuoye.example.com
示教APP备2026002号,快乐口算,口算网络科技有限公司,撤销,kousuan.example.net
示教APP备2026003号,题海宝,题海信息技术有限公司,黑名单,"tihai.example.org,th-cdn.example.org"
示教APP备2026004号,家校通,家校互联科技有限公司,有效,jiaxiao.example.com
"""


def _days_ago(clock: Clock, days: int) -> str:
    return (to_shanghai(clock.now()).date() - timedelta(days=days)).isoformat()


def demo_inventory(clock: Clock) -> dict[str, dict[str, list[dict[str, object]]]]:
    """What the three demo schools filed: one in good order, one with gaps, one that filed little.
    Dates are relative to today so the compliance figures stay the same whenever the demo runs."""
    return {
        "DEMO-SCHOOL-1": {
            "security_admin": [{"name": "王伟", "post": "信息中心主任", "phone": "13800012345", "full_time": "专职"}],
            "ip_range": [{"cidr": "10.20.0.0/16", "purpose": "校园网"}],
            "host": [{"ip": "10.20.1.80", "hostname": "web01", "os": "CentOS 7", "purpose": "门户网站"},
                     {"ip": "10.20.1.10", "hostname": "xj01", "os": "Windows Server 2019", "purpose": "学籍管理"}],
            "service": [{"ip": "10.20.1.80", "port": 80, "transport": "tcp", "name": "http"},
                        {"ip": "10.20.1.10", "port": 443, "transport": "tcp", "name": "https"}],
            "website": [{"domain": "www.school-no1.edu.cn", "ip": "10.20.1.80", "icp_no": "示ICP备2026001号",
                         "psb_filing_no": "示公网安备11000002000001号", "centrally_hosted": "否"}],
            "information_system": [
                {"name": "学籍管理系统", "addresses": "10.20.1.10", "biz_level": 3, "service_level": 2,
                 "filing_status": "已备案", "filing_cert_no": "11010099001-00001", "graded_on": _days_ago(clock, 500),
                 "filed_on": _days_ago(clock, 480), "assessed_on": _days_ago(clock, 100), "assessor": "示范市等级保护测评中心"},
                {"name": "门户网站", "addresses": "10.20.1.80", "biz_level": 2, "service_level": 2,
                 "filing_status": "已备案", "filing_cert_no": "11010099001-00002", "graded_on": _days_ago(clock, 500),
                 "filed_on": _days_ago(clock, 470), "assessed_on": _days_ago(clock, 400), "assessor": "示范市等级保护测评中心"},
            ],
            "education_app": [{"name": "智慧作业", "provider": "示范教育科技有限公司", "provider_filing_no": "示教APP备2026001号",
                               "user_filing_no": "示教用备2026-0101", "domains": "zuoye.example.com"}],
        },
        "DEMO-SCHOOL-2": {
            "security_admin": [{"name": "李娜", "post": "信息技术教师", "phone": "0755-12345678", "full_time": "兼职"}],
            "ip_range": [{"cidr": "10.30.0.0/16", "purpose": "校园网"}],
            "website": [{"domain": "www.syxx.edu.cn", "ip": "10.30.1.80", "icp_no": "示ICP备2026002号", "centrally_hosted": "否"}],
            "information_system": [
                {"name": "门户网站", "addresses": "10.30.1.80", "biz_level": 2, "service_level": 1,
                 "filing_status": "已定级", "graded_on": _days_ago(clock, 60)},
                {"name": "一卡通系统", "addresses": "10.30.2.10", "biz_level": 3, "service_level": 3,
                 "filing_status": "已备案", "filing_cert_no": "11010099002-00001", "graded_on": _days_ago(clock, 800),
                 "filed_on": _days_ago(clock, 790), "assessed_on": _days_ago(clock, 400), "assessor": "示范市等级保护测评中心"},
            ],
            "education_app": [
                {"name": "家校通", "provider_filing_no": "示教APP备2026004号", "user_filing_no": "示教用备2026-0201"},
                {"name": "快乐口算", "provider_filing_no": "示教APP备2026002号", "user_filing_no": "示教用备2026-0202"},
                {"name": "题库宝", "provider": "未知公司"},
            ],
        },
        "DEMO-SCHOOL-3": {
            "website": [{"domain": "yz2-news.cn", "ip": "47.100.20.3", "centrally_hosted": "否"}],
            "information_system": [{"name": "办公OA系统", "addresses": "oa.school-no2.edu.cn"}],
        },
    }


def seed_demo_inventory(session: Session, clock: Clock, units: dict[str, Unit]) -> None:
    """File the demo schools' inventory and the app filing list once (skipped when already filed)."""
    if session.scalar(select(FiledApp.id).limit(1)) is None:
        import_registry_csv(session, clock, "demo-seed", DEMO_APP_LIST.encode("utf-8"))
    for code, kinds in demo_inventory(clock).items():
        unit = units[code]
        if session.scalar(select(AssetRevision.id).where(AssetRevision.unit_id == unit.id).limit(1)) is not None:
            continue
        for kind, rows in kinds.items():
            for row in rows:
                create_row(session, clock, "demo-seed", KINDS[kind], unit, row)


def read_sample(path: Path) -> list[dict[str, Any]]:
    """Events from a bundled sample: a pcap through the packet reader, a log through the log parser."""
    if path.suffix in (".pcap", ".pcapng"):
        events, _ = read_pcap(path)
    else:
        events, _ = read_access_log(path, "nginx")
    return events


def replay_demo_samples(collector_url: str, sensors: list[DemoSensor]) -> Iterator[str]:
    """Ship each demo sensor's sample to the collector over HTTP, as a real sensor would."""
    for sensor in sensors:
        events = read_sample(sensor.sample)
        report = ship_events(events, collector_url, sensor.token)
        yield (f"{sensor.name}: {sensor.sample.name}: {len(events)} events, {report.accepted} accepted, "
               f"{report.duplicates} already stored, {len(report.rejected)} rejected")


# -- duty, a key period and a notice in progress: every page has something on it -------------------------
DUTY_TEAM = "市局值班组"
KEY_PERIOD = "示范重要时段网络安全保障（演示）"
KEY_PERIOD_HOUR = 16  # [P] daily zero-report before 16:00–17:00 is common practice (DOMAIN.md §5)
DEMO_NOTICE = "门户网站存在SQL注入漏洞"


def _shift_block(instant: datetime) -> tuple[datetime, datetime]:
    """The 12-hour duty block (08:00–20:00 or 20:00–08:00 Beijing) containing ``instant``."""
    local = to_shanghai(instant)
    day = local.date()
    if local.hour < 8:
        day -= timedelta(days=1)
        start = datetime.combine(day, time(20), tzinfo=SHANGHAI)
    elif local.hour < 20:
        start = datetime.combine(day, time(8), tzinfo=SHANGHAI)
    else:
        start = datetime.combine(day, time(20), tzinfo=SHANGHAI)
    return start, start + timedelta(hours=12)


def seed_demo_operations(runtime: "Runtime") -> None:
    """The city's duty roster around now with a handover at the last shift change, a key period in which
    some schools have reported today and some have not, and a notice the school is working on.
    Idempotent: each part is added only when missing (run on every `edusoc run --demo`)."""
    clock = runtime.clock
    with runtime.sessions() as session:
        units = {u.code: u for u in session.scalars(select(Unit).where(Unit.code.like("DEMO-%")))}
        users = {u.username: u for u in session.scalars(select(User).where(User.username.in_(("duty", "duty2", "school1", "school2"))))}
        _seed_roster(session, clock, units["DEMO-CITY"], users["duty"], users["duty2"])
        _seed_key_period(session, runtime, units)
        _seed_notice(session, runtime, units, users)
        session.commit()
    runtime.zero_reports.resync()  # yesterday's missing reports become findings now, not at the next deadline


def _seed_roster(session: Session, clock: Clock, city: Unit, day_officer: User, night_officer: User) -> None:
    now = clock.now()
    start, end = _shift_block(now)
    # the previous block, the current one (who is on duty now) and the next: day shifts to duty, nights to duty2
    for block_start in (start - timedelta(hours=12), start, end):
        officer = day_officer if to_shanghai(block_start).hour == 8 else night_officer
        taken = session.scalar(select(DutyShift.id).where(DutyShift.user_id == officer.id, DutyShift.starts_at < to_db(block_start + timedelta(hours=12)),
                                                          DutyShift.ends_at > to_db(block_start)))
        if taken is None:
            add_shift(session, clock, "demo-seed", city, DUTY_TEAM, officer, block_start, block_start + timedelta(hours=12),
                      "白班" if officer is day_officer else "夜班")
    session.flush()
    if session.scalar(select(HandoverNote.id).where(HandoverNote.unit_id == city.id, HandoverNote.at >= to_db(start))) is None:
        outgoing = night_officer if to_shanghai(start).hour == 8 else day_officer
        incoming = [s.user_id for s in on_duty_at(session, [city.id], now)]
        to_user = day_officer.username if day_officer.id in incoming else night_officer.username
        note = write_handover(session, clock, outgoing.username, city, DUTY_TEAM,
                              "交班：上一班次平稳；第一中学出现端口扫描告警，已通知学校网管排查；实验小学通报整改中，请跟进反馈。", to_user)
        note.at = to_db(start)  # written at the shift change


def _seed_key_period(session: Session, runtime: "Runtime", units: dict[str | None, Unit]) -> None:
    period = session.scalar(select(KeyPeriod).where(KeyPeriod.name == KEY_PERIOD))
    if period is None:
        today = beijing_today(runtime.clock)
        schools = [units[code] for code in ("DEMO-SCHOOL-1", "DEMO-SCHOOL-2", "DEMO-SCHOOL-3")]
        period = runtime.zero_reports.declare(session, "demo-seed", units["DEMO-CITY"], KEY_PERIOD, today - timedelta(days=1),
                                              today + timedelta(days=6), KEY_PERIOD_HOUR, schools)
        # Yesterday: 第一中学 and 实验小学 reported in time, 第二中学 did not (a finding once the check runs).
        yesterday = today - timedelta(days=1)
        for code in ("DEMO-SCHOOL-1", "DEMO-SCHOOL-2"):
            report = runtime.zero_reports.submit(session, "demo-seed", period, units[code], False, summary="无异常，零报告",
                                                 on_duty="值班：信息中心", report_date=yesterday)
            report.submitted_at, report.late = to_db(deadline_of(period, yesterday) - timedelta(hours=2)), False
    if period.active:
        _seed_todays_report(session, runtime, period, units["DEMO-SCHOOL-1"])


def _seed_todays_report(session: Session, runtime: "Runtime", period: KeyPeriod, school: Unit) -> None:
    """Today 第一中学 has reported (zero-report); 实验小学 and 第二中学 have not yet."""
    today: date = beijing_today(runtime.clock)
    if not period.starts_on <= today <= period.ends_on:
        return
    if session.scalar(select(ZeroReport.id).where(ZeroReport.period_id == period.id, ZeroReport.unit_id == school.id,
                                                  ZeroReport.report_date == today)) is None:
        runtime.zero_reports.submit(session, "school1", period, school, False, summary="今日无网络安全事件，系统运行正常",
                                    on_duty="王伟 13800012345")


def _seed_notice(session: Session, runtime: "Runtime", units: dict[str | None, Unit], users: dict[str, User]) -> None:
    if session.scalar(select(Notice.id).where(Notice.title == DEMO_NOTICE)) is not None:
        return
    notice = runtime.notices.issue(
        session, "duty", units["DEMO-CITY"], units["DEMO-SCHOOL-2"], "vulnerability", DEMO_NOTICE,
        description="监测发现实验小学门户网站 www.syxx.edu.cn 的查询参数存在SQL注入，可读取数据库内容。",
        assets="www.syxx.edu.cn（10.30.1.80）", required_actions="修复注入点、排查是否已被利用、复测后提交整改报告",
        due_at=runtime.clock.now() + timedelta(hours=48))
    runtime.notices.acknowledge(session, notice, users["school2"].username)
