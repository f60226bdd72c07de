"""An exercise end to end (issue #17 "Done when"): the scenario packs replayed from a whitelisted red address become drill
incidents that stay out of reporting deadlines, compliance figures and the real escalation chain; a red result submitted
twice for the same vulnerability scores 100 % then 70 %; a blue report pre-filled from edusoc's own alerts; the board and
the 防护值 match a hand computation."""
from __future__ import annotations

import gzip
import json
from datetime import timedelta

from sqlalchemy import select, update

from compliance.figures import compliance_report
from drills.scenarios import Hosts, select_scenarios
from edusoc.drill_replay import Target, replay
from playbooks.models import EscalationStep
from reports.incident_reports import DUE
from soc_core.models import Incident
from soc_core.org import Role
from soc_core.repositories import create_user
from tests.api_helpers import start_demo_process

PASSWORD = "drill-pass-2026"


def test_an_exercise_from_replay_to_scoreboard(tmp_path, clock) -> None:  # type: ignore[no-untyped-def]
    demo = start_demo_process(tmp_path, clock)
    runtime, client = demo.runtime, demo.client
    try:
        with runtime.sessions() as session:
            city = session.merge(demo.unit("DEMO-CITY"))
            # no second factor here (the two-step login has its own tests): exempt like the demo accounts
            create_user(session, clock, "red1", PASSWORD, Role.RED_TEAM, city).mfa_exempt = True
            create_user(session, clock, "judge", PASSWORD, Role.DUTY_OFFICER, city).mfa_exempt = True
            session.commit()
        h = {"drill": demo.login("drill"), "school1": demo.login("school1"), "red1": demo.login("red1", PASSWORD),
             "judge": demo.login("judge", PASSWORD)}
        school1, school2 = demo.unit("DEMO-SCHOOL-1").id, demo.unit("DEMO-SCHOOL-2").id
        created = client.post("/api/v1/drills", headers=h["drill"], json={
            "name": "示范市 2026 攻防演练", "starts_at": (clock.now() - timedelta(hours=4)).isoformat(),
            "ends_at": (clock.now() + timedelta(days=2)).isoformat(), "scope_unit_ids": [school1, school2],
            "key_unit_ids": [school2], "attacker_networks": ["198.51.100.0/24"],
            "targets": [{"unit_id": school1, "name": "门户网站", "address": "10.20.1.80"}]})
        assert created.status_code == 201, created.text
        exercise = created.json()["id"]
        base = f"/api/v1/drills/{exercise}"
        for body in ({"username": "red1", "kind": "red", "team": "红队A"}, {"username": "judge", "kind": "referee"}):
            assert client.post(f"{base}/members", json=body, headers=h["drill"]).status_code == 201

        # 1. every scenario pack, from the red team's addresses, through the sensor reader and the collector
        run = replay(select_scenarios("all"), Target("school1", demo.sensors["sensor-school1-edge"].token, Hosts()),
                     clock.now().timestamp() - 3 * 3600, "http://testserver", runtime.event_store, client=client)
        outcomes = {row.scenario: row.outcome for row in run.coverage}
        assert outcomes["port_scan"] == outcomes["sql_injection"] == outcomes["dns_tunnel"] == "Alerted"
        assert outcomes["stratum_mining"] == "Logged"
        # and one real attack at the same time, from an address that is not the red team's
        real_line = {"@timestamp": (clock.now() - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"), "event.id": "real-1",
                     "event.kind": "event", "event.dataset": "edusoc.web", "source.ip": "203.0.113.50",
                     "http.request.method": "GET", "url.original": "/news.php?id=1%27%20or%201=1--",
                     "url.path": "/news.php", "url.query": "id=1%27%20or%201=1--", "http.response.status_code": 200}
        shipped = client.post("/api/v1/ingest/events", content=gzip.compress(json.dumps(real_line).encode()), headers={
            "Authorization": f"Bearer {demo.sensors['sensor-school2-web'].token}", "Content-Encoding": "gzip"})
        assert shipped.status_code == 200, shipped.text

        # 2. drill incidents: marked, no reporting deadlines, no escalation steps; the real one has both
        with runtime.sessions() as session:
            incidents = session.scalars(select(Incident)).all()
            drill = [i for i in incidents if i.drill_id == exercise]
            real = [i for i in incidents if i.drill_id is None]
            assert len(drill) >= 10 and real  # the real SQL injection: the Sigma rule's incident and the CRS's
            assert all(i.title.startswith("【演练】") for i in drill)
            steps = {i.id: session.scalar(select(EscalationStep.id).where(EscalationStep.incident_id == i.id).limit(1))
                     for i in incidents}
        assert all(runtime.scheduler.next_run(DUE, f"{i.id}:initial") is None and steps[i.id] is None for i in drill)
        assert all(runtime.scheduler.next_run(DUE, f"{i.id}:initial") is not None and steps[i.id] is not None for i in real)
        listed = client.get("/api/v1/incidents", headers=h["school1"]).json()
        items = listed["items"] if isinstance(listed, dict) else listed
        assert {item["drill_id"] for item in items} == {exercise}

        # 3. compliance figures count the real incident only, even once every deadline has passed
        clock.advance(timedelta(days=1))
        with runtime.sessions() as session:
            city = demo.unit("DEMO-CITY")
            figures = compliance_report(session, clock, runtime.settings, session.merge(city)).figures
            counted = {name: figures[name].denominator for name in ("incident_deadline_1h", "incident_deadline_60h")}
            session.execute(update(Incident).where(Incident.drill_id == exercise).values(drill_id=None))  # as if real
            as_real = compliance_report(session, clock, runtime.settings, session.merge(city)).figures
            session.rollback()
        one_hour = {g for g, hours in runtime.settings.incidents.handle_hours_by_grade.items() if hours <= 1.0}
        assert any(i.grade in one_hour for i in drill)  # some drill incidents are 重大 (1 h): they would count
        assert counted["incident_deadline_1h"] == sum(i.grade in one_hour for i in real)
        assert as_real["incident_deadline_1h"].denominator == counted["incident_deadline_1h"] + sum(
            i.grade in one_hour for i in drill)
        clock.advance(timedelta(days=-1))

        # 4. the same vulnerability twice: 100 % then 70 %
        sqli = next(p for p in run.placed if p.scenario.name == "sql_injection")
        attack = clock.now().fromtimestamp(sqli.start, clock.now().tzinfo).isoformat()
        ids = []
        for asset, address in (("门户网站", "10.20.1.80"), ("学籍管理系统", "10.20.1.10")):
            submitted = client.post(f"{base}/red-results", headers=h["red1"], json={
                "defender_unit_id": school1, "type": "边界突破", "asset": asset, "asset_address": address,
                "vulnerability": "CVE-2026-1001 SQL 注入", "attack_time": attack, "source_addresses": ["198.51.100.7"]})
            assert submitted.status_code == 201, submitted.text
            ids.append(submitted.json()["id"])
            judged = client.post(f"{base}/red-results/{ids[-1]}/judgement", headers=h["judge"],
                                 json={"accept": True, "points": 2000})
            assert judged.status_code == 200, judged.text
        results = {r["id"]: r for r in client.get(f"{base}/red-results", headers=h["drill"]).json()}
        assert [results[i]["scored_points"] for i in ids] == [2000, 1400]
        assert results[ids[1]]["score_note"] == "同一漏洞第2次提交 ×0.7"

        # 5. a blue report, pre-filled with what edusoc saw: the SQL injection alert and the red address
        report = client.post(f"{base}/blue-reports", headers=h["school1"], json={
            "red_result_id": ids[0], "narrative": {"监测发现": "收到 SQL 注入告警", "应急处置": "封禁 198.51.100.7"}})
        assert report.status_code == 201, report.text
        prefill = report.json()["prefill"]
        sqli_row = next(row for row in run.coverage if row.scenario == "sql_injection")
        assert prefill["time_to_first_alert_seconds"] == sqli_row.time_to_detect_seconds
        assert prefill["first_alert_rule"] in sqli_row.rules and "SQL Injection Attempt In URL Query String" in sqli_row.rules
        assert (prefill["attacker_addresses_detected"], prefill["address_coverage"]) == (["198.51.100.7"], 1.0)
        scored = client.post(f"{base}/blue-reports/{report.json()['id']}/judgement", headers=h["judge"],
                             json={"dimension_scores": {"监测发现": 25, "分析研判": 15, "应急处置": 20}, "bonus": 600})
        assert scored.status_code == 200, scored.text

        # 6. the board, by hand: 扣分 2000 + 1400 = 3400; 基础得分 2000 × 60 % × 80 % = 960; 附加分 600;
        #    防护值 (960/3400 + 600/3000 × 0.2) × 10000 = 3223.53; 实验小学 lost nothing: (0.8 + 0) × 10000 = 8000
        board = client.get(f"{base}/scoreboard", headers=h["drill"]).json()
        assert board["team_totals"] == {"红队A": 3400}
        rows = {row["unit_id"]: row for row in board["defenders"]}
        assert (rows[school1]["deduction"], rows[school1]["base"], rows[school1]["bonus"]) == (3400, 960, 600)
        assert rows[school1]["protection"] == round((960 / 3400 + 600 / 3000 * 0.2) * 10000, 2) == 3223.53
        assert rows[school2]["protection"] == 8000
    finally:
        runtime.close()
