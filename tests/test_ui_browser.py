"""The web UI in a real headless Chromium: log in, see the scoped incident queue with countdowns."""
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
def site(tmp_path) -> Iterator[tuple[DemoProcess, LiveServer]]:
    clock = ManualClock(datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc))
    demo = start_demo_process(tmp_path, clock)
    with demo.runtime.sessions() as session:
        policy = demo.runtime.settings.incidents
        open_incident(session, clock, policy, "duty", "网站SQL注入攻击", demo.unit("DEMO-SCHOOL-1"), Grade.II, Source.DETECTED)
        open_incident(session, clock, policy, "duty", "上级通报：弱口令", demo.unit("DEMO-SCHOOL-2"), Grade.IV, Source.NOTICE)
        session.commit()
    with serving(demo) as live:
        yield demo, live


def test_duty_officer_sees_the_city_queue_with_grades_and_countdowns(browser, site):
    demo, live = site
    page = log_in(browser, live.base_url, "duty")
    rows = page.locator("table.incidents tbody tr")
    assert rows.count() == 2
    first = rows.nth(0)  # soonest deadline first: the 重大 incident, due in 1 h
    assert "网站SQL注入攻击" in first.inner_text()
    assert first.locator("td.grade").inner_text() == "重大（II）"
    assert first.locator("td.unit").inner_text() == "示范区第一中学"
    countdown = first.locator("td.time-left")
    assert countdown.inner_text() == "剩余 1时00分00秒"  # by the server's clock, filled in by the page script
    assert "上级通报" in rows.nth(1).inner_text()
    assert rows.nth(1).locator("td.time-left").inner_text() == "剩余 2天12时00分00秒"  # 60 h
    page.clock.run_for(2000)
    assert countdown.inner_text() == "剩余 0时59分58秒"
    assert "urgent" in (countdown.get_attribute("class") or "")
    page.screenshot(path=str(demo.runtime.settings.data_path / "queue.png"), full_page=True)


def test_school_admin_sees_only_their_school_and_cannot_open_others(browser, site):
    demo, live = site
    page = log_in(browser, live.base_url, "school1")
    rows = page.locator("table.incidents tbody tr")
    assert rows.count() == 1
    assert "示范区第一中学" in rows.nth(0).inner_text()
    response = page.goto(f"{live.base_url}/incidents/2")  # the notice incident at 实验小学
    assert response is not None and response.status == 404
    assert "不在您的权限范围内" in page.content()


def test_wrong_password_shows_a_chinese_error(browser, site):
    _, live = site
    page = browser.new_context().new_page()
    page.goto(f"{live.base_url}/login")
    page.fill("input[name=username]", "duty")
    page.fill("input[name=password]", "wrong-password")
    page.click("button[type=submit]")
    assert "用户名或密码错误" in page.locator("[role=alert]").inner_text()
