"""End to end: a detected 重大 incident goes through acknowledgement, escalation and closure with its reports.

The bundled access log is shipped by the real sensor code over HTTP to the collector; the webshell rule
(critical) makes a 重大 incident at 实验小学; the duty officer acknowledges it, the 50 % escalation reaches the
county bureau and a WeCom robot on loopback, the first report goes out within 4 h, the incident is resolved
before the 1-hour deadline and closed, and the final report is generated and exported.
"""
from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from edusoc.demo import replay_demo_samples
from tests.api_helpers import DemoProcess, LiveServer, serving, start_demo_process
from tests.test_actions import Receiver


@pytest.fixture
def live_demo(tmp_path, clock) -> Iterator[tuple[DemoProcess, LiveServer, Receiver]]:
    robot = Receiver()
    demo = start_demo_process(tmp_path, clock, actions={"channels": {"duty": {"adapter": "wecom", "url": f"{robot.url}/cgi-bin/webhook/send"}}})
    with serving(demo) as live:
        yield demo, live, robot
    robot.stop()


def test_detected_major_incident_from_alert_to_final_report(live_demo, clock):
    demo, live, robot = live_demo
    list(replay_demo_samples(live.base_url, [demo.sensors["sensor-school2-web"]]))
    api = httpx.Client(base_url=live.base_url, headers=demo.login("duty"), timeout=30)

    majors = [i for i in api.get("/api/v1/incidents", params={"grade": "II"}).json()["items"] if i["source"] == "detected"]
    assert majors, "the webshell access (a critical rule) makes a 重大 incident"
    incident = majors[0]
    assert incident["unit_name"] == "示范区实验小学" and incident["playbook"] == "major"
    assert incident["seconds_left"] == 3600  # 重大: handled within 1 hour
    incident_id = incident["id"]
    demo.runtime.scheduler.run_due()  # the playbook's "open" action goes out
    assert any("重大" in r["body"].decode() for r in robot.requests)  # type: ignore[union-attr]

    clock.advance(timedelta(minutes=5))
    assert api.post(f"/api/v1/incidents/{incident_id}/status", json={"status": "acknowledged", "note": "值班员接警"}).status_code == 200
    api.patch(f"/api/v1/incidents/{incident_id}/report-fields", json={"fields": {
        "system": "门户网站", "impact": "上传目录被写入webshell，尚未发现数据外泄", "measures": "已下线上传功能并隔离服务器"}})
    initial = api.post(f"/api/v1/incidents/{incident_id}/reports", json={"kind": "initial"}).json()
    assert initial["late"] is False

    clock.advance(timedelta(minutes=25))  # 30 min: half the handling time
    demo.runtime.scheduler.run_due()  # the escalation fires and queues its message …
    demo.runtime.scheduler.run_due()  # … which the next pass delivers
    timeline = api.get(f"/api/v1/incidents/{incident_id}").json()["timeline"]
    assert [t["text"] for t in timeline if t["kind"] == "escalation"] == ["已用处置时限的 50%，升级至 示范区教育局"]
    requests_before = len(robot.requests)
    assert any("50%" in r["body"].decode() for r in robot.requests)  # type: ignore[union-attr]

    for minutes, status in ((5, "investigating"), (5, "contained"), (5, "resolved")):
        clock.advance(timedelta(minutes=minutes))
        assert api.post(f"/api/v1/incidents/{incident_id}/status", json={"status": status}).status_code == 200
    clock.advance(timedelta(minutes=30))  # past the deadline: resolved in time, so no 80 % / overdue step fires
    demo.runtime.scheduler.run_due()
    body = api.get(f"/api/v1/incidents/{incident_id}").json()
    assert body["overdue_at"] is None and not body["overdue"]
    assert len([t for t in body["timeline"] if t["kind"] == "escalation"]) == 1
    assert len(robot.requests) == requests_before

    for task in body["tasks"]:  # a 重大 incident closes once its playbook tasks are done
        assert api.post(f"/api/v1/incidents/{incident_id}/tasks/{task['id']}/done").status_code == 200
    assert api.post(f"/api/v1/incidents/{incident_id}/status", json={"status": "closed", "note": "复查无残留"}).status_code == 200
    api.patch(f"/api/v1/incidents/{incident_id}/report-fields", json={"fields": {
        "cause": "上传接口未校验文件类型", "rectification": "上传目录禁止执行脚本", "lessons": "上线前做安全测试"}})
    final = api.post(f"/api/v1/incidents/{incident_id}/reports", json={"kind": "final"}).json()
    assert final["kind"] == "final" and final["late"] is False and final["fields"]["cause"] == "上传接口未校验文件类型"
    assert [r["kind"] for r in api.get(f"/api/v1/incidents/{incident_id}/reports").json()] == ["initial", "final"]

    from docx import Document

    docx = api.get(f"/api/v1/incidents/{incident_id}/reports/{final['id']}/docx")
    assert "网络安全事件终报" in "\n".join(p.text for p in Document(io.BytesIO(docx.content)).paragraphs)
    pdf = api.get(f"/api/v1/incidents/{incident_id}/reports/{final['id']}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    stamps = api.get(f"/api/v1/incidents/{incident_id}").json()
    assert stamps["acknowledged_by"] == "duty" and stamps["status"] == "closed"
    duty = api.get("/api/v1/duty").json()["response_times"]
    assert duty["mtta_seconds"] is not None and duty["mttr_seconds"] is not None
