"""The production EventStore: daily Elasticsearch indices, idempotent by event id.

Layout
  * one composable index template ``<prefix>`` for ``<prefix>-*`` with explicit mappings generated
    from ``soc_core.events.FIELDS`` (``dynamic: false``: a field outside the schema is kept in
    ``_source`` but not indexed, as SQLite keeps it in its JSON body);
  * daily indices ``<prefix>-YYYY.MM.DD`` chosen by the event's ``@timestamp`` (UTC), all
    carrying the alias ``<prefix>``, which reads (search, get, count) go through;
  * ``_id`` = ``event.id`` and ``op_type=create``: a retried batch gets 409 for events already
    stored, counted as duplicates, never stored twice.

Idempotency across days
  An id is unique per daily index only, so the store keeps an id registry, the index
  ``<prefix>_ids`` (``_id`` = event id, ``day`` = the day first stored). The bulk request that creates an
  event creates its registry entry alongside (in no particular order: the outcome is read from both
  item statuses). When the entry existed already, the
  event counts as stored on the registered day: a copy the same request wrote into another day's
  index is deleted again (the same id with a timestamp on another UTC day is stored once). One
  request, no extra round trip for new ids; a retry reads the registry once (``mget``).

Mappings
  Events are flat dotted keys (``source.ip``); Elasticsearch maps dotted keys as object paths,
  which is the standard ECS layout, and ``_source`` keeps the document exactly as written, so
  ``get``/``search`` return the same flat dicts. ``date`` fields are ``date_nanos`` (certificate validity dates, which may
  lie outside its 1970..2262, plain ``date``) so ordering
  and range bounds keep the microseconds every timestamp carries (plain ``date`` truncates to
  milliseconds and would order events within one millisecond differently from SQLite).
  ``text`` fields also get a ``.raw`` keyword sub-field (exact filters, substring search).
  ``objects`` (``dns.answers``) are ``flattened``. Keywords index values up to 8191 characters
  (the Lucene term limit in UTF-8); longer values are stored but not searchable.

Durability and visibility
  The bulk call returns after the translog is fsynced (``index.translog.durability: request``,
  set explicitly): an acknowledged event survives a crash of the node. It becomes searchable at
  the index's next scheduled refresh (``refresh_interval``, 5 s by default: fewer, larger
  segments than Elasticsearch's 1 s while a collector streams). ``refresh="wait_for"`` makes
  ``write`` return only once the documents are visible (up to one refresh interval per call —
  the first version did this on every bulk, which capped a collector at ~1000 events/s);
  ``refresh=True`` forces a refresh per bulk (one tiny segment per call; tests and low-rate
  tools only).

Write path
  One bulk request per ``chunk_size`` events (5000: one sensor batch, a few MB), its NDJSON body
  serialised with orjson and the response trimmed to the item statuses (``filter_path``); the
  daily index name is cut from the normalised timestamp without parsing it.

Free text
  ``EventQuery.text`` is a case-insensitive substring match over ``message`` and
  ``url.original``, like SQLite's ``LIKE '%text%'``, done with ``wildcard`` queries on keyword
  terms. A leading-wildcard query visits every distinct term of the field in the searched
  indices: fine per day and per unit, slow over months of data; narrow by time first.
"""
from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any, Literal
from urllib.parse import urlparse

import orjson
from elasticsearch import ApiError, Elasticsearch, OrjsonSerializer, TransportError

from soc_core.event_store import (
    EventPage, EventQuery, EventsRefused, EventStoreError, RefusedEvent, TermCount, TimeBucket, WriteResult, check_count_field, check_interval,
    check_sort_field,
)
from soc_core.events import CALENDAR_DATE_FIELDS, FIELDS, FieldSpec, format_timestamp, parse_timestamp

# The longest keyword (in characters) that still fits Lucene's 32766-byte term limit in UTF-8.
_KEYWORD_MAX_CHARS = 8191
_TRANSIENT_ITEM_STATUS = {429, 500, 502, 503, 504}
_BULK_RESPONSE = "errors,items.*.status,items.*.error"


def _field_mapping(name: str, spec: FieldSpec) -> dict[str, Any]:
    kind = spec.type
    if name in CALENDAR_DATE_FIELDS:  # certificate dates may lie outside date_nanos' 1970..2262
        return {"type": "date"}
    if kind in ("keyword", "keywords"):
        return {"type": "keyword", "ignore_above": _KEYWORD_MAX_CHARS}
    if kind == "text":
        return {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": _KEYWORD_MAX_CHARS}}}
    if kind == "ip":
        return {"type": "ip"}
    if kind in ("port", "long"):
        return {"type": "long"}
    if kind == "float":
        return {"type": "double"}
    if kind == "date":
        return {"type": "date_nanos"}
    if kind == "bool":
        return {"type": "boolean"}
    if kind == "objects":
        return {"type": "flattened"}
    raise AssertionError(f"unhandled field type {kind}")


def event_mappings() -> dict[str, Any]:
    """Explicit mappings for every schema field, as nested object properties (the ECS layout)."""
    root: dict[str, Any] = {}
    for name, spec in FIELDS.items():
        *parents, leaf = name.split(".")
        node = root
        for part in parents:
            child = node.setdefault(part, {"type": "object", "properties": {}})
            if "properties" not in child:
                raise AssertionError(f"schema field {name} nests under the leaf field {part}")
            node = child["properties"]
        if leaf in node:
            raise AssertionError(f"schema field {name} is both a leaf and an object")
        node[leaf] = _field_mapping(name, spec)
    return {"dynamic": False, "properties": root}


def index_settings(shards: int = 1, replicas: int = 0, refresh_interval: str = "5s") -> dict[str, Any]:
    """Settings of every daily index (bench/ingest.py gives its bare reference index the same)."""
    return {
        "index.number_of_shards": shards,
        "index.number_of_replicas": replicas,
        "index.translog.durability": "request",
        "index.refresh_interval": refresh_interval,
    }


class ElasticsearchEventStore:
    """EventStore on Elasticsearch 8. Thread-safe (the client is)."""

    def __init__(
        self,
        url: str,
        index_prefix: str = "edusoc-events",
        refresh: bool | Literal["wait_for"] = False,
        *,
        replicas: int = 0,
        shards: int = 1,
        refresh_interval: str = "5s",
        request_timeout: float = 30.0,
        max_retries: int = 3,
        chunk_size: int = 5000,
        backoff_seconds: float = 0.5,
        max_backoff_seconds: float = 8.0,
    ) -> None:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise EventStoreError(f"Elasticsearch URL {url!r} is not an http(s) URL")
        if not index_prefix or index_prefix != index_prefix.lower() or any(c in index_prefix for c in ' "*\\<|,>/?#:'):
            raise EventStoreError(f"index prefix {index_prefix!r} is not a valid lower-case index name")
        self.url = url
        self.index_prefix = index_prefix
        self.alias = index_prefix
        # Outside the template's "<prefix>-*": the registry gets neither the event mappings nor the alias.
        self.id_registry = f"{index_prefix}_ids"
        self.refresh = refresh
        self.replicas = replicas
        self.shards = shards
        self.refresh_interval = refresh_interval
        self.max_retries = max_retries
        self.chunk_size = chunk_size
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self._template_ready = False
        self._lock = threading.Lock()
        self._es = Elasticsearch(
            url,
            request_timeout=request_timeout,
            max_retries=max_retries,
            retry_on_timeout=True,
            retry_on_status=(429, 502, 503, 504),
            serializer=OrjsonSerializer(),
        )

    # -- setup

    def index_for(self, timestamp: str) -> str:
        if len(timestamp) == 27 and timestamp[-1] == "Z" and timestamp[10] == "T":  # normalised: UTC already
            return f"{self.index_prefix}-{timestamp[0:4]}.{timestamp[5:7]}.{timestamp[8:10]}"
        day = parse_timestamp(timestamp).astimezone(timezone.utc)
        return f"{self.index_prefix}-{day:%Y.%m.%d}"

    def ensure_template(self) -> None:
        """Install (or update) the index template; done once per store before the first write."""
        if self._template_ready:
            return
        with self._lock:
            if self._template_ready:
                return
            self._call(
                "install the index template",
                self._es.indices.put_index_template,
                name=self.index_prefix,
                index_patterns=[f"{self.index_prefix}-*"],
                # Longer prefixes win: two prefixes whose patterns overlap ("a-*", "a-b-*") differ
                # in length, so they never collide at the same priority.
                priority=len(self.index_prefix),
                template={
                    "settings": index_settings(self.shards, self.replicas, self.refresh_interval),
                    "mappings": event_mappings(),
                    "aliases": {self.alias: {}},
                },
                meta={"description": "edusoc events (ECS subset), generated from soc_core.events.FIELDS"},
            )
            self._call("create the id registry", self._es.options(ignore_status=400).indices.create,
                       index=self.id_registry, settings=index_settings(1, self.replicas, self.refresh_interval),
                       mappings={"dynamic": False, "properties": {"day": {"type": "keyword"}}})
            self._template_ready = True

    # -- EventStore

    def write(self, events: Sequence[dict[str, Any]]) -> WriteResult:
        if not events:
            return WriteResult(written=0, duplicates=0)
        self.ensure_template()
        written = duplicates = 0
        refused: list[RefusedEvent] = []  # the event's content: a mapping error, no timestamp
        failures: list[str] = []  # still refused after the retries: the cluster is overloaded or down
        for start in range(0, len(events), self.chunk_size):
            w, d, r, f = self._write_chunk(events[start:start + self.chunk_size], start)
            written, duplicates = written + w, duplicates + d
            refused.extend(r)
            failures.extend(f)
        if failures or refused:
            reasons = failures + [f"{_id_of(events[r.position])}: {r.reason}" for r in refused]
            shown = "; ".join(reasons[:10]) + (f"; ... {len(reasons) - 10} more" if len(reasons) > 10 else "")
            message = (f"Elasticsearch at {self.url} rejected {len(reasons)} of {len(events)} events "
                       f"({written} written, {duplicates} duplicates): {shown}")
            if failures:  # an outage: the whole batch is retried later (idempotent), refused ones included
                raise EventStoreError(message)
            raise EventsRefused(message, refused, WriteResult(written=written, duplicates=duplicates))
        return WriteResult(written=written, duplicates=duplicates)

    def _write_chunk(self, chunk: Sequence[dict[str, Any]],
                     offset: int) -> tuple[int, int, list[RefusedEvent], list[str]]:
        pending: list[tuple[int, str, dict[str, Any]]] = []
        refused: list[RefusedEvent] = []
        failures: list[str] = []
        for position, event in enumerate(chunk, start=offset):
            event_id = event.get("event.id")
            if not isinstance(event_id, str) or not event_id:
                refused.append(RefusedEvent(position, f"event without event.id: {str(event)[:120]}"))
                continue
            try:
                index = self.index_for(event["@timestamp"])
            except (KeyError, TypeError, ValueError, AttributeError):
                refused.append(RefusedEvent(position, f"no valid @timestamp ({event.get('@timestamp')!r})"))
                continue
            pending.append((position, index, event))
        written = duplicates = 0
        attempt = 0
        bodies: dict[int, bytes] = {}
        for position, _, event in pending:
            try:
                bodies[position] = orjson.dumps(event)
            except orjson.JSONEncodeError as exc:  # e.g. nested deeper than orjson writes (254 levels)
                refused.append(RefusedEvent(position, f"cannot be sent as JSON: {exc}"))
        pending = [p for p in pending if p[0] in bodies]
        created: set[int] = set()  # positions whose event document this call created (a retry then sees 409)
        claimed: list[tuple[int, str, dict[str, Any]]] = []  # ids the registry already held: which day?
        while pending:
            operations: list[bytes] = []
            for position, index, event in pending:
                # The registry entry in the same request: see "Idempotency across days" in the module docstring.
                operations.append(orjson.dumps({"create": {"_index": self.id_registry, "_id": event["event.id"]}}))
                operations.append(orjson.dumps({"day": index[-10:]}))
                operations.append(orjson.dumps({"create": {"_index": index, "_id": event["event.id"]}}))
                operations.append(bodies[position])
            response = self._call("bulk write", self._es.bulk, operations=operations, refresh=self.refresh,
                                  filter_path=_BULK_RESPONSE)
            items = response["items"]
            retry: list[tuple[int, str, dict[str, Any]]] = []
            reasons: dict[int, str] = {}
            for k, (position, index, event) in enumerate(pending):
                registry, stored = items[2 * k].get("create", {}), items[2 * k + 1].get("create", {})
                registry_status, status = registry.get("status", 0), stored.get("status", 0)
                if status in (200, 201):
                    created.add(position)
                if status in _TRANSIENT_ITEM_STATUS or registry_status in _TRANSIENT_ITEM_STATUS:
                    retry.append((position, index, event))
                    reasons[position] = _reason(stored if status in _TRANSIENT_ITEM_STATUS else registry)
                elif status not in (200, 201, 409):
                    refused.append(RefusedEvent(position, _reason(stored)))
                elif registry_status not in (200, 201, 409):
                    refused.append(RefusedEvent(position, f"id registry: {_reason(registry)}"))
                elif registry_status == 409:
                    claimed.append((position, index, event))
                elif position in created:
                    written += 1
                else:  # stored before the registry existed
                    duplicates += 1
            attempt += 1
            if retry and attempt > self.max_retries:
                failures.extend(f"{e['event.id']}: still refused after {attempt} tries: {reasons[p]}" for p, _, e in retry)
                break
            if retry:
                time.sleep(min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (attempt - 1)))
            pending = retry
        if claimed:
            w, d = self._settle_claimed(claimed, created)
            written, duplicates = written + w, duplicates + d
        return written, duplicates, refused, failures

    def _settle_claimed(self, claimed: list[tuple[int, str, dict[str, Any]]], created: set[int]) -> tuple[int, int]:
        """Ids the registry held already: stored once on the registered day. A copy written to another
        day's index (in this call, or by one cut short before its delete) is deleted again."""
        ids = [event["event.id"] for _, _, event in claimed]
        found = self._call("read the id registry", self._es.mget, index=self.id_registry, ids=ids,
                           filter_path="docs._id,docs._source.day")
        days = {doc["_id"]: doc.get("_source", {}).get("day") for doc in found.get("docs", [])}
        written = duplicates = 0
        strays: list[bytes] = []
        for position, index, event in claimed:
            registered = days.get(event["event.id"])
            if registered in (None, index[-10:]):  # the registered day: a retry, or healing a lost write
                written += position in created
                duplicates += position not in created
            else:
                duplicates += 1
                strays.append(orjson.dumps({"delete": {"_index": index, "_id": event["event.id"]}}))
        if strays:
            self._call("delete copies of ids stored on another day", self._es.bulk, operations=strays,
                       refresh=self.refresh, filter_path="errors")
        return written, duplicates

    def get(self, event_id: str) -> dict[str, Any] | None:
        response = self._search("get an event", {"ids": {"values": [event_id]}}, size=1)
        hits = response["hits"]["hits"]
        return hits[0]["_source"] if hits else None

    def search(self, query: EventQuery) -> EventPage:
        check_sort_field(query.sort)
        es_query = self._query(query)
        order = "desc" if query.descending else "asc"
        sort: list[dict[str, Any]] = [{"@timestamp": {"order": order}}, {"event.id": {"order": order}}]
        if query.sort != "@timestamp":
            sort.insert(0, {query.sort: {"order": order, "missing": "_last"}})
        window = 10_000  # index.max_result_window: from + size may not exceed it
        search_after: list[Any] | None = None
        offset = query.offset
        if offset + query.limit > window:
            # A deep page: walk to the offset with search_after (sort values only, no _source).
            while offset > 0:
                step = min(window, offset)
                response = self._search("page through events", es_query, size=step, sort=sort,
                                        search_after=search_after, source=False, track_total_hits=False)
                hits = response["hits"]["hits"]
                if not hits:
                    break
                search_after = hits[-1]["sort"]
                offset -= len(hits)
            offset = 0
        response = self._search("search events", es_query, size=query.limit, from_=offset or None, sort=sort,
                                search_after=search_after, track_total_hits=True)
        total = response["hits"]["total"]["value"]
        return EventPage(total=total, events=[hit["_source"] for hit in response["hits"]["hits"]])

    def count_by(self, query: EventQuery, field: str, size: int = 10) -> list[TermCount]:
        check_count_field(field)
        if size < 1:
            return []
        terms = {"field": field, "size": size, "order": [{"_count": "desc"}, {"_key": "asc"}]}
        response = self._search("count events by field", self._query(query), size=0,
                                aggregations={"by": {"terms": terms}}, track_total_hits=False)
        buckets = (response.get("aggregations") or {}).get("by", {}).get("buckets", [])
        return [TermCount(b.get("key_as_string", b["key"]) if FIELDS[field].type == "ip" else b["key"], b["doc_count"])
                for b in buckets]

    def histogram(self, query: EventQuery, interval: timedelta) -> list[TimeBucket]:
        seconds = check_interval(interval)
        histogram = {"field": "@timestamp", "fixed_interval": f"{seconds}s", "min_doc_count": 1}
        response = self._search("count events over time", self._query(query), size=0,
                                aggregations={"over_time": {"date_histogram": histogram}}, track_total_hits=False)
        buckets = (response.get("aggregations") or {}).get("over_time", {}).get("buckets", [])
        return [TimeBucket(datetime.fromtimestamp(b["key"] / 1000, tz=timezone.utc), b["doc_count"]) for b in buckets]

    def count(self) -> int:
        response = self._call("count events", self._es.count, index=self.alias,
                              ignore_unavailable=True, allow_no_indices=True)
        return int(response["count"])

    def days(self) -> list[date]:
        return sorted(self._indices_by_day())

    def drop_days_before(self, day: date) -> list[date]:
        doomed = {d: name for d, name in self._indices_by_day().items() if d < day}
        if doomed:
            # Named one by one: wildcard deletes may be refused (action.destructive_requires_name).
            # Several collectors may enforce retention at once: a day another one deleted first is gone, as asked.
            self._call("delete day indices", self._es.indices.delete, index=",".join(doomed[d] for d in sorted(doomed)),
                       ignore_unavailable=True)
            self._forget_ids_before(day)
        return sorted(doomed)

    def _forget_ids_before(self, day: date) -> None:
        """Delete the registry entries of deleted days, 10,000 at a time (search and bulk delete: the
        delete-by-query API lives in the reindex module, which not every distribution carries)."""
        old = {"range": {"day": {"lt": f"{day:%Y.%m.%d}"}}}
        while True:
            self._call("refresh the id registry", self._es.indices.refresh, index=self.id_registry, ignore_unavailable=True)
            response = self._call("find ids of deleted days", self._es.search, index=self.id_registry, query=old,
                                  size=10_000, source=False, ignore_unavailable=True, allow_no_indices=True)
            hits = response["hits"]["hits"]
            if not hits:
                return
            self._call("forget ids of deleted days", self._es.bulk, filter_path="errors", operations=[
                orjson.dumps({"delete": {"_index": self.id_registry, "_id": hit["_id"]}}) for hit in hits])

    def _indices_by_day(self) -> dict[date, str]:
        response = self._call("list day indices", self._es.indices.get, index=f"{self.index_prefix}-*",
                              allow_no_indices=True, ignore_unavailable=True, expand_wildcards="open,closed")
        days: dict[date, str] = {}
        for name in response:
            try:
                days[datetime.strptime(name.removeprefix(f"{self.index_prefix}-"), "%Y.%m.%d").date()] = name
            except ValueError:
                continue  # another prefix that starts with ours, e.g. "<prefix>-archive-..."
        return days

    def close(self) -> None:
        self._es.close()

    # -- helpers

    def _search(self, what: str, query: dict[str, Any], *, size: int, **kwargs: Any) -> Any:
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        return self._call(what, self._es.search, index=self.alias, query=query, size=size,
                          ignore_unavailable=True, allow_no_indices=True, **kwargs)

    def _query(self, query: EventQuery) -> dict[str, Any]:
        clauses: list[dict[str, Any]] = []
        if query.start is not None or query.end is not None:
            bounds: dict[str, str] = {}
            if query.start is not None:
                bounds["gte"] = format_timestamp(query.start)
            if query.end is not None:
                bounds["lt"] = format_timestamp(query.end)
            clauses.append({"range": {"@timestamp": bounds}})
        if query.unit_ids is not None:
            clauses.append({"terms": {"organization.id": list(query.unit_ids)}} if query.unit_ids
                           else {"match_none": {}})
        if query.event_ids is not None:
            clauses.append({"terms": {"event.id": list(query.event_ids)}} if query.event_ids
                           else {"match_none": {}})
        for name, value in query.filters.items():
            spec = FIELDS.get(name)
            if spec is None:
                raise EventStoreError(f"cannot filter on {name!r}: not a field of the event schema")
            clauses.append(_exact(name, spec, value))
        if query.text:
            pattern = "*" + _escape_wildcard(query.text) + "*"
            clauses.append({"bool": {"minimum_should_match": 1, "should": [
                {"wildcard": {"message.raw": {"value": pattern, "case_insensitive": True}}},
                {"wildcard": {"url.original": {"value": pattern, "case_insensitive": True}}},
            ]}})
        return {"bool": {"filter": clauses}} if clauses else {"match_all": {}}

    def _call(self, what: str, method: Any, **kwargs: Any) -> Any:
        try:
            return method(**kwargs)
        except ApiError as exc:
            raise EventStoreError(
                f"Elasticsearch at {self.url}: {what} failed: HTTP {exc.meta.status} {_api_reason(exc)}"
            ) from exc
        except TransportError as exc:
            raise EventStoreError(
                f"Elasticsearch at {self.url} is unreachable ({what}): {type(exc).__name__}: {exc.message}"
            ) from exc


def _exact(name: str, spec: FieldSpec, value: str | int) -> dict[str, Any]:
    """An exact-match clause; a value that cannot equal anything of the field's type matches nothing."""
    kind = spec.type
    term: str | int | float = value
    try:
        if kind == "ip":
            term = str(ipaddress.ip_address(str(value)))
        elif kind in ("port", "long"):
            if isinstance(value, bool):
                raise ValueError(value)
            term = int(value)
        elif kind == "float":
            term = float(value)
        elif kind == "date":
            term = format_timestamp(parse_timestamp(str(value)))
        elif kind == "bool" and not isinstance(value, bool):
            raise ValueError(value)
    except (TypeError, ValueError):
        return {"match_none": {}}
    field = f"{name}.raw" if kind == "text" else name
    return {"term": {field: term}}


def _id_of(event: dict[str, Any]) -> str:
    return str(event.get("event.id") or "(no event.id)")


def _escape_wildcard(text: str) -> str:
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


def _reason(result: dict[str, Any]) -> str:
    error = result.get("error")
    if isinstance(error, dict):
        reason = f"{error.get('type', 'error')}: {error.get('reason', '')}"
        cause = error.get("caused_by")
        if isinstance(cause, dict):
            reason += f" (caused by {cause.get('type')}: {cause.get('reason')})"
        return reason
    return f"HTTP {result.get('status')}: {error}"


def _api_reason(exc: ApiError) -> str:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return _reason({"error": body["error"], "status": exc.meta.status})
    return str(exc.message)
