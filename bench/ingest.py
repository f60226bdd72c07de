"""Ingest throughput: events/s through the whole collector path vs a bare bulk load of the same events.

    .venv/bin/python bench/ingest.py --store sqlite --events 200000 [--repeat 2]
    .venv/bin/python bench/ingest.py --store elasticsearch --events 200000 --es-url http://127.0.0.1:9204

Whole path = what the collector does with a sensor's batch once the HTTP body is read:
gunzip → split NDJSON → parse (orjson) → validate and normalise each event → stamp
unit/sensor/ingest time and enrich from an address book → Sigma detection (the bundled rule
pack) → alerts to the incident folder → EventStore.write, durable when it returns (SQLite:
synchronous=FULL commit, text index included; Elasticsearch: translog fsync per request).
Batches of --batch events, gzip NDJSON as sensors ship them, from --senders concurrent
sensors (the collector serves each request on its own thread: one batch is written while the
next is parsed and run through detection). The clock runs from the first batch to the last
acknowledgement.

Reference (same run, same events): the bare bulk load of each store —
SQLite: ``executemany`` of (id, timestamp, JSON) into one table with a primary key, WAL and
synchronous=FULL, one transaction per batch; Elasticsearch: ``helpers.bulk`` (or
``helpers.parallel_bulk`` over as many threads as --senders), create with ``_id`` = event.id,
into a fresh index with the same mappings and index settings as the store's daily indices
(shards, replicas, translog durability, refresh interval), chunks of --batch, no forced refresh.
CPU seconds are printed too (this process, and the Elasticsearch node's from /proc when its
pid is given): on a shared machine they move less than wall time.
Ends with one JSON line: {"bench", "value" (events/s), "unit", "reference", "ratio"}.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collectors.ingest import EventOrigin, IngestService  # noqa: E402
from detection_rules import DetectionEngine, load_ruleset  # noqa: E402
from inventory.address_book import AddressEntry, RangeAddressBook  # noqa: E402
from soc_core.clock import SystemClock  # noqa: E402
from soc_core.config import DetectionSettings, IngestSettings  # noqa: E402
from soc_core.events import format_timestamp, stable_event_id  # noqa: E402

T = TypeVar("T")
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


def run_pipeline(store: Any, bodies: list[bytes], senders: int) -> tuple[float, int, int]:
    ruleset = load_ruleset([Path(p) for p in DetectionSettings().sigma_paths])
    alerts: list[Any] = []
    service = IngestService(store, DetectionEngine(ruleset), alerts.extend, IngestSettings(), SystemClock())
    service.address_book = RangeAddressBook([AddressEntry("10.20.0.0/16", 3, "一中", "/1/2/3/"),
                                             AddressEntry("10.20.1.80", 3, "一中", "/1/2/3/", "web01")])
    origins = [EventOrigin("1", f"bench-sensor-{i}", "3", "一中", "/1/2/3/") for i in range(senders)]
    pending = iter(bodies)
    take = threading.Lock()
    accepted: list[int] = []
    problems: list[str] = []

    def sender(origin: EventOrigin) -> None:
        while True:
            with take:
                body = next(pending, None)
            if body is None:
                return
            try:
                result = service.ingest(origin, body, gzipped=True)
            except Exception as exc:  # noqa: BLE001 - reported below, the bench must not hang
                problems.append(f"{type(exc).__name__}: {exc}")
                return
            accepted.append(result.accepted)
            if result.rejected:
                problems.append(f"bench events rejected: {result.rejected[:3]}")

    threads = [threading.Thread(target=sender, args=(origin,)) for origin in origins]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if problems:
        raise SystemExit(f"ingest failed: {problems[:3]}")
    return elapsed, sum(accepted), len(alerts)


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


def bare_elasticsearch(events: list[dict[str, Any]], url: str, size: int, threads: int) -> float:
    from elasticsearch import Elasticsearch, helpers

    from collectors.elasticsearch_store import event_mappings, index_settings

    es = Elasticsearch(url, request_timeout=120)
    index = f"bench-bare-{uuid.uuid4().hex[:8]}"
    es.indices.create(index=index, settings=index_settings(), mappings=event_mappings())
    actions = ({"_op_type": "create", "_index": index, "_id": e["event.id"], "_source": e} for e in events)
    try:
        started = time.perf_counter()
        if threads > 1:
            errors = [item for ok, item in helpers.parallel_bulk(
                es, actions, thread_count=threads, queue_size=threads, chunk_size=size,
                max_chunk_bytes=256 * 1024 * 1024, raise_on_error=False) if not ok]
        else:
            _, errors = helpers.bulk(es, actions, chunk_size=size, max_chunk_bytes=256 * 1024 * 1024,
                                     raise_on_error=False)
        elapsed = time.perf_counter() - started
        if errors:
            raise SystemExit(f"bare bulk errors: {errors[:3]}")
        return elapsed
    finally:
        es.indices.delete(index=index)
        es.close()


class CpuClock:
    """CPU seconds of this process and, when its pid file is given, of the Elasticsearch node."""

    def __init__(self, es_pid_file: str | None) -> None:
        self.es_pid = int(Path(es_pid_file).read_text().strip()) if es_pid_file else None

    def read(self) -> tuple[float, float]:
        node = 0.0
        if self.es_pid is not None:
            fields = Path(f"/proc/{self.es_pid}/stat").read_text().rsplit(")", 1)[1].split()
            node = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return time.process_time(), node


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", choices=("sqlite", "elasticsearch"), required=True)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5_000, help="events per sensor batch")
    parser.add_argument("--senders", type=int, default=2, help="sensors posting batches at the same time")
    parser.add_argument("--es-url", default="http://127.0.0.1:9200")
    parser.add_argument("--es-pid-file", help="the node's pid file, for its CPU seconds "
                        "(default: scripts/es.sh's for the URL's port, when there is one)")
    parser.add_argument("--no-full-text", action="store_true", help="SQLite without the trigram text index")
    parser.add_argument("--repeat", type=int, default=2, help="rounds of both loads; the best of each is reported")
    args = parser.parse_args()

    pid_file = args.es_pid_file
    if args.store == "elasticsearch" and pid_file is None:
        port = urlparse(args.es_url).port or 9200
        candidate = Path(__file__).resolve().parent.parent / f".cache/elasticsearch/node-{port}/es.pid"
        pid_file = str(candidate) if candidate.exists() else None
    cpu = CpuClock(pid_file)
    events = make_events(args.events)
    bodies = batches(events, args.batch)
    # Each round runs the whole path, then the bare load; the best of each over the rounds is reported.
    # One round alone favours the reference: it found the JVM's JIT (or the page cache) warmed by the
    # whole path that ran just before it.
    paths: list[tuple[float, int, int, str]] = []
    bares: list[tuple[float, str]] = []
    for _ in range(max(1, args.repeat)):
        with tempfile.TemporaryDirectory(prefix="edusoc-bench-") as tmp:
            if args.store == "sqlite":
                path, path_note = _timed(cpu, lambda: _sqlite_path(Path(tmp), bodies, args), pid_file, args.events)
                bare, bare_note = _timed(cpu, lambda: bare_sqlite(events, args.batch, Path(tmp) / "bare.db"),
                                           pid_file, args.events)
            else:
                path, path_note = _timed(cpu, lambda: _elasticsearch_path(bodies, args), pid_file, args.events)
                bare, bare_note = _timed(cpu, lambda: bare_elasticsearch(events, args.es_url, args.batch, args.senders),
                                           pid_file, args.events)
            paths.append((*path, path_note))
            bares.append((bare, bare_note))
        print(f"round {len(paths)}: whole path {paths[-1][0]:.2f} s, bare {bares[-1][0]:.2f} s")
    reference_name = ("sqlite executemany" if args.store == "sqlite" else
                      "elasticsearch " + ("helpers.parallel_bulk" if args.senders > 1 else "helpers.bulk"))
    short = [accepted for _, accepted, _, _ in paths if accepted != args.events]
    if short:
        raise SystemExit(f"only {short[0]} of {args.events} events stored")
    elapsed, _, alerts, path_cpu = min(paths)
    bare, bare_cpu = min(bares)
    rate, reference = args.events / elapsed, args.events / bare
    print(f"whole collector path ({args.store}): {args.events} events in {elapsed:.2f} s = {rate:,.0f} events/s "
          f"({alerts} alerts, batches of {args.batch}, {args.senders} senders; {path_cpu})")
    print(f"bare bulk ({reference_name}): {args.events} events in {bare:.2f} s = {reference:,.0f} events/s ({bare_cpu})")
    print(f"ratio: {rate / reference:.2f}")
    name = f"ingest-{args.store}" + ("-no-full-text" if args.store == "sqlite" and args.no_full_text else "")
    print(json.dumps({"bench": name, "value": round(rate), "unit": "events/s",
                      "reference": round(reference), "ratio": round(rate / reference, 3), "repeat": len(paths)}))


def _sqlite_path(tmp: Path, bodies: list[bytes], args: argparse.Namespace) -> tuple[float, int, int]:
    from collectors.sqlite_store import SqliteEventStore

    store = SqliteEventStore(tmp / "events.db", full_text=not args.no_full_text)
    try:
        return run_pipeline(store, bodies, args.senders)
    finally:
        store.close()


def _elasticsearch_path(bodies: list[bytes], args: argparse.Namespace) -> tuple[float, int, int]:
    from collectors.elasticsearch_store import ElasticsearchEventStore

    store = ElasticsearchEventStore(args.es_url, index_prefix=f"bench-{uuid.uuid4().hex[:8]}", chunk_size=args.batch)
    try:
        return run_pipeline(store, bodies, args.senders)
    finally:
        store.drop_days_before(date.max)
        store._es.indices.delete_index_template(name=store.index_prefix)
        store.close()


def _timed(cpu: CpuClock, run: Callable[[], T], pid_file: str | None, events: int) -> tuple[T, str]:
    """``run()``'s result and a note of the CPU seconds it took here (and in the node)."""
    before = cpu.read()
    result = run()
    after = cpu.read()
    own, node = after[0] - before[0], after[1] - before[1]
    note = f"CPU {own:.2f} s here"
    if pid_file:
        note += f" + {node:.2f} s Elasticsearch = {events / (own + node):,.0f} events per CPU-second"
    else:
        note += f" = {events / own:,.0f} events per CPU-second"
    return result, note


if __name__ == "__main__":
    main()
