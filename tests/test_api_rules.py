"""/api/v1/rules: list, switch per unit (scoped, audited, effective at once), dry run, file scan."""
from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from soc_core.models import AuditEntry
from soc_core.models_rules import RuleUnitSetting
from tests.api_helpers import DemoProcess, start_demo_process

SQLI = "883fe4fe-3a19-41bd-85b3-6bb76654e90a"


@pytest.fixture
def demo(tmp_path, clock) -> Iterator[DemoProcess]:
    process = start_demo_process(tmp_path, clock)
    yield process
    process.runtime.close()


def sqli_event(unit: str, n: int = 1) -> dict[str, object]:
    return {"@timestamp": "2026-11-02T01:10:03Z", "event.id": f"web-{unit}-{n}", "event.kind": "event",
            "event.dataset": "edusoc.web", "organization.id": unit, "source.ip": "203.0.113.7",
            "url.original": "/news.php?id=1%27%20union%20select%201,2--", "url.path": "/news.php",
            "url.query": "id=1%27%20union%20select%201,2--"}


def test_list_rules_with_chinese_names(demo):
    body = demo.client.get("/api/v1/rules", headers=demo.login("regulator")).json()
    titles = {rule["id"]: rule["title_zh"] for rule in body["rules"]}
    assert titles["1e3a5c7b-9d0f-4b2a-8c4e-6a8c0e2a4b13"] == "SSH/RDP 暴力破解"
    assert body["rejected"] == []
    assert body["yara"]["rules"] >= 4
    assert demo.client.get("/api/v1/rules").status_code == 401


def test_switching_a_rule_off_for_a_school_is_scoped_audited_and_immediate(demo):
    school2 = demo.unit("DEMO-SCHOOL-2")
    school1 = demo.unit("DEMO-SCHOOL-1")
    engine = demo.runtime.ingest.engine
    # a school admin may not touch another school; a regulator may not write at all
    assert demo.client.put(f"/api/v1/rules/{SQLI}/units/{school2.id}", json={"enabled": False}, headers=demo.login("school1")).status_code == 404
    assert demo.client.put(f"/api/v1/rules/{SQLI}/units/{school2.id}", json={"enabled": False}, headers=demo.login("regulator")).status_code == 403
    response = demo.client.put(f"/api/v1/rules/{SQLI}/units/{school2.id}", json={"enabled": False}, headers=demo.login("school2"))
    assert response.status_code == 200, response.text
    with demo.runtime.sessions() as session:
        assert session.query(RuleUnitSetting).filter_by(rule_id=SQLI, unit_id=school2.id, enabled=False).count() == 1
        assert session.query(AuditEntry).filter_by(action="rule.disabled", target_id=SQLI, actor="school2").count() == 1
    listed = {r["id"]: r for r in demo.client.get("/api/v1/rules", headers=demo.login("duty")).json()["rules"]}
    assert listed[SQLI]["disabled_units"] == ["DEMO-SCHOOL-2"]
    # the running engine stops alerting for that school only, from the next event on
    assert SQLI not in [alert.rule_id for alert in engine.process(sqli_event("DEMO-SCHOOL-2"))]
    assert SQLI in [alert.rule_id for alert in engine.process(sqli_event("DEMO-SCHOOL-1"))]
    detection = demo.runtime.app.state.context.detection
    assert not detection.switches.enabled(SQLI, school2.code)
    assert detection.switches.enabled(SQLI, school1.code)
    assert demo.client.put(f"/api/v1/rules/{SQLI}/units/{school2.id}", json={"enabled": True}, headers=demo.login("duty")).status_code == 200
    assert detection.switches.enabled(SQLI, school2.code)
    assert SQLI in [alert.rule_id for alert in engine.process(sqli_event("DEMO-SCHOOL-2", 3))]


def test_dry_run_a_pasted_rule(demo):
    rule = """
title: Pasted
id: 11111111-2222-4333-8444-555555555555
logsource:
    category: webserver
detection:
    selection:
        cs-uri-query|contains: union select
    condition: selection
level: high
"""
    events = "\n".join(json.dumps(e) for e in [sqli_event("DEMO-SCHOOL-1"), {**sqli_event("DEMO-SCHOOL-1", 2), "url.original": "/news.php?id=5", "url.query": "id=5"}, {"bad": 1}])
    body = demo.client.post("/api/v1/rules/dry-run", json={"rule": rule, "events": events}, headers=demo.login("regulator")).json()
    assert body["rules"] == 1 and body["events"] == 2
    assert [alert["rule_title"] for alert in body["alerts"]] == ["Pasted"]
    assert body["event_errors"] and body["event_errors"][0].startswith("event 3:")
    broken = demo.client.post("/api/v1/rules/dry-run", json={"rule": "title: [x", "events": "[]"}, headers=demo.login("duty")).json()
    assert broken["rules"] == 0 and broken["rule_errors"][0].startswith("line")


def test_scan_an_uploaded_file(demo):
    shell = b'<?php @eval($_POST["edusoc"]); ?>'
    response = demo.client.post("/api/v1/rules/scan-file", files={"file": ("avatar.php", shell)}, headers=demo.login("school1"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert [hit["rule"] for hit in body["yara"]] == ["EDUSOC_PHP_OneLiner_Eval_Request"]
    assert len(body["sha256"]) == 64
    clean = demo.client.post("/api/v1/rules/scan-file", files={"file": ("a.txt", b"hello")}, headers=demo.login("school1")).json()
    assert clean["yara"] == []


def test_crs_families_are_listed_and_switched_per_unit_like_rules(demo):
    school2 = demo.unit("DEMO-SCHOOL-2")
    listed = {r["id"]: r for r in demo.client.get("/api/v1/rules", headers=demo.login("duty")).json()["rules"]}
    assert listed["crs:sqli"]["kind"] == "crs" and listed["crs:sqli"]["title_zh"] == "SQL 注入攻击（OWASP CRS）"
    assert listed["crs:sqli"]["file"] == "OWASP CRS 3.3.4" and "attack.t1190" in listed["crs:sqli"]["tags"]
    engine = demo.runtime.ingest.engine

    def request(unit: str, n: int) -> dict[str, object]:
        return {**sqli_event(unit, n), "http.request.method": "GET"}

    assert "crs:sqli" in [alert.rule_id for alert in engine.process(request("DEMO-SCHOOL-2", 5))]
    response = demo.client.put(f"/api/v1/rules/crs:sqli/units/{school2.id}", json={"enabled": False}, headers=demo.login("school2"))
    assert response.status_code == 200, response.text
    with demo.runtime.sessions() as session:
        assert session.query(AuditEntry).filter_by(action="rule.disabled", target_id="crs:sqli", actor="school2").count() == 1
    assert "crs:sqli" not in [alert.rule_id for alert in engine.process(request("DEMO-SCHOOL-2", 6))]
    assert "crs:sqli" in [alert.rule_id for alert in engine.process(request("DEMO-SCHOOL-1", 6))]
    assert demo.client.put(f"/api/v1/rules/crs:nonsense/units/{school2.id}", json={"enabled": False},
                           headers=demo.login("duty")).status_code == 404


REGEX_RULE = """
title: Pasted regex
id: 6a1c7f40-5b1e-4b61-9a77-0f3f3c0de000
logsource: {{category: webserver}}
detection:
  selection:
    url.query|re: '{pattern}'
  condition: selection
level: high
"""


def test_a_catastrophic_regex_runs_in_linear_time(demo):
    """Issue 14: '(a+)+$' held the interpreter 9 s in Python's re; RE2 answers at once."""
    events = "\n".join(json.dumps({**sqli_event("DEMO-SCHOOL-1", n), "url.query": q})
                       for n, q in enumerate(["a" * 64 + "!", "a" * 64], start=1))
    body = demo.client.post("/api/v1/rules/dry-run", json={"rule": REGEX_RULE.format(pattern="^(a+)+$"), "events": events},
                            headers=demo.login("duty")).json()
    assert body["rule_errors"] == [] and len(body["alerts"]) == 1


def test_a_regex_with_lookahead_is_refused_naming_the_construct(demo):
    body = demo.client.post("/api/v1/rules/dry-run", json={"rule": REGEX_RULE.format(pattern="id=(?=[0-9])"), "events": "[]"},
                            headers=demo.login("duty")).json()
    assert body["rules"] == 0 and "(?=" in body["rule_errors"][0]  # pySigma checks patterns with RE2 too
