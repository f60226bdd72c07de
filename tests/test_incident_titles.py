"""Chinese first: an incident opened by a rule carries the rule's Chinese name (title_zh) as its title and the
English Sigma title second, on the API, on the pages and in the reports upward (初报/续报/终报)."""
from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import pytest
from docx import Document

from edusoc.demo import replay_demo_samples
from tests.api_helpers import DemoProcess, serving, start_demo_process


@pytest.fixture
def replayed(tmp_path, clock) -> Iterator[tuple[DemoProcess, httpx.Client]]:
    demo = start_demo_process(tmp_path, clock)
    with serving(demo) as live:
        list(replay_demo_samples(live.base_url, [demo.sensors["sensor-school2-web"]]))
        with httpx.Client(base_url=live.base_url, headers=demo.login("duty"), timeout=30) as api:
            yield demo, api


def _webshell(api: httpx.Client) -> dict:  # type: ignore[type-arg]
    items = api.get("/api/v1/incidents").json()["items"]
    return next(i for i in items if (i["title_en"] or "").startswith("Webshell Access"))


def test_detected_incident_is_titled_in_chinese_with_the_english_title_second(replayed):
    demo, api = replayed
    incident = _webshell(api)
    assert incident["title"].startswith("上传或图片目录中的网页后门（Webshell）访问")
    assert incident["title_en"].startswith("Webshell Access In An Upload Or Image Directory")
    assert incident["key_entity"] and incident["title"].endswith(f"（{incident['key_entity']}）")
    detail = api.get(f"/api/v1/incidents/{incident['id']}").json()
    assert {a["rule_title"] for a in detail["alerts"]} == {"上传或图片目录中的网页后门（Webshell）访问"}
    assert {a["rule_title_en"] for a in detail["alerts"]} == {"Webshell Access In An Upload Or Image Directory"}
    assert "规则 上传或图片目录中的网页后门（Webshell）访问 告警" in detail["timeline"][0]["text"]


def test_incident_registered_by_hand_keeps_its_title_and_an_optional_english_one(replayed):
    demo, api = replayed
    body = {"title": "门户网站被篡改", "title_en": "Portal defaced", "unit_id": demo.unit("DEMO-SCHOOL-1").id, "grade": "III"}
    created = api.post("/api/v1/incidents", json=body).json()
    assert (created["title"], created["title_en"]) == ("门户网站被篡改", "Portal defaced")
    plain = api.post("/api/v1/incidents", json={**body, "title_en": None}).json()
    assert plain["title_en"] is None


def test_queue_and_incident_page_show_the_chinese_title_before_the_english(replayed):
    demo, api = replayed
    incident = _webshell(api)
    page = demo.client
    page.post("/login", data={"username": "duty", "password": "edusoc-demo"})
    for html in (page.get("/").text, page.get(f"/incidents/{incident['id']}").text):
        zh, en = html.index("上传或图片目录中的网页后门（Webshell）访问"), html.index("Webshell Access In An Upload")
        assert zh < en


def test_reports_upward_carry_the_chinese_title(replayed):
    demo, api = replayed
    incident = _webshell(api)
    report = api.post(f"/api/v1/incidents/{incident['id']}/reports", json={"kind": "initial"}).json()
    assert f"事件名称 {incident['title']}" in report["fields"]["discovery"]
    docx = api.get(f"/api/v1/incidents/{incident['id']}/reports/{report['id']}/docx")
    heading = Document(io.BytesIO(docx.content)).paragraphs[0].text
    assert heading.startswith("网络安全事件初报：上传或图片目录中的网页后门（Webshell）访问")
    assert "Webshell Access" not in heading
