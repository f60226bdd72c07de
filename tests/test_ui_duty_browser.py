"""Duty, notice, zero-report and incident-report pages in headless Chromium, Chinese first."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from incidents import Grade, Source, open_incident
from soc_core.clock import ManualClock
from tests.api_helpers import DemoProcess, LiveServer, serving, start_demo_process
from tests.browser_session import log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def site(tmp_path) -> Iterator[tuple[DemoProcess, LiveServer, ManualClock]]:
    clock = ManualClock(datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc))
    demo = start_demo_process(tmp_path, clock)
    with serving(demo) as live:
        yield demo, live, clock


def test_duty_page_rosters_a_shift_and_takes_a_handover(browser, site):  # noqa: F811
    demo, live, clock = site
    page = log_in(browser, live.base_url, "duty", ready="#who", install_clock=False, accept_downloads=True)
    page.click("nav a[href='/duty']")
    page.wait_for_selector("table.on-duty")
    assert "当前无人值班" in page.locator("table.on-duty").inner_text()
    page.select_option("#shift-form select[name=username]", "duty")
    page.fill("#shift-form input[name=starts_at]", "2026-11-02T08:00")  # Beijing time; the clock is at 09:00
    page.fill("#shift-form input[name=ends_at]", "2026-11-02T20:00")
    page.click("#shift-form button")
    page.wait_for_selector("table.on-duty td:has-text('市局值班员')")
    page.fill("#handover-form input[name=text]", "一中扫描事件已通知学校")
    page.click("#handover-form button")
    page.wait_for_selector("ol.handovers li")
    assert "一中扫描事件已通知学校" in page.locator("ol.handovers").inner_text()


def test_notice_is_issued_rectified_by_the_school_and_closed(browser, site, tmp_path):  # noqa: F811
    demo, live, clock = site
    duty = log_in(browser, live.base_url, "duty", ready="#who", install_clock=False, accept_downloads=True)
    duty.goto(f"{live.base_url}/notices")
    duty.select_option("#notice-form select[name=target_unit_id]", label="示范区实验小学")
    duty.fill("#notice-form input[name=title]", "门户网站存在SQL注入漏洞")
    duty.click("#notice-form button")
    duty.wait_for_selector("#notice-status")
    assert duty.locator("#notice-status").inner_text() == "已下发"
    notice_url = duty.url

    school = log_in(browser, live.base_url, "school2", ready="#who", install_clock=False, accept_downloads=True)
    school.goto(notice_url)
    school.click("#acknowledge-form button")
    school.wait_for_selector("#rectify-form")
    school.fill("#rectify-form input[name=measures]", "已修复注入点并复测")
    evidence = tmp_path / "复测截图.txt"
    evidence.write_text("sqlmap: all tested parameters do not appear to be injectable")
    school.set_input_files("#rectify-form input[type=file]", str(evidence))
    school.click("#rectify-form button")
    school.wait_for_selector(".rectification")
    assert school.locator("#notice-status").inner_text() == "已反馈待复核"
    assert school.locator("#close-form").count() == 0  # only the issuer reviews

    duty.goto(notice_url)
    duty.fill("#close-form input[name=comment]", "复测通过")
    duty.click("#close-form button")
    duty.wait_for_selector("#notice-status:has-text('已销号')")
    assert "复核通过，销号" in duty.locator("ol.timeline").inner_text()


def test_zero_report_dashboard_shows_who_has_not_reported(browser, site):  # noqa: F811
    demo, live, clock = site
    regulator = log_in(browser, live.base_url, "regulator", ready="#who", install_clock=False, accept_downloads=True)
    regulator.goto(f"{live.base_url}/zero-reports")
    regulator.fill("#declare-form input[name=name]", "国庆假期")
    regulator.fill("#declare-form input[name=starts_on]", "2026-11-02")
    regulator.fill("#declare-form input[name=ends_on]", "2026-11-07")
    regulator.click("#declare-form button")
    regulator.wait_for_selector("table.zero-reports")
    assert regulator.locator("#not-reported-count b").inner_text() == "3"

    school = log_in(browser, live.base_url, "school1", ready="#who", install_clock=False, accept_downloads=True)
    school.goto(f"{live.base_url}/zero-reports")
    school.fill("#report-form input[name=on_duty]", "张老师 13800000000")
    school.click("#report-form button")
    school.wait_for_selector("td.state .done")

    clock.advance(timedelta(hours=7))  # 16:00 Beijing: the deadline
    demo.runtime.scheduler.run_due()
    regulator.goto(f"{live.base_url}/zero-reports")
    states = {row.locator("td").nth(0).inner_text(): row.locator("td.state").inner_text()
              for row in regulator.locator("table.zero-reports tbody tr").all()}
    assert states == {"示范区第一中学": "已报", "示范区实验小学": "逾期未报", "示范区第二中学": "逾期未报"}
    regulator.screenshot(path=str(demo.runtime.settings.data_path / "zero_reports.png"), full_page=True)


def test_incident_page_generates_a_first_report_for_download(browser, site):  # noqa: F811
    demo, live, clock = site
    with demo.runtime.sessions() as session:
        incident = open_incident(session, clock, demo.runtime.settings.incidents, "duty", "网站被植入webshell", demo.unit("DEMO-SCHOOL-2"),
                                 Grade.II, Source.DETECTED, on_open=demo.runtime.app.state.context.planner.plan)
        session.commit()
    page = log_in(browser, live.base_url, "duty", ready="#who", install_clock=False, accept_downloads=True)
    page.goto(f"{live.base_url}/incidents/{incident.id}")
    assert page.locator("table.tasks tbody tr").count() == 4  # the 重大 playbook's tasks
    page.fill("#report-fields-form input[name=impact]", "首页被篡改")
    page.click("#report-fields-form button")
    page.wait_for_selector("#report-form")
    page.click("#report-form button")
    page.wait_for_selector("table.reports a:has-text('PDF')")
    assert "初报（第 1 版）" in page.locator("table.reports").inner_text()
    with page.expect_download() as download:
        page.click("table.reports a:has-text('DOCX')")
    assert download.value.suggested_filename.endswith("-initial-1.docx")
