"""Two-factor login (GB/T 22239-2019 L3: two factors, one cryptographic): enrol, log in with TOTP, recovery codes."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest

from soc_core.models import AuditEntry
from soc_core.models_accounts import RecoveryCode
from tests.api_helpers import DemoProcess, start_demo_process

PASSWORD = "Nachtschicht-2026"


@pytest.fixture
def demo(tmp_path, clock) -> Iterator[DemoProcess]:
    process = start_demo_process(tmp_path, clock)  # auth.require_mfa is on by default
    process.client.post("/api/v1/users", json={"username": "wang.duty", "password": PASSWORD, "role": "duty_officer",
                                               "unit_id": process.unit("DEMO-CITY").id}, headers=process.login("admin"))
    yield process
    process.runtime.close()


def _password_step(demo: DemoProcess) -> dict:  # type: ignore[type-arg]
    response = demo.client.post("/api/v1/auth/token", data={"username": "wang.duty", "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()


def _enrol(demo: DemoProcess, clock) -> tuple[pyotp.TOTP, list[str]]:  # type: ignore[no-untyped-def]
    step = _password_step(demo)
    assert step["status"] == "mfa_enrolment_required" and step["access_token"] is None
    enrolment = demo.client.post("/api/v1/auth/mfa/enrolment", json={"mfa_token": step["mfa_token"]}).json()
    uri = urlparse(enrolment["otpauth_uri"])
    assert uri.scheme == "otpauth" and parse_qs(uri.query)["secret"] == [enrolment["secret"]]
    totp = pyotp.TOTP(enrolment["secret"])
    confirmed = demo.client.post("/api/v1/auth/mfa/enrolment/confirm", json={"mfa_token": step["mfa_token"], "code": totp.at(clock.now())})
    assert confirmed.status_code == 200, confirmed.text
    body = confirmed.json()
    assert body["status"] == "ok" and len(body["recovery_codes"]) == 10
    return totp, body["recovery_codes"]


def test_a_new_user_must_enrol_before_any_token_is_issued(demo):
    step = _password_step(demo)
    assert step["status"] == "mfa_enrolment_required"
    # the challenge token is not a session
    assert demo.client.get("/api/v1/incidents", headers={"Authorization": f"Bearer {step['mfa_token']}"}).status_code == 401


def test_login_needs_the_password_and_a_fresh_totp_code(demo, clock):
    totp, _ = _enrol(demo, clock)
    clock.advance(timedelta(minutes=1))
    step = _password_step(demo)
    assert step["status"] == "mfa_required"
    wrong = demo.client.post("/api/v1/auth/mfa", json={"mfa_token": step["mfa_token"], "code": "000000"})
    assert wrong.status_code == 401
    code = totp.at(clock.now())
    ok = demo.client.post("/api/v1/auth/mfa", json={"mfa_token": step["mfa_token"], "code": code})
    assert ok.status_code == 200 and ok.json()["status"] == "ok"
    headers = {"Authorization": f"Bearer {ok.json()['access_token']}"}
    assert demo.client.get("/api/v1/auth/me", headers=headers).json()["mfa_enrolled"] is True
    # the same code cannot be replayed, and a spent challenge cannot be reused
    again = _password_step(demo)
    assert demo.client.post("/api/v1/auth/mfa", json={"mfa_token": again["mfa_token"], "code": code}).status_code == 401
    assert demo.client.post("/api/v1/auth/mfa", json={"mfa_token": step["mfa_token"], "code": code}).status_code == 401


def test_the_challenge_expires(demo, clock):
    totp, _ = _enrol(demo, clock)
    step = _password_step(demo)
    clock.advance(timedelta(minutes=6))
    late = demo.client.post("/api/v1/auth/mfa", json={"mfa_token": step["mfa_token"], "code": totp.at(clock.now())})
    assert late.status_code == 401 and "过期" in late.json()["detail"]["message_zh"]


def test_wrong_codes_count_toward_the_lockout(demo, clock):
    totp, _ = _enrol(demo, clock)
    clock.advance(timedelta(minutes=1))
    for _ in range(5):
        step = _password_step(demo)
        demo.client.post("/api/v1/auth/mfa", json={"mfa_token": step["mfa_token"], "code": "123456"})
    locked = demo.client.post("/api/v1/auth/token", data={"username": "wang.duty", "password": PASSWORD})
    assert locked.status_code == 423


def test_a_recovery_code_works_once_and_is_stored_hashed(demo, clock):
    _, codes = _enrol(demo, clock)
    with demo.runtime.sessions() as session:
        stored = {row.code_hash for row in session.query(RecoveryCode)}
    assert len(stored) == 10 and not set(codes) & stored
    step = _password_step(demo)
    assert demo.client.post("/api/v1/auth/mfa", json={"mfa_token": step["mfa_token"], "code": codes[0]}).status_code == 200
    step = _password_step(demo)
    assert demo.client.post("/api/v1/auth/mfa", json={"mfa_token": step["mfa_token"], "code": codes[0]}).status_code == 401
    with demo.runtime.sessions() as session:
        assert session.query(AuditEntry).filter_by(action="mfa.recovery_code_used").count() == 1


def test_an_admin_reset_makes_the_user_enrol_again(demo, clock):
    _enrol(demo, clock)
    admin = demo.login("admin")
    user = next(u for u in demo.client.get("/api/v1/users", params={"q": "wang"}, headers=admin).json())
    assert user["mfa_enrolled"] is True
    assert demo.client.post(f"/api/v1/users/{user['id']}/mfa/reset", headers=admin).json()["mfa_enrolled"] is False
    assert _password_step(demo)["status"] == "mfa_enrolment_required"


def test_demo_accounts_are_exempt_and_say_so(demo):
    assert demo.client.post("/api/v1/auth/token", data={"username": "duty", "password": "edusoc-demo"}).json()["status"] == "ok"
    admin = demo.login("admin")
    users = {u["username"]: u for u in demo.client.get("/api/v1/users", headers=admin).json()}
    assert users["duty"]["mfa_exempt"] is True and users["wang.duty"]["mfa_exempt"] is False


def test_the_login_form_takes_the_totp_code_in_the_same_post(demo, clock):
    totp, _ = _enrol(demo, clock)
    clock.advance(timedelta(minutes=1))
    without = demo.client.post("/login", data={"username": "wang.duty", "password": PASSWORD}, follow_redirects=False)
    assert without.status_code == 401 and "动态口令" in without.text
    clock.advance(timedelta(minutes=1))
    with_code = demo.client.post("/login", data={"username": "wang.duty", "password": PASSWORD, "otp": totp.at(clock.now())},
                                 follow_redirects=False)
    assert with_code.status_code == 303 and "edusoc_session" in with_code.cookies


def test_the_demo_says_at_start_that_its_accounts_skip_the_second_factor(capsys):
    from edusoc.serve import _print_demo_banner

    _print_demo_banner("http://127.0.0.1:8000")
    banner = capsys.readouterr().out
    assert "演示账户不启用两步登录" in banner and "without a second factor" in banner
