"""sensors.weblog: combined access-log lines become edusoc.web events; bad lines are reported, never fatal."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from sensors.cli import app
from sensors.samples import SAMPLE_ACCESS_LOG
from sensors.weblog import LogLineError, WeblogReader, parse_line, read_access_log
from soc_core.events import validate_event

SQLI = (b'203.0.113.7 - - [02/Nov/2026:09:10:03 +0800] "GET /news.php?id=1%27%20union%20select%201,2--%20- HTTP/1.1" '
        b'200 8990 "-" "sqlmap/1.7.2#stable (https://sqlmap.org)"')


def test_combined_line_becomes_a_web_access_event():
    event = validate_event(parse_line(SQLI))
    assert event["@timestamp"] == "2026-11-02T01:10:03.000000Z"
    assert event["source.ip"] == "203.0.113.7"
    assert event["http.request.method"] == "GET"
    assert event["url.original"] == "/news.php?id=1%27%20union%20select%201,2--%20-"
    assert event["url.path"] == "/news.php"
    assert event["url.query"] == "id=1%27%20union%20select%201,2--%20-"
    assert event["http.version"] == "1.1"
    assert event["http.response.status_code"] == 200
    assert event["http.response.body.bytes"] == 8990
    assert event["user_agent.original"].startswith("sqlmap/")
    assert "http.request.referrer" not in event and "user.name" not in event
    assert event["event.original"] == event["message"] == SQLI.decode()
    assert (event["event.dataset"], event["event.module"], event["event.category"], event["event.type"]) == (
        "edusoc.web", "weblog", ["web"], ["access"])


def test_user_referrer_and_escaped_quotes_are_kept():
    line = (b'10.20.7.15 - teacher_li [02/Nov/2026:09:03:31 +0800] "GET /search.php?kw=\\x22x\\x22 HTTP/1.1" 200 5 '
            b'"http://www.school-no1.edu.cn/login.php" "Mozilla \\"quoted\\""')
    event = parse_line(line)
    assert event["user.name"] == "teacher_li"
    assert event["url.query"] == 'kw="x"'
    assert event["http.request.referrer"] == "http://www.school-no1.edu.cn/login.php"
    assert event["user_agent.original"] == 'Mozilla "quoted"'


def test_gbk_bytes_are_decoded_as_chinese():
    line = ('10.20.6.200 - - [02/Nov/2026:09:50:02 +0800] "GET /xxgk/tzgg.html HTTP/1.1" 200 6120 '
            '"http://www.school-no1.edu.cn/搜索?kw=通知公告" "Mozilla/4.0 (compatible; 360安全浏览器)"').encode("gbk")
    event = validate_event(parse_line(line))
    assert event["http.request.referrer"] == "http://www.school-no1.edu.cn/搜索?kw=通知公告"
    assert event["user_agent.original"].endswith("360安全浏览器)")


def test_undecodable_bytes_are_replaced_not_fatal():
    line = b'10.0.0.1 - - [02/Nov/2026:09:00:00 +0800] "GET / HTTP/1.1" 200 1 "-" "bad \xff\xfe\x80\x81 ua"'
    assert parse_line(line)["user_agent.original"].startswith("bad ") and "\ufffd" in parse_line(line)["user_agent.original"]


def test_a_request_line_that_is_not_http_is_still_an_access():
    event = parse_line(b'198.51.100.9 - - [02/Nov/2026:09:00:00 +0800] "\\x16\\x03\\x01\\x02" 400 150 "-" "-"')
    assert event["http.response.status_code"] == 400 and "http.request.method" not in event


def test_garbage_line_is_reported_with_its_line_number(tmp_path):
    log = tmp_path / "access.log"
    log.write_bytes(SQLI + b"\n\nthis is not an access log line\n" + SQLI + b"\n")
    events, stats = read_access_log(log, "apache")
    assert len(events) == 2
    assert stats.rejected == 1 and stats.blank == 1
    assert stats.errors[0].line == 3 and "combined" in stats.errors[0].reason


def test_bad_timestamp_is_a_line_error():
    try:
        parse_line(b'10.0.0.1 - - [32/Foo/2026:09:00:00 +0800] "GET / HTTP/1.1" 200 1 "-" "-"')
    except LogLineError as exc:
        assert "time" in str(exc)
    else:
        raise AssertionError("expected LogLineError")


def test_rereading_gives_the_same_ids_and_repeated_lines_distinct_ids(tmp_path):
    log = tmp_path / "access.log"
    log.write_bytes(SQLI + b"\n" + SQLI + b"\n")
    first = [e["event.id"] for e in read_access_log(log)[0]]
    assert first == [e["event.id"] for e in read_access_log(log)[0]]
    assert len(set(first)) == 2


def test_sample_access_log_has_attacks_and_benign_traffic():
    events, stats = read_access_log(SAMPLE_ACCESS_LOG)
    assert stats.rejected == 0 and len(events) == 40
    for event in events:
        validate_event(event)
    urls = [e.get("url.original", "") for e in events]
    assert any("union%20select" in u.lower() for u in urls)
    assert any("sleep(5)" in u for u in urls)
    assert "/uploads/shell.php?cmd=whoami" in urls
    assert any(e.get("http.request.method") == "POST" and e.get("url.path") == "/images/x.php" for e in events)
    assert any("360安全浏览器" in e.get("user_agent.original", "") for e in events)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_crash_the_log_parser(raw):
    events = list(WeblogReader([raw]))
    for event in events:
        validate_event(event)
    try:
        parse_line(raw)
    except LogLineError:
        pass


def test_cli_logs_prints_ndjson(tmp_path):
    result = CliRunner().invoke(app, ["logs", str(SAMPLE_ACCESS_LOG), "--format", "nginx", "--stdout"])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\n") >= 40


def test_cli_help_lists_both_commands():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0 and "pcap" in result.output and "logs" in result.output


def test_request_target_with_literal_spaces_keeps_its_query():
    line = ('203.0.113.7 - - [02/Nov/2026:09:20:01 +0800] "GET /search.php?kw=\' or 1=1-- HTTP/1.1" 200 512 '
            '"-" "python-requests/2.31"')
    event = parse_line(line)
    assert event["url.query"] == "kw=' or 1=1--"
    assert event["url.path"] == "/search.php"
    assert event["http.version"] == "1.1"
