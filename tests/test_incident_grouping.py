"""Alert floods become one incident: a 10,000-packet port scan and a 5,000-attempt brute force,
through the real sensor readers and the real Sigma engine, fold into one incident each."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from detection_rules import DetectionEngine, load_ruleset
from incidents import AssetFacts, add_suppression, fold_alerts
from incidents.models import SuppressionRule
from sensors.pcap import read_pcap
from sensors.weblog import read_access_log
from soc_core.config import IncidentSettings
from soc_core.models import Incident
from soc_core.models import Alert as AlertRecord
from soc_core.org import UnitKind
from soc_core.repositories import create_unit

REPO = Path(__file__).resolve().parent.parent
POLICY = IncidentSettings()
START = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc).timestamp()

BRUTE_FORCE_RULE = """\
title: Failed Web Login
id: 7d0f3b4e-1c55-4a8e-9b0e-5b3f1d9e2a10
status: test
logsource:
    category: webserver
detection:
    selection:
        cs-method: POST
        cs-uri-stem|endswith: '/login.php'
        sc-status: 401
    condition: selection
level: high
"""


@pytest.fixture
def schools(session):
    county = create_unit(session, "示范区教育局", UnitKind.COUNTY)
    return [create_unit(session, f"第{n}中学", UnitKind.SCHOOL, county) for n in (1, 2, 3)]


def _syn_scan_pcap(path: Path, scanner: str, target: str, ports: int) -> None:
    """``ports`` SYNs, each answered by RST/ACK: 2 × ports packets over 100 s."""
    frames = []
    for i in range(ports):
        t = START + i * (100.0 / ports)
        syn = Ether() / IP(src=scanner, dst=target) / TCP(sport=54321, dport=1 + i, flags="S", seq=i)
        rst = Ether() / IP(src=target, dst=scanner) / TCP(sport=1 + i, dport=54321, flags="RA", ack=i + 1)
        syn.time, rst.time = t, t + 0.0003
        frames += [syn, rst]
    wrpcap(str(path), frames)


def _alerts(events, unit_id: int, rules: list[Path]):  # type: ignore[no-untyped-def]
    engine = DetectionEngine(load_ruleset(rules))
    alerts = []
    for event in events:
        event["organization.id"] = str(unit_id)  # as the collector stamps the sensor's unit
        alerts += engine.process(event)
    return alerts


def test_port_scan_of_ten_thousand_packets_is_one_incident(session, clock, schools, tmp_path):
    pcap = tmp_path / "scan.pcap"
    _syn_scan_pcap(pcap, "10.20.3.66", "10.20.1.10", 5000)
    events, stats = read_pcap(pcap)
    assert stats.packets == 10_000
    alerts = [a for a in _alerts(events, schools[0].id, [REPO / "detection_rules" / "sigma"]) if a.rule_title == "TCP Port Scan"]
    assert len(alerts) > 1  # the correlation fires once per window: several alerts to fold
    fold_alerts(session, clock, POLICY, alerts)
    incident = session.query(Incident).one()
    assert incident.alert_count == len(alerts)
    assert incident.key_entity == "10.20.3.66"
    assert "10.20.3.66" in incident.title


def test_brute_force_of_five_thousand_attempts_is_one_incident(session, clock, schools, tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "failed_login.yml").write_text(BRUTE_FORCE_RULE)
    log = tmp_path / "access.log"
    with log.open("w") as out:
        for i in range(5000):
            second = i % 60
            out.write(f'203.0.113.9 - - [02/Nov/2026:09:{i // 600:02d}:{second:02d} +0800] "POST /admin/login.php HTTP/1.1" 401 512 '
                      f'"-" "hydra/9.5"\n')
    events, _ = read_access_log(log)
    alerts = _alerts(events, schools[1].id, [rules])
    assert len(alerts) == 5000
    [incident] = fold_alerts(session, clock, POLICY, alerts)
    assert session.query(Incident).count() == 1
    assert incident.alert_count == 5000
    assert incident.grade == "III"  # high → 较大 by the default level table


def _alert(clock, unit_id: int, n: int, source_ip: str = "203.0.113.7", level: str = "high", rule: str = "rule-x", tags=("attack.t1190",)):  # type: ignore[no-untyped-def]
    from detection_rules import Alert
    from soc_core.events import format_timestamp

    return Alert(id=f"a-{rule}-{unit_id}-{source_ip}-{n}", rule_id=rule, rule_title="Rule X", level=level, tags=tuple(tags),
                 timestamp=format_timestamp(clock.now() + timedelta(seconds=n)), event_ids=(f"e-{n}",), unit_id=str(unit_id),
                 matches={}, summary={"source.ip": source_ip})


def test_two_attackers_on_one_unit_are_two_incidents(session, clock, schools):
    fold_alerts(session, clock, POLICY, [_alert(clock, schools[0].id, 1, "203.0.113.7"), _alert(clock, schools[0].id, 2, "198.51.100.4")])
    assert sorted(i.key_entity for i in session.query(Incident)) == ["198.51.100.4", "203.0.113.7"]


def test_entity_field_is_configurable(session, clock, schools):
    policy = IncidentSettings(group_entity_field="")
    fold_alerts(session, clock, policy, [_alert(clock, schools[0].id, 1, "203.0.113.7"), _alert(clock, schools[0].id, 2, "198.51.100.4")])
    assert session.query(Incident).one().alert_count == 2


def test_suppressed_alerts_are_kept_but_open_no_incident(session, clock, schools):
    county = schools[0].parent
    rule = add_suppression(session, clock, county, "duty", "网络中心的漏洞扫描器", rule_id="rule-x", entity="10.0.0.5")
    fold_alerts(session, clock, POLICY, [_alert(clock, s.id, n, "10.0.0.5") for n, s in enumerate(schools)])
    assert session.query(Incident).count() == 0
    assert session.query(AlertRecord).count() == 3  # recorded, never lost
    assert session.get(SuppressionRule, rule.id).hits == 3
    fold_alerts(session, clock, POLICY, [_alert(clock, schools[0].id, 9, "203.0.113.7")])
    assert session.query(Incident).count() == 1


def test_expired_suppression_no_longer_applies(session, clock, schools):
    add_suppression(session, clock, schools[0], "duty", "临时", rule_id="rule-x", expires_at=clock.now() + timedelta(hours=1))
    clock.advance(timedelta(hours=2))
    fold_alerts(session, clock, POLICY, [_alert(clock, schools[0].id, 1)])
    assert session.query(Incident).count() == 1


def test_cii_asset_raises_grade_with_the_basis_recorded(session, clock, schools):
    [incident] = fold_alerts(session, clock, POLICY, [_alert(clock, schools[0].id, 1)], assets=lambda unit, alert: AssetFacts(2, True))
    assert incident.grade == "II"
    assert "策略 cii" in incident.grade_basis and "关键信息基础设施" in incident.grade_basis


def test_mlps_level_three_raises_high_alert_to_major(session, clock, schools):
    [incident] = fold_alerts(session, clock, POLICY, [_alert(clock, schools[0].id, 1)], assets=lambda unit, alert: AssetFacts(3, False))
    assert incident.grade == "II" and "等保3级" in incident.grade_basis
    [low] = fold_alerts(session, clock, POLICY, [_alert(clock, schools[1].id, 2, "198.51.100.4", level="medium")], assets=lambda u, a: AssetFacts(3, False))
    assert low.grade == "IV"  # the mlps3 row needs a high alert


def test_spread_over_units_raises_every_incident_of_the_campaign(session, clock, schools):
    policy = IncidentSettings(grading_policy=[{"name": "spread3", "min_units": 3, "grade": "II"}])
    fold_alerts(session, clock, policy, [_alert(clock, s.id, n, level="medium") for n, s in enumerate(schools)])
    incidents = session.query(Incident).all()
    assert len(incidents) == 3
    assert {i.grade for i in incidents} == {"II"}
    assert {i.unit_count for i in incidents} == {3}
    assert all("涉及 3 个单位" in i.grade_basis for i in incidents)


def test_category_follows_the_national_scheme(session, clock, schools):
    [webshell] = fold_alerts(session, clock, POLICY, [_alert(clock, schools[0].id, 1, rule="ws", tags=("attack.t1505.003",))])
    [sqli] = fold_alerts(session, clock, POLICY, [_alert(clock, schools[0].id, 2, rule="sqli")])
    assert (webshell.category, sqli.category) == ("malware", "network_attack")


def test_grading_reads_mlps_level_and_cii_from_the_asset_inventory(session, clock, schools):
    from inventory.asset_facts import inventory_lookup
    from inventory.models import InformationSystem

    session.add(InformationSystem(unit_id=schools[0].id, name="学籍管理系统", addresses="10.20.1.0/24, xj.school.edu.cn", level=3, is_cii=False))
    session.add(InformationSystem(unit_id=schools[1].id, name="招生考试系统", addresses="10.30.0.5", level=2, is_cii=True))
    session.flush()

    def targeted(unit, n: int, ip: str):  # type: ignore[no-untyped-def]
        alert = _alert(clock, unit.id, n, f"203.0.113.{n}")
        return type(alert)(**{**alert.__dict__, "summary": {"source.ip": f"203.0.113.{n}", "destination.ip": ip}})

    [mlps] = fold_alerts(session, clock, POLICY, [targeted(schools[0], 1, "10.20.1.10")], assets=inventory_lookup(session))
    [cii] = fold_alerts(session, clock, POLICY, [targeted(schools[1], 2, "10.30.0.5")], assets=inventory_lookup(session))
    [unknown] = fold_alerts(session, clock, POLICY, [targeted(schools[2], 3, "10.99.0.1")], assets=inventory_lookup(session))
    assert (mlps.grade, cii.grade, unknown.grade) == ("II", "II", "III")
    assert "等保3级" in mlps.grade_basis and "关键信息基础设施" in cii.grade_basis
