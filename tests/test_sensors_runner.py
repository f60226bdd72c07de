"""The sensor process: sources -> batches -> bounded disk spool -> collector, with backoff and heartbeat.

The collector here is a tiny HTTP server of the test (the real heartbeat endpoint is being built
in parallel); it speaks the wire contract of sensors.uplink and keeps events by id.
"""
from __future__ import annotations

import gzip
import json
import socket
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from scapy.utils import PcapReader

from sensors.config import SensorConfigError, load_sensor_config
from sensors.runner import SensorRunner
from sensors.samples import SAMPLE_PCAP
from soc_core.clock import ManualClock
from soc_core.events import validate_event
from tests.sensor_traffic import answer_json

TOKEN = "sensor-token-1"
AUTH_LINES = [f"Nov 23 12:59:{i:02d} gw sshd[8{i:02d}]: Failed password for root from 203.0.113.9 port {4000 + i} ssh2"
              for i in range(30)]


class Collector:
    """Events by id, heartbeats, and switches to answer 503 or to refuse tokens."""

    def __init__(self, port: int = 0) -> None:
        self.events: dict[str, dict] = {}
        self.deliveries = 0
        self.heartbeats: list[dict] = []
        self.status = 200
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._answer(401, {"detail": "bad token"})
                if collector.status != 200:
                    return self._answer(collector.status, {"detail": "later"})
                if self.path == "/api/v1/ingest/heartbeat":
                    collector.heartbeats.append(json.loads(body))
                    return self._answer(200, {"ok": True})
                lines = gzip.decompress(body).decode("utf-8").splitlines()
                new = 0
                for line in lines:
                    event = validate_event(json.loads(line))
                    new += event["event.id"] not in collector.events
                    collector.events[event["event.id"]] = event
                collector.deliveries += len(lines)
                self._answer(200, {"accepted": new, "duplicates": len(lines) - new, "rejected": []})

            def _answer(self, status, payload):
                answer_json(self, status, payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def collector():
    server = Collector()
    yield server
    server.close()


def write_config(tmp_path: Path, url: str, **overrides) -> Path:
    log = tmp_path / "auth.log"
    if not log.exists():
        log.write_text("\n".join(AUTH_LINES[:20]) + "\n", encoding="utf-8")
    config = {
        "sensor": {"name": "gate-test"},
        "collector": {"url": url, "token": TOKEN, "batch_events": 10, "batch_seconds": 5,
                      "backoff_initial_seconds": 2, "backoff_max_seconds": 60, "heartbeat_seconds": 30},
        "spool": {"dir": str(tmp_path / "spool"), "max_mb": 50},
        "state_dir": str(tmp_path / "state"),
        "logs": {"files": [{"path": str(log), "format": "auth"}]},
    }
    for key, value in overrides.items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    path = tmp_path / "sensor.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def make_runner(tmp_path, url, clock, **overrides) -> SensorRunner:
    return SensorRunner(load_sensor_config(write_config(tmp_path, url, **overrides)), clock)


def test_log_lines_are_batched_shipped_and_the_heartbeat_reports_counters(tmp_path, collector, clock):
    runner = make_runner(tmp_path, collector.url, clock)
    runner.start()
    runner.step()
    runner.stop()
    assert len(collector.events) == 20 and runner.spool.batches == 0
    assert {e["event.dataset"] for e in collector.events.values()} == {"edusoc.auth"}
    (beat,) = collector.heartbeats
    assert beat["version"] and beat["sensor_time"].endswith("Z")
    counters = beat["counters"]
    assert {"packets", "drops", "events", "spool_bytes", "spool_batches", "errors"} <= set(counters)
    assert counters["events"] == 20 and counters["spool_batches"] == 0 and counters["errors"] == 0


def test_heartbeat_is_sent_again_only_when_due(tmp_path, collector, clock):
    runner = make_runner(tmp_path, collector.url, clock)
    runner.step()
    runner.step()
    assert len(collector.heartbeats) == 1
    clock.advance(timedelta(seconds=31))
    runner.step()
    assert len(collector.heartbeats) == 2


def test_partial_batch_waits_for_batch_seconds(tmp_path, collector, clock):
    runner = make_runner(tmp_path, collector.url, clock)
    (tmp_path / "auth.log").write_text("\n".join(AUTH_LINES[:3]) + "\n", encoding="utf-8")
    runner.step()
    assert not collector.events and len(runner.batch) == 3
    clock.advance(timedelta(seconds=5))
    runner.step()
    assert len(collector.events) == 3


def test_collector_away_spools_to_disk_backs_off_and_delivers_everything_once_back(tmp_path, clock):
    port = free_port()  # nothing listens here yet: connections are refused
    runner = make_runner(tmp_path, f"http://127.0.0.1:{port}", clock)
    runner.step()
    assert runner.spool.batches == 2 and runner.uplink.counters.send_failures == 1
    retry_at = runner.uplink.retry_at
    assert retry_at == clock.now() + timedelta(seconds=2)
    runner.step()  # before retry_at: no new attempt
    assert runner.uplink.counters.send_failures == 1
    clock.advance(timedelta(seconds=2))
    runner.step()
    assert runner.uplink.counters.send_failures == 2
    assert runner.uplink.retry_at == clock.now() + timedelta(seconds=4)  # exponential backoff
    # a restart while away keeps the spool and the file offsets: nothing re-read, nothing lost
    restarted = make_runner(tmp_path, f"http://127.0.0.1:{port}", clock)
    assert restarted.spool.batches == 2
    with (tmp_path / "auth.log").open("a", encoding="utf-8") as handle:
        handle.write("\n".join(AUTH_LINES[20:]) + "\n")
    back = Collector(port)
    try:
        restarted.step()
        restarted.step()
        clock.advance(timedelta(seconds=5))
        restarted.step()
        assert len(back.events) == 30 and back.deliveries == 30 and restarted.spool.batches == 0
        assert restarted.counters()["events_accepted"] == 30
    finally:
        back.close()


def test_resent_batches_are_idempotent_by_event_id(tmp_path, collector, clock):
    runner = make_runner(tmp_path, collector.url, clock)
    runner.step()
    # the same lines read again from scratch (offsets lost): same ids, the collector keeps one copy
    (tmp_path / "state" / "offsets.json").unlink()
    again = make_runner(tmp_path, collector.url, clock)
    again.step()
    assert collector.deliveries == 40 and len(collector.events) == 20
    assert again.counters()["events_accepted"] == 0


def test_503_and_bad_token_keep_the_batches_for_later(tmp_path, collector, clock):
    collector.status = 503
    runner = make_runner(tmp_path, collector.url, clock)
    runner.step()
    assert runner.spool.batches == 2 and "HTTP 503" in runner.uplink.last_error
    collector.status = 200
    wrong = make_runner(tmp_path, collector.url, clock, collector={"token": "wrong"})
    clock.advance(timedelta(seconds=10))
    wrong.step()
    assert "401" in wrong.uplink.last_error and wrong.spool.batches == 2
    assert wrong.uplink.counters.heartbeat_failures == 1


def test_spool_is_bounded_and_drops_the_oldest_batches(tmp_path, clock):
    runner = make_runner(tmp_path, f"http://127.0.0.1:{free_port()}", clock, spool={"max_mb": 0.001})  # ~1 KB: one batch fits, not two
    runner.step()
    assert runner.spool.batches == 1 and runner.spool.bytes <= 0.001 * 1024 * 1024
    assert runner.spool.counters.dropped_batches >= 1
    assert runner.counters()["drops"] >= runner.spool.counters.dropped_batches


def test_capture_file_and_syslog_sources_go_through_the_same_uplink(tmp_path, collector, clock):
    runner = make_runner(tmp_path, collector.url, clock, packets={"files": [str(SAMPLE_PCAP)]},
                         logs={"files": [], "syslog": {"host": "127.0.0.1", "udp_port": 0, "tcp_port": 0}},
                         collector={"batch_events": 500})
    runner.start()
    try:
        assert runner.syslog is not None
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(b"<86>Nov 23 12:59:01 gw sshd[1]: Accepted password for li from 10.20.1.5 port 50000 ssh2",
                       ("127.0.0.1", runner.syslog.udp_port))
        for thread in runner._threads:
            thread.join(30)
        deadline = datetime.now(timezone.utc) + timedelta(seconds=10)
        while runner.syslog.stats.events < 1 and datetime.now(timezone.utc) < deadline:
            threading.Event().wait(0.02)  # another thread's socket I/O, not the clock
        runner.step()  # batches what the sources queued
        clock.advance(timedelta(seconds=6))
        runner.step()  # the batch is old enough: spooled and sent
    finally:
        runner.stop()
    datasets = {e["event.dataset"] for e in collector.events.values()}
    assert {"edusoc.flow", "edusoc.dns", "edusoc.http", "edusoc.auth"} <= datasets
    assert runner.counters()["packets"] == sum(1 for _ in PcapReader(str(SAMPLE_PCAP)))  # every packet of the file


def test_misspelt_config_key_is_an_error_naming_it(tmp_path):
    path = write_config(tmp_path, "http://127.0.0.1:1", collector={"batch_event": 5})
    with pytest.raises(SensorConfigError, match="collector.batch_event"):
        load_sensor_config(path)
