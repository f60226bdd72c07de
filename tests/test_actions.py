"""Action adapters against real servers on loopback: an HTTP server thread and an aiosmtpd SMTP server.

Delivery is retried on the scheduler (the clock moves, nothing sleeps) and every attempt is logged.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from detection_rules import Alert
from incidents import fold_alerts
from playbooks.actions import ActionService, Message
from playbooks.deadlines import DeadlineService
from playbooks.models import ActionAttempt, ActionDelivery
from playbooks.playbook import load_playbooks
from playbooks.scheduler import Scheduler
from soc_core.config import ActionSettings, IncidentSettings
from soc_core.events import format_timestamp
from soc_core.org import UnitKind
from soc_core.repositories import create_unit


class Receiver:
    """A loopback HTTP server that records requests and answers from a script of (status, body)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, object]] = []
        self.script: list[tuple[int, dict[str, object]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status, answer = receiver.script.pop(0) if receiver.script else (200, {"errcode": 0, "errmsg": "ok"})
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def json(self, n: int) -> dict[str, object]:
        return json.loads(self.requests[n]["body"])  # type: ignore[arg-type]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, list[bytes]]]:
    from aiosmtpd.controller import Controller

    received: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
            received.append(envelope.original_content)
            return "250 Message accepted"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port, received
    controller.stop()


def _service(engine, sessions, clock, channels: dict[str, dict[str, object]], **settings: object):  # type: ignore[no-untyped-def]
    scheduler = Scheduler(engine, clock)
    actions = ActionService(sessions, clock, ActionSettings(channels=channels, **settings), scheduler)
    return scheduler, actions


@pytest.fixture
def engine(sessions):  # type: ignore[no-untyped-def]
    return sessions.kw["bind"]


def _send(sessions, actions, channel: str, params: dict[str, object] | None = None) -> int:  # type: ignore[no-untyped-def]
    with sessions() as session:
        delivery = actions.enqueue(session, channel, Message("[edusoc] 重大事件 #7", "示范区第一中学：网站SQL注入，处置时限 10:00", "open", None, params or {}))
        session.commit()
        return delivery.id


def _attempts(sessions, delivery_id: int) -> list[ActionAttempt]:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return list(session.scalars(select(ActionAttempt).where(ActionAttempt.delivery_id == delivery_id).order_by(ActionAttempt.id)))


def test_wecom_robot_gets_markdown_and_failures_are_retried_and_logged(engine, sessions, clock, receiver):
    scheduler, actions = _service(engine, sessions, clock, {"duty": {"adapter": "wecom", "url": f"{receiver.url}/cgi-bin/webhook/send?key=k"}})
    receiver.script = [(500, {"error": "busy"}), (200, {"errcode": 45009, "errmsg": "api freq out of limit"})]
    delivery_id = _send(sessions, actions, "duty")
    scheduler.run_due()
    clock.advance(timedelta(seconds=29))
    assert scheduler.run_due() == []  # the retry waits 30 s
    clock.advance(timedelta(seconds=1))
    scheduler.run_due()
    clock.advance(timedelta(seconds=120))
    scheduler.run_due()
    attempts = _attempts(sessions, delivery_id)
    assert [(a.ok, a.error) for a in attempts] == [(False, "HTTP 500"), (False, "robot errcode 45009"), (True, "")]
    assert receiver.json(2) == {"msgtype": "markdown", "markdown": {"content": "**[edusoc] 重大事件 #7**\n示范区第一中学：网站SQL注入，处置时限 10:00"}}
    with sessions() as session:
        assert session.get(ActionDelivery, delivery_id).status == "sent"
    scheduler.shutdown()


def test_dingtalk_robot_signs_each_request(engine, sessions, clock, receiver):
    scheduler, actions = _service(engine, sessions, clock, {"ding": {"adapter": "dingtalk", "url": f"{receiver.url}/robot/send?access_token=t", "secret": "SECabc"}})
    _send(sessions, actions, "ding")
    scheduler.run_due()
    query = urllib.parse.parse_qs(urllib.parse.urlparse(receiver.requests[0]["path"]).query)  # type: ignore[arg-type]
    timestamp = query["timestamp"][0]
    assert timestamp == str(int(clock.now().timestamp() * 1000))
    expected = base64.b64encode(hmac.new(b"SECabc", f"{timestamp}\nSECabc".encode(), hashlib.sha256).digest()).decode()
    assert query["sign"][0] == expected
    assert receiver.json(0)["msgtype"] == "markdown"
    scheduler.shutdown()


def test_generic_webhook_is_signed_with_hmac(engine, sessions, clock, receiver):
    scheduler, actions = _service(engine, sessions, clock, {"soar": {"adapter": "webhook", "url": f"{receiver.url}/hook", "secret": "s3"}})
    _send(sessions, actions, "soar")
    scheduler.run_due()
    request = receiver.requests[0]
    assert request["headers"]["X-Edusoc-Signature"] == "sha256=" + hmac.new(b"s3", request["body"], hashlib.sha256).hexdigest()  # type: ignore[index]
    assert receiver.json(0)["event"] == "open"
    scheduler.shutdown()


def test_delivery_gives_up_after_max_attempts(engine, sessions, clock):
    scheduler, actions = _service(engine, sessions, clock, {"dead": {"adapter": "webhook", "url": "http://127.0.0.1:9/nothing-listens"}},
                                  max_attempts=3, retry_seconds=[10])
    delivery_id = _send(sessions, actions, "dead")
    for _ in range(5):
        scheduler.run_due()
        clock.advance(timedelta(seconds=10))
    assert len(_attempts(sessions, delivery_id)) == 3
    with sessions() as session:
        delivery = session.get(ActionDelivery, delivery_id)
        assert delivery.status == "failed" and "ConnectError" in delivery.last_error
    scheduler.shutdown()


def test_email_goes_through_a_real_smtp_server(engine, sessions, clock, smtp_server):
    port, received = smtp_server
    scheduler, actions = _service(engine, sessions, clock, {"mail": {"adapter": "email", "smtp_host": "127.0.0.1", "smtp_port": port,
                                                                     "mail_from": "soc@edu.example", "mail_to": ["duty@edu.example"]}})
    delivery_id = _send(sessions, actions, "mail")
    scheduler.run_due()
    [raw] = received
    mail = message_from_bytes(raw, policy=default_policy)
    assert mail["Subject"] == "[edusoc] 重大事件 #7"
    assert "网站SQL注入" in mail.get_content()
    assert _attempts(sessions, delivery_id)[0].ok
    scheduler.shutdown()


def test_major_incident_playbook_blocks_the_attacker_through_the_blocklist_webhook(engine, sessions, clock, receiver, session):
    county = create_unit(session, "示范区教育局", UnitKind.COUNTY)
    school = create_unit(session, "示范区第一中学", UnitKind.SCHOOL, county)
    session.commit()
    scheduler, actions = _service(engine, sessions, clock, {"blocklist": {"adapter": "blocklist", "url": f"{receiver.url}/block"},
                                                           "duty": {"adapter": "wecom", "url": f"{receiver.url}/wecom"}})
    deadlines = DeadlineService(sessions, clock, IncidentSettings(), scheduler, load_playbooks(), on_action=actions.playbook_action)
    alert = Alert(id="a1", rule_id="r", rule_title="Webshell", level="critical", tags=(), timestamp=format_timestamp(clock.now()),
                  event_ids=("e1",), unit_id=str(school.id), matches={}, summary={"source.ip": "203.0.113.7"})
    with sessions() as s:
        [incident] = fold_alerts(s, clock, IncidentSettings(), [alert], on_open=deadlines.plan)
        assert incident.grade == "II" and incident.playbook == "major"
        s.commit()
    scheduler.run_due()
    paths = sorted(r["path"] for r in receiver.requests)  # type: ignore[type-var]
    assert paths == ["/block", "/wecom"]
    block = next(json.loads(r["body"]) for r in receiver.requests if r["path"] == "/block")  # type: ignore[arg-type]
    assert block["indicator"] == "203.0.113.7" and block["action"] == "block"
    scheduler.shutdown()
