"""The fuzzing gate (issue 14): schemathesis generates requests for every operation of the OpenAPI schema, as a
duty officer and as a system admin; no answer may be a 5xx (or an unhandled exception).

Bounded so the run stays well under two minutes: MAX_EXAMPLES cases per operation, generation only (no shrinking,
no example database). A request that logged the fuzzing identity out (it may end its own sessions or reset its
own password) gets a fresh session and is retried, so every operation is exercised authenticated.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from soc_core.login import open_session
from soc_core.models import User
from tests.api_helpers import DemoProcess, start_demo_process

MAX_EXAMPLES = 8
# Logging in is fuzzed by tests/test_auth_login.py; here it would only lock the fuzzing accounts out. The live
# stream never ends by design (tests/test_live_stream.py reads it).
SKIPPED = {"POST /api/v1/auth/token", "POST /api/v1/auth/session", "GET /api/v1/stream"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Iterator[DemoProcess]:
    from datetime import datetime, timezone

    from soc_core.clock import ManualClock

    clock = ManualClock(datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc))
    process = start_demo_process(tmp_path_factory.mktemp("fuzz"), clock)
    yield process
    process.runtime.close()


def _fresh_session(demo: DemoProcess, username: str) -> dict[str, str]:
    """A session made directly (whatever the fuzzer did to the account's password, state or lockout)."""
    with demo.runtime.sessions() as session:
        user = session.query(User).filter_by(username=username).one()
        user.active = True
        accepted = open_session(session, demo.runtime.clock, 12.0, user, "fuzz")
        return {"Authorization": f"Bearer {accepted.token}"}


@pytest.mark.parametrize("username", ["duty", "admin"])
def test_no_operation_answers_5xx(demo, username):
    schema = schemathesis.openapi.from_asgi("/openapi.json", demo.runtime.app)
    headers = _fresh_session(demo, username)
    cases = 0
    failures: dict[str, tuple[int, Any]] = {}

    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.label in SKIPPED:
            continue

        @given(operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        def exercise(case: Any) -> None:
            nonlocal cases, headers
            cases += 1
            try:
                response = case.call(headers=headers)
                if response.status_code == 401:
                    headers = _fresh_session(demo, username)
                    response = case.call(headers=headers)
                status = response.status_code
            except Exception as exc:  # TestClient re-raises what the app did not handle: a 500 for a real client
                status, response = 500, repr(exc)
            if status >= 500:
                failures.setdefault(operation.label, (status, case.as_curl_command() if hasattr(case, "as_curl_command") else case))

        exercise()
        demo.runtime.clock.advance(timedelta(seconds=1))  # type: ignore[attr-defined]
    print(f"schemathesis as {username}: {cases} cases, {len(failures)} operations answered 5xx")
    assert cases > 100
    assert not failures, failures
