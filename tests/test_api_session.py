"""The console's login: password, then the TOTP code when the user has a second factor, answered with an
HttpOnly cookie; who is logged in; logout."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from soc_core.models import AuditEntry
from tests.api_helpers import start_demo_process
from tests.test_auth_mfa import PASSWORD, _enrol


def test_console_session_logs_in_shows_who_and_logs_out(tmp_path, clock):
    demo = start_demo_process(tmp_path, clock)  # the demo's own accounts are exempt from the second factor
    client = demo.client
    refused = client.post("/api/v1/auth/session", json={"username": "duty", "password": "wrong"})
    assert refused.status_code == 401
    assert refused.json()["message_zh"] and "edusoc_session" not in refused.cookies
    assert client.get("/api/v1/auth/session").status_code == 401

    answer = client.post("/api/v1/auth/session", json={"username": "duty", "password": "edusoc-demo"})
    assert answer.status_code == 200 and answer.json()["status"] == "ok"
    assert "httponly" in answer.headers["set-cookie"].lower() and "samesite=strict" in answer.headers["set-cookie"].lower()
    me = client.get("/api/v1/auth/session").json()
    assert me == answer.json()["user"]
    assert me["role"] == "duty_officer" and me["role_label"] == "值班员" and me["unit"]["name"]
    assert me["display_name"] != me["username"]  # people's names on screen, not logins

    assert client.delete("/api/v1/auth/session").status_code == 204
    assert client.get("/api/v1/auth/session").status_code == 401
    with demo.runtime.sessions() as session:
        actions = list(session.scalars(select(AuditEntry.action).where(
            AuditEntry.action.like("auth.%"), AuditEntry.actor == "duty").order_by(AuditEntry.id)))
    assert actions[-1] == "auth.logout" and "auth.login" in actions
    demo.runtime.close()


def test_an_enrolled_user_needs_the_code_before_the_cookie_is_set(tmp_path, clock):
    demo = start_demo_process(tmp_path, clock)
    demo.client.post("/api/v1/users", json={"username": "wang.duty", "password": PASSWORD, "role": "duty_officer",
                                            "unit_id": demo.unit("DEMO-CITY").id}, headers=demo.login("admin"))
    totp, _ = _enrol(demo, clock)
    clock.advance(timedelta(minutes=1))
    client = demo.client
    client.cookies.clear()
    step = client.post("/api/v1/auth/session", json={"username": "wang.duty", "password": PASSWORD})
    assert step.status_code == 200 and step.json()["status"] == "mfa_required" and step.json()["user"] is None
    assert "set-cookie" not in step.headers
    token = step.json()["mfa_token"]
    wrong = client.post("/api/v1/auth/session", json={"username": "wang.duty", "mfa_token": token, "code": "000000"})
    assert wrong.status_code == 401 and wrong.json()["message_zh"] == "动态口令错误或已使用"
    right = client.post("/api/v1/auth/session", json={"username": "wang.duty", "mfa_token": token, "code": totp.at(clock.now())})
    assert right.status_code == 200 and right.json()["user"]["username"] == "wang.duty"
    assert client.get("/api/v1/auth/session").json()["username"] == "wang.duty"
    again = client.post("/api/v1/auth/session", json={"username": "wang.duty", "mfa_token": token, "code": totp.at(clock.now())})
    assert again.status_code == 401  # the challenge is spent
    demo.runtime.close()
