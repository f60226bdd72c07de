"""The event search page in headless Chromium: pivot from an incident to its events and flows, facets, scope."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from soc_core.models import Incident
from tests.api_helpers import DemoProcess, LiveServer, serving, start_demo_process
from tests.test_events_api import SQLI, _flow, _ship, _web
from tests.browser_session import log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def site(tmp_path, clock) -> Iterator[tuple[DemoProcess, LiveServer, int]]:
    demo = start_demo_process(tmp_path, clock)
    _ship(demo, "sensor-school2-web", [_web(n) for n in range(6)] + [_web(9, SQLI)])
    _ship(demo, "sensor-school1-edge", [_flow(n) for n in range(4)])
    with demo.runtime.sessions() as session:
        # the Sigma rule's SQL injection incident (the CRS opens its own beside it)
        incident_id = session.query(Incident).filter(~Incident.rule_id.startswith("crs:")).one().id
    with serving(demo) as live:
        yield demo, live, incident_id


def test_duty_officer_pivots_from_an_incident_to_the_event_behind_it(browser, site):  # noqa: F811
    demo, live, incident_id = site
    page = log_in(browser, live.base_url, "duty")
    page.goto(f"{live.base_url}/incidents/{incident_id}")
    page.click("#pivot-alert-events")
    page.wait_for_selector("table.events")
    rows = page.locator("table.events tbody tr.kind-event")
    assert rows.count() == 1
    assert "union%20select" in rows.nth(0).locator("td.message").inner_text()
    assert rows.nth(0).get_attribute("data-event-id") == demo.stored_id("web-9")
    assert "示范区实验小学" in page.locator("p.pivot").inner_text()
    # all events of the incident's unit around it: the six benign requests too, and the alert
    page.click("p.pivot >> text=同期全部事件")
    page.wait_for_selector("table.events")
    assert page.locator("table.events tbody tr.kind-event").count() == 7
    assert page.locator("table.events tbody tr.kind-alert").count() >= 1
    assert page.locator("h1 .count").inner_text().startswith("共 ")


def test_search_form_facets_and_scope(browser, site):  # noqa: F811
    _, live, _ = site
    page = log_in(browser, live.base_url, "duty")
    page.click("nav >> text=事件检索")
    page.wait_for_selector("form.search")
    page.select_option("select[name='event.dataset']", "edusoc.flow")
    page.click("form.search button[type=submit]")
    page.wait_for_selector("table.events")
    assert page.locator("table.events tbody tr").count() == 4
    assert page.locator(".histogram .bar").count() >= 1
    # a facet value narrows the search: destination port 443
    page.click("aside.facets section[data-field='destination.port'] >> text=443")
    page.wait_for_selector("table.events")
    assert page.locator("table.events tbody tr").count() == 1
    assert "10.21.3.13" in page.locator("table.events tbody tr").nth(0).inner_text()
    # a school admin sees only their school, and a free-text search for another school's attack finds nothing
    school1 = browser.new_context(locale="zh-CN").new_page()
    school1.goto(f"{live.base_url}/login")
    school1.fill("input[name=username]", "school1")
    school1.fill("input[name=password]", "edusoc-demo")
    school1.click("button[type=submit]")
    school1.wait_for_url(f"{live.base_url}/")
    school1.goto(f"{live.base_url}/events?q=union")
    assert "没有符合条件的事件" in school1.locator("table.events").inner_text()
    response = school1.goto(f"{live.base_url}/events?unit_id=999")
    assert response is not None and response.status == 404
    assert "unit 999 not found" in school1.locator("[role=alert]").inner_text()
