"""Inventory and compliance pages in a real headless Chromium: a school admin files and imports,
a regulator drills down from the city to a school and cannot write."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from soc_core.clock import ManualClock
from soc_core.models import Sensor
from soc_core.sensor_registry import record_heartbeat
from tests.api_helpers import DemoProcess, LiveServer, serving, start_demo_process
from tests.test_asset_import import messy_workbook
from tests.browser_session import log_in

pytestmark = pytest.mark.browser
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def site(tmp_path) -> Iterator[tuple[DemoProcess, LiveServer]]:
    clock = ManualClock(datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc))
    demo = start_demo_process(tmp_path, clock)
    with demo.runtime.sessions() as session:
        record_heartbeat(session, clock, session.query(Sensor).filter_by(name="sensor-school1-edge").one(), clock.now(), "1.0", {})
        session.commit()
    demo.runtime.run_compliance_checks("test")
    with serving(demo) as live:
        yield demo, live


def test_school_admin_files_a_host_and_imports_a_workbook(browser, site):  # noqa: F811
    demo, live = site
    page = log_in(browser, live.base_url, "school1", ready="header nav", install_clock=False)
    page.click("text=资产与备案")
    assert "学籍管理系统" in page.locator("#information_system table").inner_text()
    host_form = page.locator("#host form.add")
    host_form.locator("input[name=ip]").fill("10.20.1.999")
    host_form.locator("button[type=submit]").click()
    assert "不是有效的 IP 地址" in page.locator("#host [role=alert]").inner_text()
    host_form = page.locator("#host form.add")
    host_form.locator("input[name=ip]").fill("１０.20.1.90")  # full-width digits typed by a Chinese IME
    host_form.locator("input[name=hostname]").fill("dns01")
    host_form.locator("button[type=submit]").click()
    assert "10.20.1.90" in page.locator("#host table").inner_text()
    page.set_input_files("section.import input[type=file]",
                         files=[{"name": "清单.xlsx", "mimeType": XLSX, "buffer": messy_workbook()}])
    page.click("section.import button[type=submit]")
    report = page.locator(".import-report")
    assert page.locator("#rejected").inner_text() == "5"
    assert "与第 3 行重复" in report.inner_text() and "备案证明编号（F列）" in report.inner_text()
    page.locator("#host tr", has_text="10.20.1.90").locator("text=历史").click()
    assert "新增" in page.locator("table.history").inner_text() and "school1" in page.locator("table.history").inner_text()


def test_regulator_drills_down_from_city_to_school_read_only(browser, site):  # noqa: F811
    demo, live = site
    page = log_in(browser, live.base_url, "regulator", ready="header nav", install_clock=False)
    page.click("text=合规情况")
    coverage = page.locator("tr[data-figure=monitoring_coverage]")
    assert "1/3" in coverage.inner_text() and "33.3%" in coverage.inner_text()
    page.click("table.children a:has-text('示范区教育局')")
    page.click("table.children a:has-text('示范区实验小学')")
    assert "示范区实验小学" in page.locator("h1").inner_text()
    assert "1/3" in page.locator("tr[data-figure=app_filing]").inner_text()
    assert "快乐口算" in page.locator("table.findings").inner_text()
    page.click("text=资产清单")
    assert page.locator("form.add").count() == 0 and page.locator("section.import").count() == 0
    page.screenshot(path=str(demo.runtime.settings.data_path / "inventory.png"), full_page=True)
