#!/usr/bin/env python3
"""Web attack detection: recall per attack family and false positives on school traffic, CRS on and off.

    .venv/bin/python bench/web_detection.py [--benign 1500] [--campus-packets 200000] [--seed 2026]

Attacks: the payload files under bench/web_payloads/ (SQL injection, XSS, LFI/RFI, OS command injection, PHP
injection, Java — Log4Shell, Spring, Struts, Fastjson, deserialization — and scanners; each file names its sources),
carried where attackers put them:
  * log-visible — in the query string and in the User-Agent of nginx access-log lines, read by the real log sensor
    (sensors/weblog.py); the User-Agent only for what attackers send there (SQL injection and XSS aimed at logged
    headers, Log4Shell lookups, Shellshock); scanners by User-Agent and by probe path;
  * in packets — the same requests plus POST bodies (form, JSON or XML as the payload suits), cookies and headers,
    crafted with scapy as real TCP conversations and read by the real packet sensor (sensors/pcap.py).
Benign: a school day's requests (course searches such as ``q=select+a+course``, news pages, logins, document and
photo uploads as multipart, JSON API calls, comments in Chinese and English, static assets with referers and
cookies), from logs and packets alike.

Every event goes through the detection set ``edusoc run`` uses (detection_rules.default_set: the Sigma pack, the
YARA pack and the OWASP CRS); "CRS off" is the same set without the CRS. An attack counts as detected when its
request raises any alert; a benign request that raises one is a false positive.

Speed: requests per second per core of the CRS path alone (request from event, skip decision, ModSecurity) on the
HTTP requests of the campus capture (bench/make_campus_pcap.py, under .cache/bench/), with the static skip on and
off, and on this bench's school mix. CPU time of this single-threaded process, best of ``--repeat`` rounds.

Prints a table, one JSON line per target, and ends with the JSON line of the headline figure (recall of
log-visible attacks with the CRS).
"""
from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from detection_rules.crs import CrsEngine, request_from_event  # noqa: E402
from detection_rules.default_set import DetectionSet, default_detection  # noqa: E402
from sensors.pcap import read_pcap  # noqa: E402
from sensors.weblog import read_access_log  # noqa: E402
from soc_core.config import Settings  # noqa: E402
from tests.sensor_traffic import Conversation, write  # noqa: E402  (the tests' TCP crafting)

PAYLOADS = Path(__file__).resolve().parent / "web_payloads"
FAMILIES = ("sqli", "xss", "lfi", "rce", "php", "java", "scanners")
PARAMS = {"sqli": ("id", "news_id", "kw", "sid"), "xss": ("q", "keyword", "name", "msg"),
          "lfi": ("file", "page", "path", "template"), "rce": ("host", "ip", "cmd", "target"),
          "php": ("s", "code", "data", "c"), "java": ("name", "data", "q", "json")}
PAGES = {"sqli": "/news/show.php", "xss": "/search.php", "lfi": "/download.php", "rce": "/tools/ping.php",
         "php": "/index.php", "java": "/api/student/query"}
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
HOSTS = ("www.school1.edu.cn", "jwc.school2.edu.cn", "lib.school1.edu.cn")
LOG_CARRIERS = ("uri", "user-agent")
PACKET_CARRIERS = ("uri", "body", "cookie", "header")
TARGETS = {"log_recall": 80.0, "body_recall": 70.0, "false_positives": 2.0, "crs_requests_per_core": 2000.0}


@dataclass
class Request:
    """One request of the bench: how it is sent and what it is."""

    family: str  # an attack family, or "benign"
    carrier: str  # uri, user-agent (logs); uri, body, cookie, header (packets); benign kind for benign
    method: str
    target: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    payload: str = ""


def load_payloads(family: str) -> list[str]:
    lines = (PAYLOADS / f"{family}.txt").read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line and not line.startswith("#")]


# -- attacks ----------------------------------------------------------------------------------------------------

def attack_requests(family: str, payloads: list[str], source: str) -> list[Request]:
    requests: list[Request] = []
    if family == "scanners":
        for index, line in enumerate(payloads):
            kind, _, value = line.partition("\t")
            if kind == "ua":
                requests.append(Request(family, "user-agent" if source == "log" else "header", "GET",
                                        ["/", "/index.php", "/login.php", "/robots.txt"][index % 4],
                                        [("User-Agent", value)], payload=value))
            else:
                requests.append(Request(family, "uri", "GET", value, [("User-Agent", BROWSER)], payload=value))
        return requests
    carriers = LOG_CARRIERS if source == "log" else PACKET_CARRIERS
    for index, payload in enumerate(payloads):
        param = PARAMS[family][index % len(PARAMS[family])]
        page = PAGES[family]
        for carrier in carriers:
            if carrier in ("user-agent", "header") and not _header_borne(family, payload):
                continue
            if carrier == "uri":
                requests.append(Request(family, carrier, "GET", _query_target(page, param, payload),
                                        [("User-Agent", BROWSER)], payload=payload))
            elif carrier in ("user-agent", "header"):
                requests.append(Request(family, carrier, "GET", page, [("User-Agent", payload)], payload=payload))
            elif carrier == "body":
                content_type, body = _body(param, payload)
                requests.append(Request(family, carrier, "POST", page, [("User-Agent", BROWSER), ("Content-Type", content_type)],
                                        body, payload))
            elif carrier == "cookie":
                requests.append(Request(family, carrier, "GET", page,
                                        [("User-Agent", BROWSER), ("Cookie", f"PHPSESSID=9f3k2l1m0n; {param}={quote(payload, safe='')}")],
                                        payload=payload))
    return requests


def _header_borne(family: str, payload: str) -> bool:
    """Whether attackers send this payload in a header (User-Agent) at all: SQL injection and XSS into logged
    headers, Java lookups (Log4Shell) anywhere, Shellshock; a path traversal or a PHP call in a User-Agent is not
    an attack on anything."""
    return family in ("sqli", "xss") or (family == "java" and "${" in payload) or payload.startswith("() {")


def _query_target(page: str, param: str, payload: str) -> str:
    if payload.startswith(("\\think", "captcha&")):  # ThinkPHP's router parameter takes the rest of the query as sent
        return f"{page}?{param}={payload.replace(' ', '%20')}"
    return f"{page}?{param}={quote(payload, safe='')}"


def _body(param: str, payload: str) -> tuple[str, bytes]:
    if payload.startswith("{"):
        return "application/json", payload.encode()
    if payload.startswith("<") and ("java" in payload or "work:" in payload or "object" in payload):
        return "text/xml", payload.encode()
    return "application/x-www-form-urlencoded", f"{param}={quote_plus(payload)}&submit=1".encode()


# -- a school day ------------------------------------------------------------------------------------------------

SEARCHES = ["select a course", "select+a+course", "数学 期末考试 安排", "高一 物理 作业", "union college exchange program",
            "drop and add deadline", "order by date", "C++ programming lab", "where is room 301", "Romeo & Juliet",
            "how to select courses for next term", "英语四级 报名", "教务处 通知", "scholarship application form",
            "sql join tutorial for beginners", "python for loop", "table tennis club", "delete my account",
            "library opening hours", "作文 我的老师", "chemistry lab safety rules", "grade 7 math worksheet",
            "校运会 2026", "student id card lost", "o'brien", "Q&A session schedule", "100% attendance award",
            "运动会报名表.xlsx", "exam timetable (final)", "a+b problem", "#include <stdio.h>", "what is 1=1 in logic"]
NAMES = ["zhangsan", "li.si", "wang_wu", "stu2024001", "teacher.chen", "t_liu", "2023110456", "mary.wang"]
COMMENTS = ["老师讲得很清楚，谢谢！", "When is the make-up exam? I was sick on Monday.", "作业第3题的答案是不是有误？",
            "Great event :) see you next year", "请问图书馆周末开放吗？", "I can't log in to the e-learning site, it says 'session expired'.",
            "Thanks for the notes -- very helpful!", "第二单元的课件能再发一次吗", "Is the deadline 5/20 or 5/21?",
            "We need 3 more volunteers for Saturday (9am-12pm).", "建议食堂增加素食窗口", "Can we use calculators in the physics test?"]
STATIC = ["/static/css/site.css", "/static/js/jquery.min.js", "/static/js/app.js?v=20261102", "/static/img/banner.jpg",
          "/favicon.ico", "/static/fonts/iconfont.woff2", "/uploads/news/2026/11/photo1.png", "/static/js/vue.min.js?ver=3"]


def benign_requests(rng: random.Random, count: int, source: str) -> list[Request]:
    requests: list[Request] = []
    kinds = ["search", "page", "static", "static", "static", "login", "upload", "api", "comment"]
    if source == "log":
        kinds = ["search", "page", "static", "static", "static"]
    for _ in range(count):
        kind = rng.choice(kinds)
        headers = [("User-Agent", BROWSER), ("Referer", f"http://{rng.choice(HOSTS)}/index.php")]
        if source == "packet" and rng.random() < 0.6:
            headers.append(("Cookie", f"PHPSESSID={rng.randbytes(8).hex()}; lang=zh-CN; _ga=GA1.2.{rng.randrange(10**9)}.{rng.randrange(10**9)}"))
        if kind == "search":
            text = rng.choice(SEARCHES)
            query = text if "+" in text else quote_plus(text)
            requests.append(Request("benign", kind, "GET", f"/course/search?q={query}&page={rng.randrange(1, 5)}", headers))
        elif kind == "page":
            target = rng.choice([f"/news/show.php?id={rng.randrange(1, 5000)}", f"/news/list.php?cat=notice&page={rng.randrange(1, 30)}",
                                 "/student/timetable.jsp", f"/teacher/grades.aspx?class={rng.randrange(1, 12)}&term=2026-1",
                                 f"/login.php?redirect={quote('/student/center?tab=scores', safe='')}", "/"])
            requests.append(Request("benign", kind, "GET", target, headers))
        elif kind == "static":
            requests.append(Request("benign", kind, "GET", rng.choice(STATIC), headers))
        elif kind == "login":
            password = "".join(rng.choice("abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789!@#$%^&*") for _ in range(10))
            body = f"username={quote_plus(rng.choice(NAMES))}&password={quote_plus(password)}&remember=1".encode()
            requests.append(Request("benign", kind, "POST", "/login.php", headers + [("Content-Type", "application/x-www-form-urlencoded")], body))
        elif kind == "upload":
            name, mime, content = _document(rng)
            boundary = f"----WebKitFormBoundary{rng.randbytes(8).hex()}"
            body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\n第{rng.randrange(1, 20)}周 教学计划\r\n"
                    f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
                    f"Content-Type: {mime}\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
            requests.append(Request("benign", kind, "POST", "/teacher/upload.php",
                                    headers + [("Content-Type", f"multipart/form-data; boundary={boundary}")], body))
        elif kind == "api":
            body = json.dumps({"studentId": f"2024{rng.randrange(1000):03d}", "term": "2026-1",
                               "scores": [rng.randrange(60, 100) for _ in range(4)], "remark": rng.choice(COMMENTS)},
                              ensure_ascii=False).encode()
            requests.append(Request("benign", kind, "POST", "/api/v1/scores", headers + [("Content-Type", "application/json")], body))
        else:
            body = f"news_id={rng.randrange(1, 5000)}&nickname={quote_plus(rng.choice(NAMES))}&content={quote_plus(rng.choice(COMMENTS))}".encode()
            requests.append(Request("benign", kind, "POST", "/news/comment.php", headers + [("Content-Type", "application/x-www-form-urlencoded")], body))
    return requests


def _document(rng: random.Random) -> tuple[str, str, bytes]:
    kind = rng.choice(["docx", "pdf", "jpg", "xlsx"])
    noise = rng.randbytes(rng.choice([800, 2000, 6000]))
    if kind == "pdf":
        return "lesson-plan.pdf", "application/pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\nstream\n" + noise + b"\nendstream\n%%EOF\n"
    if kind == "jpg":
        return "class-photo.jpg", "image/jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + noise + b"\xff\xd9"
    mime = ("application/vnd.openxmlformats-officedocument.wordprocessingml.document" if kind == "docx"
            else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    return f"作业.{kind}", mime, b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" + noise


# -- through the sensors ------------------------------------------------------------------------------------------

def client_ip(number: int) -> str:
    return f"10.{40 + number // 62500}.{(number // 250) % 250}.{number % 250 + 1}"


def log_events(requests: list[Request], workdir: Path) -> list[dict[str, Any]]:
    """Each request as an nginx combined line, read by the log sensor; event i is request i (by client address)."""
    lines = []
    for number, request in enumerate(requests):
        agent = next((value for name, value in request.headers if name == "User-Agent"), "-")
        referer = next((value for name, value in request.headers if name == "Referer"), "-")
        lines.append(f'{client_ip(number)} - - [02/Nov/2026:10:{number // 3600 % 60:02d}:{number % 60:02d} +0800] '
                     f'"{request.method} {_nginx_escape(request.target)} HTTP/1.1" 200 {512 + number % 4096} '
                     f'"{_nginx_escape(referer)}" "{_nginx_escape(agent)}"')
    path = workdir / "access.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    events, _ = read_access_log(path, "nginx")
    return events


def _nginx_escape(value: str) -> str:
    """What nginx writes for a logged string: '"', '\\' and bytes outside printable ASCII as \\xHH."""
    out = []
    for byte in value.encode("utf-8"):
        out.append(f"\\x{byte:02X}" if byte in (0x22, 0x5C) or byte < 0x20 or byte > 0x7E else chr(byte))
    return "".join(out)


def packet_events(requests: list[Request], workdir: Path) -> list[dict[str, Any]]:
    """Each request over its own TCP conversation (client address by request number), read by the packet sensor."""
    packets = []
    for number, request in enumerate(requests):
        head = [f"{request.method} {request.target} HTTP/1.1", f"Host: {HOSTS[number % len(HOSTS)]}"]
        head += [f"{name}: {value}" for name, value in request.headers]
        if request.body:
            head.append(f"Content-Length: {len(request.body)}")
        wire = ("\r\n".join(head) + "\r\n\r\n").encode("utf-8") + request.body
        conversation = Conversation(sport=20000 + number % 40000, client=client_ip(number), server="10.20.1.80").handshake()
        conversation.send(True, wire).send(False, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").close()
        packets += conversation.packets
    events, _ = read_pcap(write(workdir, packets, "web.pcap"))
    return [event for event in events if event.get("event.dataset") == "edusoc.http"]


def label(events: list[dict[str, Any]], requests: list[Request]) -> list[tuple[Request, dict[str, Any]]]:
    by_ip = {client_ip(number): request for number, request in enumerate(requests)}
    paired = [(by_ip[str(event["source.ip"])], event) for event in events if str(event.get("source.ip")) in by_ip]
    if len(paired) != len(requests):
        print(f"warning: {len(requests) - len(paired)} of {len(requests)} requests produced no event", file=sys.stderr)
    return paired


# -- scoring -----------------------------------------------------------------------------------------------------

def detected(detection: DetectionSet, pairs: list[tuple[Request, dict[str, Any]]]) -> list[bool]:
    engine = detection.engine()
    return [bool(engine.process(dict(event))) for _, event in pairs]


def crs_rate(crs: CrsEngine, events: list[dict[str, Any]], repeat: int) -> float:
    """Requests per CPU second of the CRS path over ``events`` (best of ``repeat`` rounds of at least 0.5 s)."""
    best = 0.0
    for _ in range(repeat):
        done, started = 0, time.process_time()
        while True:
            for event in events:
                crs.scan_event(event)
            done += len(events)
            spent = time.process_time() - started
            if spent >= 0.5:
                break
        best = max(best, done / spent)
    return best


def campus_http_events(packets: int) -> list[dict[str, Any]]:
    pcap = ROOT / ".cache" / "bench" / f"campus_mix_{packets // 1000}k.pcap"
    if not pcap.exists():
        subprocess.run([sys.executable, str(ROOT / "bench" / "make_campus_pcap.py"), "--packets", str(packets), "--out", str(pcap)],
                       check=True)
    events, _ = read_pcap(pcap)
    return [event for event in events if event.get("event.dataset") == "edusoc.http" and request_from_event(event) is not None]


def json_line(name: str, value: float, unit: str, reference: float) -> str:
    return json.dumps({"bench": name, "value": round(value, 2), "unit": unit, "reference": reference,
                       "ratio": round(value / reference, 3) if reference else None})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benign", type=int, default=1500, help="benign requests from logs and from packets, each")
    parser.add_argument("--campus-packets", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    with_crs = default_detection(Settings().detection)
    if with_crs.crs is None:
        sys.exit("the OWASP CRS did not load: " + "; ".join(with_crs.problems))
    without_crs = DetectionSet(with_crs.ruleset, with_crs.yara, with_crs.indicators, None)
    crs = with_crs.crs
    print(f"detection: {with_crs.describe()}")

    payloads = {family: load_payloads(family) for family in FAMILIES}
    print("payloads: " + ", ".join(f"{family} {len(lines)}" for family, lines in payloads.items()))
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        sources: dict[str, list[tuple[Request, dict[str, Any]]]] = {}
        for source in ("log", "packet"):
            requests = [r for family in FAMILIES for r in attack_requests(family, payloads[family], source)]
            requests += benign_requests(rng, args.benign, source)
            events = log_events(requests, workdir) if source == "log" else packet_events(requests, workdir)
            sources[source] = label(events, requests)

    results: dict[str, dict[str, list[bool]]] = {}
    for source, pairs in sources.items():
        results[source] = {"on": detected(with_crs, pairs), "off": detected(without_crs, pairs)}

    # recall per family and carrier
    cells: dict[tuple[str, str, str], list[tuple[bool, bool]]] = defaultdict(list)
    benign: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for source, pairs in sources.items():
        for (request, _), on, off in zip(pairs, results[source]["on"], results[source]["off"]):
            if request.family == "benign":
                benign[f"{source}:{request.carrier}"].append((on, off))
            else:
                cells[(request.family, source, request.carrier)].append((on, off))

    def pct(flags: list[bool]) -> float:
        return 100.0 * sum(flags) / len(flags) if flags else 0.0

    print(f"\n{'family':9} {'source':7} {'carrier':11} {'n':>5} {'CRS on':>8} {'CRS off':>8}")
    for (family, source, carrier), marks in sorted(cells.items()):
        print(f"{family:9} {source:7} {carrier:11} {len(marks):5} {pct([m[0] for m in marks]):7.1f}% {pct([m[1] for m in marks]):7.1f}%")
    print("\nper family, every carrier:")
    for family in FAMILIES:
        marks = [m for (f, _, _), ms in cells.items() if f == family for m in ms]
        print(f"  {family:9} n={len(marks):5}  CRS on {pct([m[0] for m in marks]):5.1f}%  off {pct([m[1] for m in marks]):5.1f}%")

    log_visible = [m for (_, source, carrier), ms in cells.items() if source == "log" for m in ms]
    log_visible_packets = [m for (_, source, carrier), ms in cells.items()
                           if source == "packet" and carrier in ("uri", "header") for m in ms]
    body_borne = [m for (_, source, carrier), ms in cells.items() if carrier == "body" for m in ms]
    cookie_borne = [m for (_, source, carrier), ms in cells.items() if carrier == "cookie" for m in ms]
    all_benign = [m for ms in benign.values() for m in ms]
    print(f"\nlog-visible attacks (access logs):     n={len(log_visible):5}  CRS on {pct([m[0] for m in log_visible]):5.1f}%  off {pct([m[1] for m in log_visible]):5.1f}%")
    print(f"URI/header attacks (packets):          n={len(log_visible_packets):5}  CRS on {pct([m[0] for m in log_visible_packets]):5.1f}%  off {pct([m[1] for m in log_visible_packets]):5.1f}%")
    print(f"body-borne attacks (packets):          n={len(body_borne):5}  CRS on {pct([m[0] for m in body_borne]):5.1f}%  off {pct([m[1] for m in body_borne]):5.1f}%")
    print(f"cookie-borne attacks (packets):        n={len(cookie_borne):5}  CRS on {pct([m[0] for m in cookie_borne]):5.1f}%  off {pct([m[1] for m in cookie_borne]):5.1f}%")
    print(f"false positives, benign requests:      n={len(all_benign):5}  CRS on {pct([m[0] for m in all_benign]):5.2f}%  off {pct([m[1] for m in all_benign]):5.2f}%")
    for kind, marks in sorted(benign.items()):
        print(f"  benign {kind:16} n={len(marks):5}  CRS on {sum(m[0] for m in marks):3} alerts  off {sum(m[1] for m in marks):3}")

    school_events = [event for pairs in sources.values() for _, event in pairs]
    campus = campus_http_events(args.campus_packets)
    fast = CrsEngine(crs.rules_dir, paranoia_level=crs.paranoia_level, anomaly_threshold=crs.anomaly_threshold, skip_static=True)
    slow = CrsEngine(crs.rules_dir, paranoia_level=crs.paranoia_level, anomaly_threshold=crs.anomaly_threshold, skip_static=False)
    campus_skip, campus_all = crs_rate(fast, campus, args.repeat), crs_rate(slow, campus, args.repeat)
    skipped = sum(fast.can_skip(request) for request in (request_from_event(event) for event in campus) if request is not None)
    school_skip, school_all = crs_rate(fast, school_events, args.repeat), crs_rate(slow, school_events, args.repeat)
    print(f"\nCRS path, requests/s per core ({crs.version}, {crs.rule_count} rules, paranoia level {crs.paranoia_level}):")
    print(f"  campus mix  ({len(campus)} HTTP requests, {100 * skipped / max(len(campus), 1):.0f}% skippable): "
          f"with skip {campus_skip:8.0f}   without {campus_all:8.0f}")
    print(f"  school mix  ({len(school_events)} requests incl. attacks):          with skip {school_skip:8.0f}   without {school_all:8.0f}")

    print(json_line("web_detection.body_recall", pct([m[0] for m in body_borne]), "% of body-borne attacks detected", TARGETS["body_recall"]))
    print(json_line("web_detection.false_positives", pct([m[0] for m in all_benign]), "% of benign requests alerted", TARGETS["false_positives"]))
    print(json_line("web_detection.crs_requests_per_core", campus_skip, "requests/s per core (CRS path, campus mix, skip on)",
                    TARGETS["crs_requests_per_core"]))
    print(json_line("web_detection.crs_requests_per_core_no_skip", campus_all, "requests/s per core (CRS path, campus mix, skip off)",
                    TARGETS["crs_requests_per_core"]))
    print(json_line("web_detection", pct([m[0] for m in log_visible]), "% of log-visible attacks detected", TARGETS["log_recall"]))


if __name__ == "__main__":
    main()
