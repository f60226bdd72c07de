"""GET /api/v1/stream: the audit log tailed once, fanned out per subtree, a slow client dropped, never blocking."""
from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from soc_api.live_feed import LiveEvent, LiveFeed
from tests.api_helpers import DemoProcess, serving, start_demo_process


@pytest.fixture
def demo(tmp_path, clock) -> Iterator[DemoProcess]:
    process = start_demo_process(tmp_path, clock)
    yield process
    process.runtime.close()


def _open(demo: DemoProcess, unit_code: str, grade: str = "II", title: str = "网站被植入webshell") -> int:
    response = demo.client.post("/api/v1/incidents", headers=demo.login("duty"),
                                json={"title": title, "unit_id": demo.unit(unit_code).id, "grade": grade})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _path(demo: DemoProcess, unit_code: str) -> str:
    return demo.unit(unit_code).path


def test_a_new_incident_becomes_one_created_event_with_its_grade(demo):
    feed = LiveFeed(demo.runtime.sessions)
    feed.start_from_now()
    incident_id = _open(demo, "DEMO-SCHOOL-1")
    created = [e for e in feed.read_new() if e.type == "incident.created"]
    assert len(created) == 1
    assert created[0].data["incident"] == {"id": incident_id, "title": "网站被植入webshell", "grade": "II", "status": "new",
                                           "unit_name": demo.unit("DEMO-SCHOOL-1").name}
    assert created[0].unit_path == _path(demo, "DEMO-SCHOOL-1")
    assert feed.read_new() == []  # each entry once


def test_deadline_warnings_say_how_much_of_the_handling_time_has_gone(demo, clock):
    incident_id = _open(demo, "DEMO-SCHOOL-1")
    headers = demo.login("duty")
    assert demo.client.post(f"/api/v1/incidents/{incident_id}/status", headers=headers, json={"status": "acknowledged"}).status_code == 200
    feed = LiveFeed(demo.runtime.sessions)
    feed.start_from_now()
    clock.advance(timedelta(minutes=30))  # 重大: one hour to handle, 50 % gone
    demo.runtime.scheduler.run_due()
    events = feed.read_new()
    assert ("deadline.warning", 50) in [(e.type, e.data.get("percent")) for e in events]
    assert "escalation" in [e.data.get("reason") for e in events if e.type == "incident.escalated"]  # (playbook tasks due too)
    clock.advance(timedelta(minutes=30))
    demo.runtime.scheduler.run_due()
    assert ("deadline.warning", 100) in [(e.type, e.data.get("percent")) for e in feed.read_new()]


def test_each_subscriber_sees_only_its_own_subtree(demo):
    feed = LiveFeed(demo.runtime.sessions)
    school1, school2 = _path(demo, "DEMO-SCHOOL-1"), _path(demo, "DEMO-SCHOOL-2")
    event = LiveEvent(1, "incident.created", school1, {})

    async def fan_out() -> tuple[int, int, int]:
        async with feed.subscribe(school1) as own, feed.subscribe(school2) as other, feed.subscribe(None) as everything:
            feed.publish([event])
            return own.queue.qsize(), other.queue.qsize(), everything.queue.qsize()

    assert asyncio.run(fan_out()) == (1, 0, 1)


def test_a_client_that_falls_behind_is_dropped_and_the_others_keep_receiving(demo):
    feed = LiveFeed(demo.runtime.sessions, queue_size=3)
    events = [LiveEvent(n, "incident.updated", "/1/", {"n": n}) for n in range(10)]

    async def one_slow_one_fast() -> tuple[list[int], list[object], bool]:
        async with feed.subscribe(None) as slow, feed.subscribe(None) as fast:
            received = []
            for event in events:
                feed.publish([event])  # never waits: a full queue drops its owner
                received.append(fast.queue.get_nowait().data["n"])  # type: ignore[union-attr]
            return received, [slow.queue.get_nowait() for _ in range(slow.queue.qsize())], slow in feed.subscribers

    received, slow_left, slow_still_subscribed = asyncio.run(one_slow_one_fast())
    assert received == list(range(10))
    assert slow_left == [None] and not slow_still_subscribed  # the sentinel that ends its stream


def test_the_stream_needs_a_login(demo):
    assert demo.client.get("/api/v1/stream").status_code == 401


def test_an_incident_created_through_the_api_arrives_on_an_open_stream(demo):
    headers = demo.login("duty")
    with serving(demo) as live:
        arrived: list[dict[str, object]] = []
        ready = threading.Event()

        def listen() -> None:
            with httpx.stream("GET", f"{live.base_url}/api/v1/stream", headers=headers, timeout=10) as response:
                assert response.headers["content-type"].startswith("text/event-stream")
                kind = None
                for line in response.iter_lines():
                    ready.set()
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: ") and kind == "incident.created":
                        arrived.append(json.loads(line[6:]))
                        return

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        assert ready.wait(10)
        incident_id = _open(demo, "DEMO-SCHOOL-2", grade="I", title="勒索软件加密服务器")
        listener.join(timeout=10)
        assert arrived and arrived[0]["incident"]["id"] == incident_id  # type: ignore[index]
        assert arrived[0]["incident"]["grade"] == "I"  # type: ignore[index]
