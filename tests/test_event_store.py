"""One EventStore suite, run against every implementation: SQLite and Elasticsearch.

The Elasticsearch cases need a node: `make test` starts one with `scripts/es.sh start`, or run
`scripts/es.sh start` and set EDUSOC_TEST_ES_URL=http://127.0.0.1:9200. Without the variable
they skip. Each case gets its own index prefix, deleted at teardown.
"""
from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from collectors.elasticsearch_store import ElasticsearchEventStore
from collectors.sqlite_store import SqliteEventStore
from soc_core.event_store import EventQuery, EventStore, EventStoreError, TermCount, TimeBucket, WriteResult
from soc_core.events import format_timestamp, stable_event_id, validate_event

ES_URL_VAR = "EDUSOC_TEST_ES_URL"
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)  # 09:00 in Beijing


def _es_url() -> str:
    url = os.environ.get(ES_URL_VAR)
    if not url:
        pytest.skip(f"{ES_URL_VAR} is not set: run `make test` (it starts Elasticsearch), or "
                    f"`scripts/es.sh start` and export {ES_URL_VAR}=http://127.0.0.1:9200")
    return url


def _drop(store: ElasticsearchEventStore) -> None:
    es = store._es
    indices = es.indices.get(index=f"{store.index_prefix}-*", allow_no_indices=True, expand_wildcards="all")
    if indices:
        es.indices.delete(index=",".join(indices))
    es.options(ignore_status=404).indices.delete(index=store.id_registry)
    es.options(ignore_status=404).indices.delete_index_template(name=store.index_prefix)


def _make_es_store(**kwargs: Any) -> ElasticsearchEventStore:
    # The shared suite reads right after each write: visible at the ack (the default is the next refresh).
    kwargs.setdefault("refresh", "wait_for")
    return ElasticsearchEventStore(_es_url(), index_prefix=f"edusoc-test-{uuid.uuid4().hex[:12]}", **kwargs)


@pytest.fixture(params=["sqlite", "sqlite-no-full-text", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventStore]:
    if request.param.startswith("sqlite"):
        sqlite = SqliteEventStore(tmp_path / "events.db", full_text=request.param == "sqlite")
        yield sqlite
        sqlite.close()
        return
    es = _make_es_store()
    try:
        yield es
    finally:
        _drop(es)
        es.close()


@pytest.fixture
def es_store() -> Iterator[ElasticsearchEventStore]:
    es = _make_es_store()
    try:
        yield es
    finally:
        _drop(es)
        es.close()


# -- realistic events, all through the schema's validation


def flow(at: datetime, *, src: str = "10.21.3.17", sport: int = 51234, unit: str = "school-0001",
         dst: str = "203.0.113.80", dport: int = 443, event_id: str | None = None) -> dict[str, Any]:
    ts = format_timestamp(at)
    return validate_event({
        "@timestamp": ts,
        "event.id": event_id or stable_event_id("flow", ts, src, sport, dst, dport),
        "event.kind": "event",
        "event.dataset": "edusoc.flow",
        "event.module": "pcap",
        "event.category": ["network"],
        "event.type": ["connection"],
        "event.start": ts,
        "event.end": format_timestamp(at + timedelta(seconds=2, microseconds=500)),
        "event.duration": 2_000_500_000,
        "observer.id": "sensor-0001",
        "organization.id": unit,
        "organization.name": "第一实验小学",
        "source.ip": src, "source.port": sport, "source.bytes": 1842, "source.packets": 12,
        "destination.ip": dst, "destination.port": dport, "destination.bytes": 52311, "destination.packets": 40,
        "network.transport": "tcp", "network.protocol": "tls",
        "network.community_id": "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
        "network.bytes": 54153, "network.packets": 52, "network.connection.state": "SF",
        "message": f"tcp {src}:{sport} -> {dst}:{dport} SF 54153 bytes",
        "tags": ["sample"],
    })


def dns(at: datetime, *, name: str = "update.c2-example.top", unit: str = "school-0002") -> dict[str, Any]:
    ts = format_timestamp(at)
    return validate_event({
        "@timestamp": ts,
        "event.id": stable_event_id("dns", ts, name, 4711),
        "event.kind": "event",
        "event.dataset": "edusoc.dns",
        "event.module": "pcap",
        "event.category": ["network"],
        "event.type": ["protocol"],
        "observer.id": "sensor-0002",
        "organization.id": unit,
        "source.ip": "10.22.8.41", "source.port": 53011,
        "destination.ip": "10.22.0.53", "destination.port": 53,
        "network.transport": "udp", "network.protocol": "dns",
        "dns.id": 4711, "dns.type": "answer",
        "dns.question.name": name, "dns.question.type": "A", "dns.response_code": "NOERROR",
        "dns.answers": [{"name": name, "type": "A", "data": "198.51.100.23", "ttl": 300}],
        "dns.resolved_ip": ["198.51.100.23"],
        "message": f"DNS A {name} -> 198.51.100.23 NOERROR",
    })


SQLI_URL = "/jwxt/login.php?id=1%27%20UNION%20SELECT%20username,password%20FROM%20users--%20"


def web(at: datetime, *, unit: str = "school-0003", url: str = SQLI_URL, status: int = 200) -> dict[str, Any]:
    ts = format_timestamp(at)
    line = (f'198.51.100.7 - - [{at:%d/%b/%Y:%H:%M:%S} +0000] "GET {url} HTTP/1.1" {status} 5120 "-" '
            '"sqlmap/1.7.2#stable (https://sqlmap.org)"')
    return validate_event({
        "@timestamp": ts,
        "event.id": stable_event_id("web", ts, line),
        "event.kind": "event",
        "event.dataset": "edusoc.web",
        "event.module": "weblog",
        "event.category": ["web"],
        "event.type": ["access"],
        "event.outcome": "success",
        "event.original": line,
        "observer.id": "sensor-0003",
        "organization.id": unit,
        "source.ip": "198.51.100.7",
        "destination.ip": "10.23.1.10", "destination.port": 80,
        "http.request.method": "GET", "http.version": "1.1",
        "http.response.status_code": status, "http.response.body.bytes": 5120,
        "url.original": url, "url.path": url.split("?")[0], "url.query": url.partition("?")[2],
        "url.domain": "jwxt.school-0003.edu.cn",
        "user_agent.original": "sqlmap/1.7.2#stable (https://sqlmap.org)",
        "message": line,
    })


def ids(events: list[dict[str, Any]]) -> list[str]:
    return [e["event.id"] for e in events]


# -- the suite


def test_write_then_get_returns_the_same_flat_dict(store: EventStore):
    events = [flow(T0), dns(T0 + timedelta(seconds=1)), web(T0 + timedelta(seconds=2))]
    result = store.write(events)
    assert (result.written, result.duplicates) == (3, 0)
    for event in events:
        assert store.get(event["event.id"]) == event
    assert store.get("no-such-event") is None
    assert store.count() == 3


def test_values_hard_to_carry_come_back_exactly(store: EventStore):
    # GBK devices' text decoded to CJK, control characters, U+2028, astral emoji, integers past 2^53
    # and lists: what the store writes is what get and search return.
    event = web(T0, url="/news.php?q=%E6%95%99")
    event["message"] = "教务系统 登录失败 \x00 tab\t nl\n quote\" back\\ \u2028 😀"
    event["http.request.body.bytes"] = 9_007_199_254_740_993
    event["tags"] = ["扫描", "x", "😀"]
    store.write([event])
    assert store.get(event["event.id"]) == event
    found = store.search(EventQuery(text="登录失败", limit=10)).events
    assert found == [event]


def test_a_retried_batch_counts_duplicates_and_stores_once(store: EventStore):
    batch = [flow(T0), dns(T0 + timedelta(seconds=1)), web(T0 + timedelta(seconds=2))]
    assert store.write(batch).written == 3
    again = store.write(batch)
    assert (again.written, again.duplicates) == (0, 3)
    overlap = store.write([batch[0], flow(T0 + timedelta(seconds=5), sport=40000)])
    assert (overlap.written, overlap.duplicates) == (1, 1)
    same_in_one_batch = flow(T0 + timedelta(seconds=9), sport=40001)
    inner = store.write([same_in_one_batch, same_in_one_batch])
    assert (inner.written, inner.duplicates) == (1, 1)
    assert store.count() == 5
    assert store.search(EventQuery(limit=100)).total == 5


def test_search_by_time_range_start_inclusive_end_exclusive(store: EventStore):
    events = [flow(T0 + timedelta(minutes=m), sport=50000 + m) for m in range(6)]
    store.write(events)
    page = store.search(EventQuery(start=T0 + timedelta(minutes=1), end=T0 + timedelta(minutes=4), descending=False))
    assert page.total == 3
    assert ids(page.events) == ids(events[1:4])
    assert store.search(EventQuery(start=T0 + timedelta(minutes=5))).total == 1
    assert store.search(EventQuery(end=T0)).total == 0
    # microsecond bounds are honoured, not rounded to milliseconds
    assert store.search(EventQuery(start=T0 + timedelta(minutes=2, microseconds=1))).total == 3


def test_search_by_exact_filters(store: EventStore):
    a = flow(T0, src="10.21.3.17")
    b = flow(T0 + timedelta(seconds=1), src="10.21.3.18", dport=22)
    c = dns(T0 + timedelta(seconds=2))
    d = web(T0 + timedelta(seconds=3), status=500, url="/index.php")
    store.write([a, b, c, d])
    # a field with its own column / index in SQLite
    assert ids(store.search(EventQuery(filters={"source.ip": "10.21.3.18"})).events) == ids([b])
    assert store.search(EventQuery(filters={"event.dataset": "edusoc.flow"})).total == 2
    # fields read from the JSON body in SQLite
    assert ids(store.search(EventQuery(filters={"dns.question.name": "update.c2-example.top"})).events) == ids([c])
    assert ids(store.search(EventQuery(filters={"destination.port": 22})).events) == ids([b])
    assert ids(store.search(EventQuery(filters={"http.response.status_code": 500})).events) == ids([d])
    both = EventQuery(filters={"event.dataset": "edusoc.flow", "destination.port": 443})
    assert ids(store.search(both).events) == ids([a])
    assert store.search(EventQuery(filters={"dns.question.name": "nothing.example"})).total == 0
    with pytest.raises(EventStoreError, match="not a field"):
        store.search(EventQuery(filters={"no.such.field": "x"}))


def test_search_by_unit_ids(store: EventStore):
    store.write([flow(T0, unit="school-0001"), dns(T0 + timedelta(seconds=1), unit="school-0002"),
                 web(T0 + timedelta(seconds=2), unit="school-0003")])
    assert store.search(EventQuery(unit_ids=["school-0002"])).events[0]["event.dataset"] == "edusoc.dns"
    assert store.search(EventQuery(unit_ids=["school-0001", "school-0003"])).total == 2
    assert store.search(EventQuery(unit_ids=["school-9999"])).total == 0
    empty = store.search(EventQuery(unit_ids=[]))
    assert (empty.total, empty.events) == (0, [])
    assert store.search(EventQuery(unit_ids=None)).total == 3


def test_free_text_over_message_and_url(store: EventStore):
    attack = web(T0)
    benign = web(T0 + timedelta(seconds=1), url="/index.php?page=news")
    query = dns(T0 + timedelta(seconds=2), name="update.c2-example.top")
    store.write([attack, benign, query, flow(T0 + timedelta(seconds=3))])
    # substring of url.original, any case
    assert ids(store.search(EventQuery(text="union%20select")).events) == ids([attack])
    assert ids(store.search(EventQuery(text="UNION%20SELECT")).events) == ids([attack])
    # substring of message only (the DNS event has no url)
    assert ids(store.search(EventQuery(text="c2-example")).events) == ids([query])
    assert store.search(EventQuery(text="sqlmap")).total == 2  # both web lines carry the user agent
    assert store.search(EventQuery(text="no such words anywhere")).total == 0
    combined = EventQuery(text="login.php", unit_ids=["school-0003"], start=T0, end=T0 + timedelta(minutes=1))
    assert ids(store.search(combined).events) == ids([attack])


def test_order_by_timestamp_then_id_both_ways(store: EventStore):
    # two events 1 µs apart whose ids sort the other way, and two with the same instant
    t = T0 + timedelta(milliseconds=250)
    early = flow(t, event_id="zz-early")
    late = flow(t + timedelta(microseconds=1), event_id="aa-late")
    tie_a = flow(T0 + timedelta(seconds=3), event_id="tie-a")
    tie_b = flow(T0 + timedelta(seconds=3), event_id="tie-b")
    first = dns(T0)
    store.write([tie_b, late, first, tie_a, early])
    ascending = ids(store.search(EventQuery(descending=False)).events)
    assert ascending == [first["event.id"], "zz-early", "aa-late", "tie-a", "tie-b"]
    assert ids(store.search(EventQuery(descending=True)).events) == ascending[::-1]


def test_paging_with_total(store: EventStore):
    events = [flow(T0 + timedelta(seconds=s), sport=30000 + s) for s in range(25)]
    store.write(events)
    newest_first = ids(events)[::-1]
    seen: list[str] = []
    for offset in (0, 10, 20):
        page = store.search(EventQuery(offset=offset, limit=10))
        assert page.total == 25
        seen += ids(page.events)
    assert seen == newest_first
    past_the_end = store.search(EventQuery(offset=30, limit=10))
    assert (past_the_end.total, past_the_end.events) == (25, [])
    filtered = store.search(EventQuery(filters={"source.port": 30003}, offset=0, limit=1))
    assert filtered.total == 1


def test_an_event_on_another_day_is_found(store: EventStore):
    today = flow(T0)
    # 23:59:59 UTC on the 1st is the 2nd in Beijing, but indices are by UTC day
    yesterday = dns(T0 - timedelta(hours=1, seconds=1))
    store.write([today, yesterday])
    assert store.get(yesterday["event.id"]) == yesterday
    assert ids(store.search(EventQuery(descending=False)).events) == ids([yesterday, today])
    only_yesterday = store.search(EventQuery(end=datetime(2026, 11, 2, tzinfo=timezone.utc)))
    assert ids(only_yesterday.events) == ids([yesterday])
    if isinstance(store, ElasticsearchEventStore):
        indices = set(store._es.indices.get_alias(name=store.alias))
        assert indices == {f"{store.index_prefix}-2026.11.01", f"{store.index_prefix}-2026.11.02"}


def test_filter_on_a_list_field_matches_any_element(store: EventStore):
    a = flow(T0)
    b = dict(dns(T0 + timedelta(seconds=1)), tags=["replay", "drill"])
    store.write([a, b])
    assert ids(store.search(EventQuery(filters={"tags": "drill"})).events) == ids([b])
    assert ids(store.search(EventQuery(filters={"tags": "sample"})).events) == ids([a])
    assert store.search(EventQuery(filters={"event.category": "network"})).total == 2


def test_search_by_event_ids(store: EventStore):
    events = [flow(T0 + timedelta(seconds=s), sport=31000 + s) for s in range(5)]
    store.write(events)
    wanted = [events[1]["event.id"], events[3]["event.id"], "not-stored"]
    assert ids(store.search(EventQuery(event_ids=wanted, descending=False)).events) == wanted[:2]
    assert store.search(EventQuery(event_ids=[])).total == 0


def test_sort_by_a_field_with_missing_values_last(store: EventStore):
    a = flow(T0, dport=443)
    b = flow(T0 + timedelta(seconds=1), dport=22)
    c = flow(T0 + timedelta(seconds=2), dport=8080)
    d = dns(T0 + timedelta(seconds=3))  # destination.port 53
    e = web(T0 + timedelta(seconds=4), status=500)  # port 80
    no_port = dict(web(T0 + timedelta(seconds=5), url="/x"))
    del no_port["destination.port"]
    store.write([a, b, c, d, e, no_port])
    up = store.search(EventQuery(sort="destination.port", descending=False))
    assert ids(up.events) == ids([b, d, e, a, c, no_port])
    down = store.search(EventQuery(sort="destination.port", descending=True, offset=1, limit=3))
    assert ids(down.events) == ids([a, e, d])
    assert ids(store.search(EventQuery(sort="http.response.status_code", limit=1)).events) == ids([e])
    with pytest.raises(EventStoreError, match="cannot sort on 'message'"):
        store.search(EventQuery(sort="message"))


def test_counts_by_field_most_frequent_first(store: EventStore):
    events = [flow(T0 + timedelta(seconds=s), sport=32000 + s, dport=22 if s < 3 else 443) for s in range(5)]
    events += [dns(T0 + timedelta(seconds=10)), web(T0 + timedelta(seconds=11), unit="school-0001")]
    store.write(events)
    assert store.count_by(EventQuery(), "event.dataset") == [
        TermCount("edusoc.flow", 5), TermCount("edusoc.dns", 1), TermCount("edusoc.web", 1)]
    assert store.count_by(EventQuery(filters={"event.dataset": "edusoc.flow"}), "destination.port") == [
        TermCount(22, 3), TermCount(443, 2)]
    assert store.count_by(EventQuery(), "destination.port", size=1) == [TermCount(22, 3)]
    assert store.count_by(EventQuery(unit_ids=["school-0001"]), "source.ip") == [
        TermCount("10.21.3.17", 5), TermCount("198.51.100.7", 1)]
    assert store.count_by(EventQuery(), "tags") == [TermCount("sample", 5)]
    assert store.count_by(EventQuery(text="sqlmap"), "organization.id") == [TermCount("school-0001", 1)]
    with pytest.raises(EventStoreError, match="cannot count by 'message'"):
        store.count_by(EventQuery(), "message")


def test_date_histogram_epoch_aligned_non_empty_buckets(store: EventStore):
    at = [T0 + timedelta(minutes=m, seconds=s) for m, s in ((0, 0), (0, 59), (1, 0), (3, 30))]
    # the last microsecond of a minute still belongs to that minute
    at.append(T0 + timedelta(minutes=1, seconds=59, microseconds=999_999))
    store.write([flow(t, sport=33000 + i) for i, t in enumerate(at)])
    assert store.histogram(EventQuery(), timedelta(minutes=1)) == [
        TimeBucket(T0, 2), TimeBucket(T0 + timedelta(minutes=1), 2), TimeBucket(T0 + timedelta(minutes=3), 1)]
    assert store.histogram(EventQuery(start=T0 + timedelta(minutes=1)), timedelta(hours=1)) == [TimeBucket(T0, 3)]
    with pytest.raises(EventStoreError, match="whole number of seconds"):
        store.histogram(EventQuery(), timedelta(milliseconds=500))


def test_retention_drops_whole_days_and_keeps_the_rest(store: EventStore):
    days = [T0 - timedelta(days=n) for n in (0, 1, 2, 200)]
    events = [flow(t, sport=34000 + i) for i, t in enumerate(days)]
    events.append(dns(days[2] + timedelta(hours=5)))
    store.write(events)
    assert store.days() == [date(2026, 4, 16), date(2026, 10, 31), date(2026, 11, 1), date(2026, 11, 2)]
    assert store.drop_days_before(date(2026, 11, 1)) == [date(2026, 4, 16), date(2026, 10, 31)]
    assert store.days() == [date(2026, 11, 1), date(2026, 11, 2)]
    assert store.count() == 2
    assert store.get(events[2]["event.id"]) is None
    assert ids(store.search(EventQuery(descending=False)).events) == ids(events[1::-1])
    assert store.drop_days_before(date(2026, 11, 1)) == []
    # a later write to a dropped day recreates its partition
    store.write([events[2]])
    assert store.count() == 3


def test_free_text_short_and_non_ascii(store: EventStore):
    chinese = dict(web(T0), message="登录失败：用户 admin 密码错误")
    other = web(T0 + timedelta(seconds=1), url="/a?b=1")
    store.write([chinese, other])
    assert ids(store.search(EventQuery(text="密码错误")).events) == ids([chinese])
    assert ids(store.search(EventQuery(text="b=")).events) == ids([other])  # under three characters
    assert store.search(EventQuery(text='"quoted" 100%')).total == 0


# -- Elasticsearch only


@pytest.mark.elasticsearch
def test_es_mappings_are_explicit_and_typed(es_store: ElasticsearchEventStore):
    es_store.write([web(T0)])
    mapping = es_store._es.indices.get_mapping(index=f"{es_store.index_prefix}-2026.11.02")
    props = next(iter(mapping.body.values()))["mappings"]["properties"]
    assert props["source"]["properties"]["ip"]["type"] == "ip"
    assert props["@timestamp"]["type"] == "date_nanos"
    assert props["http"]["properties"]["response"]["properties"]["status_code"]["type"] == "long"
    assert props["url"]["properties"]["original"]["type"] == "keyword"
    assert props["message"]["type"] == "text"
    assert props["dns"]["properties"]["answers"]["type"] == "flattened"
    settings = es_store._es.indices.get_settings(index=f"{es_store.index_prefix}-*")
    assert next(iter(settings.body.values()))["settings"]["index"]["number_of_replicas"] == "0"


@pytest.mark.elasticsearch
def test_es_rejected_event_is_named_in_the_error(es_store: ElasticsearchEventStore):
    good = flow(T0)
    bad = dict(flow(T0 + timedelta(seconds=1), sport=40000), **{"source.port": "not-a-port"})  # bypasses validation
    with pytest.raises(EventStoreError) as caught:
        es_store.write([good, bad])
    message = str(caught.value)
    assert bad["event.id"] in message and "source.port" in message
    assert "1 written" in message
    assert es_store.get(good["event.id"]) == good  # the rest of the batch is stored


@pytest.mark.elasticsearch
def test_es_forced_refresh_is_visible_at_once():
    es = _make_es_store(refresh=True)
    try:
        event = dns(T0)
        assert es.write([event]).written == 1
        assert es.search(EventQuery(filters={"event.id": event["event.id"]})).events == [event]
    finally:
        _drop(es)
        es.close()


@pytest.mark.elasticsearch
def test_es_default_write_is_durable_at_the_ack_and_searchable_after_a_refresh():
    es = _make_es_store(refresh=False)
    try:
        events = [dns(T0), web(T0 + timedelta(seconds=1)), flow(T0 + timedelta(seconds=2))]
        assert es.write(events).written == 3
        settings = es._es.indices.get_settings(index=es.index_for(events[0]["@timestamp"]))
        index = next(iter(settings.values()))["settings"]["index"]
        assert (index["translog"]["durability"], index["refresh_interval"]) == ("request", "5s")
        es._es.indices.refresh(index=f"{es.index_prefix}-*")
        assert es.count() == 3 and es.write(events).duplicates == 3
        assert es.index_for("2026-11-02T23:59:59.999999Z") == f"{es.index_prefix}-2026.11.02"
        assert es.index_for("2026-11-03T07:59:59+08:00") == f"{es.index_prefix}-2026.11.02"
    finally:
        _drop(es)
        es.close()


@pytest.mark.elasticsearch
def test_es_deep_page_past_the_result_window(es_store: ElasticsearchEventStore):
    events = [flow(T0 + timedelta(milliseconds=i), sport=i % 60000, event_id=f"deep-{i:05d}") for i in range(10_050)]
    assert es_store.write(events).written == 10_050
    page = es_store.search(EventQuery(descending=False, offset=10_020, limit=20))
    assert page.total == 10_050
    assert ids(page.events) == [f"deep-{i:05d}" for i in range(10_020, 10_040)]


def test_unreachable_elasticsearch_is_a_clear_error_and_quick():
    url = "http://127.0.0.1:1"
    store = ElasticsearchEventStore(url, index_prefix="edusoc-unreachable", request_timeout=2, max_retries=1)
    started = time.monotonic()
    for call in (lambda: store.write([flow(T0)]), lambda: store.search(EventQuery()),
                 lambda: store.get("x"), store.count):
        with pytest.raises(EventStoreError, match=r"http://127\.0\.0\.1:1 is unreachable .*ConnectionError"):
            call()
    assert time.monotonic() - started < 10
    store.close()


def test_a_bad_url_is_a_clear_error():
    with pytest.raises(EventStoreError, match="not an http"):
        ElasticsearchEventStore("localhost:9200")


def test_es_retries_refused_items_with_backoff_then_succeeds():
    """429 (and 5xx) items are retried alone, with bounded backoff; 409 counts as a duplicate."""
    store = ElasticsearchEventStore("http://127.0.0.1:1", index_prefix="edusoc-fake", backoff_seconds=0.01)
    store._template_ready = True  # no cluster here: only the bulk call is faked
    events = [flow(T0), dns(T0), web(T0)]
    calls: list[list[str]] = []

    def fake_bulk(*, operations: list[bytes], refresh: Any, filter_path: str) -> dict[str, Any]:
        sent = [json.loads(op)["create"]["_id"] for op in operations[2::4]]  # id registry entry, event, per event
        calls.append(sent)
        statuses = {1: [201, 429, 409], 2: [503], 3: [201]}[len(calls)]
        return {"errors": True, "items": [
            item for i, s in zip(sent, statuses) for item in (
                {"create": {"_id": i, "status": 201}},
                {"create": {"_id": i, "status": s, **({"error": {"type": "es_rejected_execution_exception",
                                                                 "reason": "queue full"}} if s >= 400 else {})}})]}

    store._es.bulk = fake_bulk  # type: ignore[method-assign]
    result = store.write(events)
    assert (result.written, result.duplicates) == (2, 1)
    assert calls == [ids(events), [events[1]["event.id"]], [events[1]["event.id"]]]

    calls.clear()
    store.max_retries = 1
    with pytest.raises(EventStoreError, match="still refused after 2 tries"):
        store.write(events)
    store.close()


# -- SQLite only


def test_sqlite_adopts_the_single_table_layout_into_day_partitions(tmp_path: Path):
    import sqlite3

    events = [flow(T0), dns(T0 - timedelta(days=1))]
    legacy = sqlite3.connect(tmp_path / "events.db")
    legacy.execute("CREATE TABLE events (id TEXT PRIMARY KEY, ts TEXT NOT NULL, unit_id TEXT, dataset TEXT NOT NULL,"
                   " kind TEXT NOT NULL, source_ip TEXT, destination_ip TEXT, body TEXT NOT NULL) WITHOUT ROWID")
    legacy.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?)", [
        (e["event.id"], e["@timestamp"], e["organization.id"], e["event.dataset"], e["event.kind"], e["source.ip"],
         e["destination.ip"], json.dumps(e)) for e in events])
    legacy.commit()
    legacy.close()
    store = SqliteEventStore(tmp_path / "events.db")
    assert store.days() == [date(2026, 11, 1), date(2026, 11, 2)]
    assert [store.get(e["event.id"]) for e in events] == events
    assert ids(store.search(EventQuery(text="c2-example")).events) == ids(events[1:])
    store.close()


def test_sqlite_text_index_holds_each_stored_row_once(tmp_path: Path):
    """The text index is fed per batch: new rows only (not a retried batch's duplicates), and a file
    of the first layout, whose trigger fed it per row, loses the trigger instead of indexing twice."""
    import sqlite3

    store = SqliteEventStore(tmp_path / "events.db")
    first = [web(T0), dns(T0 + timedelta(seconds=1))]
    store.write(first)
    store.close()
    legacy = sqlite3.connect(tmp_path / "events.db")
    legacy.executescript("""CREATE TRIGGER events_20261102_text AFTER INSERT ON events_20261102 BEGIN
        INSERT INTO text_20261102(rowid, message, url) VALUES (new.seq, json_extract(new.body, '$.message'),
        json_extract(new.body, '$."url.original"')); END;""")
    legacy.close()
    store = SqliteEventStore(tmp_path / "events.db")
    later = web(T0 + timedelta(seconds=2), url="/jwxt/login.php?id=2")
    assert store.write([*first, later]) == WriteResult(written=1, duplicates=2)
    assert sorted(ids(store.search(EventQuery(text="login.php")).events)) == sorted(ids([first[0], later]))
    assert ids(store.search(EventQuery(text="c2-example")).events) == ids(first[1:])
    store.close()
    check = sqlite3.connect(tmp_path / "events.db")
    assert check.execute("SELECT count(*) FROM sqlite_master WHERE type='trigger'").fetchone() == (0,)
    # contentless FTS5: one docsize row per indexed document
    assert check.execute("SELECT count(*) FROM text_20261102_docsize").fetchone() == (3,)
    check.close()


def test_enforce_retention_keeps_184_days_by_default_and_audits(tmp_path: Path, sessions, clock):
    from collectors.retention import enforce_retention
    from soc_core.config import EventStoreSettings
    from soc_core.models import AuditEntry

    store = SqliteEventStore(tmp_path / "events.db")
    today = clock.now()  # 2026-11-02
    store.write([flow(today - timedelta(days=n), sport=35000 + n) for n in (0, 184, 185)])
    days = EventStoreSettings().retention_days
    assert days == 184
    assert enforce_retention(store, clock, days, sessions) == [date(2026, 5, 1)]
    assert store.days() == [date(2026, 5, 2), date(2026, 11, 2)]
    clock.advance(timedelta(days=1))
    assert enforce_retention(store, clock, days, sessions) == [date(2026, 5, 2)]
    with sessions() as session:
        assert session.query(AuditEntry).filter_by(action="events.retention").count() == 2
    store.close()


@pytest.mark.elasticsearch
def test_retention_tolerates_a_day_another_collector_dropped_first(es_store: ElasticsearchEventStore):
    """Stateless collectors enforce retention side by side: one may list a day the other has just deleted."""
    es_store.write([flow(T0 - timedelta(days=200)), flow(T0)])
    listed_before = es_store._indices_by_day()
    other_collector = ElasticsearchEventStore(es_store.url, index_prefix=es_store.index_prefix)
    assert other_collector.drop_days_before(date(2026, 11, 1)) == [date(2026, 4, 16)]
    other_collector.close()
    es_store._indices_by_day = lambda: listed_before  # this collector's listing predates the other's delete
    assert es_store.drop_days_before(date(2026, 11, 1)) == [date(2026, 4, 16)]
    del es_store._indices_by_day
    assert es_store.days() == [date(2026, 11, 2)]


def test_an_id_is_stored_once_whatever_day_its_timestamp_falls_on(store: EventStore):
    """Issue 14: the same id on two UTC days was stored twice (one day partition each)."""
    late = flow(datetime(2026, 11, 2, 23, 59, 59, tzinfo=timezone.utc), event_id="retried")
    early = flow(datetime(2026, 11, 3, 0, 0, 1, tzinfo=timezone.utc), event_id="retried")
    assert store.write([late]) == WriteResult(written=1, duplicates=0)
    assert store.write([early]) == WriteResult(written=0, duplicates=1)
    assert store.write([late, early]) == WriteResult(written=0, duplicates=2)
    assert store.search(EventQuery(event_ids=["retried"])).total == 1
    assert store.get("retried") == late
    # once its day is deleted, the id is free again
    store.drop_days_before(date(2026, 11, 3))
    assert store.write([early]) == WriteResult(written=1, duplicates=0)
