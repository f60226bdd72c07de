"""Notices (通报): the receiving unit is reminded before its rectification is due (24 h and at due by default),
once each, also across restarts; an overdue notice escalates to the supervising unit's channel. Clock-driven."""
from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from soc_core.clock import ManualClock
from soc_core.config import NoticeSettings
from soc_core.models import AuditEntry
from tests.api_helpers import DemoProcess, start_demo_process
from tests.test_actions import Receiver, receiver  # noqa: F401 - the loopback webhook fixture


def _start(tmp_path: Path, clock: ManualClock, receiver: Receiver) -> DemoProcess:
    demo = start_demo_process(
        tmp_path, clock,
        actions={"channels": {"duty": {"adapter": "webhook", "url": f"{receiver.url}/duty"},
                              "school2-robot": {"adapter": "webhook", "url": f"{receiver.url}/school2"}}},
        notices={"channel_by_unit": {"DEMO-SCHOOL-2": "school2-robot"}},
    )
    demo.runtime.start(background=False)
    return demo


@pytest.fixture
def demo(tmp_path, clock, receiver) -> Iterator[DemoProcess]:
    process = _start(tmp_path, clock, receiver)
    yield process
    process.runtime.close()


def _issue(demo: DemoProcess, hours: float, clock: ManualClock) -> int:
    body = {"target_unit_id": demo.unit("DEMO-SCHOOL-2").id, "kind": "vulnerability", "title": "门户网站存在SQL注入漏洞",
            "due_at": (clock.now() + timedelta(hours=hours)).isoformat()}
    response = demo.client.post("/api/v1/notices", json=body, headers=demo.login("duty"))
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _history(demo: DemoProcess, notice_id: int) -> list[tuple[str, str]]:
    body = demo.client.get(f"/api/v1/notices/{notice_id}", headers=demo.login("school2")).json()
    return [(entry["action"], entry["text"]) for entry in body["history"]]


def _passes(demo: DemoProcess) -> None:
    demo.runtime.scheduler.run_due()  # the job writes the history and queues the message …
    demo.runtime.scheduler.run_due()  # … which the next pass delivers


def _sent(receiver: Receiver, path: str) -> list[str]:
    return [json.loads(r["body"])["text"] for r in receiver.requests if r["path"] == path]  # type: ignore[arg-type]


def test_receiving_unit_is_reminded_a_day_before_and_at_due_once_each(demo, clock, receiver):
    notice_id = _issue(demo, 72, clock)
    clock.advance(timedelta(hours=47, minutes=59))
    _passes(demo)
    assert not [a for a, _ in _history(demo, notice_id) if a.startswith("remind")]
    clock.advance(timedelta(minutes=1))  # 24 h before the due time
    _passes(demo)
    _passes(demo)
    reminders = [(a, t) for a, t in _history(demo, notice_id) if a.startswith("remind")]
    assert reminders == [("remind_24h", "提醒 示范区实验小学：通报 TB-2026-0001「门户网站存在SQL注入漏洞」将于 2026-11-05 09:00 到期"
                                         "（剩余约 24 小时），尚未提交整改报告")]
    assert _sent(receiver, "/school2") == [reminders[0][1]]  # to the receiving unit's own robot
    clock.advance(timedelta(hours=24))  # the due time: the last reminder, and the escalation upward
    _passes(demo)
    _passes(demo)
    actions = [a for a, _ in _history(demo, notice_id)]
    assert actions.count("remind_24h") == 1 and actions.count("remind_0h") == 1 and actions.count("overdue") == 1
    assert "已到整改期限" in _sent(receiver, "/school2")[-1]
    [escalation] = _sent(receiver, "/duty")  # the supervising bureau has no own channel: the duty channel
    assert "升级至 示范区教育局" in escalation and "可记录约谈" in escalation


def test_a_unit_that_has_submitted_its_rectification_is_not_reminded(demo, clock):
    notice_id = _issue(demo, 72, clock)
    clock.advance(timedelta(hours=10))
    submitted = demo.client.post(f"/api/v1/notices/{notice_id}/rectifications", data={"measures": "已修复注入点并复测"},
                                 headers=demo.login("school2"))
    assert submitted.status_code == 201, submitted.text
    clock.advance(timedelta(hours=62))
    _passes(demo)
    assert not [a for a, _ in _history(demo, notice_id) if a.startswith("remind")]


def test_a_short_notice_gets_only_the_reminder_at_due(demo, clock):
    notice_id = _issue(demo, 10, clock)  # less than a day: no 24-hour reminder
    clock.advance(timedelta(hours=10))
    _passes(demo)
    assert [a for a, _ in _history(demo, notice_id) if a.startswith("remind")] == ["remind_0h"]


def test_reminders_missed_while_down_are_caught_up_once_after_a_restart(tmp_path, clock, receiver):
    first = _start(tmp_path, clock, receiver)
    notice_id = _issue(first, 72, clock)
    first.runtime.close()
    clock.advance(timedelta(hours=50))  # the 24-hour reminder fell due while the process was down
    second = _start(tmp_path, clock, receiver)
    second.runtime.scheduler.run_due()
    history = _history(second, notice_id)
    assert [a for a, _ in history if a.startswith("remind")] == ["remind_24h"]
    assert "剩余约 22 小时" in history[-1][1]
    second.runtime.close()
    third = _start(tmp_path, clock, receiver)  # a second restart sends nothing again
    third.runtime.scheduler.run_due()
    assert [a for a, _ in _history(third, notice_id) if a.startswith("remind")] == ["remind_24h"]
    third.runtime.close()


def test_a_reminder_caught_up_after_the_due_time_gives_way_to_the_escalation(tmp_path, clock, receiver):
    first = _start(tmp_path, clock, receiver)
    notice_id = _issue(first, 72, clock)
    first.runtime.close()
    clock.advance(timedelta(hours=80))
    second = _start(tmp_path, clock, receiver)
    actions = [a for a, _ in _history(second, notice_id)]
    assert "remind_24h" not in actions and actions.count("remind_0h") == 1 and actions.count("overdue") == 1
    second.runtime.close()


def test_reminder_hours_are_validated_and_ordered():
    assert NoticeSettings(remind_hours_before=[0, 24, 2]).remind_hours_before == [24, 2, 0]
    with pytest.raises(ValidationError, match="0 or more"):
        NoticeSettings(remind_hours_before=[-1])


def test_a_units_repeated_overdue_notice_suggests_a_summons(demo, clock, receiver):
    first, second = _issue(demo, 10, clock), _issue(demo, 20, clock)
    clock.advance(timedelta(hours=10))
    _passes(demo)
    assert "summons_suggested" not in [a for a, _ in _history(demo, first)]  # one overdue notice: escalation only
    clock.advance(timedelta(hours=10))
    _passes(demo)
    _passes(demo)
    [(_, suggestion)] = [(a, t) for a, t in _history(demo, second) if a == "summons_suggested"]
    assert suggestion == "示范区实验小学 近 365 天内已有 2 份通报逾期未整改，建议约谈其主要负责人（网络安全法第五十六条）"
    assert suggestion in _sent(receiver, "/duty")[-1]  # with the escalation, to the supervising bureau's channel
    with demo.runtime.sessions() as session:
        assert session.query(AuditEntry).filter_by(action="notice.summons_suggested").count() == 1
    summons = demo.client.post(f"/api/v1/notices/{second}/summons", json={"head": "张校长", "reason": suggestion,
                                                                          "held_at": clock.now().isoformat()}, headers=demo.login("duty"))
    assert summons.status_code == 201, summons.text
    assert [a for a, _ in _history(demo, second)][-1] == "summons"
