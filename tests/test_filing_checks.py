"""Inventory checks: crafted inventories, a fake clock, and real traffic read from a scapy-crafted pcap."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from collectors.sqlite_store import SqliteEventStore
from compliance.check_runner import load_inventories, observe_traffic, run_checks
from compliance.filing_checks import (
    AppRegistry, Traffic, UnitInventory, check_admins, check_apps, check_coverage, check_discovery, check_double_non, check_mlps, check_mlps_monitoring,
)
from inventory.app_registry import import_registry_csv
from inventory.coverage import SensorHealth, health_of
from inventory.models import EducationApp, FiledApp, Finding, Host, InformationSystem, IpRange, SecurityAdmin, Service, Website
from sensors.pcap import read_pcap
from soc_core.clock import to_db
from soc_core.config import ComplianceSettings
from soc_core.models import Sensor, Unit
from soc_core.models_sensors import SensorStatus
from soc_core.org import UnitKind
from soc_core.repositories import create_unit, register_sensor
from soc_core.sensor_registry import record_heartbeat

NOW = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)
SETTINGS = ComplianceSettings()


def school(**rows) -> UnitInventory:
    unit = Unit(id=7, name="示范区第一中学", kind=UnitKind.SCHOOL.value, path="/1/2/7/")
    return UnitInventory(unit, **rows)


def system(name="学籍管理系统", level=3, status="filed", graded_on=date(2024, 3, 5), assessed_on=date(2026, 3, 1),
           addresses="10.1.1.10", is_cii=False) -> InformationSystem:
    return InformationSystem(name=name, biz_level=level, service_level=1, level=level, filing_status=status,
                             graded_on=graded_on, assessed_on=assessed_on, addresses=addresses, is_cii=is_cii,
                             filing_cert_no="44030099001-00001" if status == "filed" else "")


def sensor(beat_minutes_ago: float | None, revoked: bool = False) -> SensorHealth:
    """A sensor's health as inventory.coverage sees it, its last heartbeat ``beat_minutes_ago``."""
    beat = None if beat_minutes_ago is None else to_db(NOW - timedelta(minutes=beat_minutes_ago))
    status = SensorStatus(last_heartbeat_at=beat, sensor_time=beat, version="1.0", counters={}) if beat else None
    return health_of(Sensor(id=1, name="edge", unit_id=1, revoked_at=to_db(NOW) if revoked else None, last_seen_at=beat),
                     status, NOW, timedelta(minutes=SETTINGS.heartbeat_window_minutes))


def ids(results) -> list[tuple[str, str]]:
    return sorted((r.check_id, r.subject) for r in results)


# -- MLPS


def test_filing_deadline_is_exactly_the_configured_days_after_grading():
    graded = date(2026, 10, 3)  # + 30 days = 2026-11-02, today: still in time
    inventory = school(systems=[system("门户网站", level=2, status="graded", graded_on=graded, assessed_on=None)])
    assert [r.check_id for r in check_mlps(inventory, NOW, SETTINGS)] == []
    late = check_mlps(inventory, NOW + timedelta(days=1), SETTINGS)
    assert [r.check_id for r in late] == ["mlps.unfiled"] and "2026-11-02 前备案" in late[0].message
    stricter = ComplianceSettings(filing_days_after_grading=14)
    assert [r.check_id for r in check_mlps(inventory, NOW, stricter)] == ["mlps.unfiled"]


def test_level1_and_filed_systems_need_no_filing():
    inventory = school(systems=[system("图书系统", level=1, status="graded", graded_on=date(2020, 1, 1), assessed_on=None),
                                system("学籍管理系统", level=3, status="filed")])
    assert check_mlps(inventory, NOW, SETTINGS) == []


@pytest.mark.parametrize(("level", "assessed_on", "overdue"), [
    (3, date(2025, 11, 2), False),   # 365 days ago: due today
    (3, date(2025, 11, 1), True),    # level 3 yearly (管理办法 Art. 14)
    (4, date(2026, 5, 4), False),
    (4, date(2026, 5, 3), True),     # level 4 half-yearly: 182 days
    (2, date(2025, 1, 1), False),    # level 2 per policy: 730 days
    (2, date(2024, 11, 1), True),
])
def test_assessment_overdue_by_level(level, assessed_on, overdue):
    inventory = school(systems=[system(level=level, assessed_on=assessed_on)])
    found = [r.check_id for r in check_mlps(inventory, NOW, SETTINGS)]
    assert found == (["mlps.assessment_overdue"] if overdue else [])


def test_level2_policy_is_a_setting():
    inventory = school(systems=[system(level=2, assessed_on=date(2025, 1, 1))])
    yearly = ComplianceSettings(assessment_interval_days={2: 365, 3: 365, 4: 182})
    assert [r.check_id for r in check_mlps(inventory, NOW, yearly)] == ["mlps.assessment_overdue"]


def test_never_assessed_level3_counts_from_grading():
    inventory = school(systems=[system(level=3, graded_on=date(2025, 12, 1), assessed_on=None)])
    assert check_mlps(inventory, NOW, SETTINGS) == []
    assert [r.check_id for r in check_mlps(inventory, NOW + timedelta(days=30), SETTINGS)] == ["mlps.assessment_overdue"]


def test_cii_system_findings_are_high_priority():
    inventory = school(systems=[system(level=3, assessed_on=date(2024, 1, 1), is_cii=True)])
    assert [r.priority for r in check_mlps(inventory, NOW, SETTINGS)] == ["high"]


def test_level3_system_without_live_sensor_or_outside_ranges_is_unmonitored():
    ranges = [IpRange(cidr="10.1.1.0/24")]
    covered = school(systems=[system(addresses="10.1.1.10,xj.school1.edu.cn")], ip_ranges=ranges, sensors=[sensor(5)])
    assert check_mlps_monitoring(covered, NOW, SETTINGS) == []
    stale = school(systems=[system()], ip_ranges=ranges, sensors=[sensor(61)])
    assert "没有在线探针" in check_mlps_monitoring(stale, NOW, SETTINGS)[0].message
    outside = school(systems=[system(addresses="10.1.1.10,172.16.0.5")], ip_ranges=ranges, sensors=[sensor(5)])
    assert "172.16.0.5 不在本单位登记的网段内" in check_mlps_monitoring(outside, NOW, SETTINGS)[0].message
    no_address = school(systems=[system(addresses="xj.school1.edu.cn")], ip_ranges=ranges, sensors=[sensor(5)])
    assert "未登记 IP 地址" in check_mlps_monitoring(no_address, NOW, SETTINGS)[0].message
    level2 = school(systems=[system(level=2)], sensors=[])
    assert check_mlps_monitoring(level2, NOW, SETTINGS) == []


# -- coverage and admins


def test_school_is_covered_only_with_a_recent_heartbeat():
    assert check_coverage(school(sensors=[sensor(59)]), SETTINGS) == []
    assert [r.check_id for r in check_coverage(school(sensors=[sensor(61)]), SETTINGS)] == ["coverage.no_heartbeat"]
    assert "从未上报" in check_coverage(school(sensors=[sensor(None)]), SETTINGS)[0].message
    assert check_coverage(school(sensors=[sensor(1, revoked=True)]), SETTINGS) != []


def test_school_without_security_admin_is_a_finding():
    assert [r.check_id for r in check_admins(school())] == ["admin.missing"]
    assert check_admins(school(admins=[SecurityAdmin(name="王伟", phone="13800012345", full_time=True)])) == []


# -- apps

REGISTRY = AppRegistry([
    FiledApp(filing_no="粤教APP备2001001号", name="智慧作业", provider="甲公司", status="valid", domains="zuoye.example.com"),
    FiledApp(filing_no="京教APP备2001002号", name="快乐口算", provider="乙公司", status="revoked", domains="kousuan.example.net"),
    FiledApp(filing_no="沪教APP备2001003号", name="题海宝", provider="丙公司", status="blacklisted", domains="tihai.example.org,th-cdn.example.org"),
])


def test_declared_apps_are_checked_against_the_national_list():
    inventory = school(apps=[
        EducationApp(name="智慧作业", provider_filing_no="粤教APP备2001001号", user_filing_no="示教用备001"),
        EducationApp(name="快乐口算", provider_filing_no="", user_filing_no="示教用备002"),      # found by name
        EducationApp(name="无名学习", provider_filing_no="", user_filing_no=""),
    ])
    assert ids(check_apps(inventory, REGISTRY)) == [
        ("app.provider_unfiled", "无名学习"), ("app.revoked_in_use", "快乐口算"), ("app.user_unfiled", "无名学习")]
    assert {r.subject: r.priority for r in check_apps(inventory, REGISTRY)}["快乐口算"] == "high"


def test_listed_app_domain_in_traffic_but_undeclared_is_unfiled_app_in_use():
    inventory = school(apps=[EducationApp(name="智慧作业", provider_filing_no="粤教APP备2001001号", user_filing_no="x")])
    traffic = Traffic(names={"api.zuoye.example.com": 40, "img.th-cdn.example.org": 3, "kousuan.example.net": 1,
                             "www.baidu.com": 99})
    found = {r.subject: r for r in check_apps(inventory, REGISTRY, traffic)}
    assert set(found) == {"题海宝", "快乐口算"}  # 智慧作业 is declared; baidu is no listed app
    assert found["题海宝"].priority == "high" and "黑名单" in found["题海宝"].message
    assert found["题海宝"].detail["names"] == ["img.th-cdn.example.org"]


# -- discovery and 双非


def test_services_seen_on_own_addresses_but_not_filed_are_discovered():
    inventory = school(ip_ranges=[IpRange(cidr="10.1.1.0/24")], hosts=[Host(ip="10.1.1.10")],
                       services=[Service(ip="10.1.1.10", port=443, transport="tcp")],
                       websites=[Website(domain="www.school1.edu.cn", ip="10.1.1.10", centrally_hosted=False)])
    traffic = Traffic(services={("10.1.1.10", 443, "tcp"): 9, ("10.1.1.10", 3306, "tcp"): 2,
                                ("10.1.1.50", 8080, "tcp"): 4, ("203.0.113.9", 443, "tcp"): 50},
                      websites={"www.school1.edu.cn": {"10.1.1.10"}, "oa.school1.edu.cn": set(),
                                "www.baidu.com": {"110.242.68.66"}})  # a site the school's clients visit
    assert ids(check_discovery(inventory, traffic, SETTINGS)) == [
        ("discovery.host", "10.1.1.50"), ("discovery.service", "10.1.1.10:3306/tcp"),
        ("discovery.service", "10.1.1.50:8080/tcp"), ("discovery.website", "oa.school1.edu.cn")]


def test_double_non_website_is_off_domain_and_off_address():
    inventory = school(ip_ranges=[IpRange(cidr="10.1.1.0/24")], websites=[
        Website(domain="www.school1.edu.cn", ip="47.100.1.1", centrally_hosted=False),   # official domain
        Website(domain="school1-zhaosheng.com", ip="10.1.1.20", centrally_hosted=False),  # own address
        Website(domain="yizhong-news.cn", ip="47.100.1.2", centrally_hosted=False),       # 双非
        Website(domain="yz-platform.cn", ip="47.100.1.3", centrally_hosted=True),         # central platform
    ])
    assert ids(check_double_non(inventory, None, SETTINGS)) == [("website.double_non", "yizhong-news.cn")]


def test_double_non_uses_where_traffic_shows_a_site_served_from():
    inventory = school(ip_ranges=[IpRange(cidr="10.1.1.0/24")],
                       websites=[Website(domain="yizhong.com", ip="", centrally_hosted=False)])
    assert check_double_non(inventory, None, SETTINGS) == []  # no address known: cannot tell
    moved = Traffic(websites={"yizhong.com": {"47.100.1.9"}})
    assert ids(check_double_non(inventory, moved, SETTINGS)) == [("website.double_non", "yizhong.com")]
    home = Traffic(websites={"yizhong.com": {"10.1.1.30"}})
    assert check_double_non(inventory, home, SETTINGS) == []


# -- the runner over a real case store and event store


def _tls_hello(client: str, server: str, sport: int, sni: str) -> list:
    name = sni.encode()
    server_name = b"\x00" + len(name).to_bytes(2, "big") + name
    sni_ext = b"\x00\x00" + (len(server_name) + 2).to_bytes(2, "big") + len(server_name).to_bytes(2, "big") + server_name
    body = (b"\x03\x03" + bytes(range(32)) + b"\x00" + b"\x00\x04\x13\x01\xc0\x2f" + b"\x01\x00"
            + len(sni_ext).to_bytes(2, "big") + sni_ext)
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    hello = b"\x16\x03\x01" + len(handshake).to_bytes(2, "big") + handshake  # a ClientHello record carrying SNI
    seq, ack = 7000, 9000
    return [
        Ether() / IP(src=client, dst=server) / TCP(sport=sport, dport=443, flags="S", seq=seq),
        Ether() / IP(src=server, dst=client) / TCP(sport=443, dport=sport, flags="SA", seq=ack, ack=seq + 1),
        Ether() / IP(src=client, dst=server) / TCP(sport=sport, dport=443, flags="A", seq=seq + 1, ack=ack + 1),
        Ether() / IP(src=client, dst=server) / TCP(sport=sport, dport=443, flags="PA", seq=seq + 1, ack=ack + 1) / hello,
        Ether() / IP(src=server, dst=client) / TCP(sport=443, dport=sport, flags="A", seq=ack + 1, ack=seq + 1 + len(hello)),
    ]


def _campus_pcap(path: Path, at: datetime) -> Path:
    client, dns_server, server = "10.1.1.77", "10.0.0.2", "10.1.1.50"  # resolver: the county's
    packets = []
    for i, name in enumerate(["img.th-cdn.example.org", "api.zuoye.example.com"]):
        query = Ether() / IP(src=client, dst=dns_server) / UDP(sport=40000 + i, dport=53) / DNS(id=100 + i, rd=1, qd=DNSQR(qname=name))
        answer = Ether() / IP(src=dns_server, dst=client) / UDP(sport=53, dport=40000 + i) / DNS(
            id=100 + i, qr=1, qd=DNSQR(qname=name), an=DNSRR(rrname=name, rdata="198.51.100.7"))
        packets += [query, answer]
    sport, seq, ack = 51000, 1000, 5000
    packets += [
        Ether() / IP(src=client, dst=server) / TCP(sport=sport, dport=8080, flags="S", seq=seq),
        Ether() / IP(src=server, dst=client) / TCP(sport=8080, dport=sport, flags="SA", seq=ack, ack=seq + 1),
        Ether() / IP(src=client, dst=server) / TCP(sport=sport, dport=8080, flags="A", seq=seq + 1, ack=ack + 1),
        Ether() / IP(src=client, dst=server) / TCP(sport=sport, dport=8080, flags="FA", seq=seq + 1, ack=ack + 1),
        Ether() / IP(src=server, dst=client) / TCP(sport=8080, dport=sport, flags="FA", seq=ack + 1, ack=seq + 2),
        Ether() / IP(src=client, dst=server) / TCP(sport=sport, dport=8080, flags="A", seq=seq + 2, ack=ack + 2),
        # a TLS session to a listed app's server, named by SNI only
        *_tls_hello(client, "198.51.100.9", 52000, "cdn.kousuan.example.net"),
        # a scan probe of a closed port: refused, no service
        Ether() / IP(src=client, dst=server) / TCP(sport=sport + 1, dport=23, flags="S", seq=seq),
        Ether() / IP(src=server, dst=client) / TCP(sport=23, dport=sport + 1, flags="RA", seq=0, ack=seq + 1),
    ]
    for i, packet in enumerate(packets):
        packet.time = at.timestamp() + i * 0.01
    wrpcap(str(path), packets)
    return path


def test_runner_reads_traffic_opens_and_resolves_findings(session, clock, tmp_path):
    unit = create_unit(session, "示范区第一中学", UnitKind.SCHOOL)
    registered = register_sensor(session, clock, "edge", unit).sensor
    record_heartbeat(session, clock, registered, clock.now(), "1.0", {})
    session.add(IpRange(unit_id=unit.id, cidr="10.1.1.0/24"))
    session.add(SecurityAdmin(unit_id=unit.id, name="王伟", phone="13800012345", full_time=True))
    import_registry_csv(session, clock, "admin", (
        "备案号,APP名称,提供者,状态,域名\n粤教APP备2001001号,智慧作业,甲公司,有效,zuoye.example.com\n"
        "沪教APP备2001003号,题海宝,丙公司,黑名单,\"tihai.example.org,th-cdn.example.org\"\n"
        "京教APP备2001002号,快乐口算,乙公司,撤销,kousuan.example.net\n").encode("gb18030"))
    session.flush()
    store = SqliteEventStore(tmp_path / "events.db")
    try:
        events, _ = read_pcap(_campus_pcap(tmp_path / "campus.pcap", clock.now() - timedelta(hours=1)))
        for event in events:
            event["organization.id"] = str(unit.id)
        store.write(events)
        inventory = load_inventories(session, [unit], clock.now(), timedelta(hours=1))[unit.id]
        traffic = observe_traffic(store, inventory, clock.now() - timedelta(hours=24), clock.now())
        assert traffic.services == {("10.1.1.50", 8080, "tcp"): 1}
        assert set(traffic.names) == {"img.th-cdn.example.org", "api.zuoye.example.com", "cdn.kousuan.example.net"}
        first = run_checks(session, clock, SETTINGS, store)
        open_now = {(f.check_id, f.subject): f.priority for f in session.query(Finding).filter(Finding.resolved_at.is_(None))}
        assert open_now == {("app.unfiled_in_use", "题海宝"): "high", ("app.unfiled_in_use", "智慧作业"): "medium",
                            ("app.unfiled_in_use", "快乐口算"): "high",
                            ("discovery.host", "10.1.1.50"): "low", ("discovery.service", "10.1.1.50:8080/tcp"): "low"}
        assert first.opened == 5
        session.add(Host(unit_id=unit.id, ip="10.1.1.50"))
        session.add(Service(unit_id=unit.id, ip="10.1.1.50", port=8080, transport="tcp"))
        session.add(EducationApp(unit_id=unit.id, name="智慧作业", provider_filing_no="粤教APP备2001001号", user_filing_no="u1"))
        session.flush()
        second = run_checks(session, clock, SETTINGS, store)
        assert (second.opened, second.still_open, second.resolved) == (0, 2, 3)  # the two bad apps stay
        clock.advance(timedelta(hours=2))  # the sensor falls silent
        third = run_checks(session, clock, SETTINGS, store)
        assert ("coverage.no_heartbeat", "sensors") in {(r.check_id, r.subject) for r in third.results}
    finally:
        store.close()
