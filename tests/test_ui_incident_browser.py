"""The incident page in headless Chromium: acknowledge, comment, upload evidence, see the timeline."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from incidents import Grade, Source, open_incident
from soc_core.clock import ManualClock
from tests.api_helpers import DemoProcess, LiveServer, serving, start_demo_process
from tests.browser_session import log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def site(tmp_path) -> Iterator[tuple[DemoProcess, LiveServer, int]]:
    clock = ManualClock(datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc))
    demo = start_demo_process(tmp_path, clock)
    with demo.runtime.sessions() as session:
        incident = open_incident(session, clock, demo.runtime.settings.incidents, "duty", "网站被植入webshell",
                                 demo.unit("DEMO-SCHOOL-1"), Grade.II, Source.DETECTED)
        session.commit()
    with serving(demo) as live:
        yield demo, live, incident.id


def test_duty_officer_works_an_incident_from_its_page(browser, site, tmp_path):  # noqa: F811
    demo, live, incident_id = site
    page = log_in(browser, live.base_url, "duty")
    page.click(f"tr[data-incident-id='{incident_id}'] a")
    page.wait_for_selector("#status-form")
    page.select_option("#status-form select[name=status]", "acknowledged")
    page.fill("#status-form input[name=note]", "值班员已接警")
    page.click("#status-form button")
    page.wait_for_selector("h1 .status-acknowledged")
    assert "已确认" in page.locator("h1 .badge.status").inner_text()
    page.fill("#comment-form input[name=text]", "已通知一中网管断开服务器外网")
    page.click("#comment-form button")
    page.wait_for_selector("ol.timeline li.kind-comment")
    sample = tmp_path / "access_excerpt.log"
    sample.write_text('10.20.5.9 - - "POST /upload/shell.php HTTP/1.1" 200\n')
    page.set_input_files("#evidence-form input[type=file]", str(sample))
    page.click("#evidence-form button")
    page.wait_for_selector("table.evidence")
    assert "access_excerpt.log" in page.locator("table.evidence").inner_text()
    timeline = page.locator("ol.timeline").inner_text()
    assert "待处置 → 已确认：值班员已接警" in timeline and "已通知一中网管" in timeline and "上传证据" in timeline
    page.fill("#status-form input[name=note]", "")
    page.select_option("#status-form select[name=status]", "closed")
    page.click("#status-form button")
    page.wait_for_selector("#action-error")
    assert "resolved" in page.locator("#action-error").inner_text()


def test_regulator_sees_the_page_without_forms(browser, site):  # noqa: F811
    demo, live, incident_id = site
    page = log_in(browser, live.base_url, "regulator")
    page.goto(f"{live.base_url}/incidents/{incident_id}")
    page.wait_for_selector("ol.timeline")
    assert page.locator("#status-form").count() == 0
    assert "定级依据" in page.content()
