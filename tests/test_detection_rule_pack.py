"""The bundled rule pack: each rule matches its positive event and not its negative one."""
from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from detection_rules import BUNDLED_RULES, Alert, DetectionEngine, load_ruleset
from soc_core.events import stable_event_id, timestamp_from_epoch, validate_event

SQL_INJECTION = "883fe4fe-3a19-41bd-85b3-6bb76654e90a"
WEBSHELL = "8389747f-6e93-44b6-b47e-06a7ab95e621"
DNS_TUNNEL = "fee06e2a-d7af-4610-a93e-2ce97cc4f31d"
PORT_SCAN = "35f7ce2b-6d4e-46ff-9d65-13e2ba298f06"
XSS = "4f3c2b7a-1e6d-4a55-9c0b-7d2e8f1a6b31"
TRAVERSAL = "0d9a6c5e-3b47-4b8e-8f1d-2a6c9e4b7d12"
SCANNER = "7b2e9d41-5c3a-4f6e-a8b0-1c9d2e3f4a56"
UPLOAD = "9a1c3e5b-7d2f-4b6a-9e8c-0f1a2b3c4d5e"
MINING = "2c4e6a8b-0d1f-4a3c-8e5b-7f9a1c3e5d70"
BAD_JA3 = "5e7a9c1b-3d5f-4b7a-9c1e-3f5a7b9d1e20"
BRUTE_FORCE = "1e3a5c7b-9d0f-4b2a-8c4e-6a8c0e2a4b13"
HOST_SWEEP = "3a5c7e9b-1d2f-4c4a-8e6b-7c9e1a3c5e24"
T0 = 1_793_581_200.0


def web(target: str, method: str = "GET", **extra: Any) -> dict[str, Any]:
    path, _, query = target.partition("?")
    event = {
        "@timestamp": "2026-11-02T01:10:03.000000Z",
        "event.id": stable_event_id("web", method, target),
        "event.kind": "event",
        "event.dataset": "edusoc.web",
        "source.ip": "203.0.113.7",
        "http.request.method": method,
        "url.original": target,
        "url.path": path,
        "http.response.status_code": 200,
        "organization.id": "school-1",
        **extra,
    }
    if query:
        event["url.query"] = query
    return validate_event(event)


def dns(name: str, qtype: str = "TXT") -> dict[str, Any]:
    return validate_event({
        "@timestamp": "2026-11-02T01:20:00.000000Z",
        "event.id": stable_event_id("dns", name, qtype),
        "event.kind": "event",
        "event.dataset": "edusoc.dns",
        "source.ip": "10.20.1.50",
        "destination.ip": "10.20.0.2",
        "dns.question.name": name,
        "dns.question.type": qtype,
    })


def flows(count: int, state: str = "REJ", seconds: float = 20.0) -> list[dict[str, Any]]:
    return [
        validate_event({
            "@timestamp": timestamp_from_epoch(T0 + i * seconds / count),
            "event.id": stable_event_id("flow", i, state),
            "event.kind": "event",
            "event.dataset": "edusoc.flow",
            "source.ip": "10.20.3.66",
            "source.port": 40000 + i,
            "destination.ip": "10.20.1.10",
            "destination.port": 1 + i,
            "network.transport": "tcp",
            "network.connection.state": state,
        })
        for i in range(count)
    ]


def tls(ja3: str) -> dict[str, Any]:
    return validate_event({
        "@timestamp": "2026-11-02T01:30:00.000000Z", "event.id": stable_event_id("tls", ja3), "event.kind": "event",
        "event.dataset": "edusoc.tls", "source.ip": "10.20.7.8", "destination.ip": "203.0.113.50", "destination.port": 443,
        "tls.client.ja3": ja3, "tls.client.server_name": "cdn.example",
    })


def logins(count: int, port: int = 22, seconds: float = 120.0, dest: str = "10.20.1.22") -> list[dict[str, Any]]:
    return [
        validate_event({
            "@timestamp": timestamp_from_epoch(T0 + i * seconds / count), "event.id": stable_event_id("login", port, dest, i),
            "event.kind": "event", "event.dataset": "edusoc.flow", "source.ip": "198.51.100.9", "source.port": 50000 + i,
            "destination.ip": dest, "destination.port": port, "network.transport": "tcp", "network.connection.state": "SF",
        })
        for i in range(count)
    ]


def sweep(hosts: int, seconds: float = 30.0) -> list[dict[str, Any]]:
    return [
        validate_event({
            "@timestamp": timestamp_from_epoch(T0 + i * seconds / hosts), "event.id": stable_event_id("sweep", i),
            "event.kind": "event", "event.dataset": "edusoc.flow", "source.ip": "10.20.9.9", "source.port": 41000 + i,
            "destination.ip": f"10.20.4.{i + 1}", "destination.port": 445, "network.transport": "tcp", "network.connection.state": "S0",
        })
        for i in range(hosts)
    ]


LABEL = "mfrggzdfmztwq2lknnwg23tpobyxe43uov3ho6dz"  # 40 chars of base32

CASES = [
    # rule, event(s) that must raise it, event(s) that must not
    (SQL_INJECTION, [web("/news.php?id=1%27%20union%20select%201,2,database()--")], [web("/news.php?id=118")]),
    (SQL_INJECTION, [web("/news.php?id=1' or 1=1--")], [web("/news.php?id=1&order=asc")]),
    (SQL_INJECTION, [web("/news.php?id=118%27%20AND%20sleep(5)%23")], [web("/sleep/tips.html")]),
    (SQL_INJECTION, [web("/news.php?id=1%20union/**/select%201")], [web("/news.php?q=union+members")]),
    (WEBSHELL, [web("/uploads/shell.php?cmd=whoami")], [web("/uploads/photo.jpg?cmd=x")]),
    (WEBSHELL, [web("/upload/1.jsp?pwd=023&i=ls%20-la")], [web("/upload/form.jsp?page=2")]),
    (WEBSHELL, [web("/images/x.php", method="POST")], [web("/admin/upload.php", method="POST")]),
    (DNS_TUNNEL, [dns(f"{LABEL}.t.exfil-tunnel.example")], [dns("_dmarc.school-no1.edu.cn")]),
    (DNS_TUNNEL, [dns("0123456789abcdef0123456789abcdef.x.example", "CNAME")], [dns(f"{LABEL}.av.example", "A")]),
    (PORT_SCAN, flows(300), flows(40) + flows(300, state="SF")),
    (XSS, [web("/search.php?q=%3Cscript%3Ealert(1)%3C/script%3E")], [web("/search.php?q=javascript+tutorial")]),
    (XSS, [web("/news.php?id=1&x=%3Cimg%20src=x%20onerror=alert(1)%3E")], [web("/news.php?id=1&x=img")]),
    (TRAVERSAL, [web("/download.php?file=../../../../etc/passwd")], [web("/download.php?file=report-2026.pdf")]),
    (TRAVERSAL, [web("/static/..%2f..%2f..%2fwindows/win.ini")], [web("/static/css/site.css")]),
    (SCANNER, [web("/", **{"user_agent.original": "sqlmap/1.7.2#stable (https://sqlmap.org)"})],
     [web("/", **{"user_agent.original": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/118.0"})]),
    (UPLOAD, [web("/ueditor/php/controller.php?action=uploadfile&filename=1.php", method="POST")],
     [web("/ueditor/php/controller.php?action=uploadimage&filename=1.png", method="POST")]),
    (UPLOAD, [web("/kindeditor/upload_json.jsp?dir=file&name=x.jsp", method="POST")],
     [web("/kindeditor/upload_json.jsp?dir=file&name=x.jsp", method="GET")]),
    # cs-uri-query is the whole target now: a script in the path alone is no script named in the query
    (UPLOAD, [web("/upload.php?savename=a.PHP", method="POST")], [web("/upload.php", method="POST")]),
    (WEBSHELL, [web("/uploads/x.php?c=id")], [web("/uploads/x.php?abc=1&topic=c")]),
    (MINING, [dns("pool.supportxmr.com", "A")], [dns("www.support.microsoft.com", "A")]),
    (BAD_JA3, [tls("6734f37431670b3ab4292b8f60f29984")], [tls("773906b0efdefa24a7f2b8eb6985bf37")]),
    (BRUTE_FORCE, logins(60), logins(10) + logins(60, port=443)),
    (BRUTE_FORCE, logins(40, port=3389), logins(29, port=3389)),
    (HOST_SWEEP, sweep(40), sweep(20)),
]


@pytest.fixture(scope="module")
def ruleset():  # type: ignore[no-untyped-def]
    loaded = load_ruleset([BUNDLED_RULES])
    assert loaded.errors == []
    return loaded


@pytest.mark.parametrize(("rule_id", "positive", "negative"), CASES)
def test_bundled_rule_matches_positive_and_not_negative(ruleset, rule_id: str, positive: list, negative: list) -> None:  # type: ignore[no-untyped-def]
    assert rule_id in [alert.rule_id for alert in DetectionEngine(ruleset).process_many(positive)]
    assert rule_id not in [alert.rule_id for alert in DetectionEngine(ruleset).process_many(negative)]


WEB_CASES = [case for case in CASES if all(e["event.dataset"] == "edusoc.web" for e in case[1] + case[2])]


@pytest.mark.parametrize(("rule_id", "positive", "negative"), WEB_CASES)
def test_bundled_web_rules_see_packets_as_they_see_logs(ruleset, rule_id: str, positive: list, negative: list) -> None:  # type: ignore[no-untyped-def]
    # the same requests as edusoc.http events (HTTP carved from packets): the same verdicts
    def as_http(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [validate_event({**e, "event.dataset": "edusoc.http"}) for e in events]

    assert rule_id in [alert.rule_id for alert in DetectionEngine(ruleset).process_many(as_http(positive))]
    assert rule_id not in [alert.rule_id for alert in DetectionEngine(ruleset).process_many(as_http(negative))]


def test_bundled_web_rules_use_the_taxonomy_names() -> None:
    for path in sorted((BUNDLED_RULES / "web").glob("*.yml")):
        text = path.read_text("utf-8")
        for legacy in ("cs-uri|", "c-useragent", "c-uri|"):
            assert legacy not in text, f"{path.name}: {legacy}"


def test_port_scan_fires_once_for_the_sample_scan(ruleset) -> None:  # type: ignore[no-untyped-def]
    alerts = DetectionEngine(ruleset).process_many(flows(300))
    [scan] = alerts
    assert scan.rule_title == "TCP Port Scan"
    assert scan.level == "medium"
    assert scan.matches["group_by"] == {"source.ip": "10.20.3.66", "destination.ip": "10.20.1.10"}
    assert scan.matches["count"] == 50


def test_bundled_rules_carry_full_metadata() -> None:
    files = sorted(BUNDLED_RULES.rglob("*.yml"))
    assert len(files) == 11
    for path in files:
        for document in yaml.safe_load_all(path.read_text()):
            for key in ("id", "title", "status", "description", "references", "author", "date", "tags", "falsepositives", "level"):
                assert document.get(key), f"{path.name}: {key} missing"
            assert any(tag.startswith("attack.t") for tag in document["tags"]), path.name


def test_every_alerting_bundled_rule_has_a_positive_case_and_a_chinese_name(ruleset) -> None:  # type: ignore[no-untyped-def]
    tested = {rule_id for rule_id, _, _ in CASES}
    for rule in ruleset.rules:
        if getattr(rule, "emits_alerts", True):
            assert rule.rule_id in tested, rule.meta.title
    new_rules = {XSS, TRAVERSAL, SCANNER, UPLOAD, MINING, BAD_JA3, BRUTE_FORCE, HOST_SWEEP}
    names = {rule.rule_id: rule.meta.title_zh for rule in ruleset.rules}
    assert all(names[rule_id] for rule_id in new_rules)
    assert names[BRUTE_FORCE] == "SSH/RDP 暴力破解"


def test_bundled_levels(ruleset) -> None:  # type: ignore[no-untyped-def]
    levels = {rule.rule_id: rule.meta.level for rule in ruleset.rules}
    assert (levels[SQL_INJECTION], levels[WEBSHELL], levels[DNS_TUNNEL], levels[PORT_SCAN]) == ("high", "critical", "high", "medium")


# -- alerts ---------------------------------------------------------------------------------


def sql_alert(ruleset) -> Alert:  # type: ignore[no-untyped-def]
    [alert] = DetectionEngine(ruleset).process(web("/news.php?id=1%27%20union%20select%201,2,database()--"))
    return alert


def test_alert_id_is_stable(ruleset) -> None:  # type: ignore[no-untyped-def]
    first, second = sql_alert(ruleset), sql_alert(ruleset)
    assert first.id == second.id
    assert first.id == stable_event_id("alert", SQL_INJECTION, *first.event_ids)


def test_alert_carries_rule_unit_and_context(ruleset) -> None:  # type: ignore[no-untyped-def]
    alert = sql_alert(ruleset)
    assert alert.rule_id == SQL_INJECTION
    assert alert.level == "high"
    assert "attack.t1190" in alert.tags
    assert alert.unit_id == "school-1"
    assert alert.timestamp == "2026-11-02T01:10:03.000000Z"
    assert alert.summary["source.ip"] == "203.0.113.7"
    assert alert.summary["url.original"].startswith("/news.php?id=1%27")
    assert "*union select*" in alert.matches["url.original"]  # cs-uri-query: the request target


def test_alert_to_event_passes_schema_validation(ruleset) -> None:  # type: ignore[no-untyped-def]
    alert = sql_alert(ruleset)
    event = validate_event(alert.to_event())
    assert event["event.kind"] == "alert"
    assert event["event.dataset"] == "edusoc.alert"
    assert event["rule.id"] == SQL_INJECTION
    assert event["rule.name"] == alert.rule_title
    assert event["event.severity"] == 4
    assert event["source.ip"] == "203.0.113.7"
    assert event["organization.id"] == "school-1"


def test_correlation_alert_to_event_passes_schema_validation(ruleset) -> None:  # type: ignore[no-untyped-def]
    [scan] = DetectionEngine(ruleset).process_many(flows(300))
    event = validate_event(scan.to_event())
    assert event["event.severity"] == 3
    assert event["destination.ip"] == "10.20.1.10"


def test_alert_to_dict_is_json(ruleset) -> None:  # type: ignore[no-untyped-def]
    record = sql_alert(ruleset).to_dict()
    assert json.loads(json.dumps(record)) == record
    assert record["rule_id"] == SQL_INJECTION
