"""The sensor's link to the collector: spooled batches sent with retry and backoff, and the heartbeat.

Wire contract (the collector implements the server side):
- ``POST {collector}/api/v1/ingest/events``: gzip NDJSON batch (see sensors.shipper), answered
  200 ``{"accepted", "duplicates", "rejected": [...]}``, 401 bad token, 413 too large, 400 malformed,
  429/5xx try later.
- ``POST {collector}/api/v1/ingest/heartbeat``: ``Authorization: Bearer <sensor token>``, JSON
  ``{"sensor_time": ISO 8601, "version": str, "counters": {"packets", "drops", "events",
  "spool_bytes", "spool_batches", "errors", ...}}``, answered 200 ``{"ok": true}``, 401 bad token.

Time comes from the injected clock: backoff and heartbeat deadlines are instants, never sleeps.
"""
from __future__ import annotations

import gzip
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from soc_core.clock import Clock
from soc_core.events import format_timestamp
from sensors.shipper import INGEST_PATH
from sensors.spool import DiskSpool

HEARTBEAT_PATH = "/api/v1/ingest/heartbeat"


@dataclass
class UplinkCounters:
    batches_sent: int = 0
    events_accepted: int = 0
    events_duplicate: int = 0
    events_rejected: int = 0  # refused one by one by the collector's validation
    batches_refused: int = 0  # 400: the collector could not read the batch at all (dropped, counted)
    send_failures: int = 0  # attempts that failed (network, 401, 429, 5xx); retried later
    heartbeats_sent: int = 0
    heartbeat_failures: int = 0


class Uplink:
    """Sends what the spool holds, oldest first, and the heartbeat when it is due."""

    def __init__(self, collector_url: str, token: str, spool: DiskSpool, clock: Clock, *, timeout: float = 30.0,
                 backoff_initial: float = 1.0, backoff_max: float = 300.0, heartbeat_seconds: float = 60.0,
                 version: str = "", client: httpx.Client | None = None) -> None:
        base = collector_url.rstrip("/")
        self.events_url, self.heartbeat_url = base + INGEST_PATH, base + HEARTBEAT_PATH
        self.spool, self.clock = spool, clock
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self.heartbeat_every = timedelta(seconds=heartbeat_seconds)
        self.version = version
        self._auth = {"Authorization": f"Bearer {token}"}
        self._client = client or httpx.Client(timeout=timeout)
        self.counters = UplinkCounters()
        self.failures_in_row = 0
        self.retry_at: datetime | None = None
        self.next_heartbeat: datetime | None = None
        self.last_error = ""

    def close(self) -> None:
        self._client.close()

    def send_pending(self, max_batches: int = 1000) -> int:
        """Send spooled batches until the spool is empty, an attempt fails, or ``max_batches``; returns how many went."""
        now = self.clock.now()
        if self.retry_at is not None and now < self.retry_at:
            return 0
        sent = 0
        while sent < max_batches and (item := self.spool.oldest()) is not None:
            path, body = item
            headers = {**self._auth, "Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}
            try:
                response = self._client.post(self.events_url, content=body, headers=headers)
            except httpx.TransportError as exc:
                self._failed(f"collector unreachable: {type(exc).__name__}: {exc}")
                return sent
            status = response.status_code
            if status == 200:
                self._accepted(response)
                self.spool.remove(path)
                self.failures_in_row, self.retry_at = 0, None
                sent += 1
            elif status == 413:
                self._split(path, body)
            elif status == 400:
                self.counters.batches_refused += 1
                self.last_error = f"collector refused a batch as malformed: {response.text[:200]}"
                self.spool.remove(path)
            else:  # 401 (token revoked or wrong: keep everything until it is fixed), 429, 5xx
                reason = "collector refused the sensor token (401)" if status == 401 else f"HTTP {status}"
                self._failed(reason, _retry_after(response))
                return sent
        return sent

    def heartbeat(self, counters: dict[str, Any]) -> bool:
        """Send the heartbeat if it is due; True when one was sent and acknowledged."""
        now = self.clock.now()
        if self.next_heartbeat is not None and now < self.next_heartbeat:
            return False
        self.next_heartbeat = now + self.heartbeat_every
        payload = {"sensor_time": format_timestamp(now), "version": self.version, "counters": counters}
        try:
            response = self._client.post(self.heartbeat_url, json=payload, headers=self._auth)
        except httpx.TransportError as exc:
            self.counters.heartbeat_failures += 1
            self.last_error = f"heartbeat: collector unreachable: {type(exc).__name__}"
            return False
        if response.status_code != 200:
            self.counters.heartbeat_failures += 1
            self.last_error = f"heartbeat: HTTP {response.status_code}"
            return False
        self.counters.heartbeats_sent += 1
        return True

    def _accepted(self, response: httpx.Response) -> None:
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        answer = answer if isinstance(answer, dict) else {}
        self.counters.batches_sent += 1
        self.counters.events_accepted += int(answer.get("accepted", 0) or 0)
        self.counters.events_duplicate += int(answer.get("duplicates", 0) or 0)
        self.counters.events_rejected += len(answer.get("rejected", []) or [])

    def _split(self, path: Any, body: bytes) -> None:
        """413: the collector's limit is smaller than our batch; spool it again as two halves."""
        lines = gzip.decompress(body).splitlines(keepends=True)
        self.spool.remove(path)
        if len(lines) <= 1:
            self.counters.batches_refused += 1
            self.last_error = "collector refused a single event as too large (413)"
            return
        half = len(lines) // 2
        for part in (lines[:half], lines[half:]):
            self.spool.put(gzip.compress(b"".join(part), mtime=0))

    def _failed(self, reason: str, retry_after: float | None = None) -> None:
        self.counters.send_failures += 1
        self.failures_in_row += 1
        self.last_error = reason
        delay = retry_after if retry_after is not None else self.backoff_initial * 2 ** (self.failures_in_row - 1)
        self.retry_at = self.clock.now() + timedelta(seconds=min(delay, self.backoff_max))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self.counters)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return min(max(float(response.headers.get("Retry-After", "")), 0.0), 3600.0)
    except ValueError:
        return None

