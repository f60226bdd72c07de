"""Drills over REST: the organizer owns the exercise, referees judge, red members see only their own team's results,
blue units only what concerns them; traffic from the whitelisted red addresses inside the window is tagged at ingest."""
from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from soc_core.event_store import EventQuery
from soc_core.models import AuditEntry
from soc_core.org import Role
from soc_core.repositories import create_user
from tests.api_helpers import DemoProcess, start_demo_process

PASSWORD = "drill-pass-2026"


@pytest.fixture
def demo(tmp_path, clock) -> Iterator[DemoProcess]:  # type: ignore[no-untyped-def]
    process = start_demo_process(tmp_path, clock)
    with process.runtime.sessions() as session:
        city = process.unit("DEMO-CITY")
        for name, role in (("red1", Role.RED_TEAM), ("red2", Role.RED_TEAM), ("judge", Role.DUTY_OFFICER)):
            # no second factor in these tests (the two-step login has its own): exempt like the demo accounts
            create_user(session, clock, name, PASSWORD, role, session.merge(city)).mfa_exempt = True
        session.commit()
    yield process
    process.runtime.close()


def exercise_body(demo: DemoProcess, clock, **overrides: object) -> dict[str, object]:  # type: ignore[no-untyped-def]
    school1, school2 = demo.unit("DEMO-SCHOOL-1"), demo.unit("DEMO-SCHOOL-2")
    body: dict[str, object] = {
        "name": "2026 示范市护网演练", "starts_at": clock.now().isoformat(), "ends_at": (clock.now() + timedelta(days=3)).isoformat(),
        "scope_unit_ids": [school1.id, school2.id], "key_unit_ids": [school2.id],
        "attacker_networks": ["198.51.100.0/24"],
        "targets": [{"unit_id": school1.id, "name": "学籍管理系统", "address": "10.20.1.10"}],
        "rules_of_engagement": "禁止 DDoS；禁止破坏、删除、篡改业务数据；攻击流量须经登记出口",
    }
    body.update(overrides)
    return body


def setup_exercise(demo: DemoProcess, clock) -> tuple[int, dict[str, dict[str, str]]]:  # type: ignore[no-untyped-def]
    h = {name: demo.login(name, PASSWORD if name in ("red1", "red2", "judge") else "edusoc-demo")
         for name in ("drill", "red1", "red2", "judge", "school1", "school2")}
    created = demo.client.post("/api/v1/drills", json=exercise_body(demo, clock), headers=h["drill"])
    assert created.status_code == 201, created.text
    exercise = created.json()["id"]
    for username, kind, team in (("red1", "red", "红队A"), ("red2", "red", "红队B"), ("judge", "referee", "")):
        response = demo.client.post(f"/api/v1/drills/{exercise}/members", json={"username": username, "kind": kind, "team": team},
                                    headers=h["drill"])
        assert response.status_code == 201, response.text
    return exercise, h


def red_result(demo: DemoProcess, clock, vulnerability: str = "CVE-2026-1001", **overrides: object) -> dict[str, object]:  # type: ignore[no-untyped-def]
    body: dict[str, object] = {
        "defender_unit_id": demo.unit("DEMO-SCHOOL-1").id, "type": "边界突破", "asset": "门户网站", "asset_address": "10.20.1.80",
        "vulnerability": vulnerability, "attack_time": (clock.now() - timedelta(minutes=30)).isoformat(),
        "source_addresses": ["198.51.100.7"],
    }
    body.update(overrides)
    return body


def test_only_an_organizer_creates_an_exercise_and_a_bad_address_is_named(demo, clock) -> None:  # type: ignore[no-untyped-def]
    school1 = demo.login("school1")
    assert demo.client.post("/api/v1/drills", json=exercise_body(demo, clock), headers=school1).status_code == 403
    bad = demo.client.post("/api/v1/drills", json=exercise_body(demo, clock, attacker_networks=["198.51.100.0/24", "red-vpn"]),
                           headers=demo.login("drill"))
    assert bad.status_code == 422
    assert bad.json()["detail"]["field"] == "attacker_networks[1]" and "red-vpn" in bad.json()["detail"]["message"]


def test_red_members_see_only_their_team_and_blue_only_accepted_results_against_them(demo, clock) -> None:  # type: ignore[no-untyped-def]
    exercise, h = setup_exercise(demo, clock)
    base = f"/api/v1/drills/{exercise}"
    clock.advance(timedelta(hours=1))
    submitted = demo.client.post(f"{base}/red-results", json=red_result(demo, clock), headers=h["red1"])
    assert submitted.status_code == 201, submitted.text
    assert submitted.json()["team"] == "红队A" and submitted.json()["status"] == "待审"
    rid = submitted.json()["id"]
    proof = b"uid=48(apache) gid=48(apache) -- whoami on 10.20.1.80"
    attached = demo.client.post(f"{base}/red-results/{rid}/evidence", files={"file": ("whoami.txt", proof, "text/plain")},
                                headers=h["red1"])
    assert attached.status_code == 201, attached.text
    sha = attached.json()["evidence"][0]["sha256"]
    assert demo.client.post(f"{base}/red-results/{rid}/evidence", files={"file": ("x.txt", b"x", "text/plain")},
                            headers=h["red2"]).status_code == 404  # another team does not even see the result
    assert demo.client.get(f"{base}/red-results/{rid}/evidence/{sha}", headers=h["judge"]).content == proof
    assert demo.client.get(f"{base}/red-results", headers=h["red2"]).json() == []
    assert demo.client.get(f"{base}/red-results", headers=h["school1"]).json() == []  # pending: not shown to the defender
    # a red account sees nothing of the org tree: no incidents, no units
    page = demo.client.get("/api/v1/incidents", headers=h["red1"]).json()
    assert page["items"] == [] and page["total"] == 0
    # only a referee judges, a rejection needs a reason
    assert demo.client.post(f"{base}/red-results/{rid}/judgement", json={"accept": True}, headers=h["red1"]).status_code == 403
    no_reason = demo.client.post(f"{base}/red-results/{rid}/judgement", json={"accept": False}, headers=h["judge"])
    assert no_reason.status_code == 422 and no_reason.json()["detail"]["field"] == "reason"
    judged = demo.client.post(f"{base}/red-results/{rid}/judgement", json={"accept": True, "points": 2000}, headers=h["judge"])
    assert judged.status_code == 200 and judged.json()["status"] == "认定" and judged.json()["scored_points"] == 2000
    assert [r["id"] for r in demo.client.get(f"{base}/red-results", headers=h["school1"]).json()] == [rid]
    assert demo.client.get(f"{base}/red-results", headers=h["school2"]).json() == []
    # blue: only the attacked unit reports on it
    narrative = {"监测发现": "10:02 收到端口扫描告警", "应急处置": "封禁 198.51.100.7"}
    assert demo.client.post(f"{base}/blue-reports", json={"red_result_id": rid, "narrative": narrative},
                            headers=h["school2"]).status_code == 403
    report = demo.client.post(f"{base}/blue-reports", json={"red_result_id": rid, "narrative": narrative}, headers=h["school1"])
    assert report.status_code == 201, report.text
    assert report.json()["prefill"]["attacker_addresses_used"] == ["198.51.100.7"]
    over = demo.client.post(f"{base}/blue-reports/{report.json()['id']}/judgement",
                            json={"dimension_scores": {"监测发现": 30}}, headers=h["judge"])
    assert over.status_code == 422 and over.json()["detail"]["field"] == "dimension_scores.监测发现"
    scored = demo.client.post(f"{base}/blue-reports/{report.json()['id']}/judgement",
                              json={"dimension_scores": {"监测发现": 25, "应急处置": 15}, "bonus": 300}, headers=h["judge"])
    assert scored.status_code == 200
    board = demo.client.get(f"{base}/scoreboard", headers=h["drill"]).json()
    one = next(d for d in board["defenders"] if d["unit_id"] == demo.unit("DEMO-SCHOOL-1").id)
    # 扣分 2000; 基础得分 2000 × 40 % × 0.8 = 640; 防护值 (640/2000 + 300/3000×0.2)×10000 = 3400
    assert (one["deduction"], one["base"], one["bonus"], one["protection"]) == (2000, 640, 300, 3400)
    assert demo.client.get(f"{base}/scoreboard", headers=h["red2"]).json()["team_totals"] == {}
    assert demo.client.get(f"{base}/scoreboard", headers=h["red1"]).json()["team_totals"] == {"红队A": 2000}
    with demo.runtime.sessions() as session:
        actions = set(session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("drill.%"))))
    assert actions == {"drill.create", "drill.member", "drill.red_result.submit", "drill.red_result.evidence",
                       "drill.red_result.judge", "drill.blue_report.submit", "drill.blue_report.judge"}


def test_red_results_only_inside_the_window(demo, clock) -> None:  # type: ignore[no-untyped-def]
    exercise, h = setup_exercise(demo, clock)
    clock.advance(timedelta(days=4))
    late = demo.client.post(f"/api/v1/drills/{exercise}/red-results", json=red_result(demo, clock),
                            headers=demo.login("red1", PASSWORD))
    assert late.status_code == 422 and "时间窗" in late.json()["detail"]["message"]


def _ship(demo: DemoProcess, *events: dict[str, object]) -> None:
    body = gzip.compress(b"\n".join(json.dumps(e).encode() for e in events))
    response = demo.client.post("/api/v1/ingest/events", content=body, headers={
        "Authorization": f"Bearer {demo.sensors['sensor-school1-edge'].token}", "Content-Encoding": "gzip",
        "Content-Type": "application/x-ndjson"})
    assert response.status_code == 200, response.text


def _flow(n: int, at: str, source: str, **extra: object) -> dict[str, object]:
    return {"@timestamp": at, "event.id": f"flow-{n}", "event.kind": "event", "event.dataset": "edusoc.flow",
            "source.ip": source, "destination.ip": "10.20.1.80", "destination.port": 80, "network.transport": "tcp", **extra}


def test_traffic_from_the_red_addresses_inside_the_window_is_tagged_with_the_exercise(demo, clock) -> None:  # type: ignore[no-untyped-def]
    exercise, _ = setup_exercise(demo, clock)
    inside = (clock.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    before = (clock.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    _ship(demo, _flow(1, inside, "198.51.100.7"), _flow(2, before, "198.51.100.7"), _flow(3, inside, "203.0.113.9"),
          _flow(4, inside, "203.0.113.9", **{"drill.id": "99"}))  # a sensor cannot make traffic a drill's
    store = demo.runtime.event_store
    tagged = {e["event.id"]: e.get("drill.id") for e in store.search(EventQuery(limit=10)).events}
    stored = {f"flow-{n}": demo.stored_id(f"flow-{n}", sensor="sensor-school1-edge") for n in range(1, 5)}
    assert tagged == {stored["flow-1"]: str(exercise), stored["flow-2"]: None, stored["flow-3"]: None,
                      stored["flow-4"]: None}


def test_the_commands_ask_the_permission_table_whoever_calls_them(demo, clock) -> None:  # type: ignore[no-untyped-def]
    from drills.commands import ExerciseSpec, create_exercise
    from soc_core.errors import PermissionDenied
    from soc_core.models import User

    with demo.runtime.sessions() as session:
        regulator = session.scalars(select(User).where(User.username == "regulator")).one()
        drill = session.scalars(select(User).where(User.username == "drill")).one()
        school1 = session.merge(demo.unit("DEMO-SCHOOL-1"))
        spec = ExerciseSpec("演练", clock.now(), clock.now() + timedelta(days=1), [school1.id], ["198.51.100.0/24"])
        with pytest.raises(PermissionDenied):
            create_exercise(session, clock, regulator, spec)  # the table grants run_drill to organizers and admins only
        assert create_exercise(session, clock, drill, spec).id
