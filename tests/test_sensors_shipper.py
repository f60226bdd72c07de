"""sensors.shipper against a real HTTP server on loopback: gzip NDJSON batches, retries, refusals."""
from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from sensors.cli import app
from sensors.samples import SAMPLE_ACCESS_LOG
from sensors.shipper import ShipError, Shipper, ship_events
from tests.sensor_traffic import answer_json


class Collector:
    """A stand-in collector: records requests and answers with scripted statuses, then 200."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.script: list[int] = []  # statuses to answer before answering 200
        self.max_events: int | None = None  # answer 413 above this many events
        self.reject_line: int | None = None


@pytest.fixture
def collector() -> Iterator[tuple[Collector, str]]:
    state = Collector()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server naming)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            lines = gzip.decompress(body).decode("utf-8").splitlines()
            state.requests.append({"path": self.path, "headers": dict(self.headers), "events": [json.loads(l) for l in lines]})
            if state.script:
                self._answer(state.script.pop(0), {"detail": "scripted"})
            elif self.headers["Authorization"] != "Bearer good-token":
                self._answer(401, {"detail": "bad token"})
            elif state.max_events is not None and len(lines) > state.max_events:
                self._answer(413, {"detail": "too large"})
            else:
                rejected = [{"line": state.reject_line, "reason": "event.kind: must be one of event, alert"}] if state.reject_line else []
                self._answer(200, {"accepted": len(lines) - len(rejected), "duplicates": 0, "rejected": rejected})

        def _answer(self, status: int, payload: dict) -> None:
            answer_json(self, status, payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def events(n: int) -> list[dict]:
    return [{"@timestamp": "2026-11-02T01:00:00.000000Z", "event.id": f"id-{i}", "event.kind": "event",
             "event.dataset": "edusoc.web", "message": "访问"} for i in range(n)]


def test_batches_arrive_as_gzip_ndjson_with_the_bearer_token(collector):
    state, url = collector
    report = ship_events(events(5), url, "good-token", batch_size=2, sleep=lambda s: None)
    assert [len(r["events"]) for r in state.requests] == [2, 2, 1]
    first = state.requests[0]
    assert first["path"] == "/api/v1/ingest/events"
    assert first["headers"]["Authorization"] == "Bearer good-token"
    assert first["headers"]["Content-Type"] == "application/x-ndjson"
    assert first["headers"]["Content-Encoding"] == "gzip"
    assert first["events"][0]["message"] == "访问"
    assert (report.batches_sent, report.accepted, report.events_sent, report.ok) == (3, 5, 5, True)


def test_503_is_retried_with_backoff_then_succeeds(collector):
    state, url = collector
    state.script = [503, 503]
    slept: list[float] = []
    report = ship_events(events(3), url, "good-token", backoff_initial=0.5, sleep=slept.append)
    assert slept == [0.5, 1.0]
    assert len(state.requests) == 3 and report.accepted == 3 and report.retries == 2 and report.ok


def test_retries_are_bounded(collector):
    state, url = collector
    state.script = [500] * 10
    report = ship_events(events(1), url, "good-token", max_attempts=3, sleep=lambda s: None)
    assert len(state.requests) == 3
    assert report.batches_failed == 1 and "gave up after 3 attempts" in report.failures[0]


def test_401_is_not_retried_and_stops_shipping(collector):
    state, url = collector
    slept: list[float] = []
    with pytest.raises(ShipError) as refused:
        ship_events(events(4), url, "wrong-token", batch_size=2, sleep=slept.append)
    assert len(state.requests) == 1 and slept == []
    assert refused.value.report.batches_failed == 1


def test_400_is_not_retried_and_the_next_batch_still_goes(collector):
    state, url = collector
    state.script = [400]
    report = ship_events(events(4), url, "good-token", batch_size=2, sleep=lambda s: None)
    assert len(state.requests) == 2
    assert report.batches_failed == 1 and report.batches_sent == 1 and "HTTP 400" in report.failures[0]


def test_413_splits_the_batch(collector):
    state, url = collector
    state.max_events = 2
    report = ship_events(events(5), url, "good-token", batch_size=5, sleep=lambda s: None)
    assert report.accepted == 5 and report.ok


def test_rejected_lines_are_reported_with_event_ids(collector):
    state, url = collector
    state.reject_line = 2
    report = ship_events(events(3), url, "good-token", sleep=lambda s: None)
    assert report.accepted == 2
    [rejected] = report.rejected
    assert (rejected.batch, rejected.line, rejected.event_id) == (1, 2, "id-1")
    assert "event.kind" in rejected.reason


def test_connection_refused_is_retried_then_reported():
    slept: list[float] = []
    with Shipper("http://127.0.0.1:9", "t", max_attempts=2, sleep=slept.append) as shipper:
        report = shipper.ship(events(1))
    assert slept == [0.5] and report.batches_failed == 1


def test_cli_ships_a_log_to_the_collector(collector):
    state, url = collector
    result = CliRunner().invoke(app, ["logs", str(SAMPLE_ACCESS_LOG), "--collector", url, "--token", "good-token"])
    assert result.exit_code == 0, result.output
    assert sum(len(r["events"]) for r in state.requests) == 40


def test_cli_without_output_choice_is_a_usage_error():
    result = CliRunner().invoke(app, ["logs", str(SAMPLE_ACCESS_LOG)])
    assert result.exit_code == 2


def test_pcap_to_a_collector_that_is_down_spools_and_a_later_run_delivers(collector, tmp_path):
    """Issue 14: `sensor pcap --collector` gave up on a batch after ~7.5 s of outage (exit 1)."""
    from sensors.samples import SAMPLE_PCAP
    state, url = collector
    spool = tmp_path / "spool"
    down = CliRunner().invoke(app, ["pcap", str(SAMPLE_PCAP), "--collector", "http://127.0.0.1:9", "--token",
                                    "good-token", "--max-attempts", "1", "--batch-size", "50", "--spool", str(spool)])
    assert down.exit_code == 0, down.output
    spooled = sorted(spool.glob("*.ndjson.gz"))
    assert spooled and "spooled" in down.output
    sent = sum(len(gzip.decompress(p.read_bytes()).splitlines()) for p in spooled)
    log = tmp_path / "empty.log"
    log.write_text("")
    up = CliRunner().invoke(app, ["logs", str(log), "--format", "nginx", "--collector", url, "--token", "good-token",
                                  "--spool", str(spool)])
    assert up.exit_code == 0, up.output
    assert sum(len(r["events"]) for r in state.requests) == sent and not list(spool.glob("*.ndjson.gz"))
    assert f"delivered {len(spooled)} batches" in up.output
