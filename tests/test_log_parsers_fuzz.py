"""Log sources never die (issue 14): every log format and the syslog receiver take any bytes,
count and report what they cannot read (with where it was), and go on."""
from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensors.logfiles import LOG_FORMATS, LineParser, LineRejected, LogFileReader
from sensors.syslog import StreamFramer
from sensors.syslog_server import SyslogServer
from soc_core.events import EventError, validate_event

LINES = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"hello world no header", b"<34>", b"<999>x", b"<13>1 - - - - -", b"IN= SRC=", b"{}", b"[]",
                     b'{"event_type": 5}', b'{"timestamp": "0036-01-01T00:00:00Z", "event_type": "dns"}',
                     b"1.2.3.4 - - [x] \"GET\" 200", b"<14>Oct 11 22:14:15 host kernel: IN=eth0 SRC=1.1.1.1 DST=x"]),
)


@pytest.mark.parametrize("log_format", LOG_FORMATS)
def test_a_line_without_a_syslog_header_is_an_event_or_a_counted_rejection(tmp_path: Path, clock, log_format):
    """`sensor logs --format syslog|auth|iptables` crashed on the first line without a header."""
    log = tmp_path / "mixed.log"
    log.write_bytes(b"hello world no header\n<34>Oct 11 22:14:15 host su: ok\n\x00\x01\xff\n{\"a\": 1}\n")
    reader = LogFileReader(log, log_format, clock)
    events = list(reader)
    stats = reader.stats
    assert stats.lines == 4 and stats.events + stats.rejected == 4 and len(events) == stats.events
    assert all(example.startswith(f"{log}:") for example in stats.examples)
    assert len(stats.examples) == stats.rejected


@pytest.mark.parametrize("log_format", LOG_FORMATS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(line=LINES)
def test_every_parser_answers_any_line_with_an_event_or_a_rejection(clock, log_format, line):
    parser = LineParser(log_format, clock)
    try:
        event = parser.parse(line, where=7, sender="10.0.0.1")
    except LineRejected as exc:
        assert str(exc)
        return
    try:
        validate_event(event)
    except EventError as exc:  # the collector would reject it with the reason: still no crash
        assert exc.reason


@settings(max_examples=200, deadline=None)
@given(chunks=st.lists(st.binary(max_size=120), max_size=12))
def test_the_syslog_framer_takes_any_stream(chunks):
    framer = StreamFramer(max_message=64)
    for chunk in chunks:
        for message in framer.feed(chunk):
            assert len(message) <= 64
    framer.flush()


def _wait(condition, seconds: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.lists(st.binary(min_size=1, max_size=80), min_size=1, max_size=4))
def test_the_syslog_receiver_counts_garbage_and_keeps_the_connection(clock, garbage):
    events: list[dict[str, object]] = []
    server = SyslogServer(events.append, clock, udp_port=None, tcp_port=0, max_message=256)
    server.start()
    try:
        with socket.create_connection(("127.0.0.1", server.tcp_port), timeout=5) as connection:
            for junk in garbage:
                connection.sendall(junk.replace(b"\n", b" ") + b"\n")
            connection.sendall(b"<34>Oct 11 22:14:15 fw1 sshd[1]: Failed password for root from 10.0.0.9 port 22 ssh2\n")
            _wait(lambda: any("Failed password" in str(e.get("message")) for e in events))
        assert any("Failed password" in str(e.get("message")) for e in events), "a message after garbage was lost"
        stats = server.stats
        _wait(lambda: stats.lines >= len(garbage) + 1)
        assert stats.events + stats.rejected + stats.oversize == stats.lines
    finally:
        server.stop()


def test_the_heartbeat_shows_the_syslog_receivers_rejections(tmp_path, clock):
    from sensors.config import SensorConfig
    from sensors.runner import SensorRunner
    config = SensorConfig.model_validate({
        "collector": {"url": "http://127.0.0.1:9", "token": "t"}, "spool": {"dir": str(tmp_path / "spool")}, "state_dir": str(tmp_path / "state"),
        "logs": {"syslog": {"host": "127.0.0.1", "udp_port": None, "tcp_port": 0}}})
    runner = SensorRunner(config, clock)
    runner.syslog.handle(b"\x00\x01\x02\x03binary", "10.0.0.1")
    counters = runner.counters()
    assert counters["syslog_rejected"] == 1 and counters["log_rejected"] == 1
