"""Ship events to the collector: gzip'd NDJSON batches over HTTPS, retried with backoff.

Wire protocol: ``POST {collector}/api/v1/ingest/events`` with ``Authorization: Bearer <token>``,
``Content-Type: application/x-ndjson``, ``Content-Encoding: gzip``. The collector answers
200 ``{"accepted", "duplicates", "rejected": [{"line", "reason"}]}``, 401 (bad token),
413 (batch too large), 400 (malformed body), 429/5xx (try later).

Events carry stable ids, so resending a batch after a lost response never duplicates.
"""
from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import httpx

from sensors.spool import DiskSpool

INGEST_PATH = "/api/v1/ingest/events"


class ShipError(RuntimeError):
    """Shipping cannot go on (bad token); the report so far is attached."""

    def __init__(self, reason: str, report: ShipReport) -> None:
        super().__init__(reason)
        self.report = report


@dataclass(frozen=True, slots=True)
class RejectedEvent:
    batch: int  # 1-based batch number
    line: int  # 1-based line in that batch
    event_id: str | None
    reason: str


@dataclass
class ShipReport:
    batches_sent: int = 0  # batches the collector answered with 200
    batches_failed: int = 0  # batches given up on (4xx, or retries exhausted)
    events_sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    retries: int = 0
    batches_spooled: int = 0  # the collector was unreachable: kept in the spool, sent by a later run
    spooled_delivered: int = 0  # batches an earlier run had spooled, delivered by this one
    rejected: list[RejectedEvent] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # one line per failed batch: why

    @property
    def ok(self) -> bool:
        return self.batches_failed == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "batches_sent": self.batches_sent, "batches_failed": self.batches_failed,
            "events_sent": self.events_sent, "accepted": self.accepted, "duplicates": self.duplicates,
            "retries": self.retries, "batches_spooled": self.batches_spooled,
            "spooled_delivered": self.spooled_delivered,
            "rejected": [{"batch": r.batch, "line": r.line, "event_id": r.event_id, "reason": r.reason}
                         for r in self.rejected],
            "failures": list(self.failures),
        }


def encode_batch(events: list[dict[str, Any]]) -> bytes:
    """Gzip'd NDJSON, one event per line; mtime 0 so the same batch gives the same bytes."""
    lines = "".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n" for e in events)
    return gzip.compress(lines.encode("utf-8"), mtime=0)


def _batches(events: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(events)
    while batch := list(islice(iterator, size)):
        yield batch


class _Retry(Exception):
    def __init__(self, reason: str, delay: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.delay = reason, delay


class Shipper:
    """Sends events in batches of ``batch_size``; retries connection errors, 429 and 5xx
    up to ``max_attempts`` tries per batch with exponential backoff through ``sleep``."""

    def __init__(
        self,
        collector_url: str,
        token: str,
        *,
        batch_size: int = 1000,
        max_attempts: int = 5,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        client: httpx.Client | None = None,
        spool: DiskSpool | None = None,
    ) -> None:
        """With a ``spool``, a batch the collector cannot take (unreachable, 429, 5xx after
        ``max_attempts``) is kept there, as ``sensor run`` keeps it, instead of given up on; so are
        the batches after it, without waiting on the collector again. Each ``ship`` first sends
        what the spool holds (a later run, or ``sensor run`` on the same spool, delivers it)."""
        if batch_size < 1 or max_attempts < 1:
            raise ValueError("batch_size and max_attempts must be at least 1")
        self.url = collector_url.rstrip("/") + INGEST_PATH
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._sleep = sleep
        self._headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/x-ndjson",
            "Content-Encoding": "gzip",
        }
        self._client = client or httpx.Client(timeout=timeout)
        self._owns_client = client is None
        self.spool = spool
        self._spooling = False  # the collector failed this run: later batches go straight to the spool

    def __enter__(self) -> Shipper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def ship(self, events: Iterable[dict[str, Any]]) -> ShipReport:
        """Send all events; raises ShipError (with the report) when the collector refuses the token."""
        report = ShipReport()
        self._spooling = False
        if self.spool is not None:
            self._send_spooled(report)
        number = 0
        for batch in _batches(events, self.batch_size):
            number += 1
            if self._spooling and self.spool is not None:
                self.spool.put(encode_batch(batch))
                report.batches_spooled += 1
                continue
            self._send(batch, number, report)
        return report

    def _send_spooled(self, report: ShipReport) -> None:
        """Deliver what earlier runs spooled, oldest first; stop (and spool this run too) at the first failure."""
        assert self.spool is not None
        while (item := self.spool.oldest()) is not None:
            path, body = item
            try:
                outcome = self._judge(self._client.post(self.url, content=body, headers=self._headers))
            except httpx.TransportError as exc:
                outcome = _Retry(f"{type(exc).__name__}: {exc}")
            if isinstance(outcome, _Retry):
                self._spooling = True
                report.failures.append(f"spooled batches wait: collector still unavailable: {outcome.reason}")
                return
            status, answer = outcome
            if status == 401:
                raise ShipError("collector refused the sensor token (401); check --token", report)
            if status == 200:
                lines = [json.loads(line) for line in gzip.decompress(body).splitlines() if line.strip()]
                self._account(answer, lines, 0, 0, report)
                report.spooled_delivered += 1
            else:  # 400/413: it will never be taken as it is
                report.batches_failed += 1
                report.failures.append(f"spooled batch {path.name}: HTTP {status}: {answer}")
            self.spool.remove(path)

    def _send(self, batch: list[dict[str, Any]], number: int, report: ShipReport, offset: int = 0) -> None:
        body = encode_batch(batch)
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self._client.post(self.url, content=body, headers=self._headers)
                outcome = self._judge(response)
            except httpx.TransportError as exc:
                outcome = _Retry(f"{type(exc).__name__}: {exc}")
            if not isinstance(outcome, _Retry):
                break
            if attempt == self.max_attempts and self.spool is not None:
                self.spool.put(encode_batch(batch))
                report.batches_spooled += 1
                report.failures.append(f"batch {number}: spooled after {attempt} attempts: {outcome.reason}")
                self._spooling = True
                return
            if attempt == self.max_attempts:
                report.batches_failed += 1
                report.failures.append(f"batch {number}: gave up after {attempt} attempts: {outcome.reason}")
                return
            report.retries += 1
            delay = outcome.delay if outcome.delay is not None else self._backoff(attempt)
            self._sleep(min(delay, self.backoff_max))
        # Every path that runs out of attempts returned above: the last outcome is an answer, not a retry.
        assert not isinstance(outcome, _Retry)
        status, answer = outcome
        if status == 200:
            self._account(answer, batch, number, offset, report)
        elif status == 401:
            report.batches_failed += 1
            report.failures.append(f"batch {number}: collector refused the sensor token (401)")
            raise ShipError("collector refused the sensor token (401); check --token", report)
        elif status == 413 and len(batch) > 1:
            # Too large for the collector's limit: halve and send both halves.
            half = len(batch) // 2
            self._send(batch[:half], number, report, offset)
            self._send(batch[half:], number, report, offset + half)
        else:
            report.batches_failed += 1
            report.failures.append(f"batch {number}: HTTP {status}: {answer}")

    def _judge(self, response: httpx.Response) -> tuple[int, Any] | _Retry:
        status = response.status_code
        if status == 429 or status >= 500:
            return _Retry(f"HTTP {status}", _retry_after(response))
        if status == 200:
            try:
                return status, response.json()
            except ValueError:
                return status, {}
        return status, response.text[:200]

    def _account(self, answer: Any, batch: list[dict[str, Any]], number: int, offset: int,
                 report: ShipReport) -> None:
        answer = answer if isinstance(answer, dict) else {}
        report.batches_sent += 1
        report.events_sent += len(batch)
        report.accepted += int(answer.get("accepted", 0))
        report.duplicates += int(answer.get("duplicates", 0))
        for item in answer.get("rejected", []) or []:
            line = int(item.get("line", 0)) if isinstance(item, dict) else 0
            event_id = batch[line - 1].get("event.id") if 1 <= line <= len(batch) else None
            reason = str(item.get("reason", "")) if isinstance(item, dict) else str(item)
            report.rejected.append(RejectedEvent(number, offset + line, event_id, reason))

    def _backoff(self, attempt: int) -> float:
        return min(self.backoff_max, self.backoff_initial * 2 ** (attempt - 1))


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return min(max(float(value), 0.0), 300.0)
    except ValueError:
        return None


def ship_events(events: Iterable[dict[str, Any]], collector_url: str, token: str, **options: Any) -> ShipReport:
    """Send events to the collector and report what it did with them (options as for Shipper)."""
    with Shipper(collector_url, token, **options) as shipper:
        return shipper.ship(events)
