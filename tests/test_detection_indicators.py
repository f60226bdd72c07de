"""Indicator lists: IP/CIDR, domains with subdomains, URLs, hashes; CSV and STIX 2 import; alerts."""
from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from detection_rules import DetectionEngine, IndicatorSet, RuleSet

CSV = """type,value,description,tags,level
ip,198.51.100.7,known C2,c2;apt,critical
cidr,203.0.113.0/24,scanner range,,medium
cidr,203.0.113.128/25,inside the range above,,medium
domain,evil-pool.example,mining pool,miner,high
url,http://bad.example/dl/x.sh,dropper,,high
sha256,E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855,empty file,,low
ip,not-an-ip,,,
mystery,abc
"""

BUNDLE = {
    "type": "bundle",
    "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
    "objects": [
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--1", "name": "Miner pools", "pattern_type": "stix",
         "pattern": "[domain-name:value = 'xmr.pool.example'] OR [ipv4-addr:value = '192.0.2.0/28']", "labels": ["miner"]},
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--2", "pattern_type": "stix",
         "pattern": "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']"},
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--3", "pattern_type": "stix",
         "pattern": "[ipv4-addr:value = '10.0.0.1' AND network-traffic:dst_port = 22]"},
        {"type": "domain-name", "id": "domain-name--4", "value": "phish.example"},
        {"type": "relationship", "id": "relationship--5"},
    ],
}


def loaded() -> IndicatorSet:
    indicators = IndicatorSet()
    assert indicators.load_csv(CSV, source="list.csv") == 6
    assert indicators.load_stix(BUNDLE, source="feed.json") == 4
    return indicators


def test_csv_and_stix_import_report_what_they_skip() -> None:
    problems = [str(problem) for problem in loaded().problems]
    assert problems[0].startswith("list.csv:8: ") and "does not appear to be an IPv4 or IPv6 address" in problems[0]
    assert problems[1].startswith("list.csv:9: unknown indicator type 'mystery'")
    assert problems[2] == "feed.json: indicator--3: only '=' comparisons joined by OR are supported in indicator patterns"


def test_ip_and_cidr_matching() -> None:
    indicators = loaded()
    assert indicators.match_ip("198.51.100.7").description == "known C2"
    assert indicators.match_ip("203.0.113.200").description == "scanner range"
    assert indicators.match_ip("192.0.2.15").tags == ("miner",)
    assert indicators.match_ip("192.0.2.16") is None
    assert indicators.match_ip("203.0.114.1") is None


def test_domain_matches_its_subdomains_only() -> None:
    indicators = loaded()
    assert indicators.match_domain("evil-pool.example") is not None
    assert indicators.match_domain("eu1.Evil-Pool.example.") is not None
    assert indicators.match_domain("notevil-pool.example") is None
    assert indicators.match_domain("example") is None


def test_url_and_hash() -> None:
    indicators = loaded()
    assert indicators.match_url("https://BAD.example/dl/x.sh") is not None
    assert indicators.match_url("/dl/x.sh", domain="bad.example") is not None
    assert indicators.match_url("/dl/y.sh", domain="bad.example") is None
    assert indicators.match_hash("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855").level == "low"


def test_engine_raises_an_alert_per_hit() -> None:
    engine = DetectionEngine(RuleSet(), indicators=loaded())
    event = {
        "@timestamp": "2026-11-02T01:00:00Z", "event.id": "dns-1", "event.kind": "event", "event.dataset": "edusoc.dns",
        "organization.id": "DEMO-SCHOOL-1", "source.ip": "10.20.3.4", "destination.ip": "10.20.0.53",
        "dns.question.name": "a.xmr.pool.example", "dns.resolved_ip": ["192.0.2.3"],
    }
    alerts = engine.process(event)
    assert sorted(alert.rule_id for alert in alerts) == ["ioc:cidr:192.0.2.0/28", "ioc:domain:xmr.pool.example"]
    assert all(alert.unit_id == "DEMO-SCHOOL-1" and "ioc" in alert.tags for alert in alerts)
    assert engine.process({**event, "dns.question.name": "www.edu.cn", "dns.resolved_ip": ["10.1.1.1"]}) == []


def test_detect_cli_with_indicator_files(tmp_path: Path) -> None:
    from edusoc.cli import app

    (tmp_path / "list.csv").write_text(CSV)
    (tmp_path / "feed.json").write_text(json.dumps(BUNDLE))
    events = tmp_path / "e.ndjson"
    events.write_text(json.dumps({
        "@timestamp": "2026-11-02T01:00:00Z", "event.id": "f-1", "event.kind": "event", "event.dataset": "edusoc.flow",
        "source.ip": "10.20.3.4", "destination.ip": "198.51.100.7", "destination.port": 443,
    }) + "\n")
    rules = tmp_path / "rules"
    rules.mkdir()
    result = CliRunner().invoke(app, ["detect", "--rules", str(rules), "--events", str(events),
                                      "--indicators", str(tmp_path / "list.csv"), "--indicators", str(tmp_path / "feed.json")])
    assert result.exit_code == 0, result.output
    [alert] = [json.loads(line) for line in result.stdout.splitlines()]
    assert alert["rule_id"] == "ioc:ip:198.51.100.7" and alert["level"] == "critical"
    assert "indicator skipped: list.csv:9" in result.stderr
