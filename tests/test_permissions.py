"""The RBAC specification: every route declares its action, and every OpenAPI route answers each identity as the
permission table (soc_core.permissions) says — 401 anonymous, 403 where the table says no, neither where it says
yes — plus hand-written spot checks of the defects the table fixes (issue 12)."""
from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute
from sqlalchemy import select

from collectors.ingest_api import build_ingest_router
from incidents import Grade, Source, open_incident
from soc_api import create_app
from soc_core.clock import ManualClock
from soc_core.models import Unit
from soc_core.org import Role
from soc_core.permissions import ACTION_KEY, ANONYMOUS_ACTIONS, GRANTS, SENSOR_ACTIONS, Action, actions_of, within
from tests.api_helpers import DemoProcess, start_demo_process

# identity -> the demo login it uses (school2 is the school admin of *another* school: the objects are school1's)
IDENTITIES: dict[str, str | None] = {
    "anonymous": None, "school_admin_other_school": "school2", "regulator": "regulator", "duty_officer": "duty",
    "drill_organizer": "drill", "system_admin": "admin", "sensor_token": None,
}
ROLE_OF = {"school_admin_other_school": Role.SCHOOL_ADMIN, "regulator": Role.REGULATOR, "duty_officer": Role.DUTY_OFFICER,
           "drill_organizer": Role.DRILL_ORGANIZER, "system_admin": Role.SYSTEM_ADMIN}
PARAMS = {"kind": "hosts", "fmt": "pdf"}  # any other path parameter gets an id that does not exist


def _all_routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # FastAPI's included router
            yield from _all_routes(route.original_router.routes)


class _NoContext:
    pass


def _app_routes() -> list[APIRoute]:
    ingest: APIRouter = build_ingest_router(None, None)  # type: ignore[arg-type]  # only listed, never called
    return list(_all_routes(create_app(_NoContext(), [ingest]).routes))  # type: ignore[arg-type]


def _openapi_operations() -> list[tuple[str, str, str]]:
    ingest: APIRouter = build_ingest_router(None, None)  # type: ignore[arg-type]
    paths = create_app(_NoContext(), [ingest]).openapi()["paths"]  # type: ignore[arg-type]
    return [(method.upper(), path, op.get(ACTION_KEY, "")) for path, ops in paths.items() for method, op in ops.items()]


# The live stream never ends by design; tests/test_live_stream.py checks who may open it.
OPERATIONS = [op for op in _openapi_operations() if op[:2] != ("GET", "/api/v1/stream")]


def test_every_route_declares_the_action_it_needs() -> None:
    """API and UI routes alike; a route without ``x-edusoc-action`` (or with an unknown one) fails here."""
    known = {a.value for a in Action}
    missing = []
    for route in _app_routes():
        declared = (route.openapi_extra or {}).get(ACTION_KEY)
        values = set(declared.values()) if isinstance(declared, dict) else {declared}
        if not declared or not values <= known:
            missing.append(f"{sorted(route.methods)} {route.path}")
    assert missing == []
    assert len(OPERATIONS) > 60  # the OpenAPI document lists the API routes the specification below covers


def expected(identity: str, action: Action) -> str:
    if identity == "anonymous":
        return "allowed" if action in ANONYMOUS_ACTIONS else "401"
    if identity == "sensor_token":
        return "allowed" if action in SENSOR_ACTIONS | ANONYMOUS_ACTIONS else "403"
    return "allowed" if ROLE_OF[identity] in GRANTS[action] else "403"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoProcess]:
    process = start_demo_process(tmp_path_factory.mktemp("rbac"), ManualClock(datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)))
    yield process
    process.runtime.close()


@pytest.fixture(scope="module")
def headers(demo: DemoProcess) -> dict[str, dict[str, str]]:
    found = {name: demo.login(user) for name, user in IDENTITIES.items() if user}
    found["anonymous"] = {}
    found["sensor_token"] = {"Authorization": f"Bearer {next(iter(demo.sensors.values())).token}"}
    return found


@pytest.mark.parametrize("identity", list(IDENTITIES))
@pytest.mark.parametrize(("method", "path", "action"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS])
def test_route_answers_as_the_table_says(demo: DemoProcess, headers: dict[str, dict[str, str]], identity: str, method: str,
                                         path: str, action: str) -> None:
    url = re.sub(r"\{(\w+)(:path)?\}", lambda m: PARAMS.get(m[1], "999999"), path)
    sent = headers[identity]
    if path == "/api/v1/auth/logout" and IDENTITIES[identity]:
        sent = demo.login(IDENTITIES[identity] or "")  # logging out ends the session: use one of its own
    status = demo.client.request(method, url, headers=sent).status_code
    want = expected(identity, Action(action))
    if want == "allowed":
        assert status not in (401, 403), f"{identity} {method} {path}: {status}, the table grants {action}"
    else:
        assert str(status) == want, f"{identity} {method} {path}: {status}, expected {want} for {action}"


# -- spot checks of the defects, against the table and through the API --------------------------------------
def test_table_spot_checks() -> None:
    assert Action.WORK_INCIDENT not in actions_of(Role.DRILL_ORGANIZER)
    assert Action.REGRADE not in actions_of(Role.DRILL_ORGANIZER) and Action.CLOSE_MAJOR_INCIDENT not in actions_of(Role.DRILL_ORGANIZER)
    assert Action.RUN_DRILL in actions_of(Role.DRILL_ORGANIZER)
    assert Action.REGRADE not in actions_of(Role.SCHOOL_ADMIN) and Action.REQUEST_REGRADE in actions_of(Role.SCHOOL_ADMIN)
    assert Action.REGRADE in actions_of(Role.DUTY_OFFICER)
    own = {Action.SIGN_IN, Action.VIEW, Action.READ_AUDIT, Action.TRY_RULE, Action.MANAGE_OWN_ACCOUNT}  # read, compute, own account
    writes = set(actions_of(Role.REGULATOR)) - own
    assert writes == {Action.DECLARE_KEY_PERIOD}
    assert Action.BE_ROSTERED not in actions_of(Role.REGULATOR)
    assert all(Action.INGEST not in actions_of(role) for role in Role)
    assert within("/1/4/9/", "/1/4/") and within("/1/4/", "/1/4/") and not within("/1/40/", "/1/4/")


@pytest.fixture(scope="module")
def incidents(demo: DemoProcess) -> dict[str, int]:
    """A 较大 (III) and a 重大 (II) incident at school 1, opened by hand."""
    runtime = demo.runtime
    with runtime.sessions() as session:
        school = session.scalars(select(Unit).where(Unit.code == "DEMO-SCHOOL-1")).one()
        made = {}
        for name, grade in (("larger", Grade.III), ("major", Grade.II)):
            incident = open_incident(session, runtime.clock, runtime.settings.incidents, "test", f"RBAC {name}", school, grade,
                                     Source.SELF_REPORTED, on_open=runtime.app.state.context.planner.plan)
            made[name] = incident.id
        session.commit()
    return made


def _post(demo: DemoProcess, headers: dict[str, str], url: str, body: dict[str, Any]) -> Any:
    return demo.client.post(url, json=body, headers=headers)


def test_drill_organizer_cannot_touch_a_real_incident(demo: DemoProcess, headers: dict[str, dict[str, str]],
                                                      incidents: dict[str, int]) -> None:
    drill = headers["drill_organizer"]
    major = incidents["major"]
    assert demo.client.get(f"/api/v1/incidents/{major}", headers=drill).status_code == 200  # may look
    refused = _post(demo, drill, f"/api/v1/incidents/{major}/grade", {"grade": "I", "reason": "演练升级"})
    assert refused.status_code == 403
    assert refused.json()["detail"]["message_zh"].startswith("演练组织方无权")  # Chinese first
    for status in ("acknowledged", "resolved", "closed"):
        assert _post(demo, drill, f"/api/v1/incidents/{major}/status", {"status": status}).status_code == 403


def test_grading_is_the_duty_centres(demo: DemoProcess, headers: dict[str, dict[str, str]], incidents: dict[str, int]) -> None:
    school1 = demo.login("school1")
    larger = incidents["larger"]
    assert _post(demo, school1, f"/api/v1/incidents/{larger}/grade", {"grade": "IV", "reason": "影响不大"}).status_code == 403
    assert _post(demo, headers["school_admin_other_school"], f"/api/v1/incidents/{larger}/comments", {"text": "x"}).status_code == 404
    duty = headers["duty_officer"]
    assert _post(demo, duty, f"/api/v1/incidents/{larger}/grade", {"grade": "IV", "reason": "核实后影响有限"}).status_code == 200
    empty = _post(demo, duty, f"/api/v1/incidents/{larger}/grade", {"grade": "III", "reason": " "})
    assert empty.status_code == 422 and set(empty.json()["detail"]) >= {"message_zh", "message_en"}


def test_a_school_cannot_close_a_major_incident(demo: DemoProcess, incidents: dict[str, int]) -> None:
    school1 = demo.login("school1")
    major = incidents["major"]
    for status in ("acknowledged", "resolved"):
        assert _post(demo, school1, f"/api/v1/incidents/{major}/status", {"status": status}).status_code == 200
    closing = _post(demo, school1, f"/api/v1/incidents/{major}/status", {"status": "closed"})
    assert closing.status_code == 403 and "close major incident" in closing.json()["detail"]["message_en"]


def test_regulator_writes_nothing_but_key_periods_and_is_never_rostered(demo: DemoProcess, headers: dict[str, dict[str, str]],
                                                                       incidents: dict[str, int]) -> None:
    regulator, duty = headers["regulator"], headers["duty_officer"]
    assert _post(demo, regulator, f"/api/v1/incidents/{incidents['larger']}/comments", {"text": "监管意见"}).status_code == 403
    school1 = demo.unit("DEMO-SCHOOL-1")
    starts = demo.runtime.clock.now() + timedelta(days=30)
    declared = _post(demo, regulator, "/api/v1/zero-reports/periods", {
        "name": "RBAC 重要时段", "starts_on": str(starts.date()), "ends_on": str((starts + timedelta(days=2)).date()),
        "deadline_hour": 17, "unit_ids": [school1.id]})
    assert declared.status_code == 201, declared.text
    city = demo.unit("DEMO-CITY")
    shift = _post(demo, duty, "/api/v1/duty/shifts", {
        "unit_id": city.id, "team": "市局值班组", "username": "regulator",
        "starts_at": (starts + timedelta(hours=1)).isoformat(), "ends_at": (starts + timedelta(hours=9)).isoformat()})
    assert shift.status_code == 422 and "不能排入值班表" in shift.json()["detail"]["message_zh"]
    assert _post(demo, regulator, "/api/v1/duty/shifts", {
        "unit_id": city.id, "team": "市局值班组", "username": "duty",
        "starts_at": (starts + timedelta(hours=1)).isoformat(), "ends_at": (starts + timedelta(hours=9)).isoformat()}).status_code == 403


def test_me_lists_the_actions_of_the_role(demo: DemoProcess) -> None:
    me = demo.client.get("/api/v1/auth/me", headers=demo.login("school1")).json()
    assert me["username"] == "school1" and me["role"] == "school_admin" and me["role_label"] == "学校网管"
    assert me["unit"]["code"] == "DEMO-SCHOOL-1" and me["unit_path"][-1] == me["unit"]["name"] and len(me["unit_path"]) == 3
    actions = [a["action"] for a in me["actions"]]
    assert actions == [a.value for a in actions_of(Role.SCHOOL_ADMIN)]
    assert "request_regrade" in actions and "regrade" not in actions
    assert all(" / " in a["label"] for a in me["actions"])


def test_readme_table_matches_the_code() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    for action in Action:
        row = next((line for line in readme.splitlines() if line.startswith(f"| `{action.value}`")), None)
        assert row is not None, f"README lacks the permission row of {action.value}"
        cells = [c.strip() for c in row.strip("|").split("|")][2:]
        assert [c == "✓" for c in cells[:len(Role)]] == [role in GRANTS[action] for role in Role], action.value
