"""The console's login: a JSON password step that sets an HttpOnly cookie, who is logged in, logout."""
from __future__ import annotations

from sqlalchemy import select

from soc_core.models import AuditEntry
from tests.api_helpers import start_demo_process


def test_console_session_logs_in_shows_who_and_logs_out(tmp_path, clock):
    demo = start_demo_process(tmp_path, clock)
    client = demo.client
    refused = client.post("/api/v1/auth/session", json={"username": "duty", "password": "wrong"})
    assert refused.status_code == 401
    assert refused.json()["message_zh"] == "用户名或密码错误" and "edusoc_session" not in refused.cookies
    assert client.get("/api/v1/auth/session").status_code == 401

    answer = client.post("/api/v1/auth/session", json={"username": "duty", "password": "edusoc-demo"})
    assert answer.status_code == 200
    assert "httponly" in answer.headers["set-cookie"].lower() and "samesite=strict" in answer.headers["set-cookie"].lower()
    me = client.get("/api/v1/auth/session").json()
    assert me["role"] == "duty_officer" and me["role_label"] == "值班员" and me["unit"]["name"]
    assert me["display_name"] != me["username"]  # people's names on screen, not logins

    assert client.delete("/api/v1/auth/session").status_code == 204
    assert client.get("/api/v1/auth/session").status_code == 401
    with demo.runtime.sessions() as session:
        actions = list(session.scalars(select(AuditEntry.action).where(
            AuditEntry.action.like("auth.%"), AuditEntry.actor == "duty").order_by(AuditEntry.id)))
    assert actions == ["auth.failed", "auth.login", "auth.logout"]
    demo.runtime.close()
