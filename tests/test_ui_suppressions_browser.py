"""Suppression rules, merge and split in headless Chromium: a duty officer merges a second incident of the same
school into one, splits alerts off into a new incident, and suppresses a known scanner (scoped, audited)."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from detection_rules import DetectionEngine
from incidents import add_suppression, fold_alerts
from incidents.models import SuppressionRule
from sensors.weblog import read_access_log
from soc_core.clock import ManualClock
from soc_core.models import AuditEntry, Incident, Unit
from tests.api_helpers import DemoProcess
from tests.browser_session import log_in
from tests.test_ui_duty_browser import site  # noqa: F401 - a demo process served on loopback, on a manual clock

pytestmark = pytest.mark.browser
SQL_INJECTION = "883fe4fe-3a19-41bd-85b3-6bb76654e90a"


def _sqli_lines(source_ip: str, count: int, minute: int) -> list[str]:
    return [f'{source_ip} - - [02/Nov/2026:08:{minute:02d}:{n:02d} +0800] "GET /news.php?id={n}%27%20union%20select%20username,password%20from%20users-- '
            f'HTTP/1.1" 200 512 "-" "Mozilla/5.0"\n' for n in range(count)]


def _fold(demo: DemoProcess, clock: ManualClock, tmp_path: Path, lines: list[str], name: str) -> list[int]:
    """The lines through the real log reader and the real rule pack, folded at 第一中学; the incidents touched."""
    log = tmp_path / name
    log.write_text("".join(lines))
    events, _ = read_access_log(log, "nginx")
    engine = DetectionEngine(demo.runtime.ruleset)
    school = demo.unit("DEMO-SCHOOL-1")
    alerts = []
    for event in events:
        event["organization.id"] = str(school.id)
        alerts += [a for a in engine.process(event) if a.rule_id == SQL_INJECTION]
    with demo.runtime.sessions() as session:
        touched = fold_alerts(session, clock, demo.runtime.settings.incidents, alerts)
        session.commit()
        return [i.id for i in touched]


def test_duty_officer_merges_an_incident_and_splits_alerts_off(browser, site, tmp_path):  # noqa: F811
    demo, live, clock = site
    [first] = _fold(demo, clock, tmp_path, _sqli_lines("203.0.113.7", 3, 0), "a.log")
    [second] = _fold(demo, clock, tmp_path, _sqli_lines("198.51.100.9", 2, 5), "b.log")
    assert first != second  # two attackers: two incidents
    page = log_in(browser, live.base_url, "duty")
    page.goto(f"{live.base_url}/incidents/{first}")
    page.wait_for_selector("#merge-form")
    assert "SQL 注入攻击尝试" in page.locator("h1").inner_text()
    page.check(f"#merge-form input[type=checkbox][value='{second}']")
    page.click("#merge-form button")
    page.wait_for_selector("ol.timeline li.kind-merge")
    assert page.locator(".alert-count").inner_text() == "5"
    assert f"合并事件 #{second}（2 条告警）" in page.locator("ol.timeline").inner_text()
    page.goto(f"{live.base_url}/incidents/{second}")
    assert "已合并" in page.locator("h1 .badge.status").inner_text()
    assert page.locator("#merge-form").count() == 0

    page.goto(f"{live.base_url}/incidents/{first}")
    ticked = [page.locator("table.alerts tbody tr").nth(n).get_attribute("data-alert-id") for n in (3, 4)]
    for alert_id in ticked:
        page.check(f"input[name=alert_ids][value='{alert_id}']")
    page.fill("#split-form input[name=title]", "198.51.100.9 的SQL注入（拆分）")
    page.click("#split-form button")
    page.wait_for_url(lambda url: not url.endswith(f"/incidents/{first}"))
    assert "198.51.100.9 的SQL注入（拆分）" in page.locator("h1").inner_text()
    assert page.locator(".alert-count").inner_text() == "2"
    assert f"由事件 #{first} 拆分而来（2 条告警）" in page.locator("ol.timeline").inner_text()
    with demo.runtime.sessions() as session:
        assert session.get(Incident, first).alert_count == 3
        actions = set(session.scalars(select(AuditEntry.action).where(AuditEntry.action.in_(("incident.merge", "incident.split")))))
        assert actions == {"incident.merge", "incident.split"}


def test_split_with_nothing_ticked_is_refused_with_a_reason(browser, site, tmp_path):  # noqa: F811
    demo, live, clock = site
    [incident] = _fold(demo, clock, tmp_path, _sqli_lines("203.0.113.7", 2, 0), "a.log")
    page = log_in(browser, live.base_url, "duty")
    page.goto(f"{live.base_url}/incidents/{incident}")
    page.click("#split-form button")
    page.wait_for_selector("#action-error")
    assert "勾选要拆分的告警" in page.locator("#action-error").inner_text()


def test_suppression_rule_is_created_hit_and_disabled_from_its_page(browser, site, tmp_path):  # noqa: F811
    demo, live, clock = site
    [incident] = _fold(demo, clock, tmp_path, _sqli_lines("203.0.113.7", 1, 0), "a.log")
    page = log_in(browser, live.base_url, "duty")
    page.goto(f"{live.base_url}/incidents/{incident}")
    page.click("#suppress-similar")  # prefilled from the incident: unit, rule and scanner address
    page.wait_for_selector("#suppression-form")
    assert page.input_value("#suppression-form select[name=rule_id]") == SQL_INJECTION
    assert page.input_value("#suppression-form input[name=entity]") == "203.0.113.7"
    page.fill("#suppression-form input[name=reason]", "网络中心授权的漏洞扫描")
    page.click("#suppression-form button")
    row = page.locator("table.suppressions tbody tr").first
    row.wait_for()
    assert "SQL 注入攻击尝试" in row.inner_text() and "示范区第一中学" in row.inner_text() and "生效中" in row.inner_text()

    clock.advance(timedelta(hours=2))  # outside the grouping window: would open a new incident
    assert _fold(demo, clock, tmp_path, _sqli_lines("203.0.113.7", 4, 30), "c.log") == []
    page.reload()
    assert page.locator("table.suppressions tbody tr .hits").first.inner_text().startswith("4")

    page.click("table.suppressions tbody tr .disable-form button")
    page.wait_for_selector("table.suppressions tbody tr.inactive")
    assert "已停用" in page.locator("table.suppressions tbody tr").first.inner_text()
    assert page.locator(".disable-form").count() == 0
    with demo.runtime.sessions() as session:
        rule = session.scalars(select(SuppressionRule)).one()
        assert not rule.active and rule.created_by == "duty"
        audited = list(session.scalars(select(AuditEntry.action).where(AuditEntry.target_type == "suppression_rule")))
        assert audited == ["suppression.create", "suppression.deactivate"]


def test_suppression_page_is_scoped_and_read_only_for_regulators(browser, site):  # noqa: F811
    demo, live, clock = site
    with demo.runtime.sessions() as session:
        add_suppression(session, clock, session.get(Unit, demo.unit("DEMO-SCHOOL-1").id), "duty", "一中的授权扫描", entity="10.20.9.9")
        session.commit()
    school2 = log_in(browser, live.base_url, "school2", ready="h1")
    school2.goto(f"{live.base_url}/suppressions")
    assert "暂无抑制规则" in school2.locator("table.suppressions").inner_text()  # another school's rule stays out of sight
    with demo.runtime.sessions() as session:
        add_suppression(session, clock, session.get(Unit, demo.unit("DEMO-COUNTY").id), "duty", "区教育局统一扫描", entity="10.9.9.9")
        session.commit()
    school2.reload()
    row = school2.locator("table.suppressions tbody tr").first
    assert "区教育局统一扫描" in row.inner_text() and "上级单位设置" in row.inner_text()  # set above: applies here, read-only
    assert school2.locator(".disable-form").count() == 0
    listed = demo.client.get("/api/v1/suppressions", headers=demo.login("school2")).json()
    assert [(r["reason"], r["inherited"]) for r in listed] == [("区教育局统一扫描", True)]
    regulator = log_in(browser, live.base_url, "regulator", ready="h1")
    regulator.goto(f"{live.base_url}/suppressions")
    assert "一中的授权扫描" in regulator.locator("table.suppressions").inner_text()
    assert regulator.locator("#suppression-form").count() == 0 and regulator.locator(".disable-form").count() == 0


def test_a_rule_entered_with_an_expiry_in_beijing_time_stops_suppressing_after_it(browser, site, tmp_path):  # noqa: F811
    demo, live, clock = site  # 2026-11-02 09:00 Beijing
    page = log_in(browser, live.base_url, "duty", ready="h1")
    page.goto(f"{live.base_url}/suppressions")
    page.select_option("#suppression-form select[name=unit_id]", label="示范区第一中学")
    page.select_option("#suppression-form select[name=rule_id]", SQL_INJECTION)
    page.fill("#suppression-form input[name=entity]", "203.0.113.7")
    page.fill("#suppression-form input[name=reason]", "渗透测试窗口")
    page.fill("#suppression-form input[name=expires_at]", "2026-11-02T10:00")
    page.click("#suppression-form button")
    row = page.locator("table.suppressions tbody tr").first
    row.wait_for()
    assert "2026-11-02 10:00:00" in row.inner_text() and "生效中" in row.inner_text()
    assert _fold(demo, clock, tmp_path, _sqli_lines("203.0.113.7", 1, 0), "a.log") == []
    clock.advance(timedelta(hours=1))
    page.reload()
    assert "已过期" in page.locator("table.suppressions tbody tr").first.inner_text()
    assert len(_fold(demo, clock, tmp_path, _sqli_lines("203.0.113.7", 1, 59), "b.log")) == 1  # no longer suppressed
