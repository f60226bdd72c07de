"""Logs into events: syslog (RFC 3164/5424, UDP/TCP framing), sshd, iptables, Suricata EVE, JSON; tailing files."""
from __future__ import annotations

import json
import os
import socket
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sensors.logfiles import FileTailer, LineParser, LineRejected, LogStats, LineSplitter, OffsetStore
from sensors.syslog import StreamFramer, SyslogError, parse_syslog
from sensors.syslog_server import SyslogServer
from soc_core.clock import ManualClock
from soc_core.events import validate_event
from tests.conftest import corpus

NOW = datetime(2026, 11, 23, 5, 0, tzinfo=timezone.utc)


@pytest.fixture()
def parser_clock():
    return ManualClock(NOW)


def parse(fmt, line, clock=None):
    return LineParser(fmt, clock or ManualClock(NOW)).parse(line, where=1)


def test_rfc5424_message_with_structured_data_and_bom():
    # The example of RFC 5424 section 6.5.
    raw = (b'<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" '
           b'eventSource="Application" eventID="1011"] \xef\xbb\xbfAn application event log entry...')
    message = parse_syslog(raw, received=NOW)
    assert (message.facility, message.severity, message.format) == ("local4", "notice", "rfc5424")
    assert message.hostname == "mymachine.example.com" and message.app_name == "evntslog" and message.msgid == "ID47"
    assert message.structured_data.startswith("[exampleSDID@32473") and message.message == "An application event log entry..."
    assert message.timestamp == datetime(2003, 10, 11, 22, 14, 15, 3000, tzinfo=timezone.utc)


def test_rfc3164_message_takes_the_year_and_local_zone_from_receipt():
    message = parse_syslog(b"<34>Nov 23 12:59:01 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
                           received=NOW)
    assert (message.facility, message.severity) == ("auth", "critical")
    assert message.hostname == "mymachine" and message.app_name == "su"
    assert message.timestamp.astimezone(timezone.utc) == datetime(2026, 11, 23, 4, 59, 1, tzinfo=timezone.utc)
    december = parse_syslog(b"<13>Dec 31 23:59:59 h app: x", received=datetime(2027, 1, 1, 0, 0, 30, tzinfo=timezone.utc))
    assert december.timestamp.year == 2026  # logged last year, received after midnight China time...
    assert december.timestamp.month == 12


def test_gbk_text_is_decoded_and_undecodable_bytes_never_fail():
    event = parse("syslog", "<190>2026-11-23 13:00:01 FW-1 %%01SEC/5/ATCKDF(l): 检测到攻击".encode("gbk"))
    assert event["message"].endswith("检测到攻击") and event["host.hostname"] == "FW-1"
    odd = parse("syslog", b"<13>Nov 23 13:00:01 h app: \xff\xfe\x80\x81 tail")
    assert odd["message"].endswith("tail") and validate_event(odd)
    with pytest.raises(LineRejected):
        parse("syslog", b"\x00\x01\x02\x03\x04\x05\x06\x07\x08garbage\x00\x00\x00")


def test_sshd_lines_become_authentication_events():
    cases = {
        b"Nov 23 12:59:01 gw sshd[812]: Accepted publickey for teacher from 10.20.1.50 port 51234 ssh2: ED25519 SHA256:x":
            ("ssh_login", "success", "teacher", "10.20.1.50", 51234),
        b"Nov 23 12:59:02 gw sshd[813]: Failed password for invalid user admin from 203.0.113.9 port 4444 ssh2":
            ("ssh_login", "failure", "admin", "203.0.113.9", 4444),
        b"Nov 23 12:59:03 gw sshd[814]: Invalid user oracle from 203.0.113.9 port 4446":
            ("ssh_invalid_user", "failure", "oracle", "203.0.113.9", 4446),
    }
    for line, (action, outcome, user, ip, port) in cases.items():
        event = parse("auth", line)
        assert event["event.dataset"] == "edusoc.auth" and event["event.category"] == ["authentication"]
        assert (event["event.action"], event["event.outcome"], event["user.name"]) == (action, outcome, user)
        assert (event["source.ip"], event["source.port"]) == (ip, port)
        assert event["process.name"] == "sshd" and validate_event(event)


def test_iptables_kernel_line_becomes_a_firewall_event():
    line = (b"<4>Nov 23 12:59:02 fw kernel: [12345.678] [UFW BLOCK] IN=eth0 OUT= MAC=00:11:22 SRC=203.0.113.5 "
            b"DST=10.20.1.80 LEN=60 TOS=0x00 PREC=0x00 TTL=50 ID=1 DF PROTO=TCP SPT=4444 DPT=3389 WINDOW=1024 RES=0x00 SYN URGP=0")
    event = parse("iptables", line)
    assert event["event.dataset"] == "edusoc.firewall" and event["event.action"] == "deny"
    assert event["event.type"] == ["connection", "denied"] and event["rule.name"] == "UFW BLOCK"
    assert (event["source.ip"], event["source.port"], event["destination.ip"], event["destination.port"]) == (
        "203.0.113.5", 4444, "10.20.1.80", 3389)
    assert event["network.transport"] == "tcp" and event["observer.ingress.interface.name"] == "eth0"
    assert validate_event(event)


def test_suricata_eve_alert_becomes_an_alert_event():
    line = json.dumps({
        "timestamp": "2026-11-23T13:00:00.123456+0800", "flow_id": 1, "in_iface": "eth0", "event_type": "alert",
        "src_ip": "203.0.113.5", "src_port": 4444, "dest_ip": "10.20.1.80", "dest_port": 80, "proto": "TCP",
        "community_id": "1:abc=", "app_proto": "http",
        "alert": {"action": "allowed", "gid": 1, "signature_id": 2010935, "rev": 3, "severity": 1,
                  "signature": "ET SCAN Suspicious inbound to MSSQL port 1433", "category": "Potentially Bad Traffic"},
        "http": {"hostname": "www.school1.edu.cn", "url": "/a.php?id=1'", "http_method": "GET", "status": 200}}).encode()
    event = parse("eve", line)
    assert event["event.kind"] == "alert" and event["rule.id"] == "2010935"
    assert event["rule.name"].startswith("ET SCAN") and event["event.severity"] == 4
    assert event["@timestamp"] == "2026-11-23T05:00:00.123456Z" and event["network.transport"] == "tcp"
    assert validate_event(event)


def _expand(match: dict) -> dict:
    record: dict = {}
    for path, value in match.items():
        if not isinstance(path, str) or path.startswith("has-key") or path.startswith("not-"):
            continue
        node = record
        parts = path.split(".")
        for part in parts[:-1]:
            if part.isdigit():
                break
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[parts[-1]] = value
    return record


def test_eve_records_shaped_like_suricata_verify_checks_parse_into_valid_events():
    tests = corpus("suricata_verify", "tests")
    seen = 0
    for spec in sorted(tests.rglob("test.yaml")):
        checks = (yaml.safe_load(spec.read_text("utf-8")) or {}).get("checks") or []
        for check in checks:
            match = (check.get("filter") or {}).get("match") if isinstance(check, dict) else None
            if not isinstance(match, dict) or "event_type" not in match:
                continue
            record = {"timestamp": "2026-11-23T05:00:00.000000+0000", "src_ip": "10.0.0.1", "dest_ip": "10.0.0.2",
                      "src_port": 1234, "dest_port": 80, "proto": "TCP", **_expand(match)}
            event = parse("eve", json.dumps(record).encode())
            assert validate_event(event)
            assert event["event.action"] in (record["event_type"], (record.get("alert") or {}).get("action", "alert"))
            if record["event_type"] == "alert" and "signature_id" in (record.get("alert") or {}):
                assert event["rule.id"] == str(record["alert"]["signature_id"])
            if record["event_type"] == "tls" and "sni" in (record.get("tls") or {}):
                assert event["tls.client.server_name"] == record["tls"]["sni"]
            seen += 1
    assert seen >= 50


def test_json_lines_keep_ecs_keys_and_reject_what_is_not_an_object():
    event = parse("json", b'{"@timestamp":"2026-11-23T05:00:00Z","source":{"ip":"10.1.1.1"},"user":{"name":"li"},'
                          b'"message":"login ok","source.port":"not a port","vendor_field":1}')
    assert event["source.ip"] == "10.1.1.1" and event["user.name"] == "li" and event["message"] == "login ok"
    assert "source.port" not in event and validate_event(event)
    for bad in (b"[1,2]", b"{not json", b"\xff\xfe"):
        with pytest.raises(LineRejected):
            parse("json", bad)


def test_tcp_framing_mixes_octet_counting_and_lines_and_skips_a_1mb_message():
    framer = StreamFramer(max_message=64 * 1024)
    first = b"<13>Nov 23 12:00:00 h app: one"
    stream = (str(len(first)).encode() + b" " + first + b"<13>Nov 23 12:00:01 h app: two\n"
              + b"<13>" + b"x" * (1024 * 1024) + b"\n" + b"<13>Nov 23 12:00:02 h app: three\n")
    messages = []
    for i in range(0, len(stream), 1000):
        messages += framer.feed(stream[i:i + 1000])
    assert [m.split(b": ")[-1] for m in messages] == [b"one", b"two", b"three"]
    assert framer.counters.oversize == 1


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=400), cut=st.integers(0, 400))
def test_syslog_parsing_and_framing_take_any_bytes(data, cut):
    try:
        message = parse_syslog(data, received=NOW)
        assert message.severity and message.facility
    except SyslogError:
        pass
    framer = StreamFramer(max_message=100)
    for message in framer.feed(data[:cut]) + framer.feed(data[cut:]) + framer.flush():
        assert len(message) <= 100


def test_line_splitter_counts_lines_over_the_limit_without_holding_them():
    stats = LogStats()
    splitter = LineSplitter(stats, max_line=100)
    out = splitter.feed(b"ok 1\n" + b"y" * 60) + splitter.feed(b"y" * 60) + splitter.feed(b"y" * 1000 + b"\nok 2\n")
    assert [line for line, _ in out] == [b"ok 1", b"ok 2"] and stats.oversize == 1
    assert out[1][1] == 5 + 1120 + 1 and not splitter.pending


def test_syslog_receiver_takes_udp_and_tcp_and_counts_garbage(parser_clock):
    events = []
    server = SyslogServer(events.append, parser_clock, host="127.0.0.1", udp_port=0, tcp_port=0)
    server.start()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(b"<38>Nov 23 12:59:01 gw sshd[1]: Failed password for root from 203.0.113.9 port 1 ssh2",
                       ("127.0.0.1", server.udp_port))
            udp.sendto(b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09", ("127.0.0.1", server.udp_port))
        with socket.create_connection(("127.0.0.1", server.tcp_port)) as tcp:
            tcp.sendall(b"<13>Nov 23 12:59:02 pc1 app: hello\n31 <13>Nov 23 12:59:03 pc1 app: x1")
            tcp.sendall(b"<13>" + b"z" * (100 * 1024) + b"\n<13>Nov 23 12:59:04 pc1 app: after\n")
        deadline = time.monotonic() + 10
        while len(events) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)  # waiting for another thread's socket I/O, not for the clock
    finally:
        server.stop()
    assert sorted(e["message"] for e in events) == ["Failed password for root from 203.0.113.9 port 1 ssh2",
                                                    "after", "hello", "x1"]
    assert server.stats.rejected == 1 and server.stats.oversize == 1
    assert {e["log.source.address"] for e in events} == {"127.0.0.1"}
    assert all(validate_event(e) for e in events)


def write_lines(path: Path, *lines: str, mode="a") -> None:
    with path.open(mode, encoding="utf-8") as handle:
        for line in lines:
            handle.write(line + "\n")


def messages(tailer):
    return [line.decode() for line, _ in tailer.poll()]


def test_tailing_survives_rotation_truncation_and_restarts(tmp_path):
    log = tmp_path / "auth.log"
    store_path = tmp_path / "state" / "offsets.json"
    write_lines(log, "a1", "a2")
    tailer = FileTailer(log, OffsetStore(store_path))
    assert messages(tailer) == ["a1", "a2"]
    with log.open("a") as handle:
        handle.write("a3\npart")  # an unterminated line waits for its end
    assert messages(tailer) == ["a3"]
    tailer.commit()
    # restart: nothing is read twice, and the half line is completed
    tailer.close()
    tailer = FileTailer(log, OffsetStore(store_path))
    write_lines(log, "ial")
    assert messages(tailer) == ["partial"]
    # rotation by rename; lines written to the old file before the switch are not lost
    os.rename(log, tmp_path / "auth.log.1")
    write_lines(tmp_path / "auth.log.1", "late-old")
    write_lines(log, "b1")
    assert messages(tailer) == ["late-old", "b1"] and tailer.stats.rotations == 1
    # copytruncate: the file is emptied in place and written again
    write_lines(log, "c1", mode="w")
    assert messages(tailer) == ["c1"] and tailer.stats.truncations == 1
    write_lines(log, "c2")
    assert messages(tailer) == ["c2"]
    tailer.commit()
    tailer.close()
    # rotated while the sensor was down: the rest of the old file first, then the new one
    write_lines(log, "c3")
    os.rename(log, tmp_path / "auth.log.2")
    write_lines(log, "d1")
    tailer = FileTailer(log, OffsetStore(store_path))
    assert messages(tailer) == ["c3", "d1"]
    tailer.close()
