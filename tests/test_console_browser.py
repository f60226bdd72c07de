"""The built console in headless Chromium: each persona's first tasks, live updates, /docs without internet."""
from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest

from soc_core.models import Incident
from tests.api_helpers import DemoProcess, LiveServer, serving, start_demo_process
from tests.console_session import console_log_in, screenshot
from tests.test_events_api import SQLI, _ship, _web

pytestmark = pytest.mark.browser

POST_BODY = "user=admin' union select password,2 from users-- &submit=1"


def _sqli_post() -> dict[str, object]:
    event = _web(10, SQLI)
    event.update({
        "event.id": "web-post-10", "http.request.method": "POST", "message": f"POST /news.php?{SQLI}",
        "http.request.body.content": base64.b64encode(POST_BODY.encode()).decode(), "http.request.body.bytes": len(POST_BODY),
        "event.original": f'203.0.113.7 - - [02/Nov/2026:09:10:00 +0800] "POST /news.php?{SQLI} HTTP/1.1" 200 512',
    })
    return event


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[tuple[DemoProcess, LiveServer, int]]:
    from datetime import datetime, timezone

    from soc_core.clock import ManualClock

    clock = ManualClock(datetime(2026, 11, 2, 1, 20, tzinfo=timezone.utc))
    demo = start_demo_process(tmp_path_factory.mktemp("console-site"), clock)
    _ship(demo, "sensor-school2-web", [_web(n) for n in range(3)] + [_sqli_post()])
    with demo.runtime.sessions() as session:
        # the Sigma rule's incident (the OWASP CRS raises one of its own for the same request)
        incident_id = session.query(Incident).filter(Incident.title.like("SQL 注入攻击尝试%")).one().id
    with serving(demo) as live:
        yield demo, live, incident_id


def test_duty_lands_where_it_was_going_acknowledges_and_reads_the_payload(browser, site):
    demo, live, incident_id = site
    now = demo.runtime.clock.now()
    page = console_log_in(browser, live.base_url, "duty", f"/console/incidents/{incident_id}", now=now)
    page.wait_for_selector("text=SQL 注入攻击尝试")
    assert "值班员" in page.inner_text("[data-test=who]")
    page.click("button:has-text('确认')")
    page.wait_for_selector(".el-descriptions >> text=已确认")
    screenshot(page, "duty", "incident")
    page.click("button:has-text('查看事件')")
    payload = page.wait_for_selector("[data-test=payload]")
    assert POST_BODY.replace("&", "&") in payload.inner_text()
    marked = page.locator("[data-test=payload] mark").all_inner_texts()
    assert any("union select" in text.lower() for text in marked), marked
    assert "union select" in page.locator("[data-test=request] mark").first.inner_text().lower()
    screenshot(page, "duty", "event")
    page.keyboard.press("Escape")
    page.click("text=返回队列")
    page.wait_for_selector(".el-table__row")
    screenshot(page, "duty", "queue")
    search = page.get_by_label("搜索事件")
    search.fill("没有这样的事件")
    search.press("Enter")
    page.wait_for_selector("text=暂无事件")
    search.fill("SQL 注入")
    search.press("Enter")
    page.wait_for_selector(".el-table__row")
    page.focus(".queue")  # the queue from the keyboard: down to the first row, Enter opens it
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_url("**/console/incidents/*")
    page.context.close()


def test_a_new_incident_appears_in_an_open_queue_within_two_seconds(browser, site):
    demo, live, _ = site
    page = console_log_in(browser, live.base_url, "duty", now=demo.runtime.clock.now())
    page.wait_for_selector(".live.on")  # the stream is open
    page.evaluate("window.__notReloaded = true")
    headers = demo.login("duty")
    response = demo.client.post("/api/v1/incidents", headers=headers, json={
        "title": "勒索软件加密教务服务器", "unit_id": demo.unit("DEMO-SCHOOL-1").id, "grade": "I"})
    assert response.status_code == 201
    started = time.monotonic()  # from the moment the incident exists (committed) to the row on screen
    page.wait_for_selector("text=勒索软件加密教务服务器", timeout=2000)
    assert time.monotonic() - started < 2.0
    assert page.evaluate("window.__notReloaded") is True
    page.context.close()


@pytest.mark.parametrize("persona", ["regulator", "school1"])
def test_read_only_and_school_personas_see_their_queue(browser, site, persona):
    demo, live, _ = site
    page = console_log_in(browser, live.base_url, persona, now=demo.runtime.clock.now())
    page.wait_for_selector(".el-table")
    if persona == "regulator":
        assert page.locator("button:has-text('确认')").count() == 0  # no buttons for actions the role lacks
        assert page.locator("text=批量确认").count() == 0
    screenshot(page, persona, "queue")
    page.context.close()


def test_docs_and_console_load_with_every_outside_request_blocked(browser, site):
    _, live, _ = site
    context = browser.new_context(locale="zh-CN")
    outside: list[str] = []

    def only_loopback(route):  # type: ignore[no-untyped-def]
        host = urlparse(route.request.url).hostname
        if host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_loopback)
    page = context.new_page()
    page.goto(f"{live.base_url}/docs")
    page.wait_for_selector(".opblock-summary-path")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/v1/incidents" in paths and "/api/v1/stream" in paths
    page.goto(f"{live.base_url}/console/")
    page.wait_for_selector("#login-username")
    assert outside == []
    screenshot(page, "guest", "login")
    context.close()
