"""Login hardening (issue 14): lockout per account and per address, no user-name oracle, password policy, sessions."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from soc_core.models import AuditEntry
from tests.api_helpers import DemoProcess, start_demo_process

STRONG = "Wachdienst-2026"


@pytest.fixture
def demo(tmp_path, clock) -> Iterator[DemoProcess]:
    process = start_demo_process(tmp_path, clock, auth={"require_mfa": False, "session_idle_minutes": 30})
    yield process
    process.runtime.close()


def _token(demo: DemoProcess, username: str, password: str, address: str = "testclient"):  # type: ignore[no-untyped-def]
    return demo.client.post("/api/v1/auth/token", data={"username": username, "password": password})


def _actions(demo: DemoProcess, action: str) -> int:
    with demo.runtime.sessions() as session:
        return session.query(AuditEntry).filter_by(action=action).count()


def test_five_wrong_passwords_lock_the_account_even_for_the_right_one(demo, clock):
    for _ in range(5):
        assert _token(demo, "duty", "wrong password").status_code == 401
    locked = _token(demo, "duty", "edusoc-demo")
    assert locked.status_code == 423
    assert "已锁定" in locked.json()["detail"]["message_zh"] and "15 分钟" in locked.json()["detail"]["message_zh"]
    assert int(locked.headers["retry-after"]) == 15 * 60 + 1
    assert _actions(demo, "auth.locked") == 1 and _actions(demo, "auth.refused_locked") == 1
    clock.advance(timedelta(minutes=15, seconds=1))
    assert _token(demo, "duty", "edusoc-demo").json()["status"] == "ok"


def test_a_success_forgets_earlier_failures(demo):
    for _ in range(4):
        _token(demo, "duty", "wrong password")
    assert _token(demo, "duty", "edusoc-demo").status_code == 200
    for _ in range(4):
        _token(demo, "duty", "wrong password")
    assert _token(demo, "duty", "edusoc-demo").status_code == 200


def test_an_unknown_name_answers_and_locks_exactly_like_a_known_one(demo):
    known = [_token(demo, "duty", "wrong password") for _ in range(6)]
    unknown = [_token(demo, "no-such-user", "wrong password") for _ in range(6)]
    assert [r.status_code for r in known] == [r.status_code for r in unknown] == [401] * 5 + [423]
    assert known[0].json() == unknown[0].json()


def test_one_address_guessing_many_names_is_locked_out(demo):
    settings = demo.runtime.settings.auth
    for index in range(settings.address_max_failures):
        _token(demo, f"guess{index}", "wrong password")
    refused = _token(demo, "school1", "edusoc-demo")
    assert refused.status_code == 423 and "来源地址" in refused.json()["detail"]["message_zh"]


def test_the_password_policy_refuses_weak_passwords_for_new_users(demo):
    admin = demo.login("admin")
    unit_id = demo.unit("DEMO-CITY").id
    for password, reason in (("12345678", "太短"), ("abcdefghijklmn", "太简单"), ("Newadmin.2026", "用户名")):
        response = demo.client.post("/api/v1/users", json={"username": "Newadmin.2026" if reason == "用户名" else "newadmin",
                                                            "password": password, "role": "system_admin", "unit_id": unit_id},
                                    headers=admin)
        assert response.status_code == 422 and reason in response.json()["detail"]["message_zh"], (password, response.text)
    created = demo.client.post("/api/v1/users", json={"username": "newadmin", "password": STRONG, "role": "system_admin",
                                                      "unit_id": unit_id}, headers=admin)
    assert created.status_code == 201, created.text


@pytest.mark.parametrize("username", ["", "<img src=x onerror=alert(1)>", "a" * 65, "张 三"])
def test_user_names_are_validated(demo, username):
    response = demo.client.post("/api/v1/users", json={"username": username, "password": STRONG, "role": "duty_officer",
                                                       "unit_id": demo.unit("DEMO-CITY").id}, headers=demo.login("admin"))
    assert response.status_code == 422


def test_changing_a_password_checks_policy_and_history_and_ends_other_sessions(demo):
    admin = demo.login("admin")
    demo.client.post("/api/v1/users", json={"username": "li.duty", "password": STRONG, "role": "duty_officer",
                                            "unit_id": demo.unit("DEMO-CITY").id}, headers=admin)
    first, second = (demo.client.post("/api/v1/auth/token", data={"username": "li.duty", "password": STRONG}).json()["access_token"]
                     for _ in range(2))
    headers = {"Authorization": f"Bearer {first}"}
    change = lambda new: demo.client.post("/api/v1/auth/password", json={"current_password": STRONG, "new_password": new},  # noqa: E731
                                          headers=headers)
    assert change("short").status_code == 422
    assert "最近" in change(STRONG).json()["detail"]["message_zh"]  # the same password again is a reuse
    assert change("Wachdienst-2027").status_code == 204
    assert demo.client.get("/api/v1/auth/me", headers=headers).status_code == 200  # this session stays
    assert demo.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {second}"}).status_code == 401


def test_a_disabled_users_tokens_stop_at_once(demo):
    duty = demo.login("duty")
    admin = demo.login("admin")
    with demo.runtime.sessions() as session:
        from soc_core.models import User

        duty_id = session.query(User).filter_by(username="duty").one().id
    assert demo.client.get("/api/v1/incidents", headers=duty).status_code == 200
    disabled = demo.client.post(f"/api/v1/users/{duty_id}/disable", headers=admin)
    assert disabled.status_code == 200 and disabled.json()["active"] is False
    assert demo.client.get("/api/v1/incidents", headers=duty).status_code == 401
    assert _token(demo, "duty", "edusoc-demo").status_code == 401
    demo.client.post(f"/api/v1/users/{duty_id}/enable", headers=admin)
    assert _token(demo, "duty", "edusoc-demo").status_code == 200


def test_sessions_are_listed_and_ended(demo):
    first = demo.login("duty")
    second = demo.login("duty")
    sessions = demo.client.get("/api/v1/auth/sessions", headers=first).json()
    assert len(sessions) == 2 and sum(s["current"] for s in sessions) == 1
    other = next(s for s in sessions if not s["current"])
    assert demo.client.delete(f"/api/v1/auth/sessions/{other['id']}", headers=first).status_code == 204
    assert demo.client.get("/api/v1/incidents", headers=second).status_code == 401
    assert demo.client.post("/api/v1/auth/logout", headers=first).status_code == 204
    assert demo.client.get("/api/v1/incidents", headers=first).status_code == 401


def test_an_idle_session_ends(demo, clock):
    headers = demo.login("duty")
    clock.advance(timedelta(minutes=29))
    assert demo.client.get("/api/v1/incidents", headers=headers).status_code == 200
    clock.advance(timedelta(minutes=29))  # active 29 minutes ago: still alive
    assert demo.client.get("/api/v1/incidents", headers=headers).status_code == 200
    clock.advance(timedelta(minutes=31))
    assert demo.client.get("/api/v1/incidents", headers=headers).status_code == 401
    assert _actions(demo, "auth.idle_timeout") == 1


def test_only_system_admins_administer_users(demo):
    assert demo.client.get("/api/v1/users", headers=demo.login("duty")).status_code == 403
    assert demo.client.get("/api/v1/users", headers=demo.login("admin")).status_code == 200
