"""`edusoc run --demo` seeds the duty roster, a key period with zero-reports and a notice in progress, so a new
user finds every page populated; checked through the API, and seeding twice changes nothing."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from edusoc.demo import KEY_PERIOD, seed_demo_operations
from tests.api_helpers import DemoProcess, start_demo_process


@pytest.fixture
def demo(tmp_path, clock) -> Iterator[DemoProcess]:  # the clock starts at 2026-11-02 09:00 Beijing
    process = start_demo_process(tmp_path, clock)
    seed_demo_operations(process.runtime)
    yield process
    process.runtime.close()


def test_someone_is_on_duty_now_and_the_last_shift_handed_over(demo, clock):
    board = demo.client.get("/api/v1/duty", headers=demo.login("regulator")).json()
    assert [(s["username"], s["team"]) for s in board["on_duty"]] == [("duty", "市局值班组")]
    assert board["on_duty"][0]["starts_at"].startswith("2026-11-02T00:00:00")  # the 08:00–20:00 day shift
    assert [s["username"] for s in board["upcoming"]][:1] == ["duty2"]  # the night shift takes over at 20:00
    [handover] = board["handovers"]
    assert (handover["from_user"], handover["to_user"]) == ("duty2", "duty") and "交班" in handover["text"]
    clock.advance(timedelta(hours=12))
    assert [s["username"] for s in demo.client.get("/api/v1/duty", headers=demo.login("duty")).json()["on_duty"]] == ["duty2"]


def test_a_key_period_where_some_schools_reported_today_and_some_did_not(demo):
    headers = demo.login("regulator")
    [period] = [p for p in demo.client.get("/api/v1/zero-reports/periods", headers=headers).json() if p["name"] == KEY_PERIOD]
    assert period["active"] and period["deadline_hour"] == 16 and len(period["unit_ids"]) == 3
    board = demo.client.get("/api/v1/zero-reports", params={"period_id": period["id"]}, headers=headers).json()
    reported = {u["unit_name"]: u["reported"] for u in board["units"]}
    assert reported == {"示范区第一中学": True, "示范区实验小学": False, "示范区第二中学": False}
    assert (board["reported"], board["not_reported"]) == (1, 2)
    yesterday = demo.client.get("/api/v1/zero-reports", params={"period_id": period["id"], "date": "2026-11-01"}, headers=headers).json()
    assert {u["unit_name"]: u["missing"] for u in yesterday["units"]} == {"示范区第一中学": False, "示范区实验小学": False,
                                                                          "示范区第二中学": True}
    findings = demo.client.get("/api/v1/findings", params={"check_id": "zero_report.missing"}, headers=headers).json()
    assert [f["unit_name"] for f in findings] == ["示范区第二中学"]  # the missed report is itself a finding


def test_a_notice_is_in_progress_at_the_school(demo):
    notices = demo.client.get("/api/v1/notices", headers=demo.login("school2")).json()
    [notice] = notices
    assert notice["status"] == "acknowledged" and notice["status_label"] == "已签收" and not notice["overdue"]
    assert notice["target_name"] == "示范区实验小学" and notice["issuer_name"] == "示范市教育局"
    assert demo.client.get("/api/v1/notices", headers=demo.login("school1")).json() == []


def test_seeding_again_adds_nothing(demo, clock):
    seed_demo_operations(demo.runtime)
    clock.advance(timedelta(hours=1))
    seed_demo_operations(demo.runtime)
    headers = demo.login("admin")
    assert len(demo.client.get("/api/v1/notices", headers=headers).json()) == 1
    assert len([p for p in demo.client.get("/api/v1/zero-reports/periods", headers=headers).json() if p["name"] == KEY_PERIOD]) == 1
    board = demo.client.get("/api/v1/duty", headers=headers).json()
    assert len(board["on_duty"]) == 1 and len(board["handovers"]) == 1


def test_the_next_day_the_seed_keeps_the_roster_covering_now(demo, clock):
    clock.advance(timedelta(days=1, hours=3))  # 2026-11-03 12:00 Beijing: the process was restarted
    seed_demo_operations(demo.runtime)
    board = demo.client.get("/api/v1/duty", headers=demo.login("duty")).json()
    assert [s["username"] for s in board["on_duty"]] == ["duty"]
    assert board["handovers"][0]["at"].startswith("2026-11-03T00:00:00")
