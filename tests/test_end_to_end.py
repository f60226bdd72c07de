"""End to end: the bundled pcap and access log go through sensors, the HTTP collector, Sigma rules
and playbooks, and come out as scoped incidents through the HTTP API."""
from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from edusoc.demo import replay_demo_samples
from tests.api_helpers import DemoProcess, LiveServer, serving, start_demo_process


@pytest.fixture
def live_demo(tmp_path, clock) -> Iterator[tuple[DemoProcess, LiveServer]]:
    demo = start_demo_process(tmp_path, clock)
    with serving(demo) as live:
        yield demo, live


def _incidents(base_url: str, username: str) -> list[dict[str, object]]:
    token = httpx.post(f"{base_url}/api/v1/auth/token", data={"username": username, "password": "edusoc-demo"}).json()["access_token"]
    response = httpx.get(f"{base_url}/api/v1/incidents", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    return response.json()["items"]


def test_sample_traffic_becomes_incidents_on_the_api(live_demo):
    demo, live = live_demo
    report = list(replay_demo_samples(live.base_url, list(demo.sensors.values())))
    assert all("0 rejected" in line for line in report), report

    incidents = _incidents(live.base_url, "duty")
    by_unit: dict[str, set[str]] = {}
    for incident in incidents:  # the English rule title second (title_en), the Chinese name first (title)
        by_unit.setdefault(str(incident["unit_name"]), set()).add(f"{incident['title']} {incident['title_en']}".lower())
    school1 = " | ".join(sorted(by_unit["示范区第一中学"]))
    school2 = " | ".join(sorted(by_unit["示范区实验小学"]))
    assert "scan" in school1 and "dns" in school1 and "端口扫描" in school1
    assert "sql" in school2 and "webshell" in school2 and "注入" in school2
    # the SQL injection posted in a login form body (the URL is clean) is caught by the OWASP CRS
    assert "sql 注入攻击（owasp crs）" in school1
    # the webshell uploaded as a multipart form is cut out as a file and caught by the bundled YARA pack
    assert "yara edusoc_php_oneliner_eval_request" in school1
    # thousands of packets and dozens of log lines, but a handful of incidents: one per rule (Sigma rule,
    # CRS family or YARA rule) and unit
    assert len(incidents) == sum(len(titles) for titles in by_unit.values()) <= 14
    for incident in incidents:
        assert incident["handle_by"] and incident["grade"] in ("I", "II", "III", "IV")
        assert incident["alert_count"] >= 1

    # school1's admin sees only school1's incidents
    assert {i["unit_name"] for i in _incidents(live.base_url, "school1")} == {"示范区第一中学"}


def test_replaying_twice_duplicates_nothing(live_demo):
    demo, live = live_demo
    sensors = list(demo.sensors.values())
    list(replay_demo_samples(live.base_url, sensors))
    stored = demo.runtime.event_store.count()
    incidents = _incidents(live.base_url, "admin")
    second = list(replay_demo_samples(live.base_url, sensors))
    assert all(" 0 accepted" in line for line in second), second
    assert demo.runtime.event_store.count() == stored
    again = _incidents(live.base_url, "admin")
    assert [(i["id"], i["alert_count"]) for i in again] == [(i["id"], i["alert_count"]) for i in incidents]
