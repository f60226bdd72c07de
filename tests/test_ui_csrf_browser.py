"""CSRF in a real Chromium (issue 14): a page on another port of the same host is "same-site", so the SameSite=Strict
session cookie rides along with its form post; the server refuses the post because the browser says where it came from."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from incidents import Grade, Source, open_incident
from soc_core.clock import ManualClock
from tests.api_helpers import DemoProcess, LiveServer, serving, start_demo_process
from tests.browser_session import log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def site(tmp_path) -> Iterator[tuple[DemoProcess, LiveServer, int]]:
    clock = ManualClock(datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc))
    demo = start_demo_process(tmp_path, clock)
    with demo.runtime.sessions() as session:
        incident = open_incident(session, clock, demo.runtime.settings.incidents, "duty", "网站SQL注入攻击",
                                 demo.unit("DEMO-SCHOOL-1"), Grade.II, Source.DETECTED)
        session.commit()
    with serving(demo) as live:
        yield demo, live, incident.id


def _attacker_page(target: str) -> ThreadingHTTPServer:
    """Another port on the same host, serving a page whose form posts a comment to the incident at once."""
    html = (f'<form method="post" action="{target}"><input name="text" value="伪造的评论 forged"></form>'
            "<script>document.forms[0].submit()</script>").encode()

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_form_on_another_port_cannot_act_with_the_session_cookie(browser, site):
    demo, live, incident_id = site
    page = log_in(browser, live.base_url, "duty")
    attacker = _attacker_page(f"{live.base_url}/incidents/{incident_id}/comment")
    try:
        with page.expect_response(lambda r: r.url.endswith(f"/incidents/{incident_id}/comment")) as answer:
            page.goto(f"http://127.0.0.1:{attacker.server_address[1]}/")
        assert answer.value.status == 403
        assert "跨站" in page.content()
    finally:
        attacker.shutdown()
    # the incident's own page posts the same form and it works
    page.goto(f"{live.base_url}/incidents/{incident_id}")
    page.fill("#comment-form [name=text]", "值班员的评论")
    page.click("#comment-form button[type=submit]")
    page.wait_for_selector("text=值班员的评论")
    detail = demo.client.get(f"/api/v1/incidents/{incident_id}", headers=demo.login("duty")).json()
    assert [t["text"] for t in detail["timeline"] if t["kind"] == "comment"] == ["值班员的评论"]
