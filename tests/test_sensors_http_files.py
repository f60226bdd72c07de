"""Files out of HTTP (edusoc.files): multipart parts, raw uploads, downloads; YARA on them as files; limits."""
from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from scapy.utils import wrpcap

from detection_rules import BUNDLED_YARA, DetectionEngine, IndicatorSet, RuleSet, YaraScanner
from sensors.conformance import read_zeek_log
from sensors.pcap import read_pcap
from sensors.samples.http_craft import http_request, http_response, multipart_form, tcp_exchange
from soc_core.events import validate_event
from tests.conftest import corpus
from tests.sensor_traffic import CLIENT, SERVER, T0, Conversation, client_hello, server_hello

SHELL = b"<?php @eval(base64_decode($_POST['z0'])); ?>\n"  # written here, the one-line shape
HOST = "www.school-no1.edu.cn"


def capture(tmp_path: Path, request: bytes, response: bytes = b"", name: str = "t.pcap", **options: object):
    response = response or http_response(200, b"<html>ok</html>")
    path = tmp_path / name
    wrpcap(str(path), tcp_exchange(T0, CLIENT, SERVER, 41000, request, response))
    events, stats = read_pcap(path, **options)
    for event in events:
        validate_event(event)
    return events, stats


def of(events: list[dict[str, object]], dataset: str) -> list[dict[str, object]]:
    return [e for e in events if e["event.dataset"] == dataset]


def test_a_multipart_upload_becomes_a_file_record_linked_to_its_transaction(tmp_path):
    content_type, body = multipart_form({"title": "第三周作业", "note": "union select 1"},
                                        [("upfile", "hw.php", "image/jpeg", SHELL)])
    request = http_request("POST", "/upload.php?course=7", HOST, body, content_type=content_type,
                           headers={"Cookie": "PHPSESSID=ab12; lang=zh"})
    events, _ = capture(tmp_path, request)
    (http,) = of(events, "edusoc.http")
    (upload,) = of(events, "edusoc.files")
    assert http["http.request.mime_type"] == content_type and http["http.request.cookie"] == "PHPSESSID=ab12; lang=zh"
    assert http["http.request.body.form"] == ["title=第三周作业", "note=union select 1"]
    assert http["http.request.body.files"] == 1 and http["http.request.body.truncated"] is False
    assert base64.b64decode(http["http.request.body.content"]) == body  # the agreed field: the whole carved body
    assert upload["file.name"] == "hw.php" and upload["file.extension"] == "php"
    assert upload["file.mime_type"] == "text/x-php" and upload["file.declared_mime_type"] == "image/jpeg"
    assert upload["file.size"] == len(SHELL) and upload["file.truncated"] is False
    assert upload["file.hash.sha256"] == hashlib.sha256(SHELL).hexdigest()
    assert upload["file.hash.md5"] == hashlib.md5(SHELL).hexdigest()
    assert base64.b64decode(upload["file.content"]) == SHELL
    assert (upload["file.direction"], upload["file.source"], upload["file.form_field"]) == ("upload", "multipart", "upfile")
    assert upload["file.http_event_id"] == http["event.id"]
    assert (upload["network.community_id"], upload["http.trans_depth"]) == (http["network.community_id"], 1)


def test_yara_scans_the_part_as_a_file_so_anchored_rules_fire(tmp_path):
    # A rule anchored at the file's first bytes and on its size: true of the shell, false of the form body.
    rule = tmp_path / "anchored.yar"
    rule.write_text('rule Php_File_Starts_With_Tag { condition: uint32(0) == 0x68703f3c and filesize < 100 }\n')
    content_type, body = multipart_form({"title": "x" * 300}, [("upfile", "a.php", "text/plain", SHELL)])
    events, _ = capture(tmp_path, http_request("POST", "/upload.php", HOST, body, content_type=content_type))
    engine = DetectionEngine(RuleSet(), yara=YaraScanner([rule, BUNDLED_YARA]))
    alerts = [alert for event in events for alert in engine.process(event)]
    (upload,) = of(events, "edusoc.files")
    assert sorted(a.rule_id for a in alerts) == ["yara:anchored:Php_File_Starts_With_Tag",
                                                  "yara:campus_webshells:EDUSOC_PHP_OneLiner_Eval_Request"]
    assert {a.event_ids for a in alerts} == {(upload["event.id"],)}  # on the file, not the raw body
    assert {a.matches["scanned"] for a in alerts} == {"file.content"}


def test_a_shell_behind_200_kb_of_padding_is_carved_whole_by_default(tmp_path):
    content_type, body = multipart_form({"padding": "A" * 200_000}, [("upfile", "shell.php", "text/plain", SHELL)])
    events, _ = capture(tmp_path, http_request("POST", "/upload.php", HOST, body, content_type=content_type))
    (http,) = of(events, "edusoc.http")
    (upload,) = of(events, "edusoc.files")
    assert http["http.request.body.truncated"] is False and upload["file.truncated"] is False
    engine = DetectionEngine(RuleSet(), yara=YaraScanner([BUNDLED_YARA]))
    assert [a.rule_id for a in engine.process(upload)] == ["yara:campus_webshells:EDUSOC_PHP_OneLiner_Eval_Request"]


def test_a_body_past_the_carve_is_marked_truncated_and_its_file_has_no_hash(tmp_path):
    content_type, body = multipart_form({}, [("upfile", "big.bin", "application/octet-stream", b"\x90" * 50_000)])
    events, _ = capture(tmp_path, http_request("POST", "/upload.php", HOST, body, content_type=content_type),
                        carve_bytes=16 * 1024)
    (http,) = of(events, "edusoc.http")
    (upload,) = of(events, "edusoc.files")
    assert http["http.request.body.truncated"] is True and http["http.request.body.bytes"] == len(body)
    assert len(base64.b64decode(http["http.request.body.content"])) == 16 * 1024
    assert upload["file.truncated"] is True and "file.hash.sha256" not in upload


def test_the_carve_budget_bounds_memory_across_connections(tmp_path):
    packets = []
    for i in range(4):  # three uploads in flight at once (their segments interleave), a fourth after them
        _, body = multipart_form({}, [("f", f"{i}.bin", "application/octet-stream", bytes([i]) * 40_000)])
        request = http_request("POST", "/up", HOST, body, content_type="multipart/form-data; boundary=x")
        start = T0 + i * 0.0001 if i < 3 else T0 + 5
        packets.append(tcp_exchange(start, CLIENT, SERVER, 42000 + i, request, http_response(200, b"ok")))
    merged = sorted((p for conversation in packets for p in conversation), key=lambda p: float(p.time))
    path = tmp_path / "many.pcap"
    wrpcap(str(path), merged)
    events, stats = read_pcap(path, carve_bytes=64 * 1024, carve_budget_bytes=100_000)
    http = sorted(of(events, "edusoc.http"), key=lambda e: e["source.port"])
    carved = [len(base64.b64decode(e.get("http.request.body.content", ""))) for e in http]
    assert sum(carved[:3]) == 100_000 and stats.http_carves_cut_by_budget >= 3  # never more than the budget
    assert [e["http.request.body.truncated"] for e in http] == [True, True, True, False]
    assert carved[3] == http[3]["http.request.body.bytes"]  # the budget came back once they were reported


def test_a_raw_put_and_a_binary_download_are_file_records_matched_against_indicators(tmp_path):
    program = b"MZ\x90\x00" + bytes(range(256)) * 8
    events, _ = capture(tmp_path, http_request("PUT", "/dav/tool.exe", HOST, program,
                                               content_type="application/octet-stream"),
                        http_response(200, program, "application/x-msdownload"))
    upload, download = sorted(of(events, "edusoc.files"), key=lambda e: e["file.direction"], reverse=True)
    assert (upload["file.direction"], upload["file.source"], upload["file.name"]) == ("upload", "body", "tool.exe")
    assert download["file.direction"] == "download" and download["file.mime_type"] == "application/x-dosexec"
    assert "file.content" not in download  # a whole body stays in its HTTP event, which YARA scans as the file
    indicators = IndicatorSet()
    indicators.add("sha256", hashlib.sha256(program).hexdigest(), description="恶意工具 test tool", source="test")
    engine = DetectionEngine(RuleSet(), indicators=indicators)
    alerts = [alert for event in events for alert in engine.process(event)]
    assert sorted(a.matches["file.hash.sha256"] == upload["file.hash.sha256"] for a in alerts) == [True, True]
    assert {a.rule_id for a in alerts} == {f"ioc:sha256:{hashlib.sha256(program).hexdigest()}"}


def test_urlencoded_form_fields_are_exposed_decoded_and_pages_are_not_files(tmp_path):
    body = b"user=alice&q=select+a+course&redirect=%2Fhome%3Fa%3D1"
    events, _ = capture(tmp_path, http_request("POST", "/login", HOST, body,
                                               content_type="application/x-www-form-urlencoded"))
    (http,) = of(events, "edusoc.http")
    assert http["http.request.body.form"] == ["user=alice", "q=select a course", "redirect=/home?a=1"]
    assert of(events, "edusoc.files") == []  # a form is not a file, an HTML answer is a page


def test_tls_inside_a_connect_tunnel_is_seen(tmp_path):
    talk = Conversation(dport=3128).handshake()
    talk.send(True, b"CONNECT www.school1.edu.cn:443 HTTP/1.1\r\nHost: www.school1.edu.cn:443\r\n\r\n")
    talk.send(False, b"HTTP/1.1 200 Connection established\r\n\r\n")
    talk.send(True, client_hello([0x1301, 0xC02F], [0x0000, 0x000A], server_name="www.school1.edu.cn", groups=[29]))
    talk.send(False, server_hello(0xC02F))
    path = tmp_path / "connect.pcap"
    wrpcap(str(path), talk.close().packets)
    events, _ = read_pcap(path)
    (http,) = of(events, "edusoc.http")
    (tls,) = of(events, "edusoc.tls")
    assert http["http.request.method"] == "CONNECT" and http["http.response.status_code"] == 200
    assert tls["tls.client.server_name"] == "www.school1.edu.cn" and tls["tls.cipher"] == "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
    assert len(tls["tls.client.ja3"]) == 32 and tls["network.community_id"] == http["network.community_id"]


def test_zeeks_multipart_trace_gives_the_file_zeek_logs():
    trace = corpus("zeek_btest", "traces", "http", "multipart-form-data.pcap")
    baseline = corpus("zeek_btest", "baselines", "scripts.base.protocols.http.multipart-body-length", "http.log")
    (zeek,) = read_zeek_log(baseline)
    events, _ = read_pcap(trace)
    (http,) = of(events, "edusoc.http")
    (upload,) = of(events, "edusoc.files")
    assert http["http.request.body.bytes"] == int(zeek["request_body_len"])
    assert (upload["file.name"], upload["file.mime_type"]) == (zeek["orig_filenames"], zeek["orig_mime_types"])
    assert upload["file.direction"] == "upload" and upload["file.truncated"] is False
