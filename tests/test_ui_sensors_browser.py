"""The 探针与采集 page in a real headless Chromium: a school admin registers, rotates and revokes
their school's sensors through the registry API; a regulator reads the city's sensors and the same
coverage figure as the API and the compliance report; duty staff see the disk-queue alarm."""
from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from playwright.sync_api import expect  # locator waits: the page's CSP forbids the eval behind wait_for_function

from soc_core.clock import ManualClock
from soc_core.models import AuditEntry
from tests.api_helpers import DemoProcess, LiveServer, serving, start_demo_process
from tests.browser_session import log_in

pytestmark = pytest.mark.browser
COUNTERS = {"packets": 120000, "drops": 3, "events": 950, "spool_bytes": 4096, "spool_batches": 2, "errors": 1}


@pytest.fixture
def site(tmp_path) -> Iterator[tuple[DemoProcess, LiveServer, ManualClock]]:
    clock = ManualClock(datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc))
    demo = start_demo_process(tmp_path, clock, ingest={"queue_max_bytes": 40_000})
    with serving(demo) as live:
        yield demo, live, clock


def _beat(live: LiveServer, token: str, counters: dict[str, int] = COUNTERS) -> int:
    body = {"sensor_time": "2026-11-02T01:00:01Z", "version": "edusoc-sensor 0.3.1", "counters": counters}
    return httpx.post(f"{live.base_url}/api/v1/ingest/heartbeat", json=body, headers={"Authorization": f"Bearer {token}"}).status_code


def _row(page, name: str):  # type: ignore[no-untyped-def]
    return page.locator(f"table.sensors tr[data-name='{name}']")


def test_school_admin_registers_rotates_and_revokes_their_schools_sensor(browser, site):
    demo, live, clock = site
    assert _beat(live, demo.sensors["sensor-school1-edge"].token) == 200
    page = log_in(browser, live.base_url, "school1", ready="header nav", install_clock=False)
    page.click("text=探针与采集")
    page.wait_for_selector("table.sensors")
    assert page.locator("table.sensors tr.sensor").count() == 1  # only their school's sensor
    edge = _row(page, "sensor-school1-edge")
    assert edge.locator(".sensor-status").inner_text() == "在线"
    assert [edge.locator(f"td.{c}").inner_text() for c in ("packets", "drops", "events", "errors")] == ["120000", "3", "950", "1"]
    assert "4096 B / 2" in edge.locator("td.spool").inner_text()
    assert page.locator("#coverage-count").inner_text() == "1/1"
    assert page.locator("#queue").count() == 0 and page.locator("table.jobs").count() == 0  # the centre's, not a school's
    assert page.locator("#register-sensor select option").all_inner_texts() == ["示范区第一中学"]

    page.fill("#register-sensor input[name=name]", "school1-gate-2")
    page.click("#register-sensor button[type=submit]")
    page.wait_for_selector("#token-once:not([hidden])")
    token = page.locator("#token-value").inner_text()
    assert len(token) > 20 and _beat(live, token) == 200
    page.reload()
    assert token not in page.content() and page.locator("#token-once").is_hidden()  # shown once
    assert _row(page, "school1-gate-2").locator(".sensor-status").inner_text() == "在线"

    page.on("dialog", lambda dialog: dialog.accept())
    _row(page, "school1-gate-2").locator("button.rotate").click()
    page.wait_for_selector("#token-once:not([hidden])")  # after the reload it is hidden and empty until the answer
    expect(page.locator("#token-value")).not_to_have_text(token, timeout=30_000)
    rotated = page.locator("#token-value").inner_text()
    assert len(rotated) > 20
    assert _beat(live, token) == 401 and _beat(live, rotated) == 200
    _row(page, "school1-gate-2").locator("button.revoke").click()
    expect(page.locator("tr[data-name='school1-gate-2'] .sensor-status")).to_have_text("已吊销", timeout=30_000)
    assert _beat(live, rotated) == 401
    page.reload()
    assert _row(page, "school1-gate-2").locator(".sensor-status").inner_text() == "已吊销"
    assert _row(page, "school1-gate-2").locator("button").count() == 0
    with demo.runtime.sessions() as session:
        actions = [a for (a,) in session.query(AuditEntry.action).filter(AuditEntry.actor == "school1", AuditEntry.target_type == "sensor")]
    assert actions == ["sensor.register", "sensor.rotate_token", "sensor.revoke"]


def test_regulator_reads_the_citys_sensors_and_the_same_coverage_as_the_api_and_compliance(browser, site):
    demo, live, clock = site
    assert _beat(live, demo.sensors["sensor-school1-edge"].token) == 200
    headers = demo.login("regulator")
    page = log_in(browser, live.base_url, "regulator", ready="header nav", install_clock=False)

    def agree(expected: str) -> None:
        page.goto(f"{live.base_url}/sensors")
        coverage = httpx.get(f"{live.base_url}/api/v1/sensors/coverage", headers=headers).json()
        figure = httpx.get(f"{live.base_url}/api/v1/compliance", params={"unit_id": demo.unit("DEMO-CITY").id},
                           headers=headers).json()["figures"]["monitoring_coverage"]
        assert page.locator("#coverage-count").inner_text() == expected
        assert expected == f"{coverage['units_covered']}/{coverage['units_total']}" == f"{figure['numerator']}/{figure['denominator']}"
        city = page.locator(f"table.coverage tr[data-unit-id='{demo.unit('DEMO-CITY').id}']")
        assert expected in city.inner_text()

    agree("1/3")
    assert "33.3%" in page.locator("#coverage").inner_text()
    assert {n for n in page.locator("table.sensors tr.sensor").evaluate_all("rows => rows.map(r => r.dataset.name)")} == {
        "sensor-school1-edge", "sensor-school2-web"}
    assert "未部署探针" in page.locator("table.sensors tr.no-sensor").inner_text()  # 第二中学
    assert _row(page, "sensor-school2-web").locator(".sensor-status").inner_text() == "离线"  # never sent a heartbeat
    assert page.locator("#register-sensor").count() == 0 and page.locator("button.revoke, button.rotate").count() == 0
    clock.advance(timedelta(minutes=3))  # two heartbeats missed
    agree("1/3")
    assert _row(page, "sensor-school1-edge").locator(".sensor-status").inner_text() == "延迟"
    clock.advance(timedelta(minutes=58))  # past the 60 min window
    agree("0/3")
    assert _row(page, "sensor-school1-edge").locator(".sensor-status").inner_text() == "离线"


def _post_batch(live: LiveServer, token: str, n: int, prefix: str) -> httpx.Response:
    events = [{"@timestamp": "2026-11-02T01:00:00Z", "event.id": f"{prefix}-{i}", "event.kind": "event",
               "event.dataset": "edusoc.flow", "source.ip": "10.20.1.5", "destination.ip": "203.0.113.9",
               "destination.port": 443, "message": "x" * 200} for i in range(n)]
    body = gzip.compress(b"\n".join(json.dumps(e).encode() for e in events))
    return httpx.post(f"{live.base_url}/api/v1/ingest/events", content=body,
                      headers={"Authorization": f"Bearer {token}", "Content-Encoding": "gzip"})


def test_duty_staff_see_the_disk_queue_alarm_from_80_percent_and_admins_see_the_jobs(browser, site):
    demo, live, clock = site
    demo.runtime.start(background=False)  # the periodic jobs run once; the drainer is not ticking
    demo.runtime.ingest.store.close()  # the event store goes down: batches wait in the disk queue
    token, n = demo.sensors["sensor-school1-edge"].token, 0
    while demo.runtime.ingest.queue_metrics()["fill"] < 0.8:
        assert _post_batch(live, token, 10, f"q{n}").json()["queued"] == 10
        n += 1
    metrics = demo.runtime.ingest.queue_metrics()
    assert metrics["full"] is False and metrics["alarm"] is True  # filling, not yet full
    health = httpx.get(f"{live.base_url}/api/v1/health", headers=demo.login("duty")).json()
    assert health["components"]["ingest_queue"]["alarm"] is True and health["components"]["ingest_queue"]["fill"] >= 0.8
    page = log_in(browser, live.base_url, "duty", ready="header nav", install_clock=False)
    page.click("text=探针与采集")
    alarm = page.locator("#queue-alarm")
    assert "告警" in alarm.inner_text() and "ALARM" in alarm.inner_text()
    assert f"{metrics['batches']} 批" in page.locator("#queue").inner_text()
    assert page.locator("table.jobs").count() == 0  # jobs are for system admins

    admin = log_in(browser, live.base_url, "admin", ready="header nav", install_clock=False)
    admin.goto(f"{live.base_url}/sensors")
    assert admin.locator("#queue-alarm").is_visible()
    jobs = admin.locator("table.jobs")
    retention = jobs.locator("tr[data-job-id='events.retention:all']")
    assert "事件保留期清理" in retention.inner_text() and "成功" in retention.inner_text()
    assert "21600 s" in retention.inner_text() and "2026-11-02 15:00:00" in retention.inner_text()  # next run, Beijing time
    assert "合规检查" in jobs.inner_text() and "采集磁盘队列回放" in jobs.inner_text()
    retention.locator("button.run-job").click()
    expect(admin.locator("tr[data-job-id='events.retention:all'] td.next-run")).to_contain_text("due now", timeout=30_000)
    assert demo.runtime.scheduler.run_due() == ["events.retention:all"]
    admin.screenshot(path=str(demo.runtime.settings.data_path / "sensors.png"), full_page=True)
