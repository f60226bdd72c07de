"""The 检测规则 page in a real headless Chromium: rules with their Chinese names and ATT&CK tags,
switching a rule off for a unit within the user's scope, and a dry run showing what matched."""
from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from playwright.sync_api import expect  # locator waits: the page's CSP forbids the eval behind wait_for_function

from soc_core.clock import ManualClock
from soc_core.models import AuditEntry
from tests.api_helpers import DemoProcess, LiveServer, serving, start_demo_process
from tests.browser_session import log_in
from tests.test_detection_rule_pack import SQL_INJECTION

pytestmark = pytest.mark.browser

DRY_RUN_RULE = """title: 测试 SQL 注入
id: 6c1d7a55-0000-4000-8000-000000000001
logsource:
    category: webserver
detection:
    selection:
        cs-uri-query|contains: 'union select'
    condition: selection
level: high
"""


@pytest.fixture
def site(tmp_path) -> Iterator[tuple[DemoProcess, LiveServer]]:
    demo = start_demo_process(tmp_path, ManualClock(datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)))
    with serving(demo) as live:
        yield demo, live


def test_school_admin_switches_a_rule_off_for_the_school(browser, site):  # noqa: F811
    demo, live = site
    page = log_in(browser, live.base_url, "school1", ready="header nav", install_clock=False)
    page.click("text=检测规则")
    row = page.locator(f"tr[data-rule-id='{SQL_INJECTION}']")
    row.wait_for()
    assert "SQL 注入攻击尝试" in row.inner_text() and "T1190" in row.inner_text() and "校园规则包" in row.inner_text()
    options = page.locator("#switch-unit option").all_inner_texts()
    assert len(options) == 1 and "第一中学" in options[0]  # only the school's own unit
    row.locator("button.disable").click()
    expect(page.locator(f"tr[data-rule-id='{SQL_INJECTION}'] .disabled-units")).to_contain_text("DEMO", timeout=30_000)
    code = row.locator(".disabled-units").inner_text()
    detection = demo.runtime.app.state.context.detection
    assert not detection.switches.enabled(SQL_INJECTION, code)
    with demo.runtime.sessions() as session:
        assert session.query(AuditEntry).filter_by(action="rule.disabled", target_id=SQL_INJECTION).count() == 1
    row.locator("button.enable").click()
    expect(page.locator(f"tr[data-rule-id='{SQL_INJECTION}'] .disabled-units")).to_have_text("—", timeout=30_000)
    assert detection.switches.enabled(SQL_INJECTION, code)


def test_regulator_reads_rules_and_dry_runs_but_cannot_switch(browser, site):  # noqa: F811
    _, live = site
    page = log_in(browser, live.base_url, "regulator", ready="header nav", install_clock=False)
    page.goto(f"{live.base_url}/rules")
    page.locator(f"tr[data-rule-id='{SQL_INJECTION}']").wait_for()
    assert page.locator("#switch-unit").count() == 0 and page.locator("button.disable").count() == 0
    events = [{"@timestamp": "2026-11-02T01:00:00.000000Z", "event.id": "e-1", "cs-uri-query": "id=1 UNION SELECT 1,2"},
              {"@timestamp": "2026-11-02T01:00:01.000000Z", "event.id": "e-2", "cs-uri-query": "id=1"}]
    page.fill("#dry-run textarea[name=rule]", DRY_RUN_RULE)
    page.fill("#dry-run textarea[name=events]", "\n".join(json.dumps(event) for event in events))
    page.select_option("#dry-run select[name=pipeline]", "none")
    page.click("#dry-run button[type=submit]")
    page.locator("tr.dry-run-alert").wait_for()
    assert page.locator("tr.dry-run-alert").count() == 1
    alert = page.locator("tr.dry-run-alert").inner_text()
    assert "测试 SQL 注入" in alert and "e-1" in alert
    assert "cs-uri-query" in alert and "union select" in alert  # which field matched which value of the rule
    assert "2 个事件" in page.locator("#dry-run-summary").inner_text()
