"""Ingest throughput: events/s through the whole collector path vs a bare bulk load of the same events.

    .venv/bin/python bench/ingest.py --store sqlite --events 200000
    .venv/bin/python bench/ingest.py --store elasticsearch --events 200000 --es-url http://127.0.0.1:9204

Whole path = what the collector does with a sensor's batch once the HTTP body is read:
gunzip → split NDJSON → json.loads → validate and normalise each event → stamp unit/sensor/ingest
time and enrich from an address book → Sigma detection (the bundled rule pack) → alerts to the
incident folder → EventStore.write (durable: SQLite synchronous=FULL commit; Elasticsearch
translog fsync per request). Batches of --batch events, gzip NDJSON as sensors ship them.

Reference (same run, same events): the bare bulk load of each store —
SQLite: ``executemany`` of (id, timestamp, JSON) into one table with a primary key, WAL and
synchronous=FULL, one transaction per batch; Elasticsearch: ``helpers.bulk`` (create with
``_id`` = event.id) into a fresh index with the same mappings, chunks of 1000.
Ends with one JSON line: {"bench", "value" (events/s), "unit", "reference", "ratio"}.
"""
from __future__ import annotations

import argparse
import gzip
import json
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collectors.ingest import EventOrigin, IngestService  # noqa: E402
from detection_rules import DetectionEngine, load_ruleset  # noqa: E402
from soc_core.address_book import AddressEntry, RangeAddressBook  # noqa: E402
from soc_core.clock import SystemClock  # noqa: E402
from soc_core.config import DetectionSettings, IngestSettings  # noqa: E402
from soc_core.events import format_timestamp, stable_event_id  # noqa: E402

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=timezone.utc)


def make_events(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """A campus mix: 70 % flows, 20 % DNS, 10 % web requests (1 in 200 of them SQL injection)."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    for i in range(n):
        at = T0 + timedelta(microseconds=i * 86_400_000_000 // max(n, 1))
        ts = format_timestamp(at)
        src = f"10.20.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        kind = rng.random()
        if kind < 0.7:
            dst, dport, sport = f"203.0.113.{rng.randrange(1, 255)}", rng.choice((443, 80, 53, 22, 8080)), rng.randrange(1024, 65535)
            events.append({
                "@timestamp": ts, "event.id": stable_event_id("flow", ts, src, sport, dst, dport, i),
                "event.kind": "event", "event.dataset": "edusoc.flow", "event.module": "pcap",
                "event.category": ["network"], "event.type": ["connection"], "event.start": ts, "event.end": ts,
                "event.duration": 1_500_000_000, "source.ip": src, "source.port": sport, "source.bytes": 1842,
                "source.packets": 12, "destination.ip": dst, "destination.port": dport, "destination.bytes": 52311,
                "destination.packets": 40, "network.transport": "tcp", "network.protocol": "tls",
                "network.community_id": "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", "network.bytes": 54153,
                "network.packets": 52, "network.connection.state": "SF",
                "message": f"tcp {src}:{sport} -> {dst}:{dport} SF 54153 bytes",
            })
        elif kind < 0.9:
            name = f"host{rng.randrange(5000)}.example.edu.cn"
            events.append({
                "@timestamp": ts, "event.id": stable_event_id("dns", ts, name, i), "event.kind": "event",
                "event.dataset": "edusoc.dns", "event.module": "pcap", "event.category": ["network"],
                "event.type": ["protocol"], "source.ip": src, "source.port": rng.randrange(1024, 65535),
                "destination.ip": "10.20.0.53", "destination.port": 53, "network.transport": "udp",
                "network.protocol": "dns", "dns.id": rng.randrange(65536), "dns.type": "answer",
                "dns.question.name": name, "dns.question.type": "A", "dns.response_code": "NOERROR",
                "dns.answers": [{"name": name, "type": "A", "data": "198.51.100.23", "ttl": 300}],
                "dns.resolved_ip": ["198.51.100.23"], "message": f"DNS A {name} -> 198.51.100.23 NOERROR",
            })
        else:
            query = "id=1%27%20union%20select%201,2--" if rng.random() < 0.005 else f"page={rng.randrange(100)}"
            url = f"/news.php?{query}"
            line = f'{src} - - [02/Nov/2026:08:00:00 +0800] "GET {url} HTTP/1.1" 200 5120 "-" "Mozilla/5.0"'
            events.append({
                "@timestamp": ts, "event.id": stable_event_id("web", ts, line, i), "event.kind": "event",
                "event.dataset": "edusoc.web", "event.module": "weblog", "event.category": ["web"],
                "event.type": ["access"], "event.outcome": "success", "source.ip": src,
                "destination.ip": "10.20.1.80", "destination.port": 80, "http.request.method": "GET",
                "http.version": "1.1", "http.response.status_code": 200, "http.response.body.bytes": 5120,
                "url.original": url, "url.path": "/news.php", "url.query": query, "url.domain": "www.school.edu.cn",
                "user_agent.original": "Mozilla/5.0", "message": line,
            })
    return events


def batches(events: list[dict[str, Any]], size: int) -> list[bytes]:
    out = []
    for start in range(0, len(events), size):
        lines = "".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n" for e in events[start:start + size])
        out.append(gzip.compress(lines.encode(), compresslevel=6, mtime=0))
    return out


def run_pipeline(store: Any, bodies: list[bytes], n: int) -> tuple[float, int, int]:
    ruleset = load_ruleset([Path(p) for p in DetectionSettings().sigma_paths])
    alerts: list[Any] = []
    service = IngestService(store, DetectionEngine(ruleset), alerts.extend, IngestSettings(), SystemClock())
    service.address_book = RangeAddressBook([AddressEntry("10.20.0.0/16", 3, "一中", "/1/2/3/"),
                                             AddressEntry("10.20.1.80", 3, "一中", "/1/2/3/", "web01")])
    origin = EventOrigin("1", "bench-sensor", "3", "一中", "/1/2/3/")
    accepted = 0
    started = time.perf_counter()
    for body in bodies:
        result = service.ingest(origin, body, gzipped=True)
        accepted += result.accepted
        if result.rejected:
            raise SystemExit(f"bench events rejected: {result.rejected[:3]}")
    return time.perf_counter() - started, accepted, len(alerts)


def bare_sqlite(events: list[dict[str, Any]], size: int, path: Path) -> float:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE events (id TEXT PRIMARY KEY, ts TEXT NOT NULL, body TEXT NOT NULL)")
    started = time.perf_counter()
    for start in range(0, len(events), size):
        rows = [(e["event.id"], e["@timestamp"], json.dumps(e, ensure_ascii=False, separators=(",", ":")))
                for e in events[start:start + size]]
        db.execute("BEGIN")
        db.executemany("INSERT OR IGNORE INTO events VALUES (?,?,?)", rows)
        db.execute("COMMIT")
    elapsed = time.perf_counter() - started
    db.close()
    return elapsed


def bare_elasticsearch(events: list[dict[str, Any]], url: str) -> float:
    from elasticsearch import Elasticsearch, helpers

    from collectors.elasticsearch_store import event_mappings

    es = Elasticsearch(url, request_timeout=120)
    index = f"bench-bare-{uuid.uuid4().hex[:8]}"
    es.indices.create(index=index, settings={"number_of_shards": 1, "number_of_replicas": 0,
                                             "index.translog.durability": "request"}, mappings=event_mappings())
    try:
        started = time.perf_counter()
        ok, errors = helpers.bulk(es, ({"_op_type": "create", "_index": index, "_id": e["event.id"], "_source": e}
                                       for e in events), chunk_size=1000, raise_on_error=False, refresh="wait_for")
        elapsed = time.perf_counter() - started
        if errors:
            raise SystemExit(f"bare bulk errors: {errors[:3]}")
        return elapsed
    finally:
        es.indices.delete(index=index)
        es.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", choices=("sqlite", "elasticsearch"), required=True)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5_000, help="events per sensor batch")
    parser.add_argument("--es-url", default="http://127.0.0.1:9200")
    parser.add_argument("--no-full-text", action="store_true", help="SQLite without the trigram text index")
    args = parser.parse_args()

    events = make_events(args.events)
    bodies = batches(events, args.batch)
    with tempfile.TemporaryDirectory(prefix="edusoc-bench-") as tmp:
        if args.store == "sqlite":
            from collectors.sqlite_store import SqliteEventStore

            store: Any = SqliteEventStore(Path(tmp) / "events.db", full_text=not args.no_full_text)
            elapsed, accepted, alerts = run_pipeline(store, bodies, args.events)
            store.close()
            bare = bare_sqlite(events, args.batch, Path(tmp) / "bare.db")
            reference_name = "sqlite executemany"
        else:
            from collectors.elasticsearch_store import ElasticsearchEventStore

            store = ElasticsearchEventStore(args.es_url, index_prefix=f"bench-{uuid.uuid4().hex[:8]}")
            try:
                elapsed, accepted, alerts = run_pipeline(store, bodies, args.events)
            finally:
                store.drop_days_before(date.max)
                store._es.indices.delete_index_template(name=store.index_prefix)
                store.close()
            bare = bare_elasticsearch(events, args.es_url)
            reference_name = "elasticsearch helpers.bulk"
    if accepted != args.events:
        raise SystemExit(f"only {accepted} of {args.events} events stored")
    rate, reference = args.events / elapsed, args.events / bare
    print(f"whole collector path ({args.store}): {args.events} events in {elapsed:.2f} s = {rate:,.0f} events/s "
          f"({alerts} alerts, batches of {args.batch})")
    print(f"bare bulk ({reference_name}): {args.events} events in {bare:.2f} s = {reference:,.0f} events/s")
    print(f"ratio: {rate / reference:.2f}")
    name = f"ingest-{args.store}" + ("-no-full-text" if args.store == "sqlite" and args.no_full_text else "")
    print(json.dumps({"bench": name, "value": round(rate), "unit": "events/s",
                      "reference": round(reference), "ratio": round(rate / reference, 3)}))


if __name__ == "__main__":
    main()
