"""Automated actions through adapters: generic webhook, WeCom and DingTalk robots, SMTP email, block-list webhook.

Each action becomes an ``ActionDelivery`` row; the scheduler delivers it, logs every attempt as an
``ActionAttempt`` and retries with back-off (``actions.retry_seconds``) until it is sent or
``actions.max_attempts`` is used up. Network I/O happens outside any database transaction.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import smtplib
import time
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from incidents.folding import add_timeline
from playbooks.deadlines import after_commit
from playbooks.models import ActionAttempt, ActionDelivery
from playbooks.playbook import ActionSpec
from playbooks.scheduler import Scheduler
from soc_core.audit import record_audit
from soc_core.clock import Clock, to_db
from soc_core.config import ActionSettings, ChannelSettings
from soc_core.models import Incident
from soc_core.models import Alert as AlertRecord

log = logging.getLogger("edusoc.actions")
DELIVER = "action.deliver"


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None = None
    response: str = ""
    error: str = ""


@dataclass(frozen=True)
class Message:
    subject: str
    body: str
    reason: str
    incident_id: int | None
    params: dict[str, Any]


def _signature(secret: str, payload: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def _post_json(url: str, payload: dict[str, Any], timeout: float, secret: str = "", robot: bool = False) -> Outcome:
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if secret and not robot:
        headers["X-Edusoc-Signature"] = _signature(secret, body)
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        return Outcome(False, error=f"{type(exc).__name__}: {exc}")
    text = response.text[:2000]
    if response.status_code >= 300:
        return Outcome(False, response.status_code, text, f"HTTP {response.status_code}")
    if robot:
        # WeCom and DingTalk answer 200 with {"errcode": N, "errmsg": …}; only errcode 0 is delivered.
        try:
            errcode = response.json().get("errcode")
        except ValueError:
            return Outcome(False, response.status_code, text, "robot answered without JSON")
        if errcode != 0:
            return Outcome(False, response.status_code, text, f"robot errcode {errcode}")
    return Outcome(True, response.status_code, text)


def _dingtalk_url(url: str, secret: str, now: datetime) -> str:
    """DingTalk 加签: timestamp (ms) and base64(HMAC-SHA256(secret, "timestamp\\nsecret")), URL-encoded."""
    if not secret:
        return url
    timestamp = str(int(now.timestamp() * 1000))
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    sign = urllib.parse.quote_plus(base64.b64encode(digest))
    return f"{url}{'&' if '?' in url else '?'}timestamp={timestamp}&sign={sign}"


def deliver(channel: ChannelSettings, message: Message, now: datetime, timeout: float) -> Outcome:
    """One delivery attempt of ``message`` to ``channel``."""
    text = f"{message.subject}\n{message.body}"
    if channel.adapter == "webhook":
        return _post_json(channel.url, {"event": message.reason, "subject": message.subject, "text": message.body,
                                        "incident_id": message.incident_id, **message.params}, timeout, channel.secret)
    if channel.adapter == "wecom":
        return _post_json(channel.url, {"msgtype": "markdown", "markdown": {"content": f"**{message.subject}**\n{message.body}"}},
                          timeout, robot=True)
    if channel.adapter == "dingtalk":
        return _post_json(_dingtalk_url(channel.url, channel.secret, now),
                          {"msgtype": "markdown", "markdown": {"title": message.subject, "text": f"### {message.subject}\n{message.body}"}},
                          timeout, robot=True)
    if channel.adapter == "blocklist":
        indicator = message.params.get("indicator")
        if not indicator:
            return Outcome(False, error="nothing to block: the action names no indicator")
        return _post_json(channel.url, {"action": "block", "type": message.params.get("type", "ip"), "indicator": indicator,
                                        "reason": message.subject, "incident_id": message.incident_id}, timeout, channel.secret)
    if channel.adapter == "email":
        return _send_mail(channel, message.subject, text, timeout)
    return Outcome(False, error=f"unknown adapter {channel.adapter}")


def _send_mail(channel: ChannelSettings, subject: str, text: str, timeout: float) -> Outcome:
    if not channel.mail_to:
        return Outcome(False, error="email channel has no recipients (mail_to)")
    mail = EmailMessage()
    mail["Subject"], mail["From"], mail["To"] = subject, channel.mail_from or "edusoc@localhost", ", ".join(channel.mail_to)
    mail.set_content(text, charset="utf-8")
    try:
        with smtplib.SMTP(channel.smtp_host, channel.smtp_port, timeout=timeout) as smtp:
            if channel.smtp_starttls:
                smtp.starttls()
            if channel.smtp_user:
                smtp.login(channel.smtp_user, channel.smtp_password)
            refused = smtp.send_message(mail)
    except (smtplib.SMTPException, OSError) as exc:
        return Outcome(False, error=f"{type(exc).__name__}: {exc}")
    if refused:
        return Outcome(False, response=str(refused), error="some recipients refused")
    return Outcome(True, 250, "accepted")


class ActionService:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock, settings: ActionSettings, scheduler: Scheduler) -> None:
        self.sessions, self.clock, self.settings, self.scheduler = sessions, clock, settings, scheduler
        scheduler.register(DELIVER, self._attempt)

    def enqueue(self, session: Session, channel: str, message: Message) -> ActionDelivery | None:
        """Queue ``message`` for ``channel`` in the caller's transaction; delivered after commit. None if not configured."""
        config = self.settings.channels.get(channel)
        if config is None:
            log.info("action for channel %r skipped: not configured (actions.channels)", channel)
            return None
        now = self.clock.now()
        delivery = ActionDelivery(channel=channel, adapter=config.adapter, incident_id=message.incident_id, reason=message.reason,
                                  subject=message.subject[:300], body=message.body, params=message.params, status="pending",
                                  attempts=0, created_at=to_db(now), next_attempt_at=to_db(now), last_error="")
        session.add(delivery)
        session.flush()
        delivery_id = delivery.id
        after_commit(session, lambda: self.scheduler.at(DELIVER, str(delivery_id), now, delivery_id=delivery_id))
        return delivery

    def playbook_action(self, session: Session, incident: Incident, action: ActionSpec, reason: str, text: str) -> None:
        """The DeadlineService hook: turn a playbook action into a queued delivery."""
        params: dict[str, Any] = {}
        if action.block:
            indicator = _latest_value(session, incident, action.block)
            if not indicator:
                return  # nothing to block (e.g. an incident registered by hand)
            params = {"indicator": indicator, "type": "ip" if action.block.endswith(".ip") else action.block}
        subject = f"[edusoc] {incident.unit.name} 事件 #{incident.id}：{incident.title}"
        if self.enqueue(session, action.channel, Message(subject, text, reason, incident.id, params)) is not None:
            add_timeline(session, self.clock, incident, "system", "action", f"动作已排队：{action.channel}（{reason}）", channel=action.channel)

    def _attempt(self, now: datetime, params: dict[str, Any]) -> None:
        with self.sessions() as session:
            delivery = session.get(ActionDelivery, params["delivery_id"])
            if delivery is None or delivery.status != "pending":
                return
            config = self.settings.channels.get(delivery.channel)
            message = Message(delivery.subject, delivery.body, delivery.reason, delivery.incident_id, dict(delivery.params))
        started = time.monotonic()
        outcome = deliver(config, message, now, self.settings.timeout_seconds) if config else Outcome(False, error="channel no longer configured")
        log.info("delivery %s to %s: %s in %.0f ms", params["delivery_id"], message.subject[:40], "ok" if outcome.ok else outcome.error,
                 (time.monotonic() - started) * 1000)
        with self.sessions() as session:
            delivery = session.get(ActionDelivery, params["delivery_id"])
            assert delivery is not None
            delivery.attempts += 1
            session.add(ActionAttempt(delivery_id=delivery.id, at=to_db(now), ok=outcome.ok, status_code=outcome.status_code,
                                      response=outcome.response, error=outcome.error))
            retry_at: datetime | None = None
            if outcome.ok:
                delivery.status, delivery.delivered_at, delivery.next_attempt_at = "sent", to_db(now), None
            elif delivery.attempts >= self.settings.max_attempts or config is None:
                delivery.status, delivery.next_attempt_at, delivery.last_error = "failed", None, outcome.error
                record_audit(session, self.clock, "system", "action.failed", "action_delivery", delivery.id, None,
                             channel=delivery.channel, attempts=delivery.attempts, error=outcome.error)
            else:
                waits = self.settings.retry_seconds or [60.0]
                retry_at = now + timedelta(seconds=waits[min(delivery.attempts - 1, len(waits) - 1)])
                delivery.next_attempt_at, delivery.last_error = to_db(retry_at), outcome.error
            session.commit()
        if retry_at is not None:
            self.scheduler.at(DELIVER, str(params["delivery_id"]), retry_at, delivery_id=params["delivery_id"])


def _latest_value(session: Session, incident: Incident, field: str) -> str | None:
    summary = session.scalar(select(AlertRecord.summary).where(AlertRecord.incident_id == incident.id)
                             .order_by(AlertRecord.timestamp.desc()).limit(1))
    value = (summary or {}).get(field)
    return str(value) if value else None
